/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb parsing: parse_frame() reads Ethernet and at most one 802.1Q/802.1ad tag,
 * handle_v4()/handle_v6() check the IPv4/IPv6 header (lengths, IHL, fragments, options,
 * extension headers) and parse_l4() the TCP/UDP header into struct pkt; ICMP errors go to
 * icmp.h, other packets to dispatch() (main program, stage 0) or cookie_dispatch() (cookie
 * program, stage 1). Included by oxlb.bpf.c last, after dispatch.h.
 */
#ifndef OXLB_PARSE_H
#define OXLB_PARSE_H

/* ---- L3/L4 parsing --------------------------------------------------------- */

/* A 16-bit length field in host order, bounded for the verifier: before 6.6ish
 * (seen on 6.1) the verifier forgets a register's bounds across a byte swap, and
 * then refuses "pkt pointer + length" (unbounded min value). The mask is hidden
 * from the compiler, which would drop it as redundant. */
static __always_inline __u32 be16_len(__be16 v)
{
	__u32 n = bpf_ntohs(v);

	asm volatile("%0 &= 0xffff" : "+r"(n));
	return n;
}

/* TCP/UDP header at l4 (l4_off bytes into an IP packet of ip_len bytes). */
static __always_inline __u32 parse_l4(struct pkt *p, void *l4, void *data_end, __u32 l4_off,
				      __u32 ip_len)
{
	/* Hide l4's relation to the checked IP length from the compiler: otherwise it
	 * drops the data_end checks below as implied, and the verifier cannot follow. */
	asm volatile("" : "+r"(l4));
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *t = l4;

		if ((void *)(t + 1) > data_end || l4_off + sizeof(*t) > ip_len || t->doff < 5)
			return OXLB_R_TRUNCATED;
		p->sport = &t->source;
		p->dport = &t->dest;
		p->l4_csum = &t->check;
		p->tcp = (t->syn && !t->ack ? TCP_SYN : 0) | (t->syn && t->ack ? TCP_SYNACK : 0) |
			 (t->fin ? TCP_FIN : 0) | (t->rst ? TCP_RST : 0) | (t->ack ? TCP_ACK : 0);
		p->tcp_seq = bpf_ntohl(t->syn && t->ack ? t->seq : t->ack_seq);
	} else if (p->key.proto == IPPROTO_UDP) {
		struct udphdr *u = l4;

		if ((void *)(u + 1) > data_end || l4_off + sizeof(*u) > ip_len)
			return OXLB_R_TRUNCATED;
		p->sport = &u->source;
		p->dport = &u->dest;
		p->l4_csum = &u->check;
	} else {
		return OXLB_R_PASS_NOT_VIP;
	}
	p->key.sport = *p->sport;
	p->key.dport = *p->dport;
	return 0;
}

/* stage 0: the main program (dispatch); 1: the cookie program (cookie_dispatch). */
static __always_inline int handle_v4(struct xdp_md *ctx, struct pkt *p, void *l3, void *data_end,
				     __u32 l2_len, const int stage)
{
	struct iphdr *iph = l3;
	__u32 hl, tot, r;
	void *l4;

	if ((void *)(iph + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (iph->version != 4 || iph->ihl < 5)
		return verdict(OXLB_R_BAD_IHL, XDP_PASS);
	hl = iph->ihl * 4;
	tot = be16_len(iph->tot_len);
	if (tot < hl || l3 + tot > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (iph->frag_off & bpf_htons(IP4_MF | IP4_OFFSET))
		return verdict(OXLB_R_FRAGMENT, XDP_PASS);
	if (hl > sizeof(*iph))
		count(OXLB_R_IP_OPTIONS);
	l4 = l3 + hl;
	p->saddr = &iph->saddr;
	p->daddr = &iph->daddr;
	p->ip_csum = &iph->check;
	p->l3_len = tot;
	p->bytes = l2_len + tot;
	p->key.src[0] = iph->saddr;
	p->key.dst[0] = iph->daddr;
	p->key.proto = iph->protocol;
	p->key.family = OXLB_AF_INET;
	if (iph->protocol == IPPROTO_ICMP)
		return stage ? XDP_DROP : icmp_v4(ctx, p, iph, l4, data_end, hl);
	r = parse_l4(p, l4, data_end, hl, tot);
	if (r)
		return verdict(r, XDP_PASS);
	return stage ? cookie_dispatch(ctx, p, l3, l4, 0) : dispatch(ctx, p, 0);
}

static __always_inline int is_v6_ext(__u8 nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* shim6 */
	case 253: /* experimental */
	case 254:
		return 1;
	}
	return 0;
}

static __always_inline int handle_v6(struct xdp_md *ctx, struct pkt *p, void *l3, void *data_end,
				     __u32 l2_len, const int stage)
{
	struct ipv6hdr *ip6 = l3;
	__u32 tot, r;
	void *l4;

	if ((void *)(ip6 + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ip6->version != 6)
		return verdict(OXLB_R_BAD_IHL, XDP_PASS);
	tot = sizeof(*ip6) + be16_len(ip6->payload_len);
	if (l3 + tot > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ip6->nexthdr == IPPROTO_FRAGMENT)
		return verdict(OXLB_R_FRAGMENT, XDP_PASS);
	if (is_v6_ext(ip6->nexthdr))
		return verdict(OXLB_R_IPV6_EXT, XDP_PASS);
	l4 = ip6 + 1;
	p->saddr = ip6->saddr.in6_u.u6_addr32;
	p->daddr = ip6->daddr.in6_u.u6_addr32;
	p->l3_len = tot;
	p->bytes = l2_len + tot;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		p->key.src[i] = p->saddr[i];
		p->key.dst[i] = p->daddr[i];
	}
	p->key.proto = ip6->nexthdr;
	p->key.family = OXLB_AF_INET6;
	if (ip6->nexthdr == IPPROTO_ICMPV6)
		return stage ? XDP_DROP : icmp_v6(ctx, p, ip6, l4, data_end);
	r = parse_l4(p, l4, data_end, sizeof(*ip6), tot);
	if (r)
		return verdict(r, XDP_PASS);
	return stage ? cookie_dispatch(ctx, p, l3, l4, 1) : dispatch(ctx, p, 1);
}

/* Parse the frame and hand it to the main datapath (stage 0) or the cookie program (1). */
static __always_inline int parse_frame(struct xdp_md *ctx, const int stage)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l2_len = sizeof(*eth);
	__be16 proto;
	struct pkt p;
	void *l3;

	if ((void *)(eth + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	__builtin_memset(&p, 0, sizeof(p));
	p.eth = eth;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return verdict(OXLB_R_TRUNCATED, XDP_PASS);
		proto = vh->encap_proto;
		l3 = vh + 1;
		l2_len += ETH_VLAN_LEN;
		p.vlan = 1;
		count(OXLB_R_VLAN);
	}
	if (proto == bpf_htons(ETH_P_IP))
		return handle_v4(ctx, &p, l3, data_end, l2_len, stage);
	if (proto == bpf_htons(ETH_P_IPV6))
		return handle_v6(ctx, &p, l3, data_end, l2_len, stage);
	return verdict(OXLB_R_PASS_NOT_IP, XDP_PASS);
}

#endif /* OXLB_PARSE_H */
