/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb incremental checksums (RFC 1624: HC' = ~(~HC + ~m + m')) and rewrite(), which
 * changes a packet's addresses and ports in place and updates the IPv4 header checksum and
 * the TCP/UDP checksum to match (a zero UDP checksum over IPv4 stays zero). Used by NAT, the
 * ICMP paths and the SYN proxy. Included by oxlb.bpf.c after flow.h.
 */
#ifndef OXLB_CSUM_H
#define OXLB_CSUM_H

/* ---- incremental checksums (RFC 1624) ------------------------------------ */

/* Sum contribution of replacing the 32-bit field `from` by `to`. */
static __always_inline __u64 csum_delta32(__u32 from, __u32 to)
{
	__u32 nf = ~from;

	return (__u64)(nf & 0xffff) + (nf >> 16) + (to & 0xffff) + (to >> 16);
}

/* Sum contribution of replacing the 16-bit field `from` by `to`. */
static __always_inline __u64 csum_delta16(__u16 from, __u16 to)
{
	return (__u64)(__u16)~from + to;
}

/* HC' = ~(~HC + delta), folded to 16 bits. */
static __always_inline __u16 csum_apply(__u16 csum, __u64 delta)
{
	__u64 s = (__u64)(__u16)~csum + delta;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Rewrite addresses and ports of the packet in place, fixing the IPv4 header and
 * TCP/UDP checksums. */
static __always_inline void rewrite(struct pkt *p, const __u32 *nsrc, const __u32 *ndst,
				    __be16 nsport, __be16 ndport, const int v6)
{
	int words = v6 ? 4 : 1;
	__u64 d_addr = 0, d_l4;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i < words) {
			d_addr += csum_delta32(p->saddr[i], nsrc[i]);
			d_addr += csum_delta32(p->daddr[i], ndst[i]);
			p->saddr[i] = nsrc[i];
			p->daddr[i] = ndst[i];
		}
	}
	d_l4 = d_addr + csum_delta16(*p->sport, nsport) + csum_delta16(*p->dport, ndport);
	*p->sport = nsport;
	*p->dport = ndport;
	if (!v6)
		*p->ip_csum = csum_apply(*p->ip_csum, d_addr);
	if (p->key.proto == IPPROTO_UDP) {
		if (v6 || *p->l4_csum != 0) {
			__u16 c = csum_apply(*p->l4_csum, d_l4);

			*p->l4_csum = c ? c : 0xffff;
		}
	} else {
		*p->l4_csum = csum_apply(*p->l4_csum, d_l4);
	}
}

#endif /* OXLB_CSUM_H */
