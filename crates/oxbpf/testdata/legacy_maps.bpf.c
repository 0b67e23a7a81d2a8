// SPDX-License-Identifier: MIT OR Apache-2.0
// Legacy `struct bpf_map_def` maps in SEC("maps") (pre-BTF style; libbpf 1.x refuses these,
// cilium/ebpf and aya still read them). `legacy_count` counts runs into legacy_array[0] and
// mirrors the count into legacy_hash[1]. Returns XDP_PASS.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/// Layout of a legacy map definition, as older bpf_helpers.h declared it.
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 2,
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 8,
	.map_flags = BPF_F_NO_PREALLOC,
};

SEC("xdp")
int legacy_count(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v, n;

	v = bpf_map_lookup_elem(&legacy_array, &key);
	if (!v)
		return XDP_ABORTED;
	n = __sync_fetch_and_add(v, 1) + 1;
	key = 1;
	bpf_map_update_elem(&legacy_hash, &key, &n, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
