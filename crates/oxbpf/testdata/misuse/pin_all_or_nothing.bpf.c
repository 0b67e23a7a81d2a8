// SPDX-License-Identifier: MIT OR Apache-2.0
// `oxbpf load --pin` is all or nothing: a LIBBPF_PIN_BY_NAME map, a program that loads and
// one the verifier refuses (it reads one past its map value).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} misuse_counts SEC(".maps");

SEC("xdp")
int count_ok(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&misuse_counts, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_PASS;
}

SEC("xdp")
int count_oob(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&misuse_counts, &zero);

	if (!v)
		return XDP_PASS;
	return *(volatile __u64 *)(v + 1);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
