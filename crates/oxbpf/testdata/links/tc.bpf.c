// SPDX-License-Identifier: MIT OR Apache-2.0
// TC programs for tests/links_tc.rs: each counts packets in `counts` (slot 0: tc_a, slot 1:
// tc_b) and records in slot 2 which program ran last, then lets the next program run
// (TC_ACT_UNSPEC, which tcx calls TCX_NEXT).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void mark(__u32 slot, __u64 me)
{
	__u32 last = 2;
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	__u64 *l = bpf_map_lookup_elem(&counts, &last);
	if (c)
		__sync_fetch_and_add(c, 1);
	if (l)
		*l = me;
}

SEC("tc")
int tc_a(struct __sk_buff *skb)
{
	mark(0, 1);
	return -1; /* TC_ACT_UNSPEC / TCX_NEXT */
}

SEC("tc")
int tc_b(struct __sk_buff *skb)
{
	mark(1, 2);
	return -1;
}

char LICENSE[] SEC("license") = "GPL";
