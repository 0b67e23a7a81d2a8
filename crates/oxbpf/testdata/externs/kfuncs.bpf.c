// Weak kfuncs: one present (bpf_task_from_pid), one missing; both the `ld_imm64` form
// (bpf_ksym_exists) and the `call` form are relocated.
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct task_struct;

extern struct task_struct *bpf_task_from_pid(int pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int bpf_kfunc_that_does_not_exist(int x) __ksym __weak;

int pid;
__u64 out[4];

SEC("syscall")
int weak_kfuncs(void *ctx)
{
	out[0] = bpf_ksym_exists(bpf_task_from_pid);
	out[1] = bpf_ksym_exists(bpf_kfunc_that_does_not_exist);
	if (bpf_ksym_exists(bpf_task_from_pid)) {
		struct task_struct *t = bpf_task_from_pid(pid);

		if (t) {
			out[2] = 1;
			bpf_task_release(t);
		}
	}
	if (bpf_ksym_exists(bpf_kfunc_that_does_not_exist))
		out[3] = bpf_kfunc_that_does_not_exist(1);
	else
		out[3] = 42;
	return 0;
}
