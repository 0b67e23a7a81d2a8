/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb encapsulated DSR (OXLB_MODE_IPIP, OXLB_MODE_GUE): included by oxlb.bpf.c after
 * its helpers (checksums, flow hash, fib, conntrack, emit).
 *
 * The client's IP packet is kept byte for byte and wrapped in an outer header
 * towards the backend's address; the backend strips it (`oxlb decap`, or a kernel
 * ipip/fou device) and answers the client directly. No NAT state: any LB node with
 * the same plan picks the same backend (Maglev), so a flow survives a node change.
 *
 *   ipip: outer IPv4 (protocol 4 = IPv4 inside, 41 = IPv6 inside) or outer IPv6
 *         (next header 4 / 41); the outer family is the backend's, so 4in4, 6in6,
 *         4in6 and 6in4 all occur.
 *   gue:  outer IPv4/IPv6 + UDP to oxlb_encap.gue_port + the inner packet (GUE
 *         variant 1: no GUE header, the IP version nibble says which).
 *
 * Outer source: oxlb_encap.src4/src6 | (flow hash & mask): each flow keeps one
 * source, flows spread over the prefix, so the backends' NIC RSS spreads them over
 * queues. GUE's UDP source port is 49152 + 14 bits of the hash for the same reason;
 * the IPv6 flow label carries 20 bits of it.
 * Outer IPv4: DF set, TTL 64, TOS copied from the inner packet, full header checksum.
 * Outer IPv6: traffic class copied, hop limit 64.
 * UDP checksum: 0 over IPv4 (RFC 768). Over IPv6 it is computed (RFC 8200), in O(1):
 * a packet whose own checksums verify sums to a value known from its pseudo-header
 * alone (IPv4 header: 0xffff; TCP/UDP/ICMPv6 segment: ~pseudo-header; ICMP: 0xffff),
 * so the outer sum never reads the payload. The one exception, UDP over IPv4 without
 * a checksum, gets a zero outer checksum: RFC 6935/6936 allow it for tunnels and
 * both `oxlb decap` and Linux fou accept it.
 *
 * Too big: the outer length is checked against the egress MTU (bpf_fib_lookup on a
 * new hop, bpf_check_mtu on a cached one). A packet that does not fit gets the
 * answer the kernel would give: ICMP fragmentation needed (IPv4 with DF) or ICMPv6
 * packet too big, from the VIP to the client, carrying MTU - encapsulation overhead
 * and the first ENCAP_QUOTE bytes of the packet, sent back out of the ingress
 * interface (ENCAP_TOO_BIG). IPv4 without DF, or packets shorter than the quote
 * (an egress MTU below ENCAP_QUOTE + overhead), are dropped (ENCAP_TOO_BIG_DROP).
 */
#ifndef OXLB_ENCAP_H
#define OXLB_ENCAP_H

#define IP4_DF 0x4000
/* Bytes of the offending packet quoted in a too-big answer (a multiple of 4, at
 * most 512 for bpf_csum_diff; IPv4 answer 540 bytes <= 576, IPv6 560 <= 1280). */
#define ENCAP_QUOTE 512
#define ENCAP_TTL 64
#define GUE_SPORT_BASE 0xc000

/* Set by the loader before load (see oxlb.h). */
const volatile struct oxlb_encap_config oxlb_encap = {
	.gue_port = __bpf_constant_htons(6080),
};

/* What to put around a packet. */
struct encap_job {
	__u32 src[4];	/* outer source (too big: the client) */
	__u32 dst[4];	/* outer destination (too big: the VIP) */
	__u64 isum;	/* inner_sum() */
	__u32 hash;
	__u16 inner_len;
	__u8 out6;	  /* outer IPv6 */
	__u8 gue;
	__u8 inner_proto; /* IPPROTO_IPIP or IPPROTO_IPV6 */
	__u8 tos;
	__u8 csum_zero; /* GUE over IPv6: no usable inner sum, send checksum 0 */
	__u8 _pad;
	__u16 tpid;	/* VLAN frames: the tag's TPID and TCI (network order) */
	__u16 tci;
	__u8 mac[2 * ETH_ALEN]; /* too big: the frame's destination and source MACs */
	__u32 mtu;
};

