// SPDX-License-Identifier: MIT OR Apache-2.0
// An object without a licence section: `fib_no_licence` calls bpf_fib_lookup, which the
// kernel reserves for GPL-compatible programs; `plain_no_licence` calls no such helper.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int fib_no_licence(struct xdp_md *ctx)
{
	struct bpf_fib_lookup p = {};

	p.family = 2; /* AF_INET */
	p.ifindex = ctx->ingress_ifindex;
	return bpf_fib_lookup(ctx, &p, sizeof(p), 0) == 0 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int plain_no_licence(struct xdp_md *ctx)
{
	return XDP_PASS;
}
