// CO-RE against the running kernel's BTF (vmlinux): task_struct->pid and friends.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

/* No kernel has this field: reading it unguarded poisons a reachable instruction. */
struct task_struct___oxbpf {
	int oxbpf_no_such_field;
} __attribute__((preserve_access_index));

__u64 out[6];

SEC("syscall")
int kernel_core(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	out[0] = bpf_core_field_offset(struct task_struct, pid);
	out[1] = bpf_core_field_size(struct task_struct, pid);
	out[2] = bpf_core_type_id_kernel(struct task_struct);
	out[3] = bpf_core_field_exists(struct task_struct___oxbpf, oxbpf_no_such_field);
	out[4] = BPF_CORE_READ(t, pid);
	out[5] = bpf_core_type_size(struct task_struct);
	return 0;
}

SEC("syscall")
int kernel_poison(void *ctx)
{
	struct task_struct___oxbpf *t = (void *)bpf_get_current_task();

	out[0] = BPF_CORE_READ(t, oxbpf_no_such_field);
	return 0;
}

char _license[] SEC("license") = "GPL";
