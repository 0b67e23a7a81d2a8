// SPDX-License-Identifier: MIT OR Apache-2.0
// A program the verifier must refuse: `bad_oob` reads 8 bytes past the end of a map value
// (value_size 8, offset 8). `good_neighbour` is fine, so a partial load still has something.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bad_vals SEC(".maps");

SEC("xdp")
int bad_oob(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&bad_vals, &zero);

	if (!v)
		return XDP_PASS;
	return *(volatile __u64 *)(v + 1); /* BAD_LINE: one past the value */
}

SEC("xdp")
int good_neighbour(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
