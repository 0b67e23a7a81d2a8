/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb new-flow guard: guard_engaged() counts a VIP's new flows per CPU (oxlb_vip_guard)
 * and says which rates they exceed: oxlb_cfg.guard_new_flows (RATE_GUARD: no conntrack
 * insert) and oxlb_cfg.syn_cookie_rate (RATE_COOKIES: NAT SYNs get a SYN cookie).
 * Included by oxlb.bpf.c after halfopen.h.
 */
#ifndef OXLB_GUARD_H
#define OXLB_GUARD_H

/* ---- new-flow guard ------------------------------------------------------------ */

/* guard_engaged's answer: bits of what a VIP's new-flow rate on this CPU exceeds. */
#define RATE_GUARD 1   /* guard_new_flows: the flow gets no conntrack insert */
#define RATE_COOKIES 2 /* syn_cookie_rate: a NAT SYN is answered with a SYN cookie */

/* Whether a per-window count exceeds a rate per second (0: no limit). */
static __always_inline int rate_above(__u64 count, __u64 per_s)
{
	return per_s && count * NS_PER_S > (per_s << OXLB_GUARD_WINDOW_SHIFT);
}

/* Count a new flow of a VIP on this CPU (per 67 ms window) and say which limits its rate
 * exceeds (RATE_*): above oxlb_cfg.guard_new_flows the flow is scheduled without a
 * conntrack insert, so a flood cannot evict live flows; above oxlb_cfg.syn_cookie_rate
 * SYNs to NAT VIPs are answered with SYN cookies (syn_cookies = flood). */
static __always_inline int guard_engaged(__u32 vip_id, __u64 now)
{
	__u64 w = now >> OXLB_GUARD_WINDOW_SHIFT;
	struct oxlb_guard *g;
	int r = 0;

	if (!oxlb_cfg.guard_new_flows && !oxlb_cfg.syn_cookie_rate)
		return 0;
	g = bpf_map_lookup_elem(&oxlb_vip_guard, &vip_id);
	if (!g)
		return 0;
	if (g->window != w) {
		g->window = w;
		g->count = 0;
	}
	g->count += 1;
	if (rate_above(g->count, oxlb_cfg.syn_cookie_rate))
		r = RATE_COOKIES;
	if (!rate_above(g->count, oxlb_cfg.guard_new_flows))
		return r;
	g->guarded += 1;
	count(OXLB_R_GUARDED);
	return r | RATE_GUARD;
}

#endif /* OXLB_GUARD_H */
