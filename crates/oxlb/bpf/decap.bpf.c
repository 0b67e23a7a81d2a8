// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * oxlb decap: XDP program for backends of ipip/gue VIPs (`oxlb decap --iface IF`).
 *
 * Strips the outer header of IPIP (IPv4 or IPv6 outer, protocol 4 = IPv4 inside,
 * 41 = IPv6 inside) and GUE (UDP to oxlb_decap_cfg.gue_port; variant 1 = the inner
 * IP packet right after UDP, variant 0 = a GUE header with protocol 4/41 and
 * optional fields, skipped) when the outer destination is one of the host's
 * addresses in oxlb_decap_addrs, and passes the inner packet to the local stack
 * (XDP_PASS), where the VIP is bound on `lo`. The inner packet is not changed (no
 * TTL decrement, no ECN propagation: the outer ECN field is dropped).
 *
 * Nothing is ever delivered half-parsed:
 *   not IPv4/IPv6 (ARP, VLAN tags) ............... XDP_PASS untouched (PASS_NOT_IP)
 *   not a tunnel protocol / other UDP port ........ XDP_PASS untouched (PASS_NOT_ENCAP)
 *   tunnel packet for another address ............. XDP_PASS untouched (PASS_NOT_LOCAL)
 *   outer header short, bad version, IPv4 options,
 *   fragment, lengths past the frame, GUE control
 *   or a GUE protocol other than 4/41 ............. XDP_PASS untouched (PASS_OUTER):
 *       the kernel applies its own rules (no tunnel device here: it drops them)
 *   local tunnel packet with a bad outer IPv4
 *   header checksum, UDP length out of range,
 *   unknown GUE variant, an inner header that is
 *   short, of the wrong family, or longer than
 *   the outer payload ............................ XDP_DROP (DROP_MALFORMED)
 *   stripped ..................................... XDP_PASS of the inner packet (IPIP / GUE)
 * The GUE UDP checksum is not verified (it would mean reading the whole payload);
 * the inner packet's own checksums, verified by the stack, protect its contents.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "decap.h"

#define IP4_MF 0x2000
#define IP4_OFFSET 0x1fff
#define AF_INET_ 2
#define AF_INET6_ 10
#define GUE_LEN 4

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DECAP_MAX_ADDRS);
	__type(key, struct decap_addr);
	__type(value, __u8);
} oxlb_decap_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DECAP_R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} oxlb_decap_stats SEC(".maps");

const volatile struct decap_config oxlb_decap_cfg = {
	.gue_port = __bpf_constant_htons(6080),
};

static __always_inline int verdict(__u32 reason, int action)
{
	__u64 *c = bpf_map_lookup_elem(&oxlb_decap_stats, &reason);

	if (c)
		*c += 1;
	return action;
}

/* A 16-bit length in host order, bounded for the verifier (see parse.h). */
static __always_inline __u32 be16_len(__be16 v)
{
	__u32 n = bpf_ntohs(v);

	asm volatile("%0 &= 0xffff" : "+r"(n));
	return n;
}

static __always_inline int is_local(const __u32 *addr, const int v6)
{
	struct decap_addr k;

	__builtin_memset(&k, 0, sizeof(k));
	k.addr[0] = addr[0];
	if (v6) {
		k.addr[1] = addr[1];
		k.addr[2] = addr[2];
		k.addr[3] = addr[3];
	}
	k.family = v6 ? AF_INET6_ : AF_INET_;
	return bpf_map_lookup_elem(&oxlb_decap_addrs, &k) != NULL;
}

/* Strip `ohl` bytes of outer IP header (a constant) and, for GUE, the UDP and GUE
 * headers after it; `proto` is the outer protocol, `payload` the outer payload length. */
