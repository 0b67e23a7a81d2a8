/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * SYN cookies and the SYN proxy of NAT VIPs: the program oxlb_cookie, entered by a tail
 * call (slot OXLB_PROG_COOKIE of oxlb_progs). Included by oxlb.bpf.c.
 *
 * When oxlb_cfg.syn_cookies says so (every SYN; or during a flood: while the VIP's new-flow
 * guard is engaged, and whenever every NAT port a SYN probes is held by a live half-open
 * flow), the LB answers a client's SYN to a NAT VIP itself, with a
 * SYN-ACK whose sequence number is a SYN cookie (bpf_tcp_raw_gen_syncookie_*, kernel
 * >= 6.0): no state and no backend work. Only a client that acknowledges its cookie costs
 * a NAT port:
 *   1. SYN, client -> VIP ............ SYN-ACK, seq = cookie, one MSS option: XDP_TX
 *   2. ACK with a valid cookie ....... becomes the SYN to the backend (seq = the client's
 *      ISN, MSS option), NATed like any new flow; its half-open oxlb_syn entry keeps the
 *      cookie (proxied = 1). An invalid cookie is dropped (DROP_NO_FLOW). Until step 3,
 *      every packet the client sends (its data, resent) becomes that SYN again: the LB
 *      keeps no timer, so the client's retransmissions stand in for the SYN's.
 *   3. the backend's SYN-ACK ......... becomes the ACK the client would have sent, back
 *      to the backend (XDP_TX); the flow is established in oxlb_nat and oxlb_ct with
 *      seq_delta = backend ISN - cookie.
 *   4. later packets (forward.h, reply.h): the client's acknowledgement numbers + seq_delta,
 *      the backend's sequence numbers - seq_delta.
 * A cookie carries no window scale, SACK or timestamp option, so proxied flows negotiate
 * none of them, with the client or the backend: their windows stay below 64 KiB. Data the
 * client sends before step 3 is dropped (its TCP sends it again). An ICMP error quoting a
 * proxied flow's packet keeps the backend's sequence numbers.
 */
#ifndef OXLB_SYNCOOKIE_H
#define OXLB_SYNCOOKIE_H

/* MSS the LB announces in its SYN-ACK (to the client) and SYN (to the backend): a
 * 1500-byte path. */
#define COOKIE_MSS4 1460
#define COOKIE_MSS6 1440
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* Pseudo-header of the TCP checksum, laid out for IPv6; IPv4 fills only the first word of
 * each address: one's-complement sums of 16-bit words do not care where the zeros are. */
struct cookie_pseudo {
	__u32 src[4];
	__u32 dst[4];
	__be32 len;
	__be32 proto;
};

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u64 s = (__u64)sum & 0xffffffffULL;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Make the frame exactly l2 + ip_len + tcp_len bytes (headers only): 0, or -1 when the
 * kernel refuses the new size. Every packet pointer is invalid afterwards. */
static __always_inline int cookie_resize(struct xdp_md *ctx, __u32 l2, __u32 ip_len,
					 __u32 tcp_len)
{
	int delta = (int)(l2 + ip_len + tcp_len) - (int)(ctx->data_end - ctx->data);

	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	return 0;
}

/* Write an IPv4 header (no options) around a TCP segment of tcp_len bytes. */
static __always_inline void ip4_build(struct iphdr *iph, __u32 src, __u32 dst, __u16 tcp_len)
{
	*(__u8 *)iph = 0x45;
	iph->tos = 0;
	iph->tot_len = bpf_htons(sizeof(*iph) + tcp_len);
	iph->id = 0;
	iph->frag_off = bpf_htons(0x4000); /* DF */
	iph->ttl = 64;
	iph->protocol = IPPROTO_TCP;
	iph->saddr = src;
	iph->daddr = dst;
	iph->check = 0;
	iph->check = csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)iph, sizeof(*iph), 0));
}

/* Write an IPv6 header around a TCP segment of tcp_len bytes. */
static __always_inline void ip6_build(struct ipv6hdr *ip6, const __u32 *src, const __u32 *dst,
				      __u16 tcp_len)
{
	*(__be32 *)ip6 = bpf_htonl(0x60000000);
	ip6->payload_len = bpf_htons(tcp_len);
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = 64;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		ip6->saddr.in6_u.u6_addr32[i] = src[i];
		ip6->daddr.in6_u.u6_addr32[i] = dst[i];
	}
}

/* Write a TCP header without payload: flags, and an MSS option when mss != 0 (24 bytes,
 * else 20); the checksum over the pseudo-header of src -> dst. */
