/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb next hop: bpf_fib_lookup (fib_fill, fib_resolve: output lookup on the ingress
 * interface, then a forwarding lookup), the cached hop of a flow (struct oxlb_hop, valid for
 * OXLB_HOP_TTL_NS), the per-CPU per-backend hop cache of new flows (backend_hop,
 * oxlb_be_hop), and emit(), which writes the MACs and sends the frame (XDP_TX or
 * bpf_redirect). Included by oxlb.bpf.c after guard.h; encap.h follows it.
 */
#ifndef OXLB_NEXTHOP_H
#define OXLB_NEXTHOP_H

/* ---- next hop ------------------------------------------------------------ */

static __always_inline void fib_fill(struct bpf_fib_lookup *f, struct xdp_md *ctx, __u8 family,
				     const __u32 *src, const __u32 *dst, __u8 proto, __be16 sport,
				     __be16 dport, __u16 tot_len)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->family = family;
	f->l4_protocol = proto;
	f->sport = sport;
	f->dport = dport;
	f->tot_len = tot_len;
	f->ifindex = ctx->ingress_ifindex;
	if (family == OXLB_AF_INET) {
		f->ipv4_src = src[0];
		f->ipv4_dst = dst[0];
	} else {
#pragma unroll
		for (int i = 0; i < 4; i++) {
			f->ipv6_src[i] = src[i];
			f->ipv6_dst[i] = dst[i];
		}
	}
}

/* Next hop of dst: 0 with f filled (dmac, smac, ifindex), or a reason. */
static __always_inline __u32 fib_resolve(struct xdp_md *ctx, struct bpf_fib_lookup *f,
					 __u8 family, const __u32 *src, const __u32 *dst,
					 __u8 proto, __be16 sport, __be16 dport, __u16 tot_len)
{
	long rc;

	fib_fill(f, ctx, family, src, dst, proto, sport, dport, tot_len);
	rc = bpf_fib_lookup(ctx, f, sizeof(*f), BPF_FIB_LOOKUP_OUTPUT);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		fib_fill(f, ctx, family, src, dst, proto, sport, dport, tot_len);
		rc = bpf_fib_lookup(ctx, f, sizeof(*f), 0);
	}
	if (rc == BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return OXLB_R_FIB_NO_NEIGH;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return OXLB_R_FIB_FRAG_NEEDED;
	return OXLB_R_FIB_FAIL;
}

/* Now, in nanoseconds of the datapath's clock (see oxlb_config.ns_per_jiffy). */
static __always_inline __u64 now_ns(void)
{
	if (oxlb_cfg.ns_per_jiffy)
		return bpf_jiffies64() * oxlb_cfg.ns_per_jiffy;
	return bpf_ktime_get_ns();
}

/* How long a cached next hop is used before bpf_fib_lookup is asked again. */
#define OXLB_HOP_TTL_NS 1000000000ULL

/* The next hop of a successful lookup f, stamped now. */
static __always_inline void hop_from_fib(struct oxlb_hop *h, const struct bpf_fib_lookup *f,
					 __u64 now)
{
	__builtin_memcpy(h->dmac, f->dmac, ETH_ALEN);
	__builtin_memcpy(h->smac, f->smac, ETH_ALEN);
	h->ifindex = f->ifindex;
	h->at_ns = now;
}

/* A cached hop is used while fresh and only when it leads back out of the ingress
 * interface (same MTU, XDP_TX); redirects always ask the FIB (MTU check). */
static __always_inline int hop_fresh(const struct oxlb_hop *h, const struct xdp_md *ctx, __u64 now)
{
	return h->at_ns && now - h->at_ns < OXLB_HOP_TTL_NS && h->ifindex == ctx->ingress_ifindex;
}

/* Set the MACs from a next hop and send the frame. */
static __always_inline int emit(struct xdp_md *ctx, struct ethhdr *eth, const struct oxlb_hop *h,
				__u8 vlan)
{
	__builtin_memcpy(eth->h_dest, h->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, h->smac, ETH_ALEN);
	if (vlan || h->ifindex == ctx->ingress_ifindex)
		return verdict(OXLB_R_TX, XDP_TX);
	count(OXLB_R_REDIRECT);
	return bpf_redirect(h->ifindex, 0);
}

/* Resolve the next hop (fib_resolve's arguments) into h: 0 or a reason. */
static __always_inline __u32 hop_resolve(struct oxlb_hop *h, struct xdp_md *ctx, __u64 now,
					 __u8 family, const __u32 *src, const __u32 *dst,
					 __u8 proto, __be16 sport, __be16 dport, __u16 tot_len)
{
	struct bpf_fib_lookup f;
	__u32 r = fib_resolve(ctx, &f, family, src, dst, proto, sport, dport, tot_len);

	if (!r)
		hop_from_fib(h, &f, now);
	return r;
}

/* The next hop towards backend bid of VIP vip_id (be: its entry; src: the packet's new
 * source, as for hop_resolve): for a new flow (new_flow) the per-CPU backend cache
 * (oxlb_be_hop) when fresh, else bpf_fib_lookup, whose success refills the cache. A flow
 * whose own cached hop expired always asks the FIB, so it follows a neighbour change as soon
 * as its hop is stale. 0 or a reason. */
static __always_inline __u32 backend_hop(struct oxlb_hop *h, struct xdp_md *ctx, __u64 now,
					 int new_flow, __u32 bid, __u32 vip_id,
					 const struct oxlb_backend *be, const __u32 *src, __u8 proto,
					 __be16 sport, __be16 dport, __u16 tot_len)
{
	__u32 slot = bid & (OXLB_BE_HOP_SLOTS - 1), diff, r;
	struct oxlb_be_hop *c = bpf_map_lookup_elem(&oxlb_be_hop, &slot);

	if (c && new_flow) {
		diff = (c->backend_id ^ bid) | (c->vip_id ^ vip_id);
#pragma unroll
		for (int i = 0; i < 4; i++)
			diff |= c->addr[i] ^ be->addr[i];
		if (!diff && hop_fresh(&c->hop, ctx, now)) {
			*h = c->hop;
			return 0;
		}
	}
	r = hop_resolve(h, ctx, now, be->family, src, be->addr, proto, sport, dport, tot_len);
	if (!r && c) {
		c->hop = *h;
		c->backend_id = bid;
		c->vip_id = vip_id;
#pragma unroll
		for (int i = 0; i < 4; i++)
			c->addr[i] = be->addr[i];
	}
	return r;
}

#endif /* OXLB_NEXTHOP_H */
