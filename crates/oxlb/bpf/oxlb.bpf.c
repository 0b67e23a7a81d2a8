// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * oxlb XDP datapath: a layer-4 load balancer (Maglev + conntrack, full NAT or DSR;
 * encapsulated DSR (ipip, gue) lives in encap.h).
 *
 * Map layout and ABI: see oxlb.h.
 *
 * Per packet:
 *   parse Ethernet (+ one 802.1Q/802.1ad tag) -> IPv4 / IPv6 -> TCP / UDP / ICMP too-big
 *   dst port in the NAT range: NAT reverse map (reply of a NAT flow) -> translate
 *     back, XDP_TX / redirect
 *   not a SYN: conntrack (client 5-tuple) -> VIP id -> oxlb_vip_ids slot; a slot
 *     that still holds the packet's VIP -> the flow's backend (no VIP hash lookup)
 *   VIP lookup (dst addr, dst port, proto), then (dst addr, port 0, proto)
 *     hit:  Maglev ring slot -> backend (a new flow, recorded in conntrack unless the
 *           VIP's new-flow guard is engaged)
 *           NAT: a TCP SYN opens a half-open flow (oxlb_syn) holding a source port; the
 *           client's ACK of the backend's SYN-ACK moves it to oxlb_nat + conntrack (so
 *           spoofed SYNs never reach those maps); other TCP packets without state are
 *           dropped; UDP allocates a source port (reverse map). Rewrite L3/L4 + checksums
 *           DSR: only the MAC addresses change
 *           next hop + MACs from bpf_fib_lookup, XDP_TX (same ifindex) / bpf_redirect
 *     miss: XDP_PASS untouched (host traffic such as ssh keeps working).
 *
 * Verdicts for odd packets (every one counted in oxlb_reasons):
 *   non-IP ethertype, two or more VLAN tags ......... XDP_PASS (PASS_NOT_IP)
 *   header shorter than its struct, IP length past
 *   the frame, L4 header past the IP length,
 *   TCP doff < 5 .................................... XDP_PASS (TRUNCATED), never rewritten
 *   IPv4 version != 4 or IHL < 5 .................... XDP_PASS (BAD_IHL)
 *   IPv4 fragment (MF set or offset != 0) ........... XDP_PASS (FRAGMENT): no ports in
 *       non-first fragments, so fragmented VIP traffic is not balanced (the kernel
 *       reassembles or drops it); TCP avoids fragments through PMTU discovery.
 *   IPv4 options (IHL > 5) .......................... counted (IP_OPTIONS), then handled
 *       normally: L4 is found at IHL*4 and the options are left untouched.
 *   IPv6 fragment header ............................ XDP_PASS (FRAGMENT)
 *   IPv6 extension headers (hop-by-hop, routing,
 *       destination options, AH, mobility, HIP, shim6, experimental) XDP_PASS (IPV6_EXT)
 *   other L4 protocols (ESP, SCTP, GRE, ...) ........ XDP_PASS (PASS_NOT_VIP)
 *   VIP traffic with no usable backend .............. XDP_DROP (DROP_NO_BACKEND)
 *   NAT with no free or stale source port among 8 .. XDP_DROP (DROP_NAT_PORTS)
 *   NAT TCP, not a SYN, no flow (or a blind ACK) .... XDP_DROP (DROP_NO_FLOW)
 *   VIP/backend/SNAT family mismatch, table_size 0 .. XDP_DROP (DROP_BAD_CONFIG)
 *   fib: no neighbour entry ......................... XDP_PASS untouched (FIB_NO_NEIGH)
 *   fib: larger than the egress MTU ................. XDP_PASS untouched (FIB_FRAG_NEEDED)
 *   fib: no route / blackhole / prohibited .......... XDP_PASS untouched (FIB_FAIL)
 *   Map state (conntrack, NAT port) is created before the fib lookup and kept when
 *   it fails; the packet itself is only modified after a successful lookup. The
 *   kernel does not resolve a backend's neighbour for a passed VIP packet (it is
 *   addressed to the VIP), so neighbours must exist: health checks from the LB host
 *   to each backend keep them resolved.
 *   Not VIP and not a NAT reply (ssh, ARP, ND, ...) ... XDP_PASS untouched (PASS_NOT_VIP);
 *       TCP/UDP to a port of the NAT range costs one oxlb_nat lookup more.
 *
 * ICMP errors (IPv4 type 3 code 4 "fragmentation needed", IPv6 type 2 "packet too
 * big") addressed to a VIP: the quoted packet is a reply the LB (NAT) or a backend
 * (DSR) sent, VIP:port -> client:port. The flow client:port -> VIP:port is looked up
 * in conntrack (DSR without a conntrack entry: the Maglev ring), then
 *   DSR: the error goes unchanged to the flow's backend (MAC rewrite only);
 *   NAT: outer src -> SNAT address, outer dst -> backend, quoted src -> backend:port,
 *        quoted dst -> SNAT address:NAT port; outer IPv4, quoted IPv4 and ICMP /
 *        ICMPv6 checksums are updated incrementally. The quoted transport checksum is
 *        left as is (receivers do not verify it in ICMP errors).
 * Quoted packets with IPv4 options or IPv6 extension headers, other ICMP types,
 * and ICMP errors about packets the LB sent towards a backend (NAT forward path)
 * are passed to the kernel (ICMP_UNTRACKED / PASS_NOT_VIP).
 *
 * NAT source ports: each (backend:port, SNAT address) pair has its own range of
 * oxlb_cfg.nat_port_count ports; a new flow probes 8 of them from its hash. A port
 * belongs to its flow until the flow is stale: no packet for nat_tcp_idle_s (open
 * TCP), nat_tcp_closed_s (client closed first, or a RST: nobody holds TIME_WAIT on
 * the backend's side of the tuple), nat_tcp_time_wait_s (backend closed first: its
 * TIME_WAIT must end before the tuple is used again), nat_udp_idle_s (UDP). A stale
 * port is reclaimed only when all 8 probed ports are taken (NAT_PORT_REUSED), and
 * the conntrack entry of its old flow is removed with it. Idle time is measured on
 * replies (every packet) and on forward packets (once per cached-hop lifetime).
 *
 * Checksums: RFC 1624 incremental updates (HC' = ~(~HC + ~m + m')) of the IPv4 header
 * checksum and of the TCP/UDP checksum (pseudo-header addresses + ports), IPv4 and
 * IPv6. A zero UDP checksum over IPv4 means "none" and stays zero; a UDP checksum
 * that computes to zero is sent as 0xffff.
 *
 * Next hop: bpf_fib_lookup with BPF_FIB_LOOKUP_OUTPUT on the ingress interface first
 * (one-armed LB: for IPv4 this works without enabling IP forwarding); if that finds no
 * route, a forwarding lookup (needs net.ipv4.ip_forward=1) may pick another interface,
 * reached with bpf_redirect (that device must accept XDP frames: a native-XDP driver, or
 * a veth whose peer runs an XDP program). IPv6: the kernel answers every bpf_fib_lookup with
 * FWD_DISABLED unless net.ipv6.conf.<ingress>.forwarding=1 (verified on 6.18), so IPv6
 * VIPs need IPv6 forwarding enabled on the XDP interface. A next hop that leads back out of
 * the ingress interface is cached in the flow's conntrack entry (forward) or NAT entry
 * (replies) for OXLB_HOP_TTL_NS: established packets skip bpf_fib_lookup (the costliest
 * step) and, for NAT, the reverse-entry check; a neighbour whose MAC changes is followed
 * within that time. New flows take the next hop towards their backend from a per-CPU cache
 * (oxlb_be_hop, same lifetime), so bpf_fib_lookup runs once per backend, VIP and CPU per
 * second, not once per flow. VLAN-tagged frames keep their tag and always
 * leave through XDP_TX (one-armed on one VLAN).
 *
 * The flow hash is MurmurHash3 (x86, 32-bit) of src | dst | sport | dport | proto,0,0,0
 * (addresses 4 bytes for IPv4, 16 for IPv6) with oxlb_cfg.hash_seed.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "oxlb.h"

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

