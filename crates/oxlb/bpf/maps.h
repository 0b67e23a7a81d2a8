/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * oxlb datapath state: the constants every part shares (IPv4 fragment bits, NAT_PROBES,
 * the struct pkt.tcp bits), the maps of oxlb.bpf.c (layout and ABI in oxlb.h), the tail-call
 * program array, the oxlb_reasons counters, the loader-set oxlb_cfg, and struct pkt, the
 * parsed packet every helper takes. Included by oxlb.bpf.c first, after oxlb.h.
 */
#ifndef OXLB_MAPS_H
#define OXLB_MAPS_H

#define IP4_MF 0x2000
#define IP4_OFFSET 0x1fff
#define NAT_PROBES 8
/* struct pkt.tcp bits */
#define TCP_SYN 1
#define TCP_FIN 2
#define TCP_RST 4
#define TCP_SYNACK 8 /* SYN with ACK: a server's answer to a SYN */
#define TCP_ACK 16
#define ETH_VLAN_LEN 4

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* ---- maps (see oxlb.h for the layout) ---------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OXLB_DEFAULT_MAX_VIPS);
	__type(key, struct oxlb_vip_key);
	__type(value, struct oxlb_vip);
} oxlb_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OXLB_DEFAULT_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct oxlb_vip_slot);
} oxlb_vip_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OXLB_DEFAULT_MAX_VIPS * OXLB_DEFAULT_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} oxlb_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OXLB_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct oxlb_backend);
} oxlb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, OXLB_DEFAULT_CT_ENTRIES);
	__type(key, struct oxlb_flow_key);
	__type(value, struct oxlb_ct);
} oxlb_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, OXLB_DEFAULT_CT_ENTRIES);
	__type(key, struct oxlb_flow_key);
	__type(value, struct oxlb_nat);
} oxlb_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, OXLB_DEFAULT_SYN_ENTRIES);
	__type(key, struct oxlb_flow_key);
	__type(value, struct oxlb_syn);
} oxlb_syn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OXLB_DEFAULT_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct oxlb_guard);
} oxlb_vip_guard SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OXLB_DEFAULT_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct oxlb_stats);
} oxlb_vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OXLB_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct oxlb_stats);
} oxlb_be_stats SEC(".maps");

/* Where a new oxlb_nat value is built (one per CPU): 88 bytes the main program's
 * stack, at its 512-byte limit, has no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oxlb_nat);
} oxlb_nat_scratch SEC(".maps");

/* Where a new oxlb_syn value is built (one per CPU), like oxlb_nat_scratch. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oxlb_syn);
} oxlb_syn_scratch SEC(".maps");

/* The next hop towards a backend, per CPU: packets without a conntrack entry (new flows)
 * reuse it for OXLB_HOP_TTL_NS instead of calling bpf_fib_lookup (the costliest
 * step of a new flow: ~100-300 ns of a SYN, measured). Slot: backend id modulo
 * OXLB_BE_HOP_SLOTS; an entry serves only the backend id, address and VIP it was resolved
 * for (the VIP fixes the mode and source address). Like the per-flow caches it holds only
 * hops back out of the ingress interface, and it ignores the ports (a route that depends on
 * them, e.g. ECMP hashing on L4, sends a backend's new flows of one second by one path). */
#define OXLB_BE_HOP_SLOTS 4096

struct oxlb_be_hop {
	struct oxlb_hop hop;
	__u32 addr[4];
	__u32 backend_id;
	__u32 vip_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OXLB_BE_HOP_SLOTS);
	__type(key, __u32);
	__type(value, struct oxlb_be_hop);
} oxlb_be_hop SEC(".maps");

int oxlb_cookie(struct xdp_md *ctx);

/* Tail calls: slot OXLB_PROG_COOKIE = oxlb_cookie (syncookie.h); left empty on kernels
 * without the SYN cookie helpers (< 6.0), where the tail call falls through. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int(void *));
} oxlb_progs SEC(".maps") = {
	.values = { [OXLB_PROG_COOKIE] = (void *)&oxlb_cookie },
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OXLB_R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} oxlb_reasons SEC(".maps");

/* Set by the loader before load; must match the map sizes above. */
const volatile struct oxlb_config oxlb_cfg = {
	.table_size = OXLB_DEFAULT_TABLE_SIZE,
	.max_vips = OXLB_DEFAULT_MAX_VIPS,
	.hash_seed = 0x6f786c62, /* "oxlb" */
	.nat_port_min = OXLB_DEFAULT_NAT_PORT_MIN,
	.nat_port_count = OXLB_DEFAULT_NAT_PORT_COUNT,
	.ct_enabled = 1,
	.syn_cookies = OXLB_COOKIES_GUARD,
	.nat_tcp_idle_s = OXLB_DEFAULT_NAT_TCP_IDLE_S,
	.nat_tcp_closed_s = OXLB_DEFAULT_NAT_TCP_CLOSED_S,
	.nat_tcp_time_wait_s = OXLB_DEFAULT_NAT_TCP_TIME_WAIT_S,
	.nat_udp_idle_s = OXLB_DEFAULT_NAT_UDP_IDLE_S,
	.nat_tcp_syn_s = OXLB_DEFAULT_NAT_TCP_SYN_S,
	.guard_new_flows = OXLB_DEFAULT_GUARD_NEW_FLOWS,
	.syn_cookie_rate = OXLB_DEFAULT_SYN_COOKIE_RATE,
};

/* ---- parsed packet ------------------------------------------------------- */

/* Parsed packet: pointers into the frame plus the client-side 5-tuple. */
struct pkt {
	struct ethhdr *eth;
	__u32 *saddr;	 /* IP source address in the frame */
	__u32 *daddr;	 /* IP destination address in the frame */
	__u16 *ip_csum;	 /* IPv4 header checksum (unused for IPv6) */
	__be16 *sport;	 /* L4 ports in the frame */
	__be16 *dport;
	__u16 *l4_csum;	 /* TCP/UDP checksum in the frame */
	__u32 tcp_seq;	 /* host order: a SYN-ACK's sequence number, else the acknowledgement number */
	__u32 bytes;	 /* L2 header + IP length, for the byte counters */
	__u16 l3_len;	 /* IP total length, for the fib MTU check */
	__u8 vlan;	 /* 1 if the frame carried a VLAN tag */
	__u8 tcp;	 /* TCP_SYN (SYN without ACK: a new connection) | TCP_SYNACK | TCP_FIN | TCP_RST */
	struct oxlb_flow_key key;
};

#endif /* OXLB_MAPS_H */
