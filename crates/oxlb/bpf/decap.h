/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * ABI of decap.bpf.c (`oxlb decap`); the Rust mirror is crates/oxlb/src/decap/abi.rs.
 *
 *  oxlb_decap_addrs HASH   decap_addr -> __u8 (1)   the host's tunnel endpoint addresses
 *  oxlb_decap_stats PERCPU_ARRAY reason -> __u64 packets
 *  oxlb_decap_cfg   .rodata struct decap_config
 */
#ifndef OXLB_DECAP_H
#define OXLB_DECAP_H

#include <linux/types.h>

#define DECAP_MAX_ADDRS 64

/* Key of oxlb_decap_addrs: an outer destination address accepted as local. */
struct decap_addr {
	__u32 addr[4]; /* network order; IPv4 in the first word, the rest zero */
	__u8 family;   /* 2 (AF_INET) or 10 (AF_INET6) */
	__u8 _pad[3];
};
_Static_assert(sizeof(struct decap_addr) == 20, "decap_addr size");

struct decap_config {
	__be16 gue_port; /* GUE UDP destination port */
	__u16 _pad;
};
_Static_assert(sizeof(struct decap_config) == 4, "decap_config size");

/* Indices of oxlb_decap_stats. */
enum decap_reason {
	DECAP_R_PASS_NOT_IP = 0,	/* not IPv4/IPv6 (ARP, VLAN-tagged, ...): XDP_PASS */
	DECAP_R_PASS_NOT_ENCAP = 1,	/* not IPIP / IPv6-in-IP / UDP to the GUE port: XDP_PASS */
	DECAP_R_PASS_NOT_LOCAL = 2,	/* tunnel packet for another address: XDP_PASS */
	DECAP_R_PASS_OUTER = 3,		/* outer header the program does not take apart (bad or
					 * short IP header, IPv4 options, fragment, IPv6 extension
					 * headers, GUE control): XDP_PASS, the kernel decides */
	DECAP_R_DROP_MALFORMED = 4,	/* local tunnel packet with a broken outer checksum or
					 * length, unknown GUE variant, inner header that is not
					 * the announced family or runs past the outer payload */
	DECAP_R_IPIP = 5,		/* IPIP / IPv6-in-IP stripped: XDP_PASS of the inner */
	DECAP_R_GUE = 6,		/* GUE stripped: XDP_PASS of the inner */
	DECAP_R_MAX = 7,
};

#endif /* OXLB_DECAP_H */