/* ---- small helpers ------------------------------------------------------ */

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

static __always_inline int key_eq(const struct oxlb_flow_key *a, const struct oxlb_flow_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 4); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* ---- flow hash: MurmurHash3 x86_32 over the tuple bytes ---------------- */

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 mm_block(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 mm_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(const struct oxlb_flow_key *k, const int v6)
{
	__u32 h = oxlb_cfg.hash_seed;
	int words = v6 ? 4 : 1;

#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < words)
			h = mm_block(h, k->src[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < words)
			h = mm_block(h, k->dst[i]);
	/* Memory order: sport bytes then dport bytes, read as a little-endian word. */
	h = mm_block(h, (__u32)k->sport | ((__u32)k->dport << 16));
	h = mm_block(h, k->proto);
	h ^= (__u32)(words * 8 + 8);
	return mm_final(h);
}

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

/* ---- lookups ------------------------------------------------------------- */

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

/* ---- NAT source ports ----------------------------------------------------- */

/* Key of the reverse map for a reply backend:bport -> snat:nat_port. */
static __always_inline void nat_rev_key(struct oxlb_flow_key *rk, const struct oxlb_backend *be,
					const struct oxlb_vip *vip, __be16 bport, __u8 proto,
					const int v6)
{
	__builtin_memset(rk, 0, sizeof(*rk));
	rk->src[0] = be->addr[0];
	rk->dst[0] = vip->snat_addr[0];
	if (v6) {
#pragma unroll
		for (int i = 1; i < 4; i++) {
			rk->src[i] = be->addr[i];
			rk->dst[i] = vip->snat_addr[i];
		}
	}
	rk->sport = bport;
	rk->proto = proto;
	rk->family = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
}

#define NS_PER_S 1000000000ULL

/* Whether a NAT port's flow has been quiet long enough for its port to go to a
 * new flow (timeouts: oxlb_cfg.nat_*). */
static __always_inline int nat_stale(const struct oxlb_nat *n, __u64 now)
{
	__u32 s = oxlb_cfg.nat_udp_idle_s;

	if (n->client.proto == IPPROTO_TCP) {
		if (n->closing == OXLB_NAT_CLOSED)
			s = oxlb_cfg.nat_tcp_closed_s;
		else if (n->closing == OXLB_NAT_TIME_WAIT)
			s = oxlb_cfg.nat_tcp_time_wait_s;
		else
			s = oxlb_cfg.nat_tcp_idle_s;
	}
	__u32 ticks = (__u32)(now >> OXLB_NAT_TICK_SHIFT) - n->seen;

	/* ticks apart: at least ticks - 1 whole ticks have passed. */
	return ticks > 0 && ((__u64)(ticks - 1) << OXLB_NAT_TICK_SHIFT) >= (__u64)s * NS_PER_S;
}

/* Record a packet of a NAT flow: refresh its idle time and follow its TCP close
 * (from_client: a forward packet, else a reply). */
static __always_inline void nat_seen(struct oxlb_nat *n, const struct pkt *p, __u64 now,
				     int from_client)
{
	n->seen = now >> OXLB_NAT_TICK_SHIFT;
	if (p->tcp & TCP_RST)
		n->closing = OXLB_NAT_CLOSED;
	else if ((p->tcp & TCP_FIN) && n->closing == OXLB_NAT_OPEN)
		n->closing = from_client ? OXLB_NAT_CLOSED : OXLB_NAT_TIME_WAIT;
}

/* A zeroed oxlb_nat value to build a new entry in (oxlb_nat_scratch), or NULL. */
static __always_inline struct oxlb_nat *nat_value(void)
{
	__u32 zero = 0;
	struct oxlb_nat *nv = bpf_map_lookup_elem(&oxlb_nat_scratch, &zero);

	if (nv)
		__builtin_memset(nv, 0, sizeof(*nv));
	return nv;
}

/* Drop the conntrack entry of the flow that held a reclaimed NAT port, so that
 * flow (if it ever resumes) is scheduled afresh instead of sending on a port that
 * now belongs to another flow. */
static __always_inline void ct_forget(const struct oxlb_nat *old, __be16 port)
{
	struct oxlb_ct *ct = bpf_map_lookup_elem(&oxlb_ct, &old->client);

	if (ct && ct->nat_port == port && ct->backend_id == old->backend_id)
		bpf_map_delete_elem(&oxlb_ct, &old->client);
}

/* The i-th NAT source port (host order) a new flow probes from its start slot
 * ((hash >> 7) % nat_port_count), or 0 when it falls outside 1..65535. */
static __always_inline __u32 nat_probe(__u32 start, int i)
{
	__u32 port = oxlb_cfg.nat_port_min + (start + i) % oxlb_cfg.nat_port_count;

	return port > 0xffff ? 0 : port;
}

/* Take back the port of a stale established flow (rk: its reverse key without the
 * port): 1 when the port may go to a new flow (the old flow's conntrack entry is
 * gone), 0 when the flow came back to life meanwhile. */
static __always_inline int nat_reclaim(struct oxlb_flow_key *rk, __be16 port, __u64 now)
{
	struct oxlb_nat *cur;

	rk->dport = port;
	cur = bpf_map_lookup_elem(&oxlb_nat, rk);
	if (cur) {
		if (!nat_stale(cur, now))
			return 0;
		ct_forget(cur, port);
	}
	count(OXLB_R_NAT_PORT_REUSED);
	return 1;
}

/* Allocate a source port for a new NAT flow: start at hash % count in
 * [nat_port_min, nat_port_min + count) and probe NAT_PROBES ports linearly. The
 * first free port wins; a port that already belongs to this client tuple is
 * reused (its conntrack entry aged out first, or a SYN reopens the tuple). When
 * every probed port is taken, the first one whose flow is stale (nat_stale) is
 * reclaimed. Two CPUs reclaiming the same stale port at the same instant may both
 * take it (no compare-and-swap on map values); the loser's flow is reset by its
 * backend. Returns the port (network order) or 0. */
static __always_inline __be16 nat_alloc(const struct pkt *p, const struct oxlb_vip *vip,
					const struct oxlb_backend *be, __u32 bid, __be16 bport,
					__u32 hash, __u64 now, const int v6)
{
	__u32 cnt = oxlb_cfg.nat_port_count;
	struct oxlb_flow_key rk;
	struct oxlb_nat *nv, *cur;
	__be16 victim = 0;
	__u32 start;

	nv = nat_value();
	if (cnt == 0 || !nv)
		return 0;
	nat_rev_key(&rk, be, vip, bport, p->key.proto, v6);
	nv->client = p->key;
	nv->vip_id = vip->id;
	nv->backend_id = bid;
	nv->seen = now >> OXLB_NAT_TICK_SHIFT;
	start = (hash >> 7) % cnt;
	for (int i = 0; i < NAT_PROBES; i++) {
		__u32 port = nat_probe(start, i);

		if (!port)
			continue;
		rk.dport = bpf_htons((__u16)port);
		if (bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_NOEXIST) == 0)
			return rk.dport;
		cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
		if (!cur)
			continue;
		if (key_eq(&cur->client, &p->key)) {
			/* A SYN reopens the tuple; otherwise the flow goes on (its conntrack
			 * entry aged out, or conntrack is off). */
			if (p->tcp & TCP_SYN)
				*cur = *nv;
			else
				nat_seen(cur, p, now, 1);
			return rk.dport;
		}
		if (!victim && nat_stale(cur, now))
			victim = rk.dport;
	}
	if (!victim || !nat_reclaim(&rk, victim, now))
		return 0;
	if (bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_ANY))
		return 0;
	return victim;
}

