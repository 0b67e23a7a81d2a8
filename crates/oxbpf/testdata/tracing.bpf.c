// SPDX-License-Identifier: MIT OR Apache-2.0
// BTF-typed tracing programs (need vmlinux BTF for attach_btf_id; lockdown may refuse some).
//
// BPF_PROG_RUN of an attached fentry/fexit program makes the kernel call bpf_fentry_test1(1),
// which returns 2: fentry stores the argument in fentry_arg, fexit stores arg and return value
// in fexit_arg / fexit_ret. tp_btf/sched_switch counts context switches in switches.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 fentry_arg;
__u64 fexit_arg;
__u64 fexit_ret;
__u64 switches;

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(trace_fentry, int a)
{
	fentry_arg = a;
	return 0;
}

SEC("fexit/bpf_fentry_test1")
int BPF_PROG(trace_fexit, int a, int ret)
{
	fexit_arg = a;
	fexit_ret = ret;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(trace_sched_switch, _Bool preempt)
{
	__sync_fetch_and_add(&switches, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
