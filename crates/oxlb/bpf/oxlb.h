/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb datapath ABI: the key/value layouts of every map of oxlb.bpf.c and the
 * read-only config. The Rust mirror lives in crates/oxlb/src/datapath/abi.rs and
 * must stay byte-identical (both sides assert the sizes).
 *
 * Conventions
 *  - Addresses are 16 bytes in network byte order. IPv4 uses the first 4 bytes,
 *    the other 12 are zero; `family` says which (OXLB_AF_INET / OXLB_AF_INET6).
 *  - Ports are in network byte order (__be16).
 *  - Every struct has explicit padding (named `_pad*`, always written as zero) so
 *    that hash keys compare byte-for-byte and the Rust side can build them.
 *
 * Map layout (all sizes are load-time parameters: the loader sets max_entries
 * and the matching fields of `oxlb_cfg` before loading):
 *
 *  oxlb_vips      HASH   vip_key -> vip          max_vips entries (VIP ids < max_vips)
 *  oxlb_vip_ids   ARRAY  u32 VIP id -> vip_slot (key + vip)   max_vips entries
 *  oxlb_ring      ARRAY  u32 -> u32 backend id   max_vips * table_size entries
 *  oxlb_backends  ARRAY  u32 backend id -> backend   max_backends entries
 *  oxlb_ct        LRU_HASH flow_key (client->VIP) -> ct
 *  oxlb_nat       LRU_HASH flow_key (backend->LB, as the reply arrives) -> nat
 *  oxlb_syn       LRU_HASH flow_key (backend->LB, as the reply arrives) -> syn:
 *                 half-open NAT flows (client SYN seen, handshake not completed), kept
 *                 apart so a SYN flood never evicts an established flow's state
 *  oxlb_vip_guard PERCPU_ARRAY vip id -> guard (new-flow rate per CPU)
 *  oxlb_vip_stats PERCPU_ARRAY vip id -> stats
 *  oxlb_be_stats  PERCPU_ARRAY backend id -> stats
 *  oxlb_reasons   PERCPU_ARRAY reason -> u64 packets
 *
 * Maglev tables: ONE flat ARRAY, slot `vip_id * table_size + (hash % table_size)`.
 * Why: one array lookup per new flow (no map-in-map indirection, no per-VIP map
 * fds to manage), memory is max_vips * table_size * 4 bytes (10,000 VIPs with a
 * 65,537-slot table = 2.6 GB, with a 4,099-slot table = 164 MB; the table size is
 * the knob), and updates are plain element writes. A table update is not atomic
 * across slots: while it is being rewritten a new flow may land on either the old
 * or the new backend of its slot, both of which are valid choices; established
 * flows are pinned by conntrack. Slot value OXLB_NO_BACKEND means "no backend".
 */
#ifndef OXLB_H
#define OXLB_H

#include <linux/types.h>

#define OXLB_AF_INET 2
#define OXLB_AF_INET6 10

/* VIP forwarding modes (oxlb_vip.mode). */
#define OXLB_MODE_NAT 1
#define OXLB_MODE_DSR 2
#define OXLB_MODE_IPIP 3 /* encapsulated DSR: IP in IP (4in4, 6in6, 4in6, 6in4), see encap.h */
#define OXLB_MODE_GUE 4	 /* encapsulated DSR: IP in UDP (GUE variant 1), see encap.h */

/* oxlb_config.syn_cookies: when a SYN to a NAT VIP is answered by the LB itself with a
 * SYN cookie (syncookie.h) instead of opening a half-open flow. */
#define OXLB_COOKIES_OFF 0
#define OXLB_COOKIES_GUARD 1  /* a flood: the VIP's new flows exceed syn_cookie_rate or the
			       * new-flow guard, or every NAT port the SYN probes is held by
			       * a live half-open flow */
#define OXLB_COOKIES_ALWAYS 2 /* every SYN */

/* Slots of oxlb_progs (tail calls). */
#define OXLB_PROG_COOKIE 0

