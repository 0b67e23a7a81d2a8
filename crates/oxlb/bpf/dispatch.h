/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb dispatch: dispatch() routes a parsed TCP/UDP packet: not ours by the VIP filter
 * (vipfilter.h), a NAT reply, a tracked flow (conntrack -> VIP by id), a VIP (lookup with
 * the port, then port 0), else XDP_PASS. Included by oxlb.bpf.c after vipfilter.h.
 */
#ifndef OXLB_DISPATCH_H
#define OXLB_DISPATCH_H

/* ---- dispatch ------------------------------------------------------------ */

/* Traffic that is not ours (no VIP at its address, no NAT reply) is told apart first,
 * by one read of the VIP filter (vipfilter.h), and passed without any other lookup.
 * A reply of a NAT flow is recognised next: its destination (SNAT address, NAT
 * port) is not a VIP, so it would otherwise pay two VIP lookups (port, port 0).
 * Then conntrack: a tracked flow finds its VIP by id (an array slot) instead of the
 * VIP hash; other traffic that the filter let through pays that conntrack miss
 * before the VIP lookup. */
static __always_inline int dispatch(struct xdp_md *ctx, struct pkt *p, const int v6)
{
	struct oxlb_ct *ct = NULL;
	struct oxlb_vip *vip;

	if (vipfilter_not_ours(p, v6))
		return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
	if (nat_port_in_range(p)) {
		struct oxlb_nat *n = bpf_map_lookup_elem(&oxlb_nat, &p->key);
		struct oxlb_syn *s;

		if (n)
			return reply(ctx, p, n, v6);
		if (p->key.proto == IPPROTO_TCP) {
			s = bpf_map_lookup_elem(&oxlb_syn, &p->key);
			if (s)
				return syn_reply(ctx, p, s, v6);
		}
		/* Not a reply we know: evicted NAT state, or traffic to the host. */
		count(OXLB_R_NAT_REPLY_MISS);
	}
	/* A SYN starts a new connection even when its tuple is still in conntrack (a
	 * reused client port): it is scheduled afresh, so it never follows a stale entry
	 * to a backend that failed or was removed since. */
	if (oxlb_cfg.ct_enabled && !(p->tcp & TCP_SYN)) {
		ct = bpf_map_lookup_elem(&oxlb_ct, &p->key);
		vip = ct ? ct_vip(ct, p) : NULL;
		if (vip)
			return forward(ctx, p, vip, ct, v6);
	}
	vip = vip_lookup(p->key.dst, p->key.dport, p->key.proto, v6);
	if (vip)
		return forward(ctx, p, vip, ct, v6);
	return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
}

#endif /* OXLB_DISPATCH_H */
