// SPDX-License-Identifier: GPL-2.0
// ELF reader fixture: BTF-defined maps of many types, map-in-map and prog array with
// __array initial values, pinning, numa, map_extra.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct key { __u32 a; __u16 b; };
struct val { __u64 x[4]; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct key);
	__type(value, struct val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__uint(key_size, 8);
	__uint(value_size, 16);
	__uint(numa_node, 0);
} sized_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 100);
	__type(value, __u32);
	__uint(map_extra, 3);
} bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [3] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 16);
		__type(key, __u64);
		__type(value, __u64);
	});
} outer_hash SEC(".maps");

int tail_a(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_a },
};

SEC("xdp")
int tail_a(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int use_maps(struct xdp_md *ctx)
{
	struct key k = { .a = 1 };
	__u32 zero = 0;
	struct val *v = bpf_map_lookup_elem(&hash_map, &k);
	__u64 *c = bpf_map_lookup_elem(&percpu, &zero);
	void *in = bpf_map_lookup_elem(&outer, &zero);

	if (v && c)
		*c += v->x[0];
	if (in)
		bpf_map_lookup_elem(in, &zero);
	bpf_ringbuf_output(&events, &zero, sizeof(zero), 0);
	bpf_map_push_elem(&bloom, &zero, 0);
	bpf_tail_call(ctx, &jumps, 1);
	return XDP_PASS;
}