/* oxlb_backend.flags */
#define OXLB_BACKEND_VALID 1

/* Ring slot value meaning "no usable backend" (new flows are dropped). */
#define OXLB_NO_BACKEND 0xffffffffu

/* Defaults of the object file; the loader overrides them (maps + oxlb_cfg). */
#define OXLB_DEFAULT_MAX_VIPS 512
#define OXLB_DEFAULT_TABLE_SIZE 4099
#define OXLB_DEFAULT_MAX_BACKENDS 4096
#define OXLB_DEFAULT_CT_ENTRIES 262144
#define OXLB_DEFAULT_NAT_PORT_MIN 16384
#define OXLB_DEFAULT_NAT_PORT_COUNT 16384
#define OXLB_DEFAULT_NAT_TCP_IDLE_S 900
#define OXLB_DEFAULT_NAT_TCP_CLOSED_S 5
#define OXLB_DEFAULT_NAT_TCP_TIME_WAIT_S 60
#define OXLB_DEFAULT_NAT_UDP_IDLE_S 30
#define OXLB_DEFAULT_NAT_TCP_SYN_S 3
#define OXLB_DEFAULT_SYN_ENTRIES 65536
#define OXLB_DEFAULT_GUARD_NEW_FLOWS 0
#define OXLB_DEFAULT_SYN_COOKIE_RATE 0
/* The new-flow guard counts new flows per VIP and CPU in windows of 2^26 ns (67 ms). */
#define OXLB_GUARD_WINDOW_SHIFT 26

/* Key of oxlb_vips: destination of the client packet. port 0 = any port. */
struct oxlb_vip_key {
	__u32 addr[4];
	__be16 port;
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;
};
_Static_assert(sizeof(struct oxlb_vip_key) == 20, "oxlb_vip_key size");

/* Value of oxlb_vips. */
struct oxlb_vip {
	__u32 id;	    /* index into oxlb_ring / oxlb_vip_stats, < max_vips */
	__u8 mode;	    /* OXLB_MODE_* */
	__u8 snat_family;   /* family of snat_addr (NAT only; 0 for DSR) */
	__u16 _pad;
	__u32 snat_addr[4]; /* NAT: the LB's source address towards backends */
};
_Static_assert(sizeof(struct oxlb_vip) == 24, "oxlb_vip size");

/* Value of oxlb_vip_ids (index: VIP id): the VIP under that id, so packets of
 * tracked flows find their VIP without the hash lookup. mode 0 = no VIP. */
struct oxlb_vip_slot {
	struct oxlb_vip_key key;
	struct oxlb_vip vip;
};
_Static_assert(sizeof(struct oxlb_vip_slot) == 44, "oxlb_vip_slot size");

/* Value of oxlb_backends. An all-zero entry (flags without VALID) is "no backend". */
struct oxlb_backend {
	__u32 addr[4];
	__be16 port; /* NAT destination port; 0 = keep the client's destination port */
	__u8 family;
	__u8 flags; /* OXLB_BACKEND_* */
};
_Static_assert(sizeof(struct oxlb_backend) == 20, "oxlb_backend size");

