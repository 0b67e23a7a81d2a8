/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb NAT source ports: the reverse map oxlb_nat (backend:port, SNAT address:NAT
 * port -> flow), staleness per TCP state and UDP (nat_stale, nat_seen), and the allocation
 * of a port for a new flow (nat_alloc: NAT_PROBES ports probed from the flow hash; a stale
 * port is reclaimed, with its old flow's conntrack entry, only when all are taken), and
 * nat_touch(), which refreshes (or recreates) an established flow's reverse entry.
 * Included by oxlb.bpf.c after conntrack.h.
 */
#ifndef OXLB_NAT_H
#define OXLB_NAT_H

/* ---- NAT source ports ----------------------------------------------------- */

/* Key of the reverse map for a reply backend:bport -> snat:nat_port. */
static __always_inline void nat_rev_key(struct oxlb_flow_key *rk, const struct oxlb_backend *be,
					const struct oxlb_vip *vip, __be16 bport, __u8 proto,
					const int v6)
{
	__builtin_memset(rk, 0, sizeof(*rk));
	rk->src[0] = be->addr[0];
	rk->dst[0] = vip->snat_addr[0];
	if (v6) {
#pragma unroll
		for (int i = 1; i < 4; i++) {
			rk->src[i] = be->addr[i];
			rk->dst[i] = vip->snat_addr[i];
		}
	}
	rk->sport = bport;
	rk->proto = proto;
	rk->family = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
}

#define NS_PER_S 1000000000ULL

/* Whether a NAT port's flow has been quiet long enough for its port to go to a
 * new flow (timeouts: oxlb_cfg.nat_*). */
static __always_inline int nat_stale(const struct oxlb_nat *n, __u64 now)
{
	__u32 s = oxlb_cfg.nat_udp_idle_s;

	if (n->client.proto == IPPROTO_TCP) {
		if (n->closing == OXLB_NAT_CLOSED)
			s = oxlb_cfg.nat_tcp_closed_s;
		else if (n->closing == OXLB_NAT_TIME_WAIT)
			s = oxlb_cfg.nat_tcp_time_wait_s;
		else
			s = oxlb_cfg.nat_tcp_idle_s;
	}
	__u32 ticks = (__u32)(now >> OXLB_NAT_TICK_SHIFT) - n->seen;

	/* ticks apart: at least ticks - 1 whole ticks have passed. */
	return ticks > 0 && ((__u64)(ticks - 1) << OXLB_NAT_TICK_SHIFT) >= (__u64)s * NS_PER_S;
}

/* Record a packet of a NAT flow: refresh its idle time and follow its TCP close
 * (from_client: a forward packet, else a reply). */
static __always_inline void nat_seen(struct oxlb_nat *n, const struct pkt *p, __u64 now,
				     int from_client)
{
	n->seen = now >> OXLB_NAT_TICK_SHIFT;
	if (p->tcp & TCP_RST)
		n->closing = OXLB_NAT_CLOSED;
	else if ((p->tcp & TCP_FIN) && n->closing == OXLB_NAT_OPEN)
		n->closing = from_client ? OXLB_NAT_CLOSED : OXLB_NAT_TIME_WAIT;
}

/* A zeroed oxlb_nat value to build a new entry in (oxlb_nat_scratch), or NULL. */
static __always_inline struct oxlb_nat *nat_value(void)
{
	__u32 zero = 0;
	struct oxlb_nat *nv = bpf_map_lookup_elem(&oxlb_nat_scratch, &zero);

	if (nv)
		__builtin_memset(nv, 0, sizeof(*nv));
	return nv;
}

/* Drop the conntrack entry of the flow that held a reclaimed NAT port, so that
 * flow (if it ever resumes) is scheduled afresh instead of sending on a port that
 * now belongs to another flow. */
static __always_inline void ct_forget(const struct oxlb_nat *old, __be16 port)
{
	struct oxlb_ct *ct = bpf_map_lookup_elem(&oxlb_ct, &old->client);

	if (ct && ct->nat_port == port && ct->backend_id == old->backend_id)
		bpf_map_delete_elem(&oxlb_ct, &old->client);
}

/* The i-th NAT source port (host order) a new flow probes from its start slot
 * ((hash >> 7) % nat_port_count), or 0 when it falls outside 1..65535. */
static __always_inline __u32 nat_probe(__u32 start, int i)
{
	__u32 port = oxlb_cfg.nat_port_min + (start + i) % oxlb_cfg.nat_port_count;

	return port > 0xffff ? 0 : port;
}

/* Take back the port of a stale established flow (rk: its reverse key without the
 * port): 1 when the port may go to a new flow (the old flow's conntrack entry is
 * gone), 0 when the flow came back to life meanwhile. */
static __always_inline int nat_reclaim(struct oxlb_flow_key *rk, __be16 port, __u64 now)
{
	struct oxlb_nat *cur;

	rk->dport = port;
	cur = bpf_map_lookup_elem(&oxlb_nat, rk);
	if (cur) {
		if (!nat_stale(cur, now))
			return 0;
		ct_forget(cur, port);
	}
	count(OXLB_R_NAT_PORT_REUSED);
	return 1;
}

/* Allocate a source port for a new NAT flow: start at hash % count in
 * [nat_port_min, nat_port_min + count) and probe NAT_PROBES ports linearly. The
 * first free port wins; a port that already belongs to this client tuple is
 * reused (its conntrack entry aged out first, or a SYN reopens the tuple). When
 * every probed port is taken, the first one whose flow is stale (nat_stale) is
 * reclaimed. Two CPUs reclaiming the same stale port at the same instant may both
 * take it (no compare-and-swap on map values); the loser's flow is reset by its
 * backend. Returns the port (network order) or 0. */
static __always_inline __be16 nat_alloc(const struct pkt *p, const struct oxlb_vip *vip,
					const struct oxlb_backend *be, __u32 bid, __be16 bport,
					__u32 hash, __u64 now, const int v6)
{
	__u32 cnt = oxlb_cfg.nat_port_count;
	struct oxlb_flow_key rk;
	struct oxlb_nat *nv, *cur;
	__be16 victim = 0;
	__u32 start;

	nv = nat_value();
	if (cnt == 0 || !nv)
		return 0;
	nat_rev_key(&rk, be, vip, bport, p->key.proto, v6);
	nv->client = p->key;
	nv->vip_id = vip->id;
	nv->backend_id = bid;
	nv->seen = now >> OXLB_NAT_TICK_SHIFT;
	start = (hash >> 7) % cnt;
	for (int i = 0; i < NAT_PROBES; i++) {
		__u32 port = nat_probe(start, i);

		if (!port)
			continue;
		rk.dport = bpf_htons((__u16)port);
		if (bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_NOEXIST) == 0)
			return rk.dport;
		cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
		if (!cur)
			continue;
		if (key_eq(&cur->client, &p->key)) {
			/* A SYN reopens the tuple; otherwise the flow goes on (its conntrack
			 * entry aged out, or conntrack is off). */
			if (p->tcp & TCP_SYN)
				*cur = *nv;
			else
				nat_seen(cur, p, now, 1);
			return rk.dport;
		}
		if (!victim && nat_stale(cur, now))
			victim = rk.dport;
	}
	if (!victim || !nat_reclaim(&rk, victim, now))
		return 0;
	if (bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_ANY))
		return 0;
	return victim;
}

/* A forward packet of an established NAT flow: refresh its reverse entry (idle
 * time, TCP close) and recreate it if it was evicted from its LRU. */
static __always_inline void nat_touch(const struct pkt *p, const struct oxlb_vip *vip,
				      const struct oxlb_backend *be, __u32 bid, __be16 bport,
				      __be16 nat_port, __u32 seq_delta, __u64 now, const int v6)
{
	struct oxlb_flow_key rk;
	struct oxlb_nat *nv, *cur;

	nat_rev_key(&rk, be, vip, bport, p->key.proto, v6);
	rk.dport = nat_port;
	cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
	if (cur) {
		/* A port reclaimed by another flow is left alone. */
		if (key_eq(&cur->client, &p->key))
			nat_seen(cur, p, now, 1);
		return;
	}
	nv = nat_value();
	if (!nv)
		return;
	nv->client = p->key;
	nv->vip_id = vip->id;
	nv->backend_id = bid;
	nv->seq_delta = seq_delta;
	nat_seen(nv, p, now, 1);
	bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_NOEXIST);
}

#endif /* OXLB_NAT_H */
