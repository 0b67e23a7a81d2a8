// SPDX-License-Identifier: GPL-2.0
// ELF reader fixture: CO-RE relocations in a program and in a .text subprogram it calls.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *parent;
} __attribute__((preserve_access_index));

__attribute__((noinline)) int parent_tgid(struct task_struct *t)
{
	return BPF_CORE_READ(t, parent, tgid);
}

SEC("tp_btf/sched_process_fork")
int fork_core(__u64 *ctx)
{
	struct task_struct *t = (void *)ctx[0];
	int pid = BPF_CORE_READ(t, pid);

	if (bpf_core_field_exists(t->tgid))
		pid += parent_tgid(t);
	return pid;
}
