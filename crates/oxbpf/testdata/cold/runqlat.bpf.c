// SPDX-License-Identifier: MIT OR Apache-2.0
// Cold-load benchmark fixture shaped like libbpf-tools' runqlat: scheduler tp_btf and raw_tp
// programs reading task_struct through CO-RE (with the pre-5.14 `state` flavour).
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

const volatile int targ_tgid = 0;

static __always_inline int enqueue(struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, pid);
	__u64 ts;

	if (targ_tgid && BPF_CORE_READ(p, tgid) != targ_tgid)
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
	return 0;
}

static __always_inline int switched(struct task_struct *prev, struct task_struct *next)
{
	__u32 pid, slot = 0;
	__u64 *tsp, delta, *v;

	if (task_state(prev) == 0)
		enqueue(prev);
	pid = BPF_CORE_READ(next, pid);
	tsp = bpf_map_lookup_elem(&start, &pid);
	if (!tsp)
		return 0;
	delta = (bpf_ktime_get_ns() - *tsp) / 1000;
	while (delta > 1 && slot < 31) {
		delta >>= 1;
		slot++;
	}
	v = bpf_map_lookup_elem(&hist, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

HOOK(sched_wakeup, handle_sched_wakeup, enqueue(p), struct task_struct *p)
HOOK(sched_wakeup_new, handle_sched_wakeup_new, enqueue(p), struct task_struct *p)
HOOK(sched_switch, handle_sched_switch, switched(prev, next), bool preempt,
     struct task_struct *prev, struct task_struct *next)

char LICENSE[] SEC("license") = "GPL";