/* Per-CPU scratch space of the encap path: oxlb_xdp's inlined paths already
 * fill the 512-byte BPF stack. */
struct encap_scratch {
	struct bpf_fib_lookup f;
	struct encap_job j;
	struct oxlb_hop hop;
	struct oxlb_backend be;
	__u64 now;
	__u32 bid;
	__u32 vip_id;
	__u32 hash;
	__u32 ov; /* encapsulation overhead */
	__u8 mode;
	__u8 new_flow;
	__u8 store; /* record a new flow in conntrack */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct encap_scratch);
} oxlb_encap_scratch SEC(".maps");

static __always_inline __u32 fold16(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u32)s;
}

/* One's-complement sum of `n` 16-bit words at p (n a constant). */
static __always_inline __u64 sum16(const void *p, int n)
{
	const __u16 *w = p;
	__u64 s = 0;

#pragma unroll
	for (int i = 0; i < n; i++)
		s += w[i];
	return s;
}

/* Sum of the 32-bit words of an address (1 for IPv4, 4 for IPv6). */
static __always_inline __u64 sum_addr(const __u32 *a, const int v6)
{
	__u64 s = 0;

#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i == 0 || v6)
			s += (a[i] & 0xffff) + (a[i] >> 16);
	return s;
}

/* The outer source of a flow: the configured prefix of `family` with host bits from
 * the hash. Returns 0, or DROP_BAD_CONFIG when no prefix of that family is set. */
static __always_inline __u32 encap_source(__u32 *src, __u8 family, __u32 hash)
{
	if (family == OXLB_AF_INET) {
		if (!oxlb_encap.src4)
			return OXLB_R_DROP_BAD_CONFIG;
		src[0] = oxlb_encap.src4 | (hash & oxlb_encap.mask4);
		src[1] = src[2] = src[3] = 0;
		return 0;
	}
	if (family != OXLB_AF_INET6 ||
	    !(oxlb_encap.src6[0] | oxlb_encap.src6[1] | oxlb_encap.src6[2] | oxlb_encap.src6[3]))
		return OXLB_R_DROP_BAD_CONFIG;
	src[0] = oxlb_encap.src6[0];
	src[1] = oxlb_encap.src6[1];
	src[2] = oxlb_encap.src6[2];
	src[3] = oxlb_encap.src6[3] | (hash & oxlb_encap.mask6);
	return 0;
}

/* Sum of the inner packet's bytes, derived from its own checksums (see top). l3: the
 * inner header, checked to hold it. Returns 0 with *sum set, or 1 when the packet
 * carries no transport checksum (UDP over IPv4 with checksum 0). */
static __always_inline int inner_sum(const struct pkt *p, const void *l3, __u64 *sum,
				     const int v6)
{
	__u32 l4_len;
	__u64 ps;

	if (v6) {
		l4_len = p->l3_len - sizeof(struct ipv6hdr);
		ps = sum_addr(p->saddr, 1) + sum_addr(p->daddr, 1) + bpf_htons(l4_len) +
		     bpf_htons((__u16)p->key.proto);
		*sum = sum16(l3, sizeof(struct ipv6hdr) / 2) + (__u16)~fold16(ps);
		return 0;
	}
	if (p->key.proto == IPPROTO_ICMP) {
		*sum = 0; /* header and message each sum to 0xffff (== 0) */
		return 0;
	}
	if (p->key.proto == IPPROTO_UDP && p->l4_csum && *p->l4_csum == 0)
		return 1;
	l4_len = p->l3_len - ((const struct iphdr *)l3)->ihl * 4;
	ps = sum_addr(p->saddr, 0) + sum_addr(p->daddr, 0) + bpf_htons(l4_len) +
	     bpf_htons((__u16)p->key.proto);
	*sum = (__u16)~fold16(ps);
	return 0;
}

/* TOS / traffic class byte of the inner header at l3. */
static __always_inline __u8 inner_tos(const void *l3, const int v6)
{
	if (v6) {
		const __u8 *b = l3;

		return (__u8)((b[0] << 4) | (b[1] >> 4));
	}
	return ((const struct iphdr *)l3)->tos;
}


