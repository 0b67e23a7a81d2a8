// SPDX-License-Identifier: MIT OR Apache-2.0
// Programs of the AF_XDP benchmark (benches/xsk.rs), on a veth pair gen0 <-> fwd0:
//
// gen_tx:    the traffic generator, run with BPF_PROG_RUN and live frames "on" gen0: sends
//            the frame it was given out of gen0 (XDP_TX), towards fwd0.
// count:     on gen0: counts the frames that come back (per-CPU counts[0]), XDP_DROP.
// swap_tx:   the in-kernel forwarder (the ceiling): swaps the MACs of an Ethernet frame and
//            sends it back out of fwd0 (XDP_TX); shorter frames are passed.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int gen_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &zero);

	if (n)
		*n += 1;
	return XDP_DROP;
}

SEC("xdp")
int swap_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

char _license[] SEC("license") = "Dual MIT/GPL";
