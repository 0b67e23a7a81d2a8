// SPDX-License-Identifier: MIT OR Apache-2.0
// Socket-level programs for tests/links_sock.rs: sk_msg / sk_skb on a sockmap, a socket
// filter, sk_lookup steering and a flow dissector. Each counts into its own slot.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

/* sk_lookup: slot 0 holds the listening socket everything is steered to. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} target SEC(".maps");

static __always_inline void hit(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("sk_msg")
int msg_verdict(struct sk_msg_md *msg)
{
	hit(0);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int skb_verdict(struct __sk_buff *skb)
{
	hit(1);
	return SK_PASS;
}

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	hit(2);
	return skb->len;
}

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	__u32 zero = 0;
	struct bpf_sock *sk;
	long err;

	if (ctx->protocol != 6 /* TCP */)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&target, &zero);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (!err)
		hit(3);
	return SK_PASS;
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	hit(4);
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
