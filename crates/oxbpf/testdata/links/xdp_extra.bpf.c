// SPDX-License-Identifier: MIT OR Apache-2.0
// XDP extras for tests/links_xdp_extra.rs: a frags-aware program, a redirect into a devmap
// whose entry runs a devmap program, and a redirect into a cpumap whose entry runs a cpumap
// program. Each counts into its own slot.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

static __always_inline void hit(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("xdp.frags")
int frags_pass(struct xdp_md *ctx)
{
	hit(0);
	return XDP_PASS;
}

SEC("xdp")
int redirect_to_devmap(struct xdp_md *ctx)
{
	hit(1);
	return bpf_redirect_map(&tx, 0, XDP_PASS);
}

SEC("xdp/devmap")
int devmap_prog(struct xdp_md *ctx)
{
	hit(2);
	return XDP_PASS;
}

SEC("xdp")
int redirect_to_cpumap(struct xdp_md *ctx)
{
	hit(3);
	return bpf_redirect_map(&cpus, 0, XDP_PASS);
}

SEC("xdp/cpumap")
int cpumap_prog(struct xdp_md *ctx)
{
	hit(4);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
