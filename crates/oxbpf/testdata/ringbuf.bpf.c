// SPDX-License-Identifier: MIT OR Apache-2.0
// Writes records to a ring buffer and to a perf event array.
//
// Each BPF_PROG_RUN of `ringbuf_emit` (XDP, any packet >= 14 bytes) writes `nr_records`
// (rodata, default 4, at most 64) records to `events`: reserved+submitted for even seq,
// bpf_ringbuf_output for odd seq. Each record is {seq, MAGIC, run, seq * 1000}.
// The same records go to `perf_events` on the running CPU (needs a perf fd at that CPU's
// slot; failures are counted in `stats[1]`). stats[0] counts runs, stats[2] counts ringbuf
// records that could not be reserved/output.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAGIC 0x0b9f0b9fu
#define MAX_RECORDS 64

/// One record, 24 bytes.
struct record {
	__u32 seq;
	__u32 magic;
	__u64 run;
	__u64 value;
};

const volatile __u32 nr_records = 4;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int ringbuf_emit(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *runs, run;
	__u32 i;

	runs = bpf_map_lookup_elem(&stats, &zero);
	if (!runs)
		return XDP_ABORTED;
	run = __sync_fetch_and_add(runs, 1) + 1;

	for (i = 0; i < MAX_RECORDS && i < nr_records; i++) {
		struct record r = { .seq = i, .magic = MAGIC, .run = run, .value = (__u64)i * 1000 };

		if (i % 2 == 0) {
			struct record *slot = bpf_ringbuf_reserve(&events, sizeof(*slot), 0);

			if (slot) {
				*slot = r;
				bpf_ringbuf_submit(slot, 0);
			} else {
				count(2);
			}
		} else if (bpf_ringbuf_output(&events, &r, sizeof(r), 0)) {
			count(2);
		}
		if (bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &r, sizeof(r)))
			count(1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
