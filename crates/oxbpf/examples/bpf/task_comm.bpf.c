// SPDX-License-Identifier: MIT OR Apache-2.0
// Reading task->comm two ways, for examples/task_comm.rs: a classic tracepoint that reads the
// current task_struct with CO-RE (BPF_CORE_READ_STR_INTO), and a tp_btf program whose
// argument is a typed task_struct pointer. Each counts events per command name.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* Only the fields used; offsets come from the running kernel's BTF at load. */
struct task_struct {
	char comm[16];
} __attribute__((preserve_access_index));

struct comm {
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm);
	__type(value, __u64);
} forks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm);
	__type(value, __u64);
} execs SEC(".maps");

static __always_inline void bump(void *map, struct comm *key)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(map, key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

/* Classic tracepoint: runs in the parent; its comm is read from task_struct with CO-RE. */
SEC("tracepoint/sched/sched_process_fork")
int count_forks(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct comm key = {};
	BPF_CORE_READ_STR_INTO(&key.name, task, comm);
	bump(&forks, &key);
	return 0;
}

/* BTF-enabled tracepoint: the arguments are the kernel's own, typed. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(count_execs, struct task_struct *p, int old_pid, void *bprm)
{
	struct comm key = {};
	bpf_probe_read_kernel_str(key.name, sizeof(key.name), p->comm);
	bump(&execs, &key);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
