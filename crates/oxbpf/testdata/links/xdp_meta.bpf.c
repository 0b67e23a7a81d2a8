// SPDX-License-Identifier: MIT OR Apache-2.0
// A device-bound XDP program (tests/links_xdp_extra.rs): it calls the XDP metadata kfunc
// bpf_xdp_metadata_rx_hash, which the verifier accepts only in programs loaded with
// `prog_ifindex` + BPF_F_XDP_DEV_BOUND_ONLY. Per packet it records in `meta`:
// [0] packets seen, [1] packets whose rx hash the device provided, [2] the last hash,
// [3] the last kfunc return value (0 or -errno, as u64).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Local stand-in for the kernel's enum (enum types are compatible by kind). */
enum xdp_rss_hash_type { XDP_RSS_TYPE_NONE = 0 };

extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} meta SEC(".maps");

static __always_inline void put(__u32 slot, __u64 v, int add)
{
	__u64 *p = bpf_map_lookup_elem(&meta, &slot);
	if (!p)
		return;
	if (add)
		__sync_fetch_and_add(p, v);
	else
		*p = v;
}

SEC("xdp")
int meta_hash(struct xdp_md *ctx)
{
	enum xdp_rss_hash_type type = XDP_RSS_TYPE_NONE;
	__u32 hash = 0;
	int ret = bpf_xdp_metadata_rx_hash(ctx, &hash, &type);

	put(0, 1, 1);
	put(3, (__u64)(__s64)ret, 0);
	if (ret == 0) {
		put(1, 1, 1);
		put(2, hash, 0);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
