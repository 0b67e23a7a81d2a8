// SPDX-License-Identifier: MIT OR Apache-2.0
// cgroup programs for tests/links_cgroup.rs: each counts into its own slot and allows.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void hit(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("cgroup_skb/egress")
int skb_egress(struct __sk_buff *skb)
{
	hit(0);
	return 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	hit(1);
	return 1;
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *sk)
{
	hit(2);
	return 1;
}

SEC("sockops")
int count_sockops(struct bpf_sock_ops *ops)
{
	hit(3);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
