// SPDX-License-Identifier: MIT OR Apache-2.0
// Pinned state of examples/pin_counter.rs: `runs` is pinned by name, so every process that
// loads this object gets the same map (and its contents) until the pin is removed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} runs SEC(".maps");

/* Run by BPF_PROG_RUN from user space: a syscall program needs no hook. */
SEC("syscall")
int count_run(void *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&runs, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
