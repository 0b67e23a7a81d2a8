// SPDX-License-Identifier: MIT OR Apache-2.0
// cgroup program of examples/cgroup_connect.rs: refuses IPv4 connect() (TCP and UDP) to one
// port from processes in the cgroup, and counts allowed and refused calls.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Set by the loader before load (a .rodata variable: constant for the verifier). */
const volatile __u16 blocked_port = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); /* 0: allowed, 1: refused */
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

SEC("cgroup/connect4")
int block_port(struct bpf_sock_addr *ctx)
{
	__u32 refuse = ctx->user_port == bpf_htons(blocked_port);
	__u64 *n = bpf_map_lookup_elem(&verdicts, &refuse);
	if (n)
		__sync_fetch_and_add(n, 1);
	return refuse ? 0 : 1; /* 0: connect() fails with EPERM */
}

char LICENSE[] SEC("license") = "GPL";