static __always_inline __u32 encap_overhead(const struct encap_job *j)
{
	return (j->out6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) +
	       (j->gue ? sizeof(struct udphdr) : 0);
}

/* Grow the frame by the outer headers and write them (l2: 14 or 18, a constant).
 * Returns the new Ethernet header or NULL (the frame is then dropped). */
static __always_inline struct ethhdr *encap_push(struct xdp_md *ctx, const struct encap_job *j,
						 const int l2)
{
	__u32 ov = encap_overhead(j);
	__u16 eth_outer = bpf_htons(j->out6 ? ETH_P_IPV6 : ETH_P_IP);
	void *data, *end, *l3;
	struct ethhdr *eth;
	struct udphdr *u;

	if (bpf_xdp_adjust_head(ctx, -(int)ov))
		return NULL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	l3 = data + l2;
	if (l3 + sizeof(struct ipv6hdr) + sizeof(struct udphdr) > end)
		return NULL;
	if (l2 > ETH_HLEN) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		eth->h_proto = j->tpid;
		vh->tci = j->tci;
		vh->encap_proto = eth_outer;
	} else {
		eth->h_proto = eth_outer;
	}
	if (j->out6) {
		struct ipv6hdr *o = l3;
		__u32 fl = j->hash & 0xfffff;

		*(__be32 *)o = bpf_htonl((6u << 28) | ((__u32)j->tos << 20) | fl);
		o->payload_len = bpf_htons(j->inner_len + (j->gue ? sizeof(*u) : 0));
		o->nexthdr = j->gue ? IPPROTO_UDP : j->inner_proto;
		o->hop_limit = ENCAP_TTL;
		__builtin_memcpy(o->saddr.in6_u.u6_addr32, j->src, 16);
		__builtin_memcpy(o->daddr.in6_u.u6_addr32, j->dst, 16);
		u = (void *)(o + 1);
	} else {
		struct iphdr *o = l3;

		o->version = 4;
		o->ihl = 5;
		o->tos = j->tos;
		o->tot_len = bpf_htons(j->inner_len + ov);
		o->id = 0;
		o->frag_off = bpf_htons(IP4_DF);
		o->ttl = ENCAP_TTL;
		o->protocol = j->gue ? IPPROTO_UDP : j->inner_proto;
		o->check = 0;
		o->saddr = j->src[0];
		o->daddr = j->dst[0];
		o->check = (__u16)~fold16(sum16(o, sizeof(*o) / 2));
		u = (void *)(o + 1);
	}
	if (j->gue) {
		__u16 ulen = bpf_htons(j->inner_len + sizeof(*u));

		u->source = bpf_htons(GUE_SPORT_BASE | (j->hash >> 18));
		u->dest = oxlb_encap.gue_port;
		u->len = ulen;
		u->check = 0;
		if (j->out6 && !j->csum_zero) {
			__u64 s = sum_addr(j->src, 1) + sum_addr(j->dst, 1) + ulen +
				  bpf_htons(IPPROTO_UDP) + u->source + u->dest + ulen + j->isum;
			__u16 c = (__u16)~fold16(s);

			u->check = c ? c : 0xffff;
		}
	}
	return eth;
}

/* Fill the job for the packet p (inner header at l3, family v6) to backend be. */
static __always_inline __u32 encap_job_init(struct encap_job *j, const struct pkt *p,
					    const void *l3, const struct oxlb_backend *be,
					    __u8 mode, __u32 hash, const int v6)
{
	__u32 r;

	__builtin_memset(j, 0, sizeof(*j));
	r = encap_source(j->src, be->family, hash);
	if (r)
		return r;
	__builtin_memcpy(j->dst, be->addr, 16);
	j->hash = hash;
	j->inner_len = p->l3_len;
	j->out6 = be->family == OXLB_AF_INET6;
	j->gue = mode == OXLB_MODE_GUE;
	j->inner_proto = v6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	j->tos = inner_tos(l3, v6);
	if (j->gue && j->out6)
		j->csum_zero = inner_sum(p, l3, &j->isum, v6);
	if (p->l3_len + encap_overhead(j) > 0xffff)
		return OXLB_R_ENCAP_TOO_BIG_DROP;
	return 0;
}