/* A forward packet of an established NAT flow: refresh its reverse entry (idle
 * time, TCP close) and recreate it if it was evicted from its LRU. */
static __always_inline void nat_touch(const struct pkt *p, const struct oxlb_vip *vip,
				      const struct oxlb_backend *be, __u32 bid, __be16 bport,
				      __be16 nat_port, __u32 seq_delta, __u64 now, const int v6)
{
	struct oxlb_flow_key rk;
	struct oxlb_nat *nv, *cur;

	nat_rev_key(&rk, be, vip, bport, p->key.proto, v6);
	rk.dport = nat_port;
	cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
	if (cur) {
		/* A port reclaimed by another flow is left alone. */
		if (key_eq(&cur->client, &p->key))
			nat_seen(cur, p, now, 1);
		return;
	}
	nv = nat_value();
	if (!nv)
		return;
	nv->client = p->key;
	nv->vip_id = vip->id;
	nv->backend_id = bid;
	nv->seq_delta = seq_delta;
	nat_seen(nv, p, now, 1);
	bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_NOEXIST);
}

/* ---- half-open NAT flows (SYN flood resistance) ----------------------------- */

/* A client's SYN to a NAT VIP does not enter oxlb_ct or oxlb_nat: its port is held by
 * an oxlb_syn entry until the client acknowledges the backend's SYN-ACK (nat_resume),
 * which spoofed sources never do. A flood of SYNs thus churns only oxlb_syn and never
 * evicts an established flow's state. When every probed port is taken, a SYN takes,
 * in this order: a half-open port older than nat_tcp_syn_s, the port of a stale
 * established flow, the port of the oldest half-open flow among those probed (a
 * legitimate handshake lasts one round trip, so under a flood it is almost never the
 * oldest of the eight). */

/* Whether the client's ACK acknowledges the backend's SYN-ACK (ISN + 1, or up to
 * 1 MiB more when the backend sent data first and the bare ACK was lost): a blind
 * guess from a spoofed source passes with odds of 2^-12. */
static __always_inline int ack_ok(const struct pkt *p, __u32 server_isn)
{
	if (p->key.proto != IPPROTO_TCP || !(p->tcp & TCP_ACK))
		return 0;
	return p->tcp_seq - (server_isn + 1) <= (1u << 20);
}

/* Give a NAT port to a client's SYN (a half-open flow in oxlb_syn). Returns the port
 * (network order) or 0 when every probed port is held by an established flow. When SYN
 * cookies are on and every probed port is held by a live half-open flow (a flood), the
 * SYN goes to the cookie program instead (main program only: may_cookie). */
static __always_inline __be16 syn_open(struct xdp_md *ctx, const struct pkt *p,
				       const struct oxlb_vip *vip, const struct oxlb_backend *be,
				       __u32 bid, __be16 bport, __u32 hash, __u64 now, const int v6,
				       const int may_cookie)
{
	__u32 cnt = oxlb_cfg.nat_port_count;
	__u64 dead_ns = (__u64)oxlb_cfg.nat_tcp_syn_s * NS_PER_S, oldest_at = ~0ULL;
	__be16 take = 0, stale = 0, oldest = 0;
	struct oxlb_flow_key rk;
	struct oxlb_syn *sv, *s;
	struct oxlb_nat *cur;
	__u32 start, zero = 0;

	if (cnt == 0)
		return 0;
	/* The tuple's previous connection (if any) must not catch this one's ACK. Looked up
	 * first: a lookup takes no bucket lock, and the tuple is almost never there (a
	 * delete of the absent key made a SYN ~45 ns slower, measured). */
	if (oxlb_cfg.ct_enabled && bpf_map_lookup_elem(&oxlb_ct, &p->key))
		bpf_map_delete_elem(&oxlb_ct, &p->key);
	nat_rev_key(&rk, be, vip, bport, IPPROTO_TCP, v6);
	start = (hash >> 7) % cnt;
	for (int i = 0; i < NAT_PROBES; i++) {
		__u32 port = nat_probe(start, i);

		if (!port)
			continue;
		rk.dport = bpf_htons((__u16)port);
		/* A port is half-open or established, never both: under a flood most are
		 * half-open, so that map is asked first. */
		s = bpf_map_lookup_elem(&oxlb_syn, &rk);
		if (s) {
			/* A retransmitted SYN keeps its flow (and the SYN-ACK already seen, which
			 * the client may be acknowledging right now). */
			if (key_eq(&s->client, &p->key)) {
				s->at_ns = now;
				count(OXLB_R_SYN_HALF_OPEN);
				return rk.dport;
			}
			/* A dead half-open flow. */
			if (now - s->at_ns >= dead_ns) {
				take = rk.dport;
				break;
			}
			if (s->at_ns < oldest_at) {
				oldest_at = s->at_ns;
				oldest = rk.dport;
			}
			continue;
		}
		cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
		if (!cur) {
			take = rk.dport;
			break;
		}
		if (key_eq(&cur->client, &p->key)) {
			/* The client reopens its tuple: the old connection ends. */
			bpf_map_delete_elem(&oxlb_nat, &rk);
			take = rk.dport;
			break;
		}
		if (!stale && nat_stale(cur, now))
			stale = rk.dport;
	}
	if (!take && stale) {
		if (!nat_reclaim(&rk, stale, now))
			return 0;
		bpf_map_delete_elem(&oxlb_nat, &rk);
		take = stale;
	} else if (!take && oldest) {
		if (may_cookie && oxlb_cfg.syn_cookies)
			bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
		count(OXLB_R_SYN_REPLACED);
		take = oldest;
	}
	if (!take)
		return 0;
	rk.dport = take;
	sv = bpf_map_lookup_elem(&oxlb_syn_scratch, &zero);
	if (!sv)
		return 0;
	__builtin_memset(sv, 0, sizeof(*sv));
	sv->client = p->key;
	sv->vip_id = vip->id;
	sv->backend_id = bid;
	sv->at_ns = now;
	if (bpf_map_update_elem(&oxlb_syn, &rk, sv, BPF_ANY))
		return 0;
	count(OXLB_R_SYN_HALF_OPEN);
	return take;
}

/* A TCP packet other than a SYN, of a NAT flow with no conntrack entry: the port of
 * its established flow (oxlb_nat; *resumed = 1), or of its half-open flow when this
 * packet completes the handshake (the flow moves to oxlb_nat) or is the client's RST
 * (forwarded so the backend forgets it). 0: no such flow, the packet is dropped. */
