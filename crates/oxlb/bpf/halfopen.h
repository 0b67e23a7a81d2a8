/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb half-open NAT flows (SYN flood resistance): a client's SYN to a NAT VIP holds
 * its port in oxlb_syn (syn_open) instead of oxlb_nat/oxlb_ct, and only the client's ACK of
 * the backend's SYN-ACK (ack_ok) moves the flow to oxlb_nat and conntrack (nat_resume).
 * Included by oxlb.bpf.c after nat.h.
 */
#ifndef OXLB_HALFOPEN_H
#define OXLB_HALFOPEN_H

/* ---- half-open NAT flows (SYN flood resistance) ----------------------------- */

/* A client's SYN to a NAT VIP does not enter oxlb_ct or oxlb_nat: its port is held by
 * an oxlb_syn entry until the client acknowledges the backend's SYN-ACK (nat_resume),
 * which spoofed sources never do. A flood of SYNs thus churns only oxlb_syn and never
 * evicts an established flow's state. When every probed port is taken, a SYN takes,
 * in this order: a half-open port older than nat_tcp_syn_s, the port of a stale
 * established flow, the port of the oldest half-open flow among those probed (a
 * legitimate handshake lasts one round trip, so under a flood it is almost never the
 * oldest of the eight). */

/* Whether the client's ACK acknowledges the backend's SYN-ACK (ISN + 1, or up to
 * 1 MiB more when the backend sent data first and the bare ACK was lost): a blind
 * guess from a spoofed source passes with odds of 2^-12. */
static __always_inline int ack_ok(const struct pkt *p, __u32 server_isn)
{
	if (p->key.proto != IPPROTO_TCP || !(p->tcp & TCP_ACK))
		return 0;
	return p->tcp_seq - (server_isn + 1) <= (1u << 20);
}

/* Give a NAT port to a client's SYN (a half-open flow in oxlb_syn). Returns the port
 * (network order) or 0 when every probed port is held by an established flow. When SYN
 * cookies are on and every probed port is held by a live half-open flow (a flood), the
 * SYN goes to the cookie program instead (main program only: may_cookie). */
static __always_inline __be16 syn_open(struct xdp_md *ctx, const struct pkt *p,
				       const struct oxlb_vip *vip, const struct oxlb_backend *be,
				       __u32 bid, __be16 bport, __u32 hash, __u64 now, const int v6,
				       const int may_cookie)
{
	__u32 cnt = oxlb_cfg.nat_port_count;
	__u64 dead_ns = (__u64)oxlb_cfg.nat_tcp_syn_s * NS_PER_S, oldest_at = ~0ULL;
	__be16 take = 0, stale = 0, oldest = 0;
	struct oxlb_flow_key rk;
	struct oxlb_syn *sv, *s;
	struct oxlb_nat *cur;
	__u32 start, zero = 0;

	if (cnt == 0)
		return 0;
	/* The tuple's previous connection (if any) must not catch this one's ACK. Looked up
	 * first: a lookup takes no bucket lock, and the tuple is almost never there (a
	 * delete of the absent key made a SYN ~45 ns slower, measured). */
	if (oxlb_cfg.ct_enabled && bpf_map_lookup_elem(&oxlb_ct, &p->key))
		bpf_map_delete_elem(&oxlb_ct, &p->key);
	nat_rev_key(&rk, be, vip, bport, IPPROTO_TCP, v6);
	start = (hash >> 7) % cnt;
	for (int i = 0; i < NAT_PROBES; i++) {
		__u32 port = nat_probe(start, i);

		if (!port)
			continue;
		rk.dport = bpf_htons((__u16)port);
		/* A port is half-open or established, never both: under a flood most are
		 * half-open, so that map is asked first. */
		s = bpf_map_lookup_elem(&oxlb_syn, &rk);
		if (s) {
			/* A retransmitted SYN keeps its flow (and the SYN-ACK already seen, which
			 * the client may be acknowledging right now). */
			if (key_eq(&s->client, &p->key)) {
				s->at_ns = now;
				count(OXLB_R_SYN_HALF_OPEN);
				return rk.dport;
			}
			/* A dead half-open flow. */
			if (now - s->at_ns >= dead_ns) {
				take = rk.dport;
				break;
			}
			if (s->at_ns < oldest_at) {
				oldest_at = s->at_ns;
				oldest = rk.dport;
			}
			continue;
		}
		cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
		if (!cur) {
			take = rk.dport;
			break;
		}
		if (key_eq(&cur->client, &p->key)) {
			/* The client reopens its tuple: the old connection ends. */
			bpf_map_delete_elem(&oxlb_nat, &rk);
			take = rk.dport;
			break;
		}
		if (!stale && nat_stale(cur, now))
			stale = rk.dport;
	}
	if (!take && stale) {
		if (!nat_reclaim(&rk, stale, now))
			return 0;
		bpf_map_delete_elem(&oxlb_nat, &rk);
		take = stale;
	} else if (!take && oldest) {
		if (may_cookie && oxlb_cfg.syn_cookies)
			bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
		count(OXLB_R_SYN_REPLACED);
		take = oldest;
	}
	if (!take)
		return 0;
	rk.dport = take;
	sv = bpf_map_lookup_elem(&oxlb_syn_scratch, &zero);
	if (!sv)
		return 0;
	__builtin_memset(sv, 0, sizeof(*sv));
	sv->client = p->key;
	sv->vip_id = vip->id;
	sv->backend_id = bid;
	sv->at_ns = now;
	if (bpf_map_update_elem(&oxlb_syn, &rk, sv, BPF_ANY))
		return 0;
	count(OXLB_R_SYN_HALF_OPEN);
	return take;
}

