// SPDX-License-Identifier: MIT OR Apache-2.0
// Process exits through a perf event array, for examples/perfbuf.rs. The exit code is read
// from the kernel's task_struct with CO-RE: only the fields used are declared, and the loader
// finds their offsets in the running kernel's BTF.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int exit_code;
} __attribute__((preserve_access_index));

struct event {
	__u32 pid;
	__s32 exit_code; /* as wait(2) reports it: status << 8, or the signal */
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)id != id >> 32)
		return 0; /* a thread other than the main one */

	struct task_struct *task = (void *)bpf_get_current_task();
	struct event e = {
		.pid = id >> 32,
		.exit_code = BPF_CORE_READ(task, exit_code),
	};
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