static __always_inline void tcp_build(struct tcphdr *th, __be16 sport, __be16 dport, __u32 seq,
				      __u32 ack, __u8 flags, __be16 window, __u16 mss,
				      const __u32 *src, const __u32 *dst, const int v6)
{
	struct cookie_pseudo ph = {};
	__u32 len = mss ? 24 : 20;
	__s64 sum;

	th->source = sport;
	th->dest = dport;
	th->seq = bpf_htonl(seq);
	th->ack_seq = bpf_htonl(ack);
	((__u8 *)th)[12] = (len / 4) << 4;
	((__u8 *)th)[13] = flags;
	th->window = window;
	th->check = 0;
	th->urg_ptr = 0;
	if (mss)
		*(__be32 *)(th + 1) = bpf_htonl((2u << 24) | (4u << 16) | mss);
	ph.src[0] = src[0];
	ph.dst[0] = dst[0];
	if (v6) {
#pragma unroll
		for (int i = 1; i < 4; i++) {
			ph.src[i] = src[i];
			ph.dst[i] = dst[i];
		}
	}
	ph.len = bpf_htonl(len);
	ph.proto = bpf_htonl(IPPROTO_TCP);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (mss)
		sum = bpf_csum_diff(NULL, 0, (__be32 *)th, 24, (__u32)sum);
	else
		sum = bpf_csum_diff(NULL, 0, (__be32 *)th, 20, (__u32)sum);
	th->check = csum_fold(sum);
}

/* The frame's headers after cookie_resize: 0 and eth/l3/th set, or -1. */
static __always_inline int cookie_headers(struct xdp_md *ctx, __u8 vlan, const int v6,
					  __u32 tcp_len, struct ethhdr **eth, void **l3,
					  struct tcphdr **th)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 ip_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	void *ip = data + sizeof(struct ethhdr) + (vlan ? ETH_VLAN_LEN : 0);

	if (data + sizeof(struct ethhdr) > end || ip + ip_len + tcp_len > end)
		return -1;
	*eth = data;
	*l3 = ip;
	*th = ip + ip_len;
	return 0;
}

static __always_inline void eth_swap(struct ethhdr *eth)
{
	__u8 mac[ETH_ALEN];

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
}

/* 1. A client's SYN: answer it with a cookie SYN-ACK (XDP_TX). */
static __always_inline int cookie_answer(struct xdp_md *ctx, struct pkt *p, void *l3,
					 struct tcphdr *th, const int v6)
{
	__u32 l2 = sizeof(struct ethhdr) + (p->vlan ? ETH_VLAN_LEN : 0);
	__u32 ip_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u32 src[4] = {}, dst[4] = {}, hl = th->doff * 4, seq = bpf_ntohl(th->seq);
	__be16 sport = th->source, dport = th->dest;
	__u8 opts[60];
	struct tcphdr *t;
	struct ethhdr *eth;
	void *ip;
	__s64 r;

	if (hl < sizeof(struct tcphdr) || (!v6 && ((struct iphdr *)l3)->ihl != 5))
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	/* As for any SYN (syn_open): the tuple's previous connection must not catch this
	 * one's ACK. */
	if (oxlb_cfg.ct_enabled)
		bpf_map_delete_elem(&oxlb_ct, &p->key);
	__builtin_memset(opts, 0, sizeof(opts));
	if (bpf_xdp_load_bytes(ctx, l2 + ip_len, opts, hl))
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	if (v6)
		r = bpf_tcp_raw_gen_syncookie_ipv6(l3, (struct tcphdr *)opts, hl);
	else
		r = bpf_tcp_raw_gen_syncookie_ipv4(l3, (struct tcphdr *)opts, hl);
	if (r < 0)
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		src[i] = p->key.dst[i];
		dst[i] = p->key.src[i];
	}
	if (cookie_resize(ctx, l2, ip_len, 24) || cookie_headers(ctx, p->vlan, v6, 24, &eth, &ip, &t))
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	eth_swap(eth);
	if (v6)
		ip6_build(ip, src, dst, 24);
	else
		ip4_build(ip, src[0], dst[0], 24);
	tcp_build(t, dport, sport, (__u32)r, seq + 1, TCPF_SYN | TCPF_ACK, bpf_htons(65535),
		  v6 ? COOKIE_MSS6 : COOKIE_MSS4, src, dst, v6);
	count(OXLB_R_TX);
	return verdict(OXLB_R_COOKIE_SENT, XDP_TX);
}