/* ---- too big: ICMP back to the client ------------------------------------ */

/* Turn the frame (l2 bytes of L2 header, a constant) into an ICMP fragmentation
 * needed / ICMPv6 packet too big from the VIP to the client carrying j->mtu,
 * quoting the packet's first ENCAP_QUOTE bytes, and send it back. j->src/dst hold
 * the client and the VIP, j->mac the frame's MACs, j->tpid/tci its VLAN tag. */
static __always_inline int encap_too_big_l2(struct xdp_md *ctx, const struct encap_job *j,
					    __u32 frame_len, const int l2, const int v6)
{
	__u32 hl = v6 ? sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr) :
			sizeof(struct iphdr) + sizeof(struct icmphdr);
	void *data, *end, *l3;
	struct ethhdr *eth;
	__u64 s;
	long q;

	/* Cut the frame to L2 + the quote, then make room for the new IP + ICMP headers. */
	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + ENCAP_QUOTE) - (int)frame_len))
		return verdict(OXLB_R_ENCAP_TOO_BIG_DROP, XDP_DROP);
	if (bpf_xdp_adjust_head(ctx, -(int)hl))
		return verdict(OXLB_R_ENCAP_TOO_BIG_DROP, XDP_DROP);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	l3 = data + l2;
	if (l3 + hl + ENCAP_QUOTE > end)
		return verdict(OXLB_R_ENCAP_TOO_BIG_DROP, XDP_DROP);
	/* Back to where it came from: the frame's source MAC becomes the destination. */
	__builtin_memcpy(eth->h_dest, j->mac + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(eth->h_source, j->mac, ETH_ALEN);
	if (l2 > ETH_HLEN) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		eth->h_proto = j->tpid;
		vh->tci = j->tci;
		vh->encap_proto = bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	} else {
		eth->h_proto = bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	}
	q = bpf_csum_diff(NULL, 0, l3 + hl, ENCAP_QUOTE, 0);
	if (q < 0)
		return verdict(OXLB_R_ENCAP_TOO_BIG_DROP, XDP_DROP);
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		struct icmp6hdr *ic = (void *)(ip6 + 1);
		__u16 plen = bpf_htons(sizeof(*ic) + ENCAP_QUOTE);

		*(__be32 *)ip6 = bpf_htonl(6u << 28);
		ip6->payload_len = plen;
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = ENCAP_TTL;
		__builtin_memcpy(ip6->saddr.in6_u.u6_addr32, j->dst, 16);
		__builtin_memcpy(ip6->daddr.in6_u.u6_addr32, j->src, 16);
		ic->icmp6_type = ICMPV6_PKT_TOOBIG;
		ic->icmp6_code = 0;
		ic->icmp6_cksum = 0;
		ic->icmp6_mtu = bpf_htonl(j->mtu);
		s = sum_addr(j->src, 1) + sum_addr(j->dst, 1) + plen + bpf_htons(IPPROTO_ICMPV6) +
		    sum16(ic, sizeof(*ic) / 2) + (__u32)q;
		ic->icmp6_cksum = (__u16)~fold16(s);
	} else {
		struct iphdr *iph = l3;
		struct icmphdr *ic = (void *)(iph + 1);

		iph->version = 4;
		iph->ihl = 5;
		iph->tos = 0xc0; /* internetwork control, as the kernel's ICMP errors */
		iph->tot_len = bpf_htons(hl + ENCAP_QUOTE);
		iph->id = 0;
		iph->frag_off = 0;
		iph->ttl = ENCAP_TTL;
		iph->protocol = IPPROTO_ICMP;
		iph->check = 0;
		iph->saddr = j->dst[0];
		iph->daddr = j->src[0];
		iph->check = (__u16)~fold16(sum16(iph, sizeof(*iph) / 2));
		ic->type = ICMP_DEST_UNREACH;
		ic->code = ICMP_FRAG_NEEDED;
		ic->checksum = 0;
		*(__u16 *)((void *)ic + 4) = 0;
		ic->un.frag.mtu = bpf_htons((__u16)j->mtu);
		ic->checksum = (__u16)~fold16(sum16(ic, sizeof(*ic) / 2) + (__u32)q);
	}
	count(OXLB_R_ENCAP_TOO_BIG);
	return verdict(OXLB_R_TX, XDP_TX);
}

