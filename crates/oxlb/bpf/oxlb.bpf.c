// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * oxlb XDP datapath: a layer-4 load balancer (Maglev + conntrack, full NAT or DSR;
 * encapsulated DSR (ipip, gue) lives in encap.h).
 *
 * Map layout and ABI: see oxlb.h.
 *
 * This file holds the two programs (oxlb_xdp and the tail-called oxlb_cookie); the code
 * is in one header per concern, included below in dependency order (each relies only on
 * the ones before it): maps.h (maps, oxlb_cfg, struct pkt), stats.h (counters and
 * reasons), flow.h (flow keys, flow hash), csum.h (incremental checksums, rewrite),
 * vip.h (VIP lookup, Maglev), conntrack.h, nat.h (NAT source ports), halfopen.h
 * (half-open NAT flows), guard.h (new-flow guard), nexthop.h (fib lookup, hop caches,
 * emit), encap.h (encapsulated DSR), forward.h (client -> VIP), reply.h (NAT replies),
 * icmp.h (ICMP errors about a flow), syncookie.h (SYN cookies, SYN proxy), vipfilter.h,
 * dispatch.h, parse.h (Ethernet/VLAN/IPv4/IPv6/TCP/UDP parsing, parse_frame).
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

#include "maps.h"
#include "stats.h"
#include "flow.h"
#include "csum.h"
#include "vip.h"
#include "conntrack.h"
#include "nat.h"
#include "halfopen.h"
#include "guard.h"
#include "nexthop.h"
#include "encap.h"
#include "forward.h"
#include "reply.h"
#include "icmp.h"
#include "syncookie.h"
#include "vipfilter.h"
#include "dispatch.h"
#include "parse.h"

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
