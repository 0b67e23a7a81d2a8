/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb VIP filter: decides that a TCP/UDP packet is not ours (no VIP at its
 * destination address, not a NAT reply) from one array read, before any conntrack,
 * NAT or VIP hash lookup. Included by oxlb.bpf.c right before dispatch.h (it uses
 * struct pkt and nat_port_in_range); the Rust mirror (hash, layout,
 * the writes that keep it in step with oxlb_vips) is crates/oxlb/src/datapath/vipfilter.rs.
 *
 * oxlb_vipfilter: OXLB_VIPFILTER_WORDS u64 words, written only by the control plane: a
 * global array in its own section, so the kernel makes it an ARRAY map of one 32 KiB
 * element (".bss.vipfilter") and the datapath reads a word directly, without a helper
 * call (a map lookup here made established flows ~10 ns slower: the registers live
 * across a call are spilled). It is not pinned (bpffs refuses names with a dot): each
 * loaded program has its own, which the daemon writes whole before attaching the
 * program; it is derived from oxlb_vips, so nothing is lost.
 *
 * An address hashes (vipfilter_hash) to one word and one of its 16 nibbles; the
 * nibble's bits are "lanes":
 *   bit 0: a VIP of this address, TCP        bit 2: an SNAT address of a NAT VIP, TCP
 *   bit 1: a VIP of this address, UDP        bit 3: an SNAT address of a NAT VIP, UDP
 * A set bit means "certainly none here" (no address of that lane hashes to this
 * nibble); a clear bit means "maybe": the packet takes the full path. The array starts
 * all zero, so a datapath whose filter was never written behaves exactly as without it.
 * Hash collisions only cost speed (a clear bit shared with another address), never a
 * wrong verdict. VIP ports are not in the filter: a port-0 VIP (any port) and port
 * VIPs of one address share their lane.
 *
 * Writes stay safe for packets in flight: the control plane clears the bits of
 * addresses it is about to add before it inserts their VIPs, and sets the bits of
 * addresses it removed after their VIPs are gone (datapath/diff.rs). Each write
 * replaces the whole array; a packet may read a word while it is copied, and then
 * sees old and new bytes mixed, which is still a state between the two (one write
 * only clears bits, the other only sets them).
 *
 * Not filtered: ICMP errors (handled before dispatch by their quoted packet), and
 * NAT-range ports of an SNAT address (their NAT lookups run as before). Replies of NAT
 * flows whose VIP was removed pass to the kernel once no NAT VIP uses their SNAT
 * address any more: the flow's forward direction already passes then.
 */
#ifndef OXLB_VIPFILTER_H
#define OXLB_VIPFILTER_H

#define OXLB_VIPFILTER_BITS 12
#define OXLB_VIPFILTER_WORDS (1 << OXLB_VIPFILTER_BITS) /* 32 KiB, 65,536 nibbles */
#define OXLB_VIPFILTER_GOLDEN 0x9e3779b1u
#define OXLB_VIPFILTER_V6 0x5bd1e995u

/* Zero at load: every packet takes the full path until the control plane writes it. */
__u64 oxlb_vipfilter[OXLB_VIPFILTER_WORDS] SEC(".bss.vipfilter");

/* Hash of a destination address (the words as they lie in the packet; IPv6 folded by
 * XOR with a constant that keeps it apart from the IPv4 address of its last word):
 * word = h >> 20, nibble = (h >> 16) & 15. Short on purpose: it is the dependency chain
 * in front of the one array read every packet pays (a collision only costs the full
 * path, so spreading beats mixing). */
static __always_inline __u32 vipfilter_hash(const __u32 *addr, const int v6)
{
	__u32 x = addr[0];

	if (v6)
		x ^= addr[1] ^ addr[2] ^ addr[3] ^ OXLB_VIPFILTER_V6;
	return (x ^ (x >> 16)) * OXLB_VIPFILTER_GOLDEN;
}

/* 1 when a parsed TCP/UDP packet is certainly not ours: no VIP at its destination for
 * its protocol, and either its destination port is outside the NAT port range or the
 * address is no SNAT address for the protocol. The NAT range is only looked at for
 * packets the VIP lane already rules out, so VIP traffic pays the read and one test. */
static __always_inline int vipfilter_not_ours(const struct pkt *p, const int v6)
{
	__u32 h = vipfilter_hash(p->key.dst, v6);
	__u32 w = h >> (32 - OXLB_VIPFILTER_BITS);
	__u64 lanes = oxlb_vipfilter[w] >> (((h >> 16) & 15) * 4 + (p->key.proto == IPPROTO_UDP));

	if (!(lanes & 1))
		return 0;
	return (lanes & 4) || !nat_port_in_range(p);
}

#endif /* OXLB_VIPFILTER_H */
