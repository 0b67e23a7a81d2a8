/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb conntrack (oxlb_ct, keyed by the client-side 5-tuple): ct_check() accepts an
 * entry only if it still belongs to the VIP and its backend is still valid, ct_backend()
 * looks one up, ct_vip() finds a tracked flow's VIP through oxlb_vip_ids instead of the VIP
 * hash, and ct_store() records a new flow. Included by oxlb.bpf.c after vip.h.
 */
#ifndef OXLB_CONNTRACK_H
#define OXLB_CONNTRACK_H

/* ---- conntrack ----------------------------------------------------------- */

/* The conntrack entry ct (may be NULL) if it belongs to this VIP and its backend is
 * still valid (filling bid, be, nat_port), else NULL. */
static __always_inline struct oxlb_ct *ct_check(struct oxlb_ct *ct, __u32 vip_id, __u8 mode,
						__u32 *bid, struct oxlb_backend *be,
						__be16 *nat_port)
{
	struct oxlb_backend *b;

	if (!ct || ct->vip_id != vip_id || ct->mode != mode)
		return NULL;
	*bid = ct->backend_id;
	*nat_port = ct->nat_port;
	b = bpf_map_lookup_elem(&oxlb_backends, bid);
	if (!b || !(b->flags & OXLB_BACKEND_VALID))
		return NULL;
	*be = *b;
	return ct;
}

/* The conntrack entry of an established flow of this VIP with a valid backend
 * (filling bid, be, nat_port), or NULL. */
static __always_inline struct oxlb_ct *ct_backend(const struct oxlb_flow_key *key, __u32 vip_id,
						  __u8 mode, __u32 *bid, struct oxlb_backend *be,
						  __be16 *nat_port)
{
	if (!oxlb_cfg.ct_enabled)
		return NULL;
	return ct_check(bpf_map_lookup_elem(&oxlb_ct, key), vip_id, mode, bid, be, nat_port);
}

/* The VIP of an established flow (ct) if its slot in oxlb_vip_ids still holds a VIP
 * this packet is addressed to, else NULL: packets of tracked flows skip the VIP hash
 * lookup; a removed or re-addressed VIP no longer matches. */
static __always_inline struct oxlb_vip *ct_vip(const struct oxlb_ct *ct, const struct pkt *p)
{
	struct oxlb_vip_slot *s = bpf_map_lookup_elem(&oxlb_vip_ids, &ct->vip_id);
	__u32 diff = 0;

	if (!s || !s->vip.mode || s->vip.id != ct->vip_id || s->key.family != p->key.family ||
	    s->key.proto != p->key.proto)
		return NULL;
	if (s->key.port && s->key.port != p->key.dport)
		return NULL;
#pragma unroll
	for (int i = 0; i < 4; i++)
		diff |= s->key.addr[i] ^ p->key.dst[i];
	return diff ? NULL : &s->vip;
}

/* Record a new flow; hop: its resolved next hop, or NULL. */
static __always_inline void ct_store(const struct oxlb_flow_key *key, __u32 vip_id, __u8 mode,
				     __u32 bid, __be16 nat_port, const struct oxlb_hop *hop,
				     __u32 seq_delta)
{
	struct oxlb_ct ct = {
		.backend_id = bid,
		.vip_id = vip_id,
		.nat_port = nat_port,
		.mode = mode,
		.seq_delta = seq_delta,
	};

	if (hop)
		ct.hop = *hop;
	if (oxlb_cfg.ct_enabled)
		bpf_map_update_elem(&oxlb_ct, key, &ct, BPF_ANY);
}

#endif /* OXLB_CONNTRACK_H */
