/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb ICMP errors about a flow: IPv4 "fragmentation needed" and ICMPv6 "packet too
 * big" addressed to a VIP quote a reply the LB or a backend sent; icmp_flow() finds the
 * flow it belongs to, and icmp_v4()/icmp_v6() send the error to the flow's backend (DSR:
 * unchanged; NAT: outer and quoted addresses/ports rewritten, checksums updated
 * incrementally). Included by oxlb.bpf.c after reply.h.
 */
#ifndef OXLB_ICMP_H
#define OXLB_ICMP_H

/* ---- ICMP too-big about a flow ------------------------------------------- */

/* The flow that a quoted reply (VIP:vport -> client:cport) belongs to. */
struct icmp_flow {
	struct oxlb_vip vip;
	struct oxlb_backend be;
	__u32 bid;
	__be16 nat_port;
	__be16 bport;
};

/* qsrc/qdst/qsport/qdport: the quoted packet's tuple. Returns 0 or a reason. */
static __always_inline __u32 icmp_flow(struct icmp_flow *fl, const __u32 *qsrc, const __u32 *qdst,
				       __be16 qsport, __be16 qdport, __u8 proto, const int v6)
{
	struct oxlb_flow_key k;
	struct oxlb_vip *vip;

	vip = vip_lookup(qsrc, qsport, proto, v6);
	if (!vip)
		return OXLB_R_ICMP_UNTRACKED;
	fl->vip = *vip;
	__builtin_memset(&k, 0, sizeof(k));
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i == 0 || v6) {
			k.src[i] = qdst[i];
			k.dst[i] = qsrc[i];
		}
	}
	k.sport = qdport;
	k.dport = qsport;
	k.proto = proto;
	k.family = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
	fl->nat_port = 0;
	if (!ct_backend(&k, fl->vip.id, fl->vip.mode, &fl->bid, &fl->be, &fl->nat_port)) {
		/* Without conntrack only DSR/ipip/gue can find the backend (Maglev). */
		if (fl->vip.mode == OXLB_MODE_NAT)
			return OXLB_R_ICMP_UNTRACKED;
		if (pick_backend(fl->vip.id, flow_hash(&k, v6), &fl->bid, &fl->be))
			return OXLB_R_ICMP_UNTRACKED;
	}
	fl->bport = fl->be.port ? fl->be.port : qsport;
	return 0;
}

