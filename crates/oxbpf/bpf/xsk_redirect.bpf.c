// SPDX-License-Identifier: MIT OR Apache-2.0
// The default AF_XDP redirect program of oxbpf::xsk: a frame received on queue N goes to the
// socket at xsks_map[N]; with no socket there, bpf_redirect_map's fallback (the low bits of
// its flags) passes it to the kernel stack. The loader sets max_entries to the queue count.
// xsk_redirect_frags is the same for multi-buffer frames (XDP_USE_SG sockets, jumbo MTUs).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

SEC("xdp.frags")
int xsk_redirect_frags(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
