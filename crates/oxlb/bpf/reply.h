/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb reply path (backend -> LB, NAT): nat_port_in_range() tells a possible NAT reply
 * by its destination port; reply() and syn_reply() translate an established or half-open
 * flow's reply back to client <- VIP and send it (to_client). Included by oxlb.bpf.c after
 * forward.h.
 */
#ifndef OXLB_REPLY_H
#define OXLB_REPLY_H

/* ---- reply path: backend -> LB (NAT) -------------------------------------- */

/* Whether a packet targets a port of the NAT range: only those can be replies of NAT
 * flows, other traffic skips the NAT lookups. */
static __always_inline int nat_port_in_range(const struct pkt *p)
{
	__u32 dport = bpf_ntohs(p->key.dport);

	return dport >= oxlb_cfg.nat_port_min &&
	       dport < oxlb_cfg.nat_port_min + oxlb_cfg.nat_port_count;
}

/* Translate a reply back to the client c of its flow and send it; cache: the flow's
 * cached hop towards the client (NULL: none, resolve every time). */
static __always_inline int to_client(struct xdp_md *ctx, struct pkt *p,
				     const struct oxlb_flow_key *c, __u32 vip_id, __u32 bid,
				     struct oxlb_hop *cache, __u64 now, const int v6)
{
	struct oxlb_hop hop;
	__u32 r;

	if (cache && hop_fresh(cache, ctx, now)) {
		hop = *cache;
	} else {
		/* src -> VIP:port, dst -> client:port */
		r = hop_resolve(&hop, ctx, now, c->family, c->dst, c->src, c->proto, c->dport,
				c->sport, p->l3_len);
		if (r)
			return verdict(r, XDP_PASS);
		if (cache)
			*cache = hop;
	}
	rewrite(p, c->dst, c->src, c->dport, c->sport, v6);
	stats_add(&oxlb_vip_stats, vip_id, p->bytes, 0, 1);
	stats_add(&oxlb_be_stats, bid, p->bytes, 0, 1);
	count(OXLB_R_NAT_REPLY);
	return emit(ctx, p->eth, &hop, p->vlan);
}

static __always_inline int reply(struct xdp_md *ctx, struct pkt *p, struct oxlb_nat *n,
				 const int v6)
{
	__u64 now = now_ns();

	nat_seen(n, p, now, 0);
	if (n->seq_delta)
		seq_shift(ctx, p, n->seq_delta, 0);
	return to_client(ctx, p, &n->client, n->vip_id, n->backend_id, &n->hop, now, v6);
}

/* A backend's packet on a half-open flow: its SYN-ACK (whose sequence number the
 * client's ACK must acknowledge) or a RST (the flow ends). */
static __always_inline int syn_reply(struct xdp_md *ctx, struct pkt *p, struct oxlb_syn *s,
				     const int v6)
{
	struct oxlb_flow_key c = s->client;
	__u32 vip_id = s->vip_id, bid = s->backend_id;
	int rv;

	/* A proxied flow's SYN-ACK; or the backend's bare ACK to our SYN, which says it still
	 * holds an older connection on this NAT port: the cookie program answers both. */
	if (s->proxied || ((p->tcp & TCP_ACK) && !(p->tcp & (TCP_SYNACK | TCP_RST | TCP_FIN)) &&
			   !s->synack))
		bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
	if (s->proxied)
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	if (p->tcp & TCP_SYNACK) {
		s->server_isn = p->tcp_seq;
		s->synack = 1;
	} else if (p->tcp & TCP_RST) {
		bpf_map_delete_elem(&oxlb_syn, &p->key);
	}
	rv = to_client(ctx, p, &c, vip_id, bid, NULL, now_ns(), v6);
	/* No route back to the client (a spoofed source): the host could only answer the
	 * backend with a RST, work a SYN flood would multiply. */
	return rv == XDP_PASS && !(p->tcp & TCP_RST) ? XDP_DROP : rv;
}

#endif /* OXLB_REPLY_H */