static __always_inline int strip(struct xdp_md *ctx, __u8 proto, const __u32 ohl, __u32 payload)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, *neth;
	__u32 skip = 0, remaining = payload, reason = DECAP_R_IPIP, cut;
	__u8 iproto = proto;
	__be16 etype;
	void *in;

	if ((void *)(eth + 1) > end)
		return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
	if (proto == IPPROTO_UDP) {
		struct udphdr *u = data + ETH_HLEN + ohl;
		__u8 *g = (void *)(u + 1);
		__u32 ulen;

		if ((void *)(g + GUE_LEN) > end)
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		ulen = be16_len(u->len);
		if (ulen < sizeof(*u) + GUE_LEN || ulen > payload)
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		switch (g[0] >> 6) {
		case 1: /* variant 1: the IP version nibble follows */
			if (g[0] >> 4 == 4)
				iproto = IPPROTO_IPIP;
			else if (g[0] >> 4 == 6)
				iproto = IPPROTO_IPV6;
			else
				return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
			skip = sizeof(*u);
			break;
		case 0: /* variant 0: 4-byte header + hlen words of optional fields */
			if (g[0] & 0x20) /* control message */
				return verdict(DECAP_R_PASS_OUTER, XDP_PASS);
			if (g[1] != IPPROTO_IPIP && g[1] != IPPROTO_IPV6)
				return verdict(DECAP_R_PASS_OUTER, XDP_PASS);
			iproto = g[1];
			skip = sizeof(*u) + GUE_LEN + (g[0] & 0x1f) * 4;
			break;
		default:
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		}
		if (skip > ulen)
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		remaining = ulen - skip;
		reason = DECAP_R_GUE;
	}
	cut = ohl + skip; /* <= 40 + 8 + 4 + 124 */
	asm volatile("%0 &= 0xff" : "+r"(cut));
	in = data + ETH_HLEN + cut;
	if (iproto == IPPROTO_IPIP) {
		struct iphdr *i = in;
		__u32 tot;

		if ((void *)(i + 1) > end || i->version != 4 || i->ihl < 5)
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		tot = be16_len(i->tot_len);
		if (tot < i->ihl * 4 || tot > remaining)
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		etype = bpf_htons(ETH_P_IP);
	} else if (iproto == IPPROTO_IPV6) {
		struct ipv6hdr *i = in;

		if ((void *)(i + 1) > end || i->version != 6 ||
		    sizeof(*i) + be16_len(i->payload_len) > remaining)
			return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
		etype = bpf_htons(ETH_P_IPV6);
	} else {
		return verdict(DECAP_R_PASS_NOT_ENCAP, XDP_PASS);
	}
	/* The Ethernet header moves up to just before the inner packet. */
	neth = data + cut;
	if ((void *)(neth + 1) > end)
		return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
	__builtin_memcpy(neth->h_dest, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(neth->h_source, eth->h_source, ETH_ALEN);
	neth->h_proto = etype;
	if (bpf_xdp_adjust_head(ctx, (int)cut))
		return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
	return verdict(reason, XDP_PASS);
}

/* The GUE port check of a UDP outer packet whose UDP header starts at u. */
static __always_inline int is_gue(const struct udphdr *u, void *end)
{
	return (void *)(u + 1) <= end && u->dest == oxlb_decap_cfg.gue_port;
}

static __always_inline int outer_v4(struct xdp_md *ctx, struct iphdr *o, void *end)
{
	const __u16 *w = (const __u16 *)o;
	__u32 tot, sum = 0;

	if ((void *)(o + 1) > end || o->version != 4 || o->ihl != 5)
		return verdict(DECAP_R_PASS_OUTER, XDP_PASS);
	if (o->protocol != IPPROTO_IPIP && o->protocol != IPPROTO_IPV6 &&
	    o->protocol != IPPROTO_UDP)
		return verdict(DECAP_R_PASS_NOT_ENCAP, XDP_PASS);
	if (o->protocol == IPPROTO_UDP && !is_gue((void *)(o + 1), end))
		return verdict(DECAP_R_PASS_NOT_ENCAP, XDP_PASS);
	tot = be16_len(o->tot_len);
	if (tot < sizeof(*o) || (void *)o + tot > end ||
	    (o->frag_off & bpf_htons(IP4_MF | IP4_OFFSET)))
		return verdict(DECAP_R_PASS_OUTER, XDP_PASS);
	if (!is_local(&o->daddr, 0))
		return verdict(DECAP_R_PASS_NOT_LOCAL, XDP_PASS);
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*o) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	if (sum != 0xffff)
		return verdict(DECAP_R_DROP_MALFORMED, XDP_DROP);
	return strip(ctx, o->protocol, sizeof(*o), tot - sizeof(*o));
}

static __always_inline int outer_v6(struct xdp_md *ctx, struct ipv6hdr *o, void *end)
{
	__u32 plen;

	if ((void *)(o + 1) > end || o->version != 6)
		return verdict(DECAP_R_PASS_OUTER, XDP_PASS);
	if (o->nexthdr != IPPROTO_IPIP && o->nexthdr != IPPROTO_IPV6 &&
	    o->nexthdr != IPPROTO_UDP)
		return verdict(DECAP_R_PASS_NOT_ENCAP, XDP_PASS);
	if (o->nexthdr == IPPROTO_UDP && !is_gue((void *)(o + 1), end))
		return verdict(DECAP_R_PASS_NOT_ENCAP, XDP_PASS);
	plen = be16_len(o->payload_len);
	if ((void *)(o + 1) + plen > end)
		return verdict(DECAP_R_PASS_OUTER, XDP_PASS);
	if (!is_local(o->daddr.in6_u.u6_addr32, 1))
		return verdict(DECAP_R_PASS_NOT_LOCAL, XDP_PASS);
	return strip(ctx, o->nexthdr, sizeof(*o), plen);
}

SEC("xdp")
int oxlb_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return verdict(DECAP_R_PASS_NOT_IP, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return outer_v4(ctx, (void *)(eth + 1), end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return outer_v6(ctx, (void *)(eth + 1), end);
	return verdict(DECAP_R_PASS_NOT_IP, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
