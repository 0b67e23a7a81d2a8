// SPDX-License-Identifier: MIT OR Apache-2.0
// One tiny program per common section kind; all load on a current kernel without attaching.
// Each program bumps hits[<its index>] where that is possible, so attach tests can see it ran.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline void hit(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Socket filter: accepts the whole packet. */
SEC("socket")
int sec_socket(struct __sk_buff *skb)
{
	hit(0);
	return skb->len;
}

SEC("tc")
int sec_tc(struct __sk_buff *skb)
{
	hit(1);
	return TC_ACT_OK;
}

SEC("classifier")
int sec_classifier(struct __sk_buff *skb)
{
	hit(2);
	return TC_ACT_OK;
}

SEC("xdp")
int sec_xdp(struct xdp_md *ctx)
{
	hit(3);
	return XDP_PASS;
}

SEC("xdp.frags")
int sec_xdp_frags(struct xdp_md *ctx)
{
	hit(4);
	return XDP_PASS;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int sec_tracepoint(void *ctx)
{
	hit(5);
	return 0;
}

SEC("raw_tp/sys_enter")
int sec_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	hit(6);
	return 0;
}

SEC("cgroup_skb/ingress")
int sec_cgroup_skb_ingress(struct __sk_buff *skb)
{
	hit(7);
	return 1;
}

SEC("cgroup_skb/egress")
int sec_cgroup_skb_egress(struct __sk_buff *skb)
{
	hit(8);
	return 1;
}

SEC("cgroup/sock_create")
int sec_cgroup_sock_create(struct bpf_sock *sk)
{
	hit(9);
	return 1;
}

SEC("cgroup/connect4")
int sec_cgroup_connect4(struct bpf_sock_addr *ctx)
{
	hit(10);
	return 1;
}

SEC("sockops")
int sec_sockops(struct bpf_sock_ops *ops)
{
	hit(11);
	return 1;
}

SEC("sk_msg")
int sec_sk_msg(struct sk_msg_md *msg)
{
	hit(12);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int sec_sk_skb_verdict(struct __sk_buff *skb)
{
	hit(13);
	return SK_PASS;
}

SEC("sk_skb/stream_parser")
int sec_sk_skb_parser(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("sk_lookup")
int sec_sk_lookup(struct bpf_sk_lookup *ctx)
{
	hit(14);
	return SK_PASS;
}

SEC("flow_dissector")
int sec_flow_dissector(struct __sk_buff *skb)
{
	hit(15);
	return BPF_FLOW_DISSECTOR_CONTINUE;
}

SEC("syscall")
int sec_syscall(void *ctx)
{
	hit(16);
	return 0;
}

SEC("perf_event")
int sec_perf_event(void *ctx)
{
	hit(17);
	return 0;
}

SEC("lwt_in")
int sec_lwt_in(struct __sk_buff *skb)
{
	hit(18);
	return BPF_OK;
}

SEC("cgroup/sysctl")
int sec_cgroup_sysctl(struct bpf_sysctl *ctx)
{
	hit(19);
	return 1;
}

SEC("cgroup/getsockopt")
int sec_cgroup_getsockopt(struct bpf_sockopt *ctx)
{
	hit(20);
	return 1;
}

SEC("cgroup/setsockopt")
int sec_cgroup_setsockopt(struct bpf_sockopt *ctx)
{
	hit(21);
	return 1;
}

SEC("cgroup/dev")
int sec_cgroup_dev(struct bpf_cgroup_dev_ctx *ctx)
{
	hit(22);
	return 1;
}

SEC("cgroup/bind4")
int sec_cgroup_bind4(struct bpf_sock_addr *ctx)
{
	hit(23);
	return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