/* The packet p is too big for the egress MTU `mtu` once `ov` bytes of encapsulation
 * are added: answer the client (the job j is reused for the answer) or drop. */
static __always_inline int encap_too_big(struct xdp_md *ctx, const struct pkt *p,
					 struct encap_job *j, __u32 mtu, __u32 ov, const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 frame_len = end - data;

	if (!v6) {
		const struct iphdr *iph = (const void *)p->saddr - offsetof(struct iphdr, saddr);

		if ((void *)(iph + 1) > end || !(iph->frag_off & bpf_htons(IP4_DF)))
			return verdict(OXLB_R_ENCAP_TOO_BIG_DROP, XDP_DROP);
	}
	if (mtu <= ov || p->l3_len < ENCAP_QUOTE)
		return verdict(OXLB_R_ENCAP_TOO_BIG_DROP, XDP_DROP);
	j->mtu = mtu - ov;
	__builtin_memcpy(j->mac, p->eth->h_dest, 2 * ETH_ALEN);
	__builtin_memcpy(j->src, p->key.src, 16);
	__builtin_memcpy(j->dst, p->key.dst, 16);
	if (p->vlan)
		return encap_too_big_l2(ctx, j, frame_len, ETH_HLEN + ETH_VLAN_LEN, v6);
	return encap_too_big_l2(ctx, j, frame_len, ETH_HLEN, v6);
}

/* ---- forward ---------------------------------------------------------------- */

/* The inner IP header of p, checked to lie in the frame (l2 a constant). */
static __always_inline void *encap_inner(struct xdp_md *ctx, const int l2, const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (data + l2 + (v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) > end)
		return NULL;
	return data + l2;
}

/* Wrap the packet p as the job j says and send it to hop h. */
static __always_inline int encap_send(struct xdp_md *ctx, const struct pkt *p,
				      struct encap_job *j, const struct oxlb_hop *h)
{
	struct ethhdr *eth;

	if (p->vlan) {
		const struct vlan_hdr *vh = (const void *)(p->eth + 1);
		void *end = (void *)(long)ctx->data_end;

		if ((void *)(vh + 1) > end)
			return verdict(OXLB_R_TRUNCATED, XDP_DROP);
		j->tpid = p->eth->h_proto;
		j->tci = vh->tci;
		eth = encap_push(ctx, j, ETH_HLEN + ETH_VLAN_LEN);
	} else {
		eth = encap_push(ctx, j, ETH_HLEN);
	}
	if (!eth)
		return verdict(OXLB_R_TRUNCATED, XDP_DROP);
	return emit(ctx, eth, h, p->vlan);
}

/* This CPU's scratch space, or NULL. */
static __always_inline struct encap_scratch *encap_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&oxlb_encap_scratch, &zero);
}

/* Fill the job of packet p in sc (sc->be, sc->mode and sc->hash set): 0 or a reason. */
static __always_inline __u32 encap_prepare(struct xdp_md *ctx, const struct pkt *p,
					   struct encap_scratch *sc, const int v6)
{
	void *l3 = p->vlan ? encap_inner(ctx, ETH_HLEN + ETH_VLAN_LEN, v6) :
			     encap_inner(ctx, ETH_HLEN, v6);
	__u32 r;

	if (!l3)
		return OXLB_R_TRUNCATED;
	r = encap_job_init(&sc->j, p, l3, &sc->be, sc->mode, sc->hash, v6);
	if (!r)
		sc->ov = encap_overhead(&sc->j);
	return r;
}

/* Next hop towards sc->be for the job in sc: 0 or a reason. */
static __always_inline __u32 encap_fib(struct xdp_md *ctx, const struct pkt *p,
				       struct encap_scratch *sc)
{
	return fib_resolve(ctx, &sc->f, sc->be.family, sc->j.src, sc->be.addr,
			   sc->j.gue ? IPPROTO_UDP : sc->j.inner_proto, 0,
			   sc->j.gue ? oxlb_encap.gue_port : 0, p->l3_len + sc->ov);
}

