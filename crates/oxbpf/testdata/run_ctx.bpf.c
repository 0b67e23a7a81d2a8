// SPDX-License-Identifier: MIT OR Apache-2.0
// A syscall program that writes its context: `oxbpf run --ctx` must hand back the context
// the kernel wrote in place. `out` becomes twice `in`; the program returns `in + 1`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct args {
	__u32 in;
	__u32 out;
};

SEC("syscall")
int double_in(struct args *a)
{
	a->out = a->in * 2;
	return a->in + 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
