// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Benchmark floor: the least an XDP forwarder can do. Parse Ethernet / IPv4 / TCP,
 * swap the MAC addresses and send the frame back out (XDP_TX). Anything else is
 * passed to the kernel. oxlb's cost is measured against this program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int floor_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];
	struct iphdr *iph;
	struct tcphdr *tcp;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ihl < 5 || iph->protocol != IPPROTO_TCP)
		return XDP_PASS;
	tcp = (void *)iph + iph->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

char _license[] SEC("license") = "Dual MIT/GPL";