/* A TCP packet other than a SYN, of a NAT flow with no conntrack entry: the port of
 * its established flow (oxlb_nat; *resumed = 1), or of its half-open flow when this
 * packet completes the handshake (the flow moves to oxlb_nat) or is the client's RST
 * (forwarded so the backend forgets it). 0: no such flow, the packet is dropped. */
static __always_inline __be16 nat_resume(const struct pkt *p, const struct oxlb_vip *vip,
					 const struct oxlb_backend *be, __u32 bid, __be16 bport,
					 __u32 hash, __u64 now, const int v6, int *resumed,
					 __u32 *seq_delta)
{
	__u32 cnt = oxlb_cfg.nat_port_count;
	struct oxlb_flow_key rk;
	struct oxlb_nat *nv, *cur;
	struct oxlb_syn *s;
	__u32 start;

	if (cnt == 0)
		return 0;
	nat_rev_key(&rk, be, vip, bport, IPPROTO_TCP, v6);
	start = (hash >> 7) % cnt;
	for (int i = 0; i < NAT_PROBES; i++) {
		__u32 port = nat_probe(start, i);

		if (!port)
			continue;
		rk.dport = bpf_htons((__u16)port);
		cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
		if (cur) {
			if (!key_eq(&cur->client, &p->key))
				continue;
			/* With SYN cookies a reused tuple's new connection arrives as an ACK
			 * (its cookie SYN dropped the tuple's conntrack entry): a closed flow is
			 * not resumed, the ACK goes to the cookie check. */
			if (oxlb_cfg.syn_cookies && cur->closing != OXLB_NAT_OPEN)
				return 0;
			nat_seen(cur, p, now, 1);
			*resumed = 1;
			*seq_delta = cur->seq_delta;
			return rk.dport;
		}
		s = bpf_map_lookup_elem(&oxlb_syn, &rk);
		if (!s || !key_eq(&s->client, &p->key))
			continue;
		if (p->tcp & TCP_RST) {
			bpf_map_delete_elem(&oxlb_syn, &rk);
			return rk.dport;
		}
		if (!s->synack || !ack_ok(p, s->server_isn))
			continue;
		nv = nat_value();
		if (!nv)
			return 0;
		nv->client = p->key;
		nv->vip_id = vip->id;
		nv->backend_id = bid;
		nat_seen(nv, p, now, 1);
		if (bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_NOEXIST))
			continue;
		bpf_map_delete_elem(&oxlb_syn, &rk);
		count(OXLB_R_SYN_PROMOTED);
		return rk.dport;
	}
	return 0;
}

#endif /* OXLB_HALFOPEN_H */
