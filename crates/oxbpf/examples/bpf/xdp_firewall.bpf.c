// SPDX-License-Identifier: MIT OR Apache-2.0
// XDP firewall of examples/xdp_firewall.rs and examples/xdp_prog_run.rs: drops IPv4 packets
// whose source address is covered by a prefix in the `blocklist` LPM trie, and counts passed
// and dropped packets per source address in the `stats` LRU hash.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* LPM trie keys start with the prefix length in bits (host byte order), then the data. */
struct v4_prefix {
	__u32 prefixlen;
	__u8 addr[4]; /* network byte order, as on the wire */
};

struct counters {
	__u64 passed;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__uint(max_entries, 1024);
	__type(key, struct v4_prefix);
	__type(value, __u32);
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* source address, network byte order */
	__type(value, struct counters);
} stats SEC(".maps");

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	__u32 saddr = ip->saddr;
	struct v4_prefix key = { .prefixlen = 32 };
	__builtin_memcpy(key.addr, &saddr, 4);
	int blocked = bpf_map_lookup_elem(&blocklist, &key) != NULL;

	struct counters *c = bpf_map_lookup_elem(&stats, &saddr);
	if (!c) {
		struct counters zero = {};
		bpf_map_update_elem(&stats, &saddr, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&stats, &saddr);
	}
	if (c)
		__sync_fetch_and_add(blocked ? &c->dropped : &c->passed, 1);
	return blocked ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
