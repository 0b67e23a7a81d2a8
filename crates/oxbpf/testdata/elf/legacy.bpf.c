// SPDX-License-Identifier: GPL-2.0
// ELF reader fixture: legacy `struct bpf_map_def` maps in the "maps" section, and a version section.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 32,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 2,
	.map_flags = 0,
};

char LICENSE[] SEC("license") = "Dual MIT/GPL";
__u32 _version SEC("version") = 0x060c00;

SEC("socket")
int legacy_user(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&legacy_hash, &k);
	__u32 *w = bpf_map_lookup_elem(&legacy_array, &k);

	if (v && w)
		return *v + *w;
	return 0;
}
