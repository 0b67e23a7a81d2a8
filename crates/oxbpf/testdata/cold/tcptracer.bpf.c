// SPDX-License-Identifier: MIT OR Apache-2.0
// Cold-load benchmark fixture shaped like libbpf-tools' tcptracer/tcpstates: the
// inet_sock_set_state tracepoint as tp_btf and raw_tp, reading sock, inet_sock and tcp_sock
// fields (IPv4 and IPv6 addresses, ports, RTT, window) through CO-RE into a ring buffer.
#include "common.h"

struct event {
	__u8 saddr[16];
	__u8 daddr[16];
	__u64 ts;
	__u32 pid;
	__u32 srtt;
	__u32 cwnd;
	__u32 mss;
	__u32 retrans;
	__u32 rcvbuf;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u16 proto;
	int oldstate;
	int newstate;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct sock *);
	__type(value, __u64);
} timestamps SEC(".maps");

const volatile short target_family = 0;

static __always_inline int state_change(struct sock *sk, int oldstate, int newstate)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct event *e;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u64 ts = bpf_ktime_get_ns();

	if (target_family && target_family != family)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->ts = ts;
	e->family = family;
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	e->proto = BPF_CORE_READ(sk, sk_protocol);
	e->rcvbuf = BPF_CORE_READ(sk, sk_rcvbuf);
	e->srtt = BPF_CORE_READ(tp, srtt_us) >> 3;
	e->cwnd = BPF_CORE_READ(tp, snd_cwnd);
	e->mss = BPF_CORE_READ(tp, mss_cache);
	e->retrans = BPF_CORE_READ(tp, total_retrans);
	if (bpf_core_field_exists(((struct inet_sock *)sk)->inet_sport))
		e->sport = BPF_CORE_READ((struct inet_sock *)sk, inet_sport);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (family == 2) {
		bpf_probe_read_kernel(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(e->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(e->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32);
		BPF_CORE_READ_INTO(e->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
	}
	if (newstate == 7 /* TCP_CLOSE */)
		bpf_map_delete_elem(&timestamps, &sk);
	else
		bpf_map_update_elem(&timestamps, &sk, &ts, BPF_ANY);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

HOOK(inet_sock_set_state, raw_inet_sock_set_state, state_change(sk, oldstate, newstate),
     struct sock *sk, int oldstate, int newstate)

char LICENSE[] SEC("license") = "GPL";
