// SPDX-License-Identifier: MIT OR Apache-2.0
// One BTF-defined map of every common family, and an XDP program that touches them.
//
// Each BPF_PROG_RUN of `maps_touch` (any packet of >= 14 bytes):
//   array[0] += 1, percpu_array[0] += 1 (on the running CPU),
//   hash/lru_hash/percpu_hash/lru_percpu_hash[KEY_COUNT] += 1 (created at 1),
//   queue and stack get the new array[0] count pushed,
//   ringbuf gets one u64 record (the count), perf_event_array gets one u64 (if a perf fd is set),
//   inner map of array_of_maps[0] (inner_a) and array_of_maps[1] (inner_b) at [0] += 1,
//   hash_of_maps[HOM_KEY] (set by user space) at [0] += 1,
//   lpm lookup of 10.1.2.3/32: if found, array[1] = the matched value.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define KEY_COUNT 1
#define HOM_KEY 7

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} lru_percpu_hash SEC(".maps");

/// LPM trie key: prefix length then an IPv4 address in network byte order.
struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u64);
} lpm_trie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u64);
} stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} stack_trace SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} devmap_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpumap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xskmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ringbuf SEC(".maps");

/* max_entries left unset: loaders size it to the number of possible CPUs, as libbpf does. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner_array inner_a SEC(".maps");
struct inner_array inner_b SEC(".maps");

/* Slots 0 and 1 are filled with inner_a and inner_b at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_array);
} array_of_maps SEC(".maps") = {
	.values = { &inner_a, &inner_b },
};

/* Empty at load; user space inserts an inner array of the declared shape at HOM_KEY. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(max_entries, 1);
		__type(key, __u32);
		__type(value, __u64);
	});
} hash_of_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} prog_array SEC(".maps");

static __always_inline void bump(void *map, __u32 key)
{
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(map, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
}

static __always_inline void bump_inner(void *outer, __u32 okey)
{
	__u32 zero = 0;
	__u64 *v;
	void *inner;

	inner = bpf_map_lookup_elem(outer, &okey);
	if (!inner)
		return;
	v = bpf_map_lookup_elem(inner, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int maps_touch(struct xdp_md *ctx)
{
	__u32 zero = 0, one = 1;
	__u64 *cnt, *pc, n;
	struct lpm_key lk = { .prefixlen = 32, .addr = { 10, 1, 2, 3 } };
	__u64 *lv;

	cnt = bpf_map_lookup_elem(&array, &zero);
	if (!cnt)
		return XDP_ABORTED;
	n = __sync_fetch_and_add(cnt, 1) + 1;

	pc = bpf_map_lookup_elem(&percpu_array, &zero);
	if (pc)
		*pc += 1;

	bump(&hash, KEY_COUNT);
	bump(&percpu_hash, KEY_COUNT);
	bump(&lru_hash, KEY_COUNT);
	bump(&lru_percpu_hash, KEY_COUNT);

	lv = bpf_map_lookup_elem(&lpm_trie, &lk);
	if (lv) {
		__u64 val = *lv;
		bpf_map_update_elem(&array, &one, &val, BPF_ANY);
	}

	bpf_map_push_elem(&queue, &n, BPF_EXIST);
	bpf_map_push_elem(&stack, &n, BPF_EXIST);

	bpf_ringbuf_output(&ringbuf, &n, sizeof(n), 0);
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &n, sizeof(n));

	bump_inner(&array_of_maps, 0);
	bump_inner(&array_of_maps, 1);
	bump_inner(&hash_of_maps, HOM_KEY);

	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
