/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb forward path (client -> VIP): forward() takes a VIP packet with or without its
 * conntrack entry to a backend (Maglev, conntrack insert, new-flow guard, half-open NAT or
 * the cookie program, DSR / NAT / encap rewrite, next hop), with cookie_wanted() and
 * seq_shift() for SYN-proxied flows. Included by oxlb.bpf.c after encap.h.
 */
#ifndef OXLB_FORWARD_H
#define OXLB_FORWARD_H

/* ---- SYN-proxied flows (syncookie.h) --------------------------------------- */

/* Whether a NAT SYN goes to the cookie program (rate: guard_engaged's answer). */
static __always_inline int cookie_wanted(int rate)
{
	return oxlb_cfg.syn_cookies == OXLB_COOKIES_ALWAYS ||
	       (rate && oxlb_cfg.syn_cookies == OXLB_COOKIES_GUARD);
}

/* Move the TCP acknowledgement number (client -> backend, when the ACK flag is set) or
 * the sequence number (backend -> client) of a SYN-proxied flow into the other side's
 * numbering: + delta forward, - delta back. */
static __always_inline void seq_shift(struct xdp_md *ctx, struct pkt *p, __u32 delta, int fwd)
{
	struct tcphdr *t = (void *)p->sport;
	__be32 old, new;

	if (p->key.proto != IPPROTO_TCP || (void *)(t + 1) > (void *)(long)ctx->data_end)
		return;
	if (fwd) {
		if (!t->ack)
			return;
		old = t->ack_seq;
		new = bpf_htonl(bpf_ntohl(old) + delta);
		t->ack_seq = new;
	} else {
		old = t->seq;
		new = bpf_htonl(bpf_ntohl(old) - delta);
		t->seq = new;
	}
	*p->l4_csum = csum_apply(*p->l4_csum, csum_delta32(old, new));
}

/* ---- forward path: client -> VIP ----------------------------------------- */

/* A packet to a VIP; found: its conntrack entry when one was found (checked here). */
static __always_inline int forward(struct xdp_md *ctx, struct pkt *p, const struct oxlb_vip *vipp,
				   struct oxlb_ct *found, const int v6)
{
	__u8 fam = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
	struct oxlb_backend be;
	struct oxlb_hop hop;
	struct oxlb_ct *ct;
	__be16 nat_port = 0, bport;
	__u32 bid = 0, hash = 0, r, seq_delta = 0;
	int new_flow = 0, cached, guarded = 0, rate = 0, store, resumed = 0;
	int tcp_open = p->key.proto == IPPROTO_TCP && !(p->tcp & TCP_SYN);
	__u64 now = now_ns();

	ct = ct_check(found, vipp->id, vipp->mode, &bid, &be, &nat_port);
	if (ct) {
		count(OXLB_R_CT_HIT);
		seq_delta = ct->seq_delta;
	} else {
		hash = flow_hash(&p->key, v6);
		r = pick_backend(vipp->id, hash, &bid, &be);
		if (r)
			return verdict(r, XDP_DROP);
		new_flow = 1;
		nat_port = 0;
		count(OXLB_R_CT_MISS);
		rate = guard_engaged(vipp->id, now);
		guarded = rate & RATE_GUARD;
	}
	if (vipp->mode == OXLB_MODE_IPIP || vipp->mode == OXLB_MODE_GUE)
		return encap_forward(ctx, p, vipp, &be, bid, hash, ct, new_flow, guarded, v6);
	cached = ct && hop_fresh(&ct->hop, ctx, now);
	if (cached)
		hop = ct->hop;

