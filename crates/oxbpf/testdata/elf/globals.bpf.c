// SPDX-License-Identifier: GPL-2.0
// ELF reader fixture: every kind of global data section, static and global variables, string literals.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int data_var = 7;
__u64 data_arr[3] = { 1, 2, 3 };
const volatile __u32 ro_var = 42;
const volatile char ro_name[8] = "oxbpf";
__u64 bss_counter;
__u32 bss_arr[4];
static __u32 static_data = 5;
static volatile __u64 static_bss;
int custom_data SEC(".data.custom") = 11;
const volatile int custom_ro SEC(".rodata.custom") = 13;

SEC("xdp")
int touch_globals(struct xdp_md *ctx)
{
	bss_counter += data_var + ro_var + data_arr[2] + ro_name[1];
	bss_arr[2] = static_data++;
	static_bss = custom_data + custom_ro;
	bpf_printk("globals %d", bss_arr[2]);
	return XDP_PASS;
}