static __always_inline __be16 nat_resume(const struct pkt *p, const struct oxlb_vip *vip,
					 const struct oxlb_backend *be, __u32 bid, __be16 bport,
					 __u32 hash, __u64 now, const int v6, int *resumed,
					 __u32 *seq_delta)
{
	__u32 cnt = oxlb_cfg.nat_port_count;
	struct oxlb_flow_key rk;
	struct oxlb_nat *nv, *cur;
	struct oxlb_syn *s;
	__u32 start;

	if (cnt == 0)
		return 0;
	nat_rev_key(&rk, be, vip, bport, IPPROTO_TCP, v6);
	start = (hash >> 7) % cnt;
	for (int i = 0; i < NAT_PROBES; i++) {
		__u32 port = nat_probe(start, i);

		if (!port)
			continue;
		rk.dport = bpf_htons((__u16)port);
		cur = bpf_map_lookup_elem(&oxlb_nat, &rk);
		if (cur) {
			if (!key_eq(&cur->client, &p->key))
				continue;
			/* With SYN cookies a reused tuple's new connection arrives as an ACK
			 * (its cookie SYN dropped the tuple's conntrack entry): a closed flow is
			 * not resumed, the ACK goes to the cookie check. */
			if (oxlb_cfg.syn_cookies && cur->closing != OXLB_NAT_OPEN)
				return 0;
			nat_seen(cur, p, now, 1);
			*resumed = 1;
			*seq_delta = cur->seq_delta;
			return rk.dport;
		}
		s = bpf_map_lookup_elem(&oxlb_syn, &rk);
		if (!s || !key_eq(&s->client, &p->key))
			continue;
		if (p->tcp & TCP_RST) {
			bpf_map_delete_elem(&oxlb_syn, &rk);
			return rk.dport;
		}
		if (!s->synack || !ack_ok(p, s->server_isn))
			continue;
		nv = nat_value();
		if (!nv)
			return 0;
		nv->client = p->key;
		nv->vip_id = vip->id;
		nv->backend_id = bid;
		nat_seen(nv, p, now, 1);
		if (bpf_map_update_elem(&oxlb_nat, &rk, nv, BPF_NOEXIST))
			continue;
		bpf_map_delete_elem(&oxlb_syn, &rk);
		count(OXLB_R_SYN_PROMOTED);
		return rk.dport;
	}
	return 0;
}

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

/* ---- next hop ------------------------------------------------------------ */

static __always_inline void fib_fill(struct bpf_fib_lookup *f, struct xdp_md *ctx, __u8 family,
				     const __u32 *src, const __u32 *dst, __u8 proto, __be16 sport,
				     __be16 dport, __u16 tot_len)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->family = family;
	f->l4_protocol = proto;
	f->sport = sport;
	f->dport = dport;
	f->tot_len = tot_len;
	f->ifindex = ctx->ingress_ifindex;
	if (family == OXLB_AF_INET) {
		f->ipv4_src = src[0];
		f->ipv4_dst = dst[0];
	} else {
#pragma unroll
		for (int i = 0; i < 4; i++) {
			f->ipv6_src[i] = src[i];
			f->ipv6_dst[i] = dst[i];
		}
	}
}

/* Next hop of dst: 0 with f filled (dmac, smac, ifindex), or a reason. */
static __always_inline __u32 fib_resolve(struct xdp_md *ctx, struct bpf_fib_lookup *f,
					 __u8 family, const __u32 *src, const __u32 *dst,
					 __u8 proto, __be16 sport, __be16 dport, __u16 tot_len)
{
	long rc;

	fib_fill(f, ctx, family, src, dst, proto, sport, dport, tot_len);
	rc = bpf_fib_lookup(ctx, f, sizeof(*f), BPF_FIB_LOOKUP_OUTPUT);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		fib_fill(f, ctx, family, src, dst, proto, sport, dport, tot_len);
		rc = bpf_fib_lookup(ctx, f, sizeof(*f), 0);
	}
	if (rc == BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return OXLB_R_FIB_NO_NEIGH;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return OXLB_R_FIB_FRAG_NEEDED;
	return OXLB_R_FIB_FAIL;
}

/* Now, in nanoseconds of the datapath's clock (see oxlb_config.ns_per_jiffy). */
static __always_inline __u64 now_ns(void)
{
	if (oxlb_cfg.ns_per_jiffy)
		return bpf_jiffies64() * oxlb_cfg.ns_per_jiffy;
	return bpf_ktime_get_ns();
}

/* How long a cached next hop is used before bpf_fib_lookup is asked again. */
#define OXLB_HOP_TTL_NS 1000000000ULL

/* The next hop of a successful lookup f, stamped now. */
static __always_inline void hop_from_fib(struct oxlb_hop *h, const struct bpf_fib_lookup *f,
					 __u64 now)
{
	__builtin_memcpy(h->dmac, f->dmac, ETH_ALEN);
	__builtin_memcpy(h->smac, f->smac, ETH_ALEN);
	h->ifindex = f->ifindex;
	h->at_ns = now;
}

/* A cached hop is used while fresh and only when it leads back out of the ingress
 * interface (same MTU, XDP_TX); redirects always ask the FIB (MTU check). */
static __always_inline int hop_fresh(const struct oxlb_hop *h, const struct xdp_md *ctx, __u64 now)
{
	return h->at_ns && now - h->at_ns < OXLB_HOP_TTL_NS && h->ifindex == ctx->ingress_ifindex;
}

/* Set the MACs from a next hop and send the frame. */
static __always_inline int emit(struct xdp_md *ctx, struct ethhdr *eth, const struct oxlb_hop *h,
				__u8 vlan)
{
	__builtin_memcpy(eth->h_dest, h->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, h->smac, ETH_ALEN);
	if (vlan || h->ifindex == ctx->ingress_ifindex)
		return verdict(OXLB_R_TX, XDP_TX);
	count(OXLB_R_REDIRECT);
	return bpf_redirect(h->ifindex, 0);
}

/* Resolve the next hop (fib_resolve's arguments) into h: 0 or a reason. */
static __always_inline __u32 hop_resolve(struct oxlb_hop *h, struct xdp_md *ctx, __u64 now,
					 __u8 family, const __u32 *src, const __u32 *dst,
					 __u8 proto, __be16 sport, __be16 dport, __u16 tot_len)
{
	struct bpf_fib_lookup f;
	__u32 r = fib_resolve(ctx, &f, family, src, dst, proto, sport, dport, tot_len);

	if (!r)
		hop_from_fib(h, &f, now);
	return r;
}

/* The next hop towards backend bid of VIP vip_id (be: its entry; src: the packet's new
 * source, as for hop_resolve): for a new flow (new_flow) the per-CPU backend cache
 * (oxlb_be_hop) when fresh, else bpf_fib_lookup, whose success refills the cache. A flow
 * whose own cached hop expired always asks the FIB, so it follows a neighbour change as soon
 * as its hop is stale. 0 or a reason. */
