// SPDX-License-Identifier: MIT OR Apache-2.0
// tc programs of examples/tc_counter.rs: count packets and bytes per direction in a per-CPU
// array (slot 0: ingress, 1: egress), then let the packet go on.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct counters);
} traffic SEC(".maps");

/* TC_ACT_UNSPEC: run the next program (tcx's TCX_NEXT) or the default action. */
#define NEXT -1

static __always_inline int count(struct __sk_buff *skb, __u32 slot)
{
	struct counters *c = bpf_map_lookup_elem(&traffic, &slot);
	if (c) {
		c->packets++; /* per-CPU: no other CPU writes this copy */
		c->bytes += skb->len;
	}
	return NEXT;
}

SEC("tc")
int count_ingress(struct __sk_buff *skb)
{
	return count(skb, 0);
}

SEC("tc")
int count_egress(struct __sk_buff *skb)
{
	return count(skb, 1);
}

char LICENSE[] SEC("license") = "GPL";
