// SPDX-License-Identifier: MIT OR Apache-2.0
// Global variables in .data, .rodata, .bss, .data.foo and .rodata.bar.
//
// Each BPF_PROG_RUN of `global_data` (SEC("syscall"), no ctx needed) does:
//   runs += 1                                                  (.bss)
//   result = data_val * cfg_mult + cfg_add + foo_val + bar_val  (.bss)
//   data_val += 1                                              (.data, so the next run sees it)
//   echo[i] = cfg_name[i] for i < 8                            (.rodata -> .bss)
//   returns cfg_ret.
// Defaults: data_val=7, cfg_mult=1, cfg_add=0, foo_val=11, bar_val=13 → first result 31.
// Tests may rewrite .rodata (cfg_*) before load and read .bss/.data after.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* .rodata: set by user space before load, frozen after. */
const volatile __u64 cfg_mult = 1;
const volatile __u64 cfg_add = 0;
const volatile __u32 cfg_ret = 0;
const volatile char cfg_name[8] = "oxbpf";

/* .data */
__u64 data_val = 7;

/* .bss */
__u64 runs;
__u64 result;
char echo[8];

/* custom sections: each becomes its own map. */
__u64 foo_val SEC(".data.foo") = 11;
const volatile __u64 bar_val SEC(".rodata.bar") = 13;

SEC("syscall")
int global_data(void *ctx)
{
	int i;

	runs += 1;
	result = data_val * cfg_mult + cfg_add + foo_val + bar_val;
	data_val += 1;
	for (i = 0; i < 8; i++)
		echo[i] = cfg_name[i];
	return cfg_ret;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