static __always_inline __u32 backend_hop(struct oxlb_hop *h, struct xdp_md *ctx, __u64 now,
					 int new_flow, __u32 bid, __u32 vip_id,
					 const struct oxlb_backend *be, const __u32 *src, __u8 proto,
					 __be16 sport, __be16 dport, __u16 tot_len)
{
	__u32 slot = bid & (OXLB_BE_HOP_SLOTS - 1), diff, r;
	struct oxlb_be_hop *c = bpf_map_lookup_elem(&oxlb_be_hop, &slot);

	if (c && new_flow) {
		diff = (c->backend_id ^ bid) | (c->vip_id ^ vip_id);
#pragma unroll
		for (int i = 0; i < 4; i++)
			diff |= c->addr[i] ^ be->addr[i];
		if (!diff && hop_fresh(&c->hop, ctx, now)) {
			*h = c->hop;
			return 0;
		}
	}
	r = hop_resolve(h, ctx, now, be->family, src, be->addr, proto, sport, dport, tot_len);
	if (!r && c) {
		c->hop = *h;
		c->backend_id = bid;
		c->vip_id = vip_id;
#pragma unroll
		for (int i = 0; i < 4; i++)
			c->addr[i] = be->addr[i];
	}
	return r;
}

#include "encap.h"

/* ---- SYN-proxied flows (syncookie.h) --------------------------------------- */

/* Whether a NAT SYN goes to the cookie program (rate: guard_engaged's answer). */
static __always_inline int cookie_wanted(int rate)
{
	return oxlb_cfg.syn_cookies == OXLB_COOKIES_ALWAYS ||
	       (rate && oxlb_cfg.syn_cookies == OXLB_COOKIES_GUARD);
}

/* Move the TCP acknowledgement number (client -> backend, when the ACK flag is set) or
 * the sequence number (backend -> client) of a SYN-proxied flow into the other side's
 * numbering: + delta forward, - delta back. */
static __always_inline void seq_shift(struct xdp_md *ctx, struct pkt *p, __u32 delta, int fwd)
{
	struct tcphdr *t = (void *)p->sport;
	__be32 old, new;

	if (p->key.proto != IPPROTO_TCP || (void *)(t + 1) > (void *)(long)ctx->data_end)
		return;
	if (fwd) {
		if (!t->ack)
			return;
		old = t->ack_seq;
		new = bpf_htonl(bpf_ntohl(old) + delta);
		t->ack_seq = new;
	} else {
		old = t->seq;
		new = bpf_htonl(bpf_ntohl(old) - delta);
		t->seq = new;
	}
	*p->l4_csum = csum_apply(*p->l4_csum, csum_delta32(old, new));
}

/* ---- forward path: client -> VIP ----------------------------------------- */

/* A packet to a VIP; found: its conntrack entry when one was found (checked here). */
static __always_inline int forward(struct xdp_md *ctx, struct pkt *p, const struct oxlb_vip *vipp,
				   struct oxlb_ct *found, const int v6)
{
	__u8 fam = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
	struct oxlb_backend be;
	struct oxlb_hop hop;
	struct oxlb_ct *ct;
	__be16 nat_port = 0, bport;
	__u32 bid = 0, hash = 0, r, seq_delta = 0;
	int new_flow = 0, cached, guarded = 0, rate = 0, store, resumed = 0;
	int tcp_open = p->key.proto == IPPROTO_TCP && !(p->tcp & TCP_SYN);
	__u64 now = now_ns();

	ct = ct_check(found, vipp->id, vipp->mode, &bid, &be, &nat_port);
	if (ct) {
		count(OXLB_R_CT_HIT);
		seq_delta = ct->seq_delta;
	} else {
		hash = flow_hash(&p->key, v6);
		r = pick_backend(vipp->id, hash, &bid, &be);
		if (r)
			return verdict(r, XDP_DROP);
		new_flow = 1;
		nat_port = 0;
		count(OXLB_R_CT_MISS);
		rate = guard_engaged(vipp->id, now);
		guarded = rate & RATE_GUARD;
	}
	if (vipp->mode == OXLB_MODE_IPIP || vipp->mode == OXLB_MODE_GUE)
		return encap_forward(ctx, p, vipp, &be, bid, hash, ct, new_flow, guarded, v6);
	cached = ct && hop_fresh(&ct->hop, ctx, now);
	if (cached)
		hop = ct->hop;

	if (vipp->mode == OXLB_MODE_DSR) {
		__u32 any[4] = {};

		/* DSR: only the MACs change; the backend's MAC is its next hop's. */
		if (new_flow && tcp_open && oxlb_cfg.ct_enabled)
			count(OXLB_R_CT_RESUMED);
		/* A guarded SYN leaves no entry: its tuple's old one must not catch it. */
		if (new_flow && guarded && (p->tcp & TCP_SYN) && oxlb_cfg.ct_enabled)
			bpf_map_delete_elem(&oxlb_ct, &p->key);
		if (!cached) {
			r = backend_hop(&hop, ctx, now, !ct, bid, vipp->id, &be, any, p->key.proto,
					p->key.sport, p->key.dport, p->l3_len);
			if (new_flow && !guarded)
				ct_store(&p->key, vipp->id, vipp->mode, bid, 0, r ? NULL : &hop, 0);
			if (r)
				return verdict(r, XDP_PASS);
			if (ct)
				ct->hop = hop;
		}
		stats_add(&oxlb_vip_stats, vipp->id, p->bytes, new_flow, 0);
		stats_add(&oxlb_be_stats, bid, p->bytes, new_flow, 0);
		return emit(ctx, p->eth, &hop, p->vlan);
	}

	if (vipp->mode != OXLB_MODE_NAT || vipp->snat_family != fam || be.family != fam)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	bport = be.port ? be.port : p->key.dport;
	/* Conntrack holds NAT flows that completed a handshake (or UDP flows while the
	 * guard is not engaged); a SYN only opens a half-open flow. */
	store = new_flow;
	if (new_flow && p->key.proto == IPPROTO_TCP && (p->tcp & TCP_SYN)) {
		if (cookie_wanted(rate))
			bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
		nat_port = syn_open(ctx, p, vipp, &be, bid, bport, hash, now, v6, 1);
		if (!nat_port)
			return verdict(OXLB_R_DROP_NAT_PORTS, XDP_DROP);
		store = 0;
	} else if (new_flow && tcp_open) {
		nat_port = nat_resume(p, vipp, &be, bid, bport, hash, now, v6, &resumed,
				      &seq_delta);
		/* No flow: maybe the ACK of a SYN cookie. */
		if (!nat_port && oxlb_cfg.syn_cookies && !(p->tcp & TCP_RST))
			bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
		if (!nat_port)
			return verdict(OXLB_R_DROP_NO_FLOW, XDP_DROP);
		/* Not a new flow: a handshake completed, or conntrack lost a live flow. */
		new_flow = 0;
		if (resumed && oxlb_cfg.ct_enabled)
			count(OXLB_R_CT_RESUMED);
	} else if (new_flow) {
		nat_port = nat_alloc(p, vipp, &be, bid, bport, hash, now, v6);
		if (!nat_port)
			return verdict(OXLB_R_DROP_NAT_PORTS, XDP_DROP);
		store = !guarded;
	} else if (!cached || (p->tcp & (TCP_FIN | TCP_RST))) {
		/* Once per hop lifetime (so the flow's idle time has ~1 s resolution), and
		 * on a FIN or RST: refresh the reverse entry, recreate it if evicted. */
		nat_touch(p, vipp, &be, bid, bport, nat_port, seq_delta, now, v6);
	}
	if (!cached) {
		r = backend_hop(&hop, ctx, now, !ct, bid, vipp->id, &be, vipp->snat_addr,
				p->key.proto, nat_port, bport, p->l3_len);
		if (store)
			ct_store(&p->key, vipp->id, vipp->mode, bid, nat_port, r ? NULL : &hop,
				 seq_delta);
		if (r)
			return verdict(r, XDP_PASS);
		if (ct)
			ct->hop = hop;
	}
	if (seq_delta)
		seq_shift(ctx, p, seq_delta, 1);
	rewrite(p, vipp->snat_addr, be.addr, nat_port, bport, v6);
	stats_add(&oxlb_vip_stats, vipp->id, p->bytes, new_flow, 0);
	stats_add(&oxlb_be_stats, bid, p->bytes, new_flow, 0);
	return emit(ctx, p->eth, &hop, p->vlan);
}

