// SPDX-License-Identifier: GPL-2.0
// ELF reader fixture: many section names, several programs per section,
// .text subprograms (global and static), bpf_loop callbacks, recursion-free call chains.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* .text subprograms */
static __attribute__((noinline)) int leaf(int x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) int global_helper(int x)
{
	return leaf(x) + 2;
}

static __attribute__((noinline)) int middle(int x)
{
	return global_helper(x) ^ leaf(x + 1);
}

static long loop_cb(__u32 index, void *ctx)
{
	int *acc = ctx;
	*acc += leaf(index);
	return 0;
}

SEC("xdp")
int xdp_first(struct xdp_md *ctx)
{
	return middle(ctx->ingress_ifindex) & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	int acc = 0;
	bpf_loop(4, loop_cb, &acc, 0);
	return acc > 100 ? XDP_DROP : XDP_PASS;
}

SEC("xdp.frags")
int xdp_frags_prog(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tp/sched/sched_switch")
int tp_switch(void *ctx)
{
	return global_helper(1);
}

SEC("kprobe/do_unlinkat")
int kprobe_unlink(void *ctx)
{
	return 0;
}

SEC("kretprobe/do_unlinkat")
int kretprobe_unlink(void *ctx)
{
	return 0;
}

SEC("fentry.s/do_unlinkat")
int fentry_sleepable(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_tp_enter(void *ctx)
{
	return 0;
}

SEC("tc/ingress")
int tcx_in(struct __sk_buff *skb)
{
	return leaf(skb->len);
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup/connect4")
int cg_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	return 0;
}

SEC("?lsm/file_open")
int lsm_maybe(void *ctx)
{
	return 0;
}

SEC("sk_msg")
int msg_verdict(struct sk_msg_md *msg)
{
	return SK_PASS;
}
