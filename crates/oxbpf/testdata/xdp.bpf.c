// SPDX-License-Identifier: MIT OR Apache-2.0
// XDP programs for attach and BPF_PROG_RUN tests.
//
// xdp_pass:    counts packets in pkt_count[0] (per-CPU) and bytes in pkt_count[1]; XDP_PASS.
// xdp_drop:    XDP_DROP.
// xdp_tx_swap: for Ethernet + IPv4 frames swaps source/destination MACs and IPv4 addresses,
//              sets swapped[0] += 1, returns XDP_TX; anything else (short or not IPv4) XDP_PASS.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pkt_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} swapped SEC(".maps");

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v;

	v = bpf_map_lookup_elem(&pkt_count, &key);
	if (v)
		*v += 1;
	key = 1;
	v = bpf_map_lookup_elem(&pkt_count, &key);
	if (v)
		*v += ctx->data_end - ctx->data;
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int xdp_tx_swap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	unsigned char mac[ETH_ALEN];
	__u32 addr, key = 0;
	__u64 *v;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;

	v = bpf_map_lookup_elem(&swapped, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
