// SPDX-License-Identifier: MIT OR Apache-2.0
// Tracing programs for tests/links_trace.rs. Each counts events of the test process only
// (tgid in cfg[0], written by the test) into its own slot of `counts`. fentry/fexit hook
// __task_pid_nr_ns, which getpid() calls (it is in BTF; the syscall wrappers are not).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_GETPID 39 /* x86_64 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void hit(__u32 slot)
{
	__u32 zero = 0;
	__u32 *want = bpf_map_lookup_elem(&cfg, &zero);
	if (!want || (bpf_get_current_pid_tgid() >> 32) != *want)
		return;
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_getpid(void *ctx)
{
	hit(0);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == NR_GETPID)
		hit(1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_sys_enter, struct pt_regs *regs, long id)
{
	if (id == NR_GETPID)
		hit(2);
	return 0;
}

SEC("uprobe")
int uprobe_hit(void *ctx)
{
	hit(3);
	return 0;
}

SEC("uretprobe")
int uretprobe_hit(void *ctx)
{
	hit(4);
	return 0;
}

SEC("fentry/__task_pid_nr_ns")
int BPF_PROG(fentry_getpid)
{
	hit(5);
	return 0;
}

SEC("fexit/__task_pid_nr_ns")
int BPF_PROG(fexit_getpid)
{
	hit(6);
	return 0;
}

SEC("kprobe/__x64_sys_getpid")
int kprobe_getpid(void *ctx)
{
	hit(7);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