	if (vipp->mode == OXLB_MODE_DSR) {
		__u32 any[4] = {};

		/* DSR: only the MACs change; the backend's MAC is its next hop's. */
		if (new_flow && tcp_open && oxlb_cfg.ct_enabled)
			count(OXLB_R_CT_RESUMED);
		/* A guarded SYN leaves no entry: its tuple's old one must not catch it. */
		if (new_flow && guarded && (p->tcp & TCP_SYN) && oxlb_cfg.ct_enabled)
			bpf_map_delete_elem(&oxlb_ct, &p->key);
		if (!cached) {
			r = backend_hop(&hop, ctx, now, !ct, bid, vipp->id, &be, any, p->key.proto,
					p->key.sport, p->key.dport, p->l3_len);
			if (new_flow && !guarded)
				ct_store(&p->key, vipp->id, vipp->mode, bid, 0, r ? NULL : &hop, 0);
			if (r)
				return verdict(r, XDP_PASS);
			if (ct)
				ct->hop = hop;
		}
		stats_add(&oxlb_vip_stats, vipp->id, p->bytes, new_flow, 0);
		stats_add(&oxlb_be_stats, bid, p->bytes, new_flow, 0);
		return emit(ctx, p->eth, &hop, p->vlan);
	}

	if (vipp->mode != OXLB_MODE_NAT || vipp->snat_family != fam || be.family != fam)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	bport = be.port ? be.port : p->key.dport;
	/* Conntrack holds NAT flows that completed a handshake (or UDP flows while the
	 * guard is not engaged); a SYN only opens a half-open flow. */
	store = new_flow;
	if (new_flow && p->key.proto == IPPROTO_TCP && (p->tcp & TCP_SYN)) {
		if (cookie_wanted(rate))
			bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
		nat_port = syn_open(ctx, p, vipp, &be, bid, bport, hash, now, v6, 1);
		if (!nat_port)
			return verdict(OXLB_R_DROP_NAT_PORTS, XDP_DROP);
		store = 0;
	} else if (new_flow && tcp_open) {
		nat_port = nat_resume(p, vipp, &be, bid, bport, hash, now, v6, &resumed,
				      &seq_delta);
		/* No flow: maybe the ACK of a SYN cookie. */
		if (!nat_port && oxlb_cfg.syn_cookies && !(p->tcp & TCP_RST))
			bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
		if (!nat_port)
			return verdict(OXLB_R_DROP_NO_FLOW, XDP_DROP);
		/* Not a new flow: a handshake completed, or conntrack lost a live flow. */
		new_flow = 0;
		if (resumed && oxlb_cfg.ct_enabled)
			count(OXLB_R_CT_RESUMED);
	} else if (new_flow) {
		nat_port = nat_alloc(p, vipp, &be, bid, bport, hash, now, v6);
		if (!nat_port)
			return verdict(OXLB_R_DROP_NAT_PORTS, XDP_DROP);
		store = !guarded;
	} else if (!cached || (p->tcp & (TCP_FIN | TCP_RST))) {
		/* Once per hop lifetime (so the flow's idle time has ~1 s resolution), and
		 * on a FIN or RST: refresh the reverse entry, recreate it if evicted. */
		nat_touch(p, vipp, &be, bid, bport, nat_port, seq_delta, now, v6);
	}
	if (!cached) {
		r = backend_hop(&hop, ctx, now, !ct, bid, vipp->id, &be, vipp->snat_addr,
				p->key.proto, nat_port, bport, p->l3_len);
		if (store)
			ct_store(&p->key, vipp->id, vipp->mode, bid, nat_port, r ? NULL : &hop,
				 seq_delta);
		if (r)
			return verdict(r, XDP_PASS);
		if (ct)
			ct->hop = hop;
	}
	if (seq_delta)
		seq_shift(ctx, p, seq_delta, 1);
	rewrite(p, vipp->snat_addr, be.addr, nat_port, bport, v6);
	stats_add(&oxlb_vip_stats, vipp->id, p->bytes, new_flow, 0);
	stats_add(&oxlb_be_stats, bid, p->bytes, new_flow, 0);
	return emit(ctx, p->eth, &hop, p->vlan);
}

#endif /* OXLB_FORWARD_H */
