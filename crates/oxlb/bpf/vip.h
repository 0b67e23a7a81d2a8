/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb VIP and backend lookups: vip_lookup() finds a VIP by (address, port, proto) in
 * oxlb_vips, and pick_backend() takes a flow hash to the VIP's Maglev ring slot (oxlb_ring)
 * and to a usable backend (oxlb_backends). Included by oxlb.bpf.c after csum.h.
 */
#ifndef OXLB_VIP_H
#define OXLB_VIP_H

/* ---- VIP and Maglev lookups -------------------------------------------- */

static __always_inline struct oxlb_vip *vip_lookup(const __u32 *addr, __be16 port, __u8 proto,
						   const int v6)
{
	struct oxlb_vip_key vk;
	struct oxlb_vip *vip;

	__builtin_memset(&vk, 0, sizeof(vk));
	vk.addr[0] = addr[0];
	if (v6) {
		vk.addr[1] = addr[1];
		vk.addr[2] = addr[2];
		vk.addr[3] = addr[3];
	}
	vk.port = port;
	vk.proto = proto;
	vk.family = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
	vip = bpf_map_lookup_elem(&oxlb_vips, &vk);
	if (vip || !port)
		return vip;
	vk.port = 0;
	return bpf_map_lookup_elem(&oxlb_vips, &vk);
}

/* Maglev: ring slot of (vip, hash) -> backend. Returns 0 or a reason. */
static __always_inline __u32 pick_backend(__u32 vip_id, __u32 hash, __u32 *bid,
					  struct oxlb_backend *be)
{
	__u32 ts = oxlb_cfg.table_size;
	struct oxlb_backend *b;
	__u32 idx, *slot;

	if (ts == 0 || vip_id >= oxlb_cfg.max_vips)
		return OXLB_R_DROP_BAD_CONFIG;
	idx = vip_id * ts + hash % ts;
	slot = bpf_map_lookup_elem(&oxlb_ring, &idx);
	if (!slot || *slot == OXLB_NO_BACKEND)
		return OXLB_R_DROP_NO_BACKEND;
	*bid = *slot;
	b = bpf_map_lookup_elem(&oxlb_backends, bid);
	if (!b || !(b->flags & OXLB_BACKEND_VALID))
		return OXLB_R_DROP_NO_BACKEND;
	*be = *b;
	return 0;
}

#endif /* OXLB_VIP_H */