static __always_inline int icmp_v4(struct xdp_md *ctx, struct pkt *p, struct iphdr *iph, void *l4,
				   void *data_end, __u32 hl)
{
	struct icmphdr *ic = l4;
	struct bpf_fib_lookup f;
	struct oxlb_hop hop;
	struct icmp_flow fl;
	struct iphdr *q;
	__be16 *qp;
	__u64 d_outer, d_icmp;
	__u16 old_qcsum;
	__u32 r;

	if ((void *)(ic + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ic->type != ICMP_DEST_UNREACH || ic->code != ICMP_FRAG_NEEDED)
		return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
	q = (void *)(ic + 1);
	if ((void *)(q + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (q->version != 4 || q->ihl != 5 ||
	    (q->protocol != IPPROTO_TCP && q->protocol != IPPROTO_UDP))
		return verdict(OXLB_R_ICMP_UNTRACKED, XDP_PASS);
	qp = (void *)(q + 1);
	/* The quote (IPv4 header + 8 bytes) must lie inside the IP packet, not padding. */
	if ((void *)(qp + 4) > data_end || hl + sizeof(*ic) + sizeof(*q) + 8 > p->l3_len)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	r = icmp_flow(&fl, &q->saddr, &q->daddr, qp[0], qp[1], q->protocol, 0);
	if (r)
		return verdict(r, XDP_PASS);
	if (fl.vip.mode == OXLB_MODE_IPIP || fl.vip.mode == OXLB_MODE_GUE)
		return encap_icmp(ctx, p, &fl.vip, &fl.be, 0);

	if (fl.vip.mode == OXLB_MODE_DSR) {
		__u32 any[4] = {};

		r = fib_resolve(ctx, &f, fl.be.family, any, fl.be.addr, IPPROTO_ICMP, 0, 0,
				p->l3_len);
		if (r)
			return verdict(r, XDP_PASS);
		count(OXLB_R_ICMP_FORWARDED);
		hop_from_fib(&hop, &f, 0);
		return emit(ctx, p->eth, &hop, p->vlan);
	}
	if (fl.vip.snat_family != OXLB_AF_INET || fl.be.family != OXLB_AF_INET)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	r = fib_resolve(ctx, &f, OXLB_AF_INET, fl.vip.snat_addr, fl.be.addr, IPPROTO_ICMP, 0, 0,
			p->l3_len);
	if (r)
		return verdict(r, XDP_PASS);

	/* Outer: router -> VIP becomes SNAT -> backend. */
	d_outer = csum_delta32(iph->saddr, fl.vip.snat_addr[0]) +
		  csum_delta32(iph->daddr, fl.be.addr[0]);
	iph->saddr = fl.vip.snat_addr[0];
	iph->daddr = fl.be.addr[0];
	iph->check = csum_apply(iph->check, d_outer);

	/* Quoted: VIP:vport -> client:cport becomes backend:bport -> SNAT:nat_port. */
	d_icmp = csum_delta32(q->saddr, fl.be.addr[0]) + csum_delta32(q->daddr, fl.vip.snat_addr[0]);
	old_qcsum = q->check;
	q->check = csum_apply(q->check, d_icmp);
	d_icmp += csum_delta16(old_qcsum, q->check);
	q->saddr = fl.be.addr[0];
	q->daddr = fl.vip.snat_addr[0];
	d_icmp += csum_delta16(qp[0], fl.bport) + csum_delta16(qp[1], fl.nat_port);
	qp[0] = fl.bport;
	qp[1] = fl.nat_port;
	ic->checksum = csum_apply(ic->checksum, d_icmp);
	count(OXLB_R_ICMP_FORWARDED);
	hop_from_fib(&hop, &f, 0);
	return emit(ctx, p->eth, &hop, p->vlan);
}

static __always_inline int icmp_v6(struct xdp_md *ctx, struct pkt *p, struct ipv6hdr *ip6, void *l4,
				   void *data_end)
{
	struct icmp6hdr *ic = l4;
	struct bpf_fib_lookup f;
	struct oxlb_hop hop;
	struct icmp_flow fl;
	struct ipv6hdr *q;
	__u32 *os, *od, *qs, *qd;
	__be16 *qp;
	__u64 d = 0;
	__u32 r;

	if ((void *)(ic + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ic->icmp6_type != ICMPV6_PKT_TOOBIG)
		return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
	q = (void *)(ic + 1);
	if ((void *)(q + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (q->nexthdr != IPPROTO_TCP && q->nexthdr != IPPROTO_UDP)
		return verdict(OXLB_R_ICMP_UNTRACKED, XDP_PASS);
	qp = (void *)(q + 1);
	if ((void *)(qp + 4) > data_end || sizeof(*ip6) + sizeof(*ic) + sizeof(*q) + 8 > p->l3_len)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	qs = q->saddr.in6_u.u6_addr32;
	qd = q->daddr.in6_u.u6_addr32;
	r = icmp_flow(&fl, qs, qd, qp[0], qp[1], q->nexthdr, 1);
	if (r)
		return verdict(r, XDP_PASS);
	if (fl.vip.mode == OXLB_MODE_IPIP || fl.vip.mode == OXLB_MODE_GUE)
		return encap_icmp(ctx, p, &fl.vip, &fl.be, 1);

	if (fl.vip.mode == OXLB_MODE_DSR) {
		__u32 any[4] = {};

		r = fib_resolve(ctx, &f, fl.be.family, any, fl.be.addr, IPPROTO_ICMPV6, 0, 0,
				p->l3_len);
		if (r)
			return verdict(r, XDP_PASS);
		count(OXLB_R_ICMP_FORWARDED);
		hop_from_fib(&hop, &f, 0);
		return emit(ctx, p->eth, &hop, p->vlan);
	}
	if (fl.vip.snat_family != OXLB_AF_INET6 || fl.be.family != OXLB_AF_INET6)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	r = fib_resolve(ctx, &f, OXLB_AF_INET6, fl.vip.snat_addr, fl.be.addr, IPPROTO_ICMPV6, 0, 0,
			p->l3_len);
	if (r)
		return verdict(r, XDP_PASS);

	/* ICMPv6 checksum covers the pseudo-header (outer addresses) and the quote. */
	os = ip6->saddr.in6_u.u6_addr32;
	od = ip6->daddr.in6_u.u6_addr32;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		d += csum_delta32(os[i], fl.vip.snat_addr[i]) + csum_delta32(od[i], fl.be.addr[i]);
		d += csum_delta32(qs[i], fl.be.addr[i]) + csum_delta32(qd[i], fl.vip.snat_addr[i]);
		os[i] = fl.vip.snat_addr[i];
		od[i] = fl.be.addr[i];
		qs[i] = fl.be.addr[i];
		qd[i] = fl.vip.snat_addr[i];
	}
	d += csum_delta16(qp[0], fl.bport) + csum_delta16(qp[1], fl.nat_port);
	qp[0] = fl.bport;
	qp[1] = fl.nat_port;
	ic->icmp6_cksum = csum_apply(ic->icmp6_cksum, d);
	count(OXLB_R_ICMP_FORWARDED);
	hop_from_fib(&hop, &f, 0);
	return emit(ctx, p->eth, &hop, p->vlan);
}

#endif /* OXLB_ICMP_H */
