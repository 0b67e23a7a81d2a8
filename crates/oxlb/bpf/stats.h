/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb counters: count() bumps one oxlb_reasons counter (the OXLB_R_* reasons of
 * oxlb.h), verdict() counts a reason and returns an XDP action, stats_add() adds a packet to
 * the per-VIP or per-backend packet/byte/flow counters. Included by oxlb.bpf.c after
 * maps.h.
 */
#ifndef OXLB_STATS_H
#define OXLB_STATS_H

/* ---- counters ------------------------------------------------------------ */

static __always_inline void count(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&oxlb_reasons, &reason);

	if (c)
		*c += 1;
}

static __always_inline int verdict(__u32 reason, int action)
{
	count(reason);
	return action;
}

static __always_inline void stats_add(void *map, __u32 id, __u32 bytes, int new_flow, int reply)
{
	struct oxlb_stats *s = bpf_map_lookup_elem(map, &id);

	if (!s)
		return;
	if (reply) {
		s->reply_packets += 1;
		s->reply_bytes += bytes;
	} else {
		s->packets += 1;
		s->bytes += bytes;
		s->new_flows += new_flow;
	}
}

#endif /* OXLB_STATS_H */