/* 2. A client's ACK of no known flow: with a valid cookie, the SYN to a backend. */
static __always_inline int cookie_accept(struct xdp_md *ctx, struct pkt *p, void *l3,
					 struct tcphdr *th, const int v6)
{
	__u8 fam = v6 ? OXLB_AF_INET6 : OXLB_AF_INET;
	__u32 l2 = sizeof(struct ethhdr) + (p->vlan ? ETH_VLAN_LEN : 0);
	__u32 ip_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u32 cookie = bpf_ntohl(th->ack_seq) - 1, isn = bpf_ntohl(th->seq) - 1, bid = 0, hash;
	__be16 window = th->window, port, bport;
	struct oxlb_flow_key rk;
	struct oxlb_backend be;
	struct oxlb_vip *vip;
	struct oxlb_hop hop;
	struct oxlb_syn *s;
	struct ethhdr *eth;
	struct tcphdr *t;
	__u64 now;
	void *ip;
	long ok;
	__u32 r;

	vip = vip_lookup(p->key.dst, p->key.dport, IPPROTO_TCP, v6);
	if (!vip || vip->mode != OXLB_MODE_NAT || vip->snat_family != fam)
		return verdict(OXLB_R_DROP_NO_FLOW, XDP_DROP);
	if (v6)
		ok = bpf_tcp_raw_check_syncookie_ipv6(l3, th);
	else
		ok = bpf_tcp_raw_check_syncookie_ipv4(l3, th);
	if (ok)
		return verdict(OXLB_R_DROP_NO_FLOW, XDP_DROP);
	hash = flow_hash(&p->key, v6);
	r = pick_backend(vip->id, hash, &bid, &be);
	if (r)
		return verdict(r, XDP_DROP);
	if (be.family != fam)
		return verdict(OXLB_R_DROP_BAD_CONFIG, XDP_DROP);
	bport = be.port ? be.port : p->key.dport;
	now = now_ns();
	port = syn_open(ctx, p, vip, &be, bid, bport, hash, now, v6, 0);
	if (!port)
		return verdict(OXLB_R_DROP_NAT_PORTS, XDP_DROP);
	nat_rev_key(&rk, &be, vip, bport, IPPROTO_TCP, v6);
	rk.dport = port;
	s = bpf_map_lookup_elem(&oxlb_syn, &rk);
	if (!s)
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	/* The client's data or a resent ACK while the backend's SYN-ACK is awaited: the SYN
	 * (or the backend's answer) may have been lost, and nobody else would resend it, so
	 * this packet becomes the SYN again (its data is dropped; the client resends it). */
	if (!s->proxied || s->server_isn != cookie) {
		s->proxied = 1;
		s->synack = 0;
		s->server_isn = cookie;
		s->window = window;
		s->client_isn = isn;
	}
	r = hop_resolve(&hop, ctx, now, fam, vip->snat_addr, be.addr, IPPROTO_TCP, port, bport,
			ip_len + 24);
	if (r)
		return verdict(r, XDP_DROP);
	if (cookie_resize(ctx, l2, ip_len, 24) || cookie_headers(ctx, p->vlan, v6, 24, &eth, &ip, &t))
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	if (v6)
		ip6_build(ip, vip->snat_addr, be.addr, 24);
	else
		ip4_build(ip, vip->snat_addr[0], be.addr[0], 24);
	tcp_build(t, port, bport, isn, 0, TCPF_SYN, window, v6 ? COOKIE_MSS6 : COOKIE_MSS4,
		  vip->snat_addr, be.addr, v6);
	stats_add(&oxlb_vip_stats, vip->id, l2 + ip_len + 24, 1, 0);
	stats_add(&oxlb_be_stats, bid, l2 + ip_len + 24, 1, 0);
	count(OXLB_R_COOKIE_OK);
	return emit(ctx, eth, &hop, p->vlan);
}

/* 3. The backend's SYN-ACK of a proxied flow (s): the flow is established, and the
 * backend gets the ACK of its SYN-ACK (XDP_TX). */
static __always_inline int cookie_synack(struct xdp_md *ctx, struct pkt *p, struct oxlb_syn *s,
					 struct tcphdr *th, const int v6)
{
	__u32 l2 = sizeof(struct ethhdr) + (p->vlan ? ETH_VLAN_LEN : 0);
	__u32 ip_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u32 isn = bpf_ntohl(th->seq), seq = bpf_ntohl(th->ack_seq), src[4] = {}, dst[4] = {};
	__be16 sport = th->dest, dport = th->source, window = s->window;
	struct oxlb_nat nv;
	struct ethhdr *eth;
	struct tcphdr *t;
	void *ip;

