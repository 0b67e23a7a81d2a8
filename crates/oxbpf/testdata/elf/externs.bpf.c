// SPDX-License-Identifier: GPL-2.0
// ELF reader fixture: weak and strong kfuncs, typed ksyms, kconfig externs.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct;

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int bpf_not_a_real_kfunc(int x) __ksym __weak;
extern const int bpf_prog_active __ksym;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;

SEC("tp_btf/task_newtask")
int new_task(__u64 *ctx)
{
	struct task_struct *t = (void *)ctx[0];
	struct task_struct *a = bpf_task_acquire(t);

	if (a)
		bpf_task_release(a);
	if (bpf_not_a_real_kfunc)
		bpf_not_a_real_kfunc(1);
	return LINUX_KERNEL_VERSION > 0 && CONFIG_BPF_SYSCALL ? CONFIG_HZ : 0;
}

SEC("raw_tp/sys_enter")
int use_ksym(void *ctx)
{
	const int *p = bpf_per_cpu_ptr(&bpf_prog_active, 0);

	return p ? *p : 0;
}