/* ---- reply path: backend -> LB (NAT) -------------------------------------- */

/* Whether a packet targets a port of the NAT range: only those can be replies of NAT
 * flows, other traffic skips the NAT lookups. */
static __always_inline int nat_port_in_range(const struct pkt *p)
{
	__u32 dport = bpf_ntohs(p->key.dport);

	return dport >= oxlb_cfg.nat_port_min &&
	       dport < oxlb_cfg.nat_port_min + oxlb_cfg.nat_port_count;
}

/* Translate a reply back to the client c of its flow and send it; cache: the flow's
 * cached hop towards the client (NULL: none, resolve every time). */
static __always_inline int to_client(struct xdp_md *ctx, struct pkt *p,
				     const struct oxlb_flow_key *c, __u32 vip_id, __u32 bid,
				     struct oxlb_hop *cache, __u64 now, const int v6)
{
	struct oxlb_hop hop;
	__u32 r;

	if (cache && hop_fresh(cache, ctx, now)) {
		hop = *cache;
	} else {
		/* src -> VIP:port, dst -> client:port */
		r = hop_resolve(&hop, ctx, now, c->family, c->dst, c->src, c->proto, c->dport,
				c->sport, p->l3_len);
		if (r)
			return verdict(r, XDP_PASS);
		if (cache)
			*cache = hop;
	}
	rewrite(p, c->dst, c->src, c->dport, c->sport, v6);
	stats_add(&oxlb_vip_stats, vip_id, p->bytes, 0, 1);
	stats_add(&oxlb_be_stats, bid, p->bytes, 0, 1);
	count(OXLB_R_NAT_REPLY);
	return emit(ctx, p->eth, &hop, p->vlan);
}

static __always_inline int reply(struct xdp_md *ctx, struct pkt *p, struct oxlb_nat *n,
				 const int v6)
{
	__u64 now = now_ns();

	nat_seen(n, p, now, 0);
	if (n->seq_delta)
		seq_shift(ctx, p, n->seq_delta, 0);
	return to_client(ctx, p, &n->client, n->vip_id, n->backend_id, &n->hop, now, v6);
}

/* A backend's packet on a half-open flow: its SYN-ACK (whose sequence number the
 * client's ACK must acknowledge) or a RST (the flow ends). */
static __always_inline int syn_reply(struct xdp_md *ctx, struct pkt *p, struct oxlb_syn *s,
				     const int v6)
{
	struct oxlb_flow_key c = s->client;
	__u32 vip_id = s->vip_id, bid = s->backend_id;
	int rv;

	/* A proxied flow's SYN-ACK; or the backend's bare ACK to our SYN, which says it still
	 * holds an older connection on this NAT port: the cookie program answers both. */
	if (s->proxied || ((p->tcp & TCP_ACK) && !(p->tcp & (TCP_SYNACK | TCP_RST | TCP_FIN)) &&
			   !s->synack))
		bpf_tail_call(ctx, &oxlb_progs, OXLB_PROG_COOKIE);
	if (s->proxied)
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	if (p->tcp & TCP_SYNACK) {
		s->server_isn = p->tcp_seq;
		s->synack = 1;
	} else if (p->tcp & TCP_RST) {
		bpf_map_delete_elem(&oxlb_syn, &p->key);
	}
	rv = to_client(ctx, p, &c, vip_id, bid, NULL, now_ns(), v6);
	/* No route back to the client (a spoofed source): the host could only answer the
	 * backend with a RST, work a SYN flood would multiply. */
	return rv == XDP_PASS && !(p->tcp & TCP_RST) ? XDP_DROP : rv;
}

/* ---- ICMP too-big about a flow ------------------------------------------- */

/* The flow that a quoted reply (VIP:vport -> client:cport) belongs to. */
struct icmp_flow {
	struct oxlb_vip vip;
	struct oxlb_backend be;
	__u32 bid;
	__be16 nat_port;
	__be16 bport;
};

/* qsrc/qdst/qsport/qdport: the quoted packet's tuple. Returns 0 or a reason. */
static __always_inline __u32 icmp_flow(struct icmp_flow *fl, const __u32 *qsrc, const __u32 *qdst,
				       __be16 qsport, __be16 qdport, __u8 proto, const int v6)
{
	struct oxlb_flow_key k;
	struct oxlb_vip *vip;

	vip = vip_lookup(qsrc, qsport, proto, v6);
	if (!vip)
		return OXLB_R_ICMP_UNTRACKED;
	fl->vip = *vip;
	__builtin_memset(&k, 0, sizeof(k));
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i == 0 || v6) {
			k.src[i] = qdst[i];
			k.dst[i] = qsrc[i];
		}
	}
	k.sport = qdport;
	k.dport = qsport;
	k.proto = proto;
	k.family = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
	fl->nat_port = 0;
	if (!ct_backend(&k, fl->vip.id, fl->vip.mode, &fl->bid, &fl->be, &fl->nat_port)) {
		/* Without conntrack only DSR/ipip/gue can find the backend (Maglev). */
		if (fl->vip.mode == OXLB_MODE_NAT)
			return OXLB_R_ICMP_UNTRACKED;
		if (pick_backend(fl->vip.id, flow_hash(&k, v6), &fl->bid, &fl->be))
			return OXLB_R_ICMP_UNTRACKED;
	}
	fl->bport = fl->be.port ? fl->be.port : qsport;
	return 0;
}