/* A transport 5-tuple as seen in a packet (src -> dst). */
struct oxlb_flow_key {
	__u32 src[4];
	__u32 dst[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 _pad;
};
_Static_assert(sizeof(struct oxlb_flow_key) == 40, "oxlb_flow_key size");

/* A next hop from bpf_fib_lookup, cached in conntrack and NAT entries for
 * OXLB_HOP_TTL_NS (see nexthop.h). */
struct oxlb_hop {
	__u8 dmac[6];
	__u8 smac[6];
	__u32 ifindex;
	__u64 at_ns; /* datapath clock (oxlb_config.ns_per_jiffy) at the lookup; 0: none cached */
};
_Static_assert(sizeof(struct oxlb_hop) == 24, "oxlb_hop size");

/* Value of oxlb_ct (key: client -> VIP tuple). */
struct oxlb_ct {
	__u32 backend_id;
	__u32 vip_id;
	__be16 nat_port; /* NAT: the LB source port of this flow; 0 for DSR */
	__u8 mode;	 /* OXLB_MODE_* at flow creation */
	__u8 _pad;
	/* A flow opened by a SYN cookie (see syncookie.h): backend ISN - cookie, added to
	 * the client's acknowledgement numbers; 0 for every other flow. */
	__u32 seq_delta;
	struct oxlb_hop hop; /* towards the backend */
};
_Static_assert(sizeof(struct oxlb_ct) == 40, "oxlb_ct size");

/* oxlb_nat.closing: how a TCP flow of a NAT port ended (decides when the port may
 * be given to another flow, see oxlb_config). */
#define OXLB_NAT_OPEN 0
#define OXLB_NAT_CLOSED 1    /* the client sent the first FIN, or either side a RST */
#define OXLB_NAT_TIME_WAIT 2 /* the backend sent the first FIN: it holds TIME_WAIT */
/* oxlb_nat.seen counts ticks of 2^30 ns (1.07 s): 4 bytes, wraps after 146 years. */
#define OXLB_NAT_TICK_SHIFT 30

/* Value of oxlb_nat (key: backend:port -> snat_addr:nat_port tuple of a reply). */
struct oxlb_nat {
	struct oxlb_flow_key client; /* the original client -> VIP tuple */
	__u32 vip_id;
	__u32 backend_id;
	struct oxlb_hop hop; /* towards the client */
	__u32 seen;	     /* last packet of the flow: datapath clock in ns >> OXLB_NAT_TICK_SHIFT */
	__u8 closing;	     /* OXLB_NAT_* */
	__u8 _pad[3];
	__u32 seq_delta;     /* as oxlb_ct.seq_delta: subtracted from the backend's sequence numbers */
	__u32 _pad2;
};
_Static_assert(sizeof(struct oxlb_nat) == 88, "oxlb_nat size");

/* Value of oxlb_syn (key: as oxlb_nat): a half-open NAT flow. It holds its source
 * port until the client's ACK acknowledges the backend's SYN-ACK (then it moves to
 * oxlb_nat and oxlb_ct), or until a new SYN needs the port: see halfopen.h. */
struct oxlb_syn {
	struct oxlb_flow_key client; /* the client -> VIP tuple */
	__u32 vip_id;
	__u32 backend_id;
	__u64 at_ns;	    /* datapath clock at the client's (last) SYN */
	__u32 server_isn;   /* the backend's SYN-ACK sequence number (host order); while a
			     * proxied flow waits for it: the cookie the client acknowledged */
	__u8 synack;	    /* 1 once the backend's SYN-ACK went back to the client */
	__u8 proxied;	    /* 1: opened by a SYN cookie, the LB completes the backend's handshake */
	__be16 window;	    /* proxied: the client's receive window (its ACK's, unscaled) */
	__u32 client_isn;   /* proxied: the sequence number of the LB's SYN (host order) */
	__u32 _pad;
};
_Static_assert(sizeof(struct oxlb_syn) == 72, "oxlb_syn size");

/* Value of oxlb_vip_guard (per CPU): new flows of a VIP in the current window. */
struct oxlb_guard {
	__u64 window;	/* datapath clock >> OXLB_GUARD_WINDOW_SHIFT of the current window */
	__u64 count;	/* new flows in that window */
	__u64 guarded;	/* new flows scheduled while the guard was engaged (total) */
};
_Static_assert(sizeof(struct oxlb_guard) == 24, "oxlb_guard size");

/* Value of oxlb_vip_stats and oxlb_be_stats (per CPU; sum over CPUs). */
struct oxlb_stats {
	__u64 packets;	     /* client -> backend packets forwarded */
	__u64 bytes;	     /* their frame bytes */
	__u64 new_flows;     /* conntrack misses that picked a backend */
	__u64 reply_packets; /* NAT replies translated back */
	__u64 reply_bytes;
};
_Static_assert(sizeof(struct oxlb_stats) == 40, "oxlb_stats size");

/* Indices of oxlb_reasons: why a packet got its verdict. */
enum oxlb_reason {
	OXLB_R_PASS_NOT_IP = 0,	     /* non-IP ethertype, stacked VLANs: XDP_PASS */
	OXLB_R_PASS_NOT_VIP = 1,     /* IP but neither VIP nor tracked NAT reply: XDP_PASS */
	OXLB_R_TRUNCATED = 2,	     /* header runs past the frame / bad lengths: XDP_PASS */
	OXLB_R_FRAGMENT = 3,	     /* IPv4 fragment or IPv6 fragment header: XDP_PASS */
	OXLB_R_IP_OPTIONS = 4,	     /* IPv4 IHL > 5: counted, then handled normally */
	OXLB_R_IPV6_EXT = 5,	     /* IPv6 extension header: XDP_PASS */
	OXLB_R_BAD_IHL = 6,	     /* IPv4 IHL < 5 or version mismatch: XDP_PASS */
	OXLB_R_DROP_NO_BACKEND = 7,  /* VIP with an empty ring slot / invalid backend: XDP_DROP */
	OXLB_R_DROP_NAT_PORTS = 8,   /* no free NAT source port after probing: XDP_DROP */
	OXLB_R_DROP_BAD_CONFIG = 9,  /* VIP/backend family mismatch, table_size 0: XDP_DROP */
	OXLB_R_FIB_NO_NEIGH = 10,    /* next hop MAC unknown: XDP_PASS (kernel resolves) */
	OXLB_R_FIB_FAIL = 11,	     /* no route / blackhole / not forwarded: XDP_PASS */
	OXLB_R_FIB_FRAG_NEEDED = 12, /* packet larger than egress MTU: XDP_PASS */
	OXLB_R_ICMP_FORWARDED = 13,  /* ICMP too-big about a tracked flow sent to its backend */
	OXLB_R_ICMP_UNTRACKED = 14,  /* ICMP too-big about no tracked flow: XDP_PASS */
	OXLB_R_TX = 15,		     /* XDP_TX verdicts */
	OXLB_R_REDIRECT = 16,	     /* bpf_redirect to another interface */
	OXLB_R_CT_HIT = 17,	     /* established flow found in conntrack */
	OXLB_R_CT_MISS = 18,	     /* new flow scheduled through the Maglev ring */
	OXLB_R_NAT_REPLY = 19,	     /* reply translated back to the client */
	OXLB_R_VLAN = 20,	     /* frame carried one 802.1Q/802.1ad tag (handled) */
	OXLB_R_NAT_PORT_REUSED = 21, /* a new NAT flow took the port of an idle or closed one */
	OXLB_R_SYN_HALF_OPEN = 22,   /* NAT SYN forwarded as a half-open flow (oxlb_syn) */
	OXLB_R_SYN_PROMOTED = 23,    /* half-open flow completed its handshake: now established */
	OXLB_R_SYN_REPLACED = 24,    /* a SYN took the port of a younger half-open flow (flood) */
	OXLB_R_DROP_NO_FLOW = 25,    /* NAT TCP packet, not a SYN, of no known or valid flow: XDP_DROP */
	OXLB_R_GUARDED = 26,	     /* new flow scheduled without conntrack: new-flow guard engaged */
	OXLB_R_CT_RESUMED = 27,	     /* packet of a live flow whose conntrack entry was gone (evicted) */
	OXLB_R_NAT_REPLY_MISS = 28,  /* TCP/UDP to a NAT port with no NAT entry (evicted or stray): XDP_PASS */
	OXLB_R_ENCAP_TOO_BIG = 29,   /* ipip/gue: too big once encapsulated, ICMP sent back: XDP_TX */
	OXLB_R_ENCAP_TOO_BIG_DROP = 30, /* ipip/gue: too big, no ICMP possible (DF clear, short): XDP_DROP */
	OXLB_R_COOKIE_SENT = 31,     /* NAT SYN answered by the LB with a SYN cookie: XDP_TX */
	OXLB_R_COOKIE_OK = 32,	     /* ACK with a valid cookie: the LB sent the SYN to a backend */
	OXLB_R_COOKIE_PROXIED = 33,  /* backend's SYN-ACK of a cookie flow answered: established */
	OXLB_R_COOKIE_FAIL = 34,     /* cookie frame could not be built (options, size): XDP_DROP */
	OXLB_R_STALE_RESET = 35,     /* backend answered a half-open flow's SYN for an older use of
				      * its NAT port: the LB resets that stale state (XDP_TX) */
	OXLB_R_MAX = 36,
};

/* Read-only config (.rodata, set by the loader before load). */
struct oxlb_config {
	__u32 table_size;     /* Maglev table size (prime); oxlb_ring has max_vips * table_size */
	__u32 max_vips;	      /* VIP ids must be < max_vips */
	__u32 hash_seed;      /* seed of the flow hash */
	__u16 nat_port_min;   /* first NAT source port (host order) */
	__u16 nat_port_count; /* number of NAT source ports */
	__u8 ct_enabled;      /* 1: pin flows to backends in oxlb_ct; 0: stateless Maglev */
	__u8 syn_cookies;     /* OXLB_COOKIES_*: when NAT SYNs are answered with SYN cookies */
	__u8 _pad[2];
	/* Seconds since its last packet after which a NAT port may go to a new flow
	 * (it is reused only when the probed ports are all taken): */
	__u32 nat_tcp_idle_s;	   /* open TCP flow */
	__u32 nat_tcp_closed_s;	   /* OXLB_NAT_CLOSED */
	__u32 nat_tcp_time_wait_s; /* OXLB_NAT_TIME_WAIT (the backend's TIME_WAIT, 60 s on Linux) */
	__u32 nat_udp_idle_s;	   /* UDP flow */
	/* Clock of hop ages and NAT idle times: > 0 = bpf_jiffies64() * ns_per_jiffy (one
	 * memory read; the loader sets 10^9 / CONFIG_HZ when the kernel has the helper),
	 * 0 = bpf_ktime_get_ns(). Fixed per host: maps adopted across a restart keep
	 * their meaning. */
	__u32 ns_per_jiffy;
	/* Half-open NAT flows (oxlb_syn) older than this give their port to a new SYN
	 * before any other candidate; younger ones only when all probed ports are taken. */
	__u32 nat_tcp_syn_s;
	/* New flows per VIP per CPU per second above which the guard engages: new flows
	 * are then scheduled by Maglev without conntrack inserts (0: no guard). */
	__u32 guard_new_flows;
	/* New flows per VIP per CPU per second above which SYNs to NAT VIPs are answered
	 * with SYN cookies when syn_cookies is OXLB_COOKIES_GUARD (0: only the other
	 * triggers: the guard, NAT ports held by half-open flows). */
	__u32 syn_cookie_rate;
};
_Static_assert(sizeof(struct oxlb_config) == 52, "oxlb_config size");

/* Read-only encapsulation settings of the ipip/gue modes (.rodata variable
 * oxlb_encap, set by the loader before load; see encap.h). The outer source
 * address is src | (flow hash & mask): the backends' RSS spreads flows. */
struct oxlb_encap_config {
	__u32 src4;	 /* IPv4 outer source prefix (network order); 0: none configured */
	__u32 mask4;	 /* its host bits (network order) */
	__u32 src6[4];	 /* IPv6 outer source prefix; all zero: none configured */
	__u32 mask6;	 /* host bits of the last 32-bit word of src6 (network order) */
	__be16 gue_port; /* GUE destination UDP port (default 6080) */
	__u16 _pad;
};
_Static_assert(sizeof(struct oxlb_encap_config) == 32, "oxlb_encap_config size");

#endif /* OXLB_H */
