// CO-RE against kernel BTF (running, file, or BTFHub directory): task_struct->pid/tgid.
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

__u64 out[3];

SEC("syscall")
int core_task(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	out[0] = bpf_core_field_offset(struct task_struct, pid);
	out[1] = BPF_CORE_READ(t, pid);
	out[2] = BPF_CORE_READ(t, tgid);
	return 0;
}