/* A client packet of an ipip/gue VIP whose backend is chosen (ct: its conntrack
 * entry, or NULL for a new flow; hash: the flow hash when new_flow; guarded: the
 * new-flow guard is engaged, so a new flow is not recorded, as in DSR mode). The
 * inlined datapath fills the BPF stack: everything but ctx, p, sc and ct goes to the
 * scratch space before the first helper call, so nothing more is spilled. */
static __always_inline int encap_forward(struct xdp_md *ctx, struct pkt *p,
					 const struct oxlb_vip *vip, const struct oxlb_backend *be,
					 __u32 bid, __u32 hash, struct oxlb_ct *ct, int new_flow,
					 int guarded, const int v6)
{
	struct encap_scratch *sc = encap_scratch();
	__u32 r;

	if (!sc)
		return verdict(OXLB_R_TRUNCATED, XDP_DROP);
	sc->be = *be;
	sc->bid = bid;
	sc->vip_id = vip->id;
	sc->mode = vip->mode;
	sc->new_flow = new_flow;
	sc->store = new_flow && !guarded;
	sc->hash = new_flow ? hash : flow_hash(&p->key, v6);
	if (sc->new_flow && oxlb_cfg.ct_enabled) {
		if (p->key.proto == IPPROTO_TCP && !(p->tcp & TCP_SYN))
			count(OXLB_R_CT_RESUMED);
		/* A guarded SYN leaves no entry: its tuple's old one must not catch it. */
		if (!sc->store && (p->tcp & TCP_SYN))
			bpf_map_delete_elem(&oxlb_ct, &p->key);
	}
	r = encap_prepare(ctx, p, sc, v6);
	if (r)
		return verdict(r, XDP_DROP);
	sc->now = now_ns();
	if (ct && hop_fresh(&ct->hop, ctx, sc->now)) {
		/* A fresh hop leads back out of the ingress device: ifindex 0 checks its
		 * MTU without a device lookup. */
		sc->hop = ct->hop;
		sc->j.mtu = p->l3_len + sc->ov;
		if (bpf_check_mtu(ctx, 0, &sc->j.mtu, 0, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED)
			return encap_too_big(ctx, p, &sc->j, sc->j.mtu, sc->ov, v6);
	} else {
		r = encap_fib(ctx, p, sc);
		if (!r)
			hop_from_fib(&sc->hop, &sc->f, sc->now);
		if (sc->store)
			ct_store(&p->key, sc->vip_id, sc->mode, sc->bid, 0, r ? NULL : &sc->hop, 0);
		else if (ct && !r)
			ct->hop = sc->hop;
		if (r == OXLB_R_FIB_FRAG_NEEDED)
			return encap_too_big(ctx, p, &sc->j, sc->f.mtu_result, sc->ov, v6);
		if (r)
			return verdict(r, XDP_PASS);
	}
	stats_add(&oxlb_vip_stats, sc->vip_id, p->bytes, sc->new_flow, 0);
	stats_add(&oxlb_be_stats, sc->bid, p->bytes, sc->new_flow, 0);
	return encap_send(ctx, p, &sc->j, &sc->hop);
}

/* An ICMP too-big error about a flow of an ipip/gue VIP (the quoted packet is the
 * backend's reply): wrapped unchanged towards the flow's backend. */
static __always_inline int encap_icmp(struct xdp_md *ctx, struct pkt *p,
				      const struct oxlb_vip *vip, const struct oxlb_backend *be,
				      const int v6)
{
	struct encap_scratch *sc = encap_scratch();
	__u32 r;

	if (!sc)
		return verdict(OXLB_R_TRUNCATED, XDP_DROP);
	sc->be = *be;
	sc->mode = vip->mode;
	sc->hash = 0;
	r = encap_prepare(ctx, p, sc, v6);
	if (r)
		return verdict(r, XDP_DROP);
	r = encap_fib(ctx, p, sc);
	if (r)
		return verdict(r, XDP_PASS);
	hop_from_fib(&sc->hop, &sc->f, 0);
	count(OXLB_R_ICMP_FORWARDED);
	return encap_send(ctx, p, &sc->j, &sc->hop);
}

#endif /* OXLB_ENCAP_H */
