// SPDX-License-Identifier: MIT OR Apache-2.0
// An object whose BTF uses every kind newer kernels added: FUNC/FUNC_PROTO with global
// linkage (5.0/5.6), VAR/DATASEC (5.2), FLOAT (5.13), DECL_TAG (5.16), TYPE_TAG (5.17) and
// ENUM64 (6.0). The loader must rewrite what a kernel lacks and still load the program.
//
// `btf_kinds` (SEC("syscall")) adds `scaled` (a global subprogram's result) to `total`
// (.bss) and returns it: with the defaults, 3 * 7 + 4 = 25 on the first run.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum big { BIG_ONE = 1, BIG_FAR = 0x100000000ULL };

struct tagged {
	int value __attribute__((btf_decl_tag("oxbpf_member")));
	float ratio;
	double precise;
	enum big size;
	int __attribute__((btf_type_tag("oxbpf_type"))) *ptr;
};

struct tagged sample = { .value = 7, .ratio = 0.5f, .precise = 0.25, .size = BIG_FAR };
const volatile int factor = 3;
__u64 total;

__attribute__((noinline)) __attribute__((btf_decl_tag("oxbpf_func")))
int scaled(int v)
{
	return v * factor + 4;
}

SEC("syscall")
int btf_kinds(void *ctx)
{
	total += scaled(sample.value) + (sample.size == BIG_FAR ? 0 : 1000);
	return total;
}

char LICENSE[] SEC("license") = "GPL";
