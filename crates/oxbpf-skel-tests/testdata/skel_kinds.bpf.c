// SPDX-License-Identifier: MIT OR Apache-2.0
// Every kind of type a skeleton must spell: bitfields (unsigned, signed, enum-typed, across
// bytes), a union holding an anonymous struct, a packed struct, signed and 64-bit enums, an
// LPM key, implicit padding, and a ring-buffer record type reached through a global.
//
// Each BPF_PROG_RUN of `skel_kinds` (XDP, any packet; XDP so it is not sleepable and may use
// the LPM trie) does:
//   runs += 1                                                        (.bss)
//   flows[{cfg_addr, 80, 6}]: created if absent with flags {seen=1, delta=cfg_delta,
//     kind=EV_NEG, wide=0x2abcde}, word {lo=0x1234, hi=0xabcd}, tag=7; then hits += 1
//   route_hit = routes[cfg_addr/32] or 0                             (.bss)
//   hist[0] += 1                                                     (PERCPU_ARRAY)
//   last_event = {runs, EV_RUN, cfg_delta, hdr {4, 0x01020304, 0xbeef}}  (.bss), and the
//     same record to the `events` ring buffer
//   total = bias + runs                                (bias in .data, total in .bss)
//   returns XDP_PASS
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum ev_kind { EV_NONE = 0, EV_RUN = 1, EV_NEG = -2 };
enum wide { WIDE_LO = 1, WIDE_HI = 0x100000000ULL };

struct flow_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct flow_flags {
	unsigned int seen : 1;
	int delta : 5;
	enum ev_kind kind : 4;
	unsigned int wide : 22;
};

struct flow_val {
	__u64 hits;
	struct flow_flags flags;
	union {
		__u32 as_u32;
		struct {
			__u16 lo;
			__u16 hi;
		};
	} word;
	__u8 tag;
};

struct packed_hdr {
	__u8 ver;
	__u32 len;
	__u16 id;
} __attribute__((packed));

struct event {
	__u64 run;
	enum ev_kind kind;
	__s32 delta;
	struct packed_hdr hdr;
};

struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, __u32);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u32 cfg_addr = 0;
const volatile __s32 cfg_delta = 0;
const volatile enum wide cfg_wide = WIDE_HI;

__s64 bias = 100;

__u64 runs;
__u32 route_hit;
__s64 total;
struct event last_event;

SEC("xdp")
int skel_kinds(struct xdp_md *ctx)
{
	struct flow_key k = { .addr = cfg_addr, .port = 80, .proto = 6 };
	struct flow_val init = {}, *v;
	struct lpm_v4 lk = { .prefixlen = 32 };
	__u32 *hop, zero = 0;
	struct event *e;
	__u64 *h;

	runs += 1;
	v = bpf_map_lookup_elem(&flows, &k);
	if (!v) {
		init.flags.seen = 1;
		init.flags.delta = cfg_delta;
		init.flags.kind = EV_NEG;
		init.flags.wide = 0x2abcde;
		init.word.lo = 0x1234;
		init.word.hi = 0xabcd;
		init.tag = 7;
		bpf_map_update_elem(&flows, &k, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&flows, &k);
		if (!v)
			return XDP_ABORTED;
	}
	v->hits += 1;
	__builtin_memcpy(lk.addr, &k.addr, 4);
	hop = bpf_map_lookup_elem(&routes, &lk);
	route_hit = hop ? *hop : 0;
	h = bpf_map_lookup_elem(&hist, &zero);
	if (h)
		*h += 1;
	last_event.run = runs;
	last_event.kind = EV_RUN;
	last_event.delta = cfg_delta;
	last_event.hdr.ver = 4;
	last_event.hdr.len = 0x01020304;
	last_event.hdr.id = 0xbeef;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		*e = last_event;
		bpf_ringbuf_submit(e, 0);
	}
	total = bias + runs;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
