/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb VIP filter: decides that a TCP/UDP packet is not ours (no VIP at its
 * destination address, not a NAT reply) from one array read, before any conntrack,
 * NAT or VIP hash lookup. Included by oxlb.bpf.c right before dispatch() (it uses
 * struct pkt and nat_port_in_range); the Rust mirror (hash, layout,
 * the writes that keep it in step with oxlb_vips) is crates/oxlb/src/datapath/vipfilter.rs.
 *
 * oxlb_vipfilter: ARRAY of OXLB_VIPFILTER_WORDS u64 words, written only by the control
 * plane. An address hashes (vipfilter_hash) to one word and one of its 16 nibbles;
 * the nibble's bits are "lanes":
 *   bit 0: a VIP of this address, TCP        bit 2: an SNAT address of a NAT VIP, TCP
 *   bit 1: a VIP of this address, UDP        bit 3: an SNAT address of a NAT VIP, UDP
 * A set bit means "certainly none here" (no address of that lane hashes to this
 * nibble); a clear bit means "maybe": the packet takes the full path. The map starts
 * all zero, so a datapath whose filter was never written behaves exactly as without it.
 * Hash collisions only cost speed (a clear bit shared with another address), never a
 * wrong verdict. VIP ports are not in the filter: a port-0 VIP (any port) and port
 * VIPs of one address share their lane.
 *
 * Writes stay safe for packets in flight: the control plane clears the bits of
 * addresses it is about to add before it inserts their VIPs, and sets the bits of
 * addresses it removed after their VIPs are gone (datapath/diff.rs). Each word is one
 * 8-byte array element, so a packet reads either the old or the new word.
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OXLB_VIPFILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} oxlb_vipfilter SEC(".maps");

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
	__u64 *word = bpf_map_lookup_elem(&oxlb_vipfilter, &w);
	__u64 lanes;

	if (!word)
		return 0;
	lanes = *word >> (((h >> 16) & 15) * 4 + (p->key.proto == IPPROTO_UDP));
	if (!(lanes & 1))
		return 0;
	return (lanes & 4) || !nat_port_in_range(p);
}

#endif /* OXLB_VIPFILTER_H */