	__builtin_memset(&nv, 0, sizeof(nv));
	nv.client = s->client;
	nv.vip_id = s->vip_id;
	nv.backend_id = s->backend_id;
	nv.seq_delta = isn - s->server_isn;
	nat_seen(&nv, p, now_ns(), 0);
	bpf_map_update_elem(&oxlb_nat, &p->key, &nv, BPF_ANY);
	ct_store(&nv.client, nv.vip_id, OXLB_MODE_NAT, nv.backend_id, p->key.dport, NULL,
		 nv.seq_delta);
	bpf_map_delete_elem(&oxlb_syn, &p->key);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		src[i] = p->key.dst[i];
		dst[i] = p->key.src[i];
	}
	if (cookie_resize(ctx, l2, ip_len, 20) || cookie_headers(ctx, p->vlan, v6, 20, &eth, &ip, &t))
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	eth_swap(eth);
	if (v6)
		ip6_build(ip, src, dst, 20);
	else
		ip4_build(ip, src[0], dst[0], 20);
	tcp_build(t, sport, dport, seq, isn + 1, TCPF_ACK, window, 0, src, dst, v6);
	count(OXLB_R_TX);
	return verdict(OXLB_R_COOKIE_PROXIED, XDP_TX);
}

/* A backend answered the SYN of a half-open flow for an older connection on the same NAT
 * port (a SYN-ACK acknowledging another ISN, or a bare ACK: it still holds that connection's
 * SYN_RECV state, e.g. of a flood SYN that had the port before). Reset that state (seq = what
 * it acknowledges, which it accepts), so the flow's next SYN is answered (XDP_TX). */
static __always_inline int stale_reset(struct xdp_md *ctx, struct pkt *p, struct tcphdr *th,
				       const int v6)
{
	__u32 l2 = sizeof(struct ethhdr) + (p->vlan ? ETH_VLAN_LEN : 0);
	__u32 ip_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u32 seq = bpf_ntohl(th->ack_seq), src[4] = {}, dst[4] = {};
	__be16 sport = th->dest, dport = th->source;
	struct ethhdr *eth;
	struct tcphdr *t;
	void *ip;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		src[i] = p->key.dst[i];
		dst[i] = p->key.src[i];
	}
	if (cookie_resize(ctx, l2, ip_len, 20) || cookie_headers(ctx, p->vlan, v6, 20, &eth, &ip, &t))
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	eth_swap(eth);
	if (v6)
		ip6_build(ip, src, dst, 20);
	else
		ip4_build(ip, src[0], dst[0], 20);
	tcp_build(t, sport, dport, seq, 0, TCPF_RST, 0, 0, src, dst, v6);
	count(OXLB_R_TX);
	return verdict(OXLB_R_STALE_RESET, XDP_TX);
}

/* The cookie program's work on a parsed TCP packet (l3: its IP header, l4: TCP). */
static __always_inline int cookie_dispatch(struct xdp_md *ctx, struct pkt *p, void *l3, void *l4,
					   const int v6)
{
	struct tcphdr *th = l4;
	struct oxlb_syn *s;

	if (p->key.proto != IPPROTO_TCP || (void *)(th + 1) > (void *)(long)ctx->data_end)
		return verdict(OXLB_R_COOKIE_FAIL, XDP_DROP);
	if (p->tcp & TCP_SYN)
		return cookie_answer(ctx, p, l3, th, v6);
	/* A backend's packet on a half-open flow (see syn_reply). */
	s = bpf_map_lookup_elem(&oxlb_syn, &p->key);
	if (s) {
		if ((p->tcp & TCP_SYNACK) && s->proxied && bpf_ntohl(th->ack_seq) == s->client_isn + 1)
			return cookie_synack(ctx, p, s, th, v6);
		if (((p->tcp & TCP_SYNACK) && s->proxied) ||
		    ((p->tcp & TCP_ACK) && !(p->tcp & (TCP_SYNACK | TCP_RST | TCP_FIN)) && !s->synack))
			return stale_reset(ctx, p, th, v6);
		return verdict(OXLB_R_DROP_NO_FLOW, XDP_DROP);
	}
	if ((p->tcp & TCP_ACK) && !(p->tcp & (TCP_RST | TCP_SYNACK)))
		return cookie_accept(ctx, p, l3, th, v6);
	return verdict(OXLB_R_DROP_NO_FLOW, XDP_DROP);
}

#endif /* OXLB_SYNCOOKIE_H */
