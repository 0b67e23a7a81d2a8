// SPDX-License-Identifier: MIT OR Apache-2.0
// Cold-load benchmark fixture shaped like libbpf-tools' biotop/biosnoop: block tp_btf and
// raw_tp programs reading struct request, its queue and disk (with the pre-5.17 rq_disk
// flavour) through CO-RE.
#include "common.h"

struct info {
	int major;
	int minor;
	int rwflag;
	int pid;
	char comm[16];
};

struct stat {
	__u64 bytes;
	__u64 us;
	__u64 io;
	__u64 queued;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct request *);
	__type(value, __u64);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct info);
	__type(value, struct stat);
} counts SEC(".maps");

static __always_inline struct gendisk *get_disk(void *request)
{
	struct request *r = request;

	if (bpf_core_field_exists(r->q))
		return BPF_CORE_READ(r, q, disk);
	return BPF_CORE_READ((struct request___x *)r, rq_disk);
}

static __always_inline int issue(struct request *rq)
{
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&starts, &rq, &ts, BPF_ANY);
	return 0;
}

static __always_inline int complete(struct request *rq, unsigned int nr_bytes)
{
	struct info key = {};
	struct stat zero = {}, *s;
	struct gendisk *disk;
	__u64 *tsp, delta;

	tsp = bpf_map_lookup_elem(&starts, &rq);
	if (!tsp)
		return 0;
	delta = bpf_ktime_get_ns() - *tsp;
	disk = get_disk(rq);
	key.major = BPF_CORE_READ(disk, major);
	key.minor = BPF_CORE_READ(disk, first_minor);
	key.rwflag = (BPF_CORE_READ(rq, cmd_flags) & 0xff) == 1;
	key.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	s = bpf_map_lookup_elem(&counts, &key);
	if (!s) {
		bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&counts, &key);
		if (!s)
			goto out;
	}
	__sync_fetch_and_add(&s->bytes, nr_bytes ? nr_bytes : BPF_CORE_READ(rq, __data_len));
	__sync_fetch_and_add(&s->us, delta / 1000);
	__sync_fetch_and_add(&s->io, 1);
	if (bpf_core_field_exists(rq->io_start_time_ns) && BPF_CORE_READ(rq, io_start_time_ns))
		__sync_fetch_and_add(&s->queued,
				     BPF_CORE_READ(rq, io_start_time_ns) - BPF_CORE_READ(rq, start_time_ns));
out:
	bpf_map_delete_elem(&starts, &rq);
	return 0;
}

HOOK(block_rq_issue, raw_block_rq_issue, issue(rq), struct request *rq)
HOOK(block_rq_complete, raw_block_rq_complete, complete(rq, nr_bytes), struct request *rq,
     int error, unsigned int nr_bytes)

char LICENSE[] SEC("license") = "GPL";