static __always_inline int icmp_v4(struct xdp_md *ctx, struct pkt *p, struct iphdr *iph, void *l4,
				   void *data_end, __u32 hl)
{
	struct icmphdr *ic = l4;
	struct bpf_fib_lookup f;
	struct oxlb_hop hop;
	struct icmp_flow fl;
	struct iphdr *q;
	__be16 *qp;
	__u64 d_outer, d_icmp;
	__u16 old_qcsum;
	__u32 r;

	if ((void *)(ic + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ic->type != ICMP_DEST_UNREACH || ic->code != ICMP_FRAG_NEEDED)
		return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
	q = (void *)(ic + 1);
	if ((void *)(q + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (q->version != 4 || q->ihl != 5 ||
	    (q->protocol != IPPROTO_TCP && q->protocol != IPPROTO_UDP))
		return verdict(OXLB_R_ICMP_UNTRACKED, XDP_PASS);
	qp = (void *)(q + 1);
	/* The quote (IPv4 header + 8 bytes) must lie inside the IP packet, not padding. */
	if ((void *)(qp + 4) > data_end || hl + sizeof(*ic) + sizeof(*q) + 8 > p->l3_len)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	r = icmp_flow(&fl, &q->saddr, &q->daddr, qp[0], qp[1], q->protocol, 0);
	if (r)
		return verdict(r, XDP_PASS);
	if (fl.vip.mode == OXLB_MODE_IPIP || fl.vip.mode == OXLB_MODE_GUE)
		return encap_icmp(ctx, p, &fl.vip, &fl.be, 0);

	if (fl.vip.mode == OXLB_MODE_DSR) {
		__u32 any[4] = {};

		r = fib_resolve(ctx, &f, fl.be.family, any, fl.be.addr, IPPROTO_ICMP, 0, 0,
				p->l3_len);
		if (r)
			return verdict(r, XDP_PASS);
		count(OXLB_R_ICMP_FORWARDED);
		hop_from_fib(&hop, &f, 0);
		return emit(ctx, p->eth, &hop, p->vlan);
	}
	if (fl.vip.snat_family != OXLB_AF_INET || fl.be.family != OXLB_AF_INET)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	r = fib_resolve(ctx, &f, OXLB_AF_INET, fl.vip.snat_addr, fl.be.addr, IPPROTO_ICMP, 0, 0,
			p->l3_len);
	if (r)
		return verdict(r, XDP_PASS);

	/* Outer: router -> VIP becomes SNAT -> backend. */
	d_outer = csum_delta32(iph->saddr, fl.vip.snat_addr[0]) +
		  csum_delta32(iph->daddr, fl.be.addr[0]);
	iph->saddr = fl.vip.snat_addr[0];
	iph->daddr = fl.be.addr[0];
	iph->check = csum_apply(iph->check, d_outer);

	/* Quoted: VIP:vport -> client:cport becomes backend:bport -> SNAT:nat_port. */
	d_icmp = csum_delta32(q->saddr, fl.be.addr[0]) + csum_delta32(q->daddr, fl.vip.snat_addr[0]);
	old_qcsum = q->check;
	q->check = csum_apply(q->check, d_icmp);
	d_icmp += csum_delta16(old_qcsum, q->check);
	q->saddr = fl.be.addr[0];
	q->daddr = fl.vip.snat_addr[0];
	d_icmp += csum_delta16(qp[0], fl.bport) + csum_delta16(qp[1], fl.nat_port);
	qp[0] = fl.bport;
	qp[1] = fl.nat_port;
	ic->checksum = csum_apply(ic->checksum, d_icmp);
	count(OXLB_R_ICMP_FORWARDED);
	hop_from_fib(&hop, &f, 0);
	return emit(ctx, p->eth, &hop, p->vlan);
}

static __always_inline int icmp_v6(struct xdp_md *ctx, struct pkt *p, struct ipv6hdr *ip6, void *l4,
				   void *data_end)
{
	struct icmp6hdr *ic = l4;
	struct bpf_fib_lookup f;
	struct oxlb_hop hop;
	struct icmp_flow fl;
	struct ipv6hdr *q;
	__u32 *os, *od, *qs, *qd;
	__be16 *qp;
	__u64 d = 0;
	__u32 r;

	if ((void *)(ic + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ic->icmp6_type != ICMPV6_PKT_TOOBIG)
		return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
	q = (void *)(ic + 1);
	if ((void *)(q + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (q->nexthdr != IPPROTO_TCP && q->nexthdr != IPPROTO_UDP)
		return verdict(OXLB_R_ICMP_UNTRACKED, XDP_PASS);
	qp = (void *)(q + 1);
	if ((void *)(qp + 4) > data_end || sizeof(*ip6) + sizeof(*ic) + sizeof(*q) + 8 > p->l3_len)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	qs = q->saddr.in6_u.u6_addr32;
	qd = q->daddr.in6_u.u6_addr32;
	r = icmp_flow(&fl, qs, qd, qp[0], qp[1], q->nexthdr, 1);
	if (r)
		return verdict(r, XDP_PASS);
	if (fl.vip.mode == OXLB_MODE_IPIP || fl.vip.mode == OXLB_MODE_GUE)
		return encap_icmp(ctx, p, &fl.vip, &fl.be, 1);

	if (fl.vip.mode == OXLB_MODE_DSR) {
		__u32 any[4] = {};

		r = fib_resolve(ctx, &f, fl.be.family, any, fl.be.addr, IPPROTO_ICMPV6, 0, 0,
				p->l3_len);
		if (r)
			return verdict(r, XDP_PASS);
		count(OXLB_R_ICMP_FORWARDED);
		hop_from_fib(&hop, &f, 0);
		return emit(ctx, p->eth, &hop, p->vlan);
	}
	if (fl.vip.snat_family != OXLB_AF_INET6 || fl.be.family != OXLB_AF_INET6)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	r = fib_resolve(ctx, &f, OXLB_AF_INET6, fl.vip.snat_addr, fl.be.addr, IPPROTO_ICMPV6, 0, 0,
			p->l3_len);
	if (r)
		return verdict(r, XDP_PASS);

	/* ICMPv6 checksum covers the pseudo-header (outer addresses) and the quote. */
	os = ip6->saddr.in6_u.u6_addr32;
	od = ip6->daddr.in6_u.u6_addr32;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		d += csum_delta32(os[i], fl.vip.snat_addr[i]) + csum_delta32(od[i], fl.be.addr[i]);
		d += csum_delta32(qs[i], fl.be.addr[i]) + csum_delta32(qd[i], fl.vip.snat_addr[i]);
		os[i] = fl.vip.snat_addr[i];
		od[i] = fl.be.addr[i];
		qs[i] = fl.be.addr[i];
		qd[i] = fl.vip.snat_addr[i];
	}
	d += csum_delta16(qp[0], fl.bport) + csum_delta16(qp[1], fl.nat_port);
	qp[0] = fl.bport;
	qp[1] = fl.nat_port;
	ic->icmp6_cksum = csum_apply(ic->icmp6_cksum, d);
	count(OXLB_R_ICMP_FORWARDED);
	hop_from_fib(&hop, &f, 0);
	return emit(ctx, p->eth, &hop, p->vlan);
}

#include "syncookie.h"

/* ---- L3/L4 parsing --------------------------------------------------------- */

/* A 16-bit length field in host order, bounded for the verifier: before 6.6ish
 * (seen on 6.1) the verifier forgets a register's bounds across a byte swap, and
 * then refuses "pkt pointer + length" (unbounded min value). The mask is hidden
 * from the compiler, which would drop it as redundant. */
static __always_inline __u32 be16_len(__be16 v)
{
	__u32 n = bpf_ntohs(v);

	asm volatile("%0 &= 0xffff" : "+r"(n));
	return n;
}

/* TCP/UDP header at l4 (l4_off bytes into an IP packet of ip_len bytes). */
static __always_inline __u32 parse_l4(struct pkt *p, void *l4, void *data_end, __u32 l4_off,
				      __u32 ip_len)
{
	/* Hide l4's relation to the checked IP length from the compiler: otherwise it
	 * drops the data_end checks below as implied, and the verifier cannot follow. */
	asm volatile("" : "+r"(l4));
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *t = l4;

		if ((void *)(t + 1) > data_end || l4_off + sizeof(*t) > ip_len || t->doff < 5)
			return OXLB_R_TRUNCATED;
		p->sport = &t->source;
		p->dport = &t->dest;
		p->l4_csum = &t->check;
		p->tcp = (t->syn && !t->ack ? TCP_SYN : 0) | (t->syn && t->ack ? TCP_SYNACK : 0) |
			 (t->fin ? TCP_FIN : 0) | (t->rst ? TCP_RST : 0) | (t->ack ? TCP_ACK : 0);
		p->tcp_seq = bpf_ntohl(t->syn && t->ack ? t->seq : t->ack_seq);
	} else if (p->key.proto == IPPROTO_UDP) {
		struct udphdr *u = l4;

		if ((void *)(u + 1) > data_end || l4_off + sizeof(*u) > ip_len)
			return OXLB_R_TRUNCATED;
		p->sport = &u->source;
		p->dport = &u->dest;
		p->l4_csum = &u->check;
	} else {
		return OXLB_R_PASS_NOT_VIP;
	}
	p->key.sport = *p->sport;
	p->key.dport = *p->dport;
	return 0;
}

#include "vipfilter.h"

/* Traffic that is not ours (no VIP at its address, no NAT reply) is told apart first,
 * by one read of the VIP filter (vipfilter.h), and passed without any other lookup.
 * A reply of a NAT flow is recognised next: its destination (SNAT address, NAT
 * port) is not a VIP, so it would otherwise pay two VIP lookups (port, port 0).
 * Then conntrack: a tracked flow finds its VIP by id (an array slot) instead of the
 * VIP hash; other traffic that the filter let through pays that conntrack miss
 * before the VIP lookup. */
static __always_inline int dispatch(struct xdp_md *ctx, struct pkt *p, const int v6)
{
	struct oxlb_ct *ct = NULL;
	struct oxlb_vip *vip;

	if (vipfilter_not_ours(p, v6))
		return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
	if (nat_port_in_range(p)) {
		struct oxlb_nat *n = bpf_map_lookup_elem(&oxlb_nat, &p->key);
		struct oxlb_syn *s;

		if (n)
			return reply(ctx, p, n, v6);
		if (p->key.proto == IPPROTO_TCP) {
			s = bpf_map_lookup_elem(&oxlb_syn, &p->key);
			if (s)
				return syn_reply(ctx, p, s, v6);
		}
		/* Not a reply we know: evicted NAT state, or traffic to the host. */
		count(OXLB_R_NAT_REPLY_MISS);
	}
	/* A SYN starts a new connection even when its tuple is still in conntrack (a
	 * reused client port): it is scheduled afresh, so it never follows a stale entry
	 * to a backend that failed or was removed since. */
	if (oxlb_cfg.ct_enabled && !(p->tcp & TCP_SYN)) {
		ct = bpf_map_lookup_elem(&oxlb_ct, &p->key);
		vip = ct ? ct_vip(ct, p) : NULL;
		if (vip)
			return forward(ctx, p, vip, ct, v6);
	}
	vip = vip_lookup(p->key.dst, p->key.dport, p->key.proto, v6);
	if (vip)
		return forward(ctx, p, vip, ct, v6);
	return verdict(OXLB_R_PASS_NOT_VIP, XDP_PASS);
}

/* stage 0: the main program (dispatch); 1: the cookie program (cookie_dispatch). */
static __always_inline int handle_v4(struct xdp_md *ctx, struct pkt *p, void *l3, void *data_end,
				     __u32 l2_len, const int stage)
{
	struct iphdr *iph = l3;
	__u32 hl, tot, r;
	void *l4;

	if ((void *)(iph + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (iph->version != 4 || iph->ihl < 5)
		return verdict(OXLB_R_BAD_IHL, XDP_PASS);
	hl = iph->ihl * 4;
	tot = be16_len(iph->tot_len);
	if (tot < hl || l3 + tot > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (iph->frag_off & bpf_htons(IP4_MF | IP4_OFFSET))
		return verdict(OXLB_R_FRAGMENT, XDP_PASS);
	if (hl > sizeof(*iph))
		count(OXLB_R_IP_OPTIONS);
	l4 = l3 + hl;
	p->saddr = &iph->saddr;
	p->daddr = &iph->daddr;
	p->ip_csum = &iph->check;
	p->l3_len = tot;
	p->bytes = l2_len + tot;
	p->key.src[0] = iph->saddr;
	p->key.dst[0] = iph->daddr;
	p->key.proto = iph->protocol;
	p->key.family = OXLB_AF_INET;
	if (iph->protocol == IPPROTO_ICMP)
		return stage ? XDP_DROP : icmp_v4(ctx, p, iph, l4, data_end, hl);
	r = parse_l4(p, l4, data_end, hl, tot);
	if (r)
		return verdict(r, XDP_PASS);
	return stage ? cookie_dispatch(ctx, p, l3, l4, 0) : dispatch(ctx, p, 0);
}

static __always_inline int is_v6_ext(__u8 nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* shim6 */
	case 253: /* experimental */
	case 254:
		return 1;
	}
	return 0;
}

static __always_inline int handle_v6(struct xdp_md *ctx, struct pkt *p, void *l3, void *data_end,
				     __u32 l2_len, const int stage)
{
	struct ipv6hdr *ip6 = l3;
	__u32 tot, r;
	void *l4;

	if ((void *)(ip6 + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ip6->version != 6)
		return verdict(OXLB_R_BAD_IHL, XDP_PASS);
	tot = sizeof(*ip6) + be16_len(ip6->payload_len);
	if (l3 + tot > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	if (ip6->nexthdr == IPPROTO_FRAGMENT)
		return verdict(OXLB_R_FRAGMENT, XDP_PASS);
	if (is_v6_ext(ip6->nexthdr))
		return verdict(OXLB_R_IPV6_EXT, XDP_PASS);
	l4 = ip6 + 1;
	p->saddr = ip6->saddr.in6_u.u6_addr32;
	p->daddr = ip6->daddr.in6_u.u6_addr32;
	p->l3_len = tot;
	p->bytes = l2_len + tot;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		p->key.src[i] = p->saddr[i];
		p->key.dst[i] = p->daddr[i];
	}
	p->key.proto = ip6->nexthdr;
	p->key.family = OXLB_AF_INET6;
	if (ip6->nexthdr == IPPROTO_ICMPV6)
		return stage ? XDP_DROP : icmp_v6(ctx, p, ip6, l4, data_end);
	r = parse_l4(p, l4, data_end, sizeof(*ip6), tot);
	if (r)
		return verdict(r, XDP_PASS);
	return stage ? cookie_dispatch(ctx, p, l3, l4, 1) : dispatch(ctx, p, 1);
}

/* Parse the frame and hand it to the main datapath (stage 0) or the cookie program (1). */
static __always_inline int parse_frame(struct xdp_md *ctx, const int stage)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l2_len = sizeof(*eth);
	__be16 proto;
	struct pkt p;
	void *l3;

	if ((void *)(eth + 1) > data_end)
		return verdict(OXLB_R_TRUNCATED, XDP_PASS);
	__builtin_memset(&p, 0, sizeof(p));
	p.eth = eth;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return verdict(OXLB_R_TRUNCATED, XDP_PASS);
		proto = vh->encap_proto;
		l3 = vh + 1;
		l2_len += ETH_VLAN_LEN;
		p.vlan = 1;
		count(OXLB_R_VLAN);
	}
	if (proto == bpf_htons(ETH_P_IP))
		return handle_v4(ctx, &p, l3, data_end, l2_len, stage);
	if (proto == bpf_htons(ETH_P_IPV6))
		return handle_v6(ctx, &p, l3, data_end, l2_len, stage);
	return verdict(OXLB_R_PASS_NOT_IP, XDP_PASS);
}

SEC("xdp")
int oxlb_xdp(struct xdp_md *ctx)
{
	return parse_frame(ctx, 0);
}

/* SYN cookies and the SYN proxy (syncookie.h), entered from oxlb_xdp by a tail call. */
SEC("xdp")
int oxlb_cookie(struct xdp_md *ctx)
{
	return parse_frame(ctx, 1);
}

char _license[] SEC("license") = "Dual MIT/GPL";
