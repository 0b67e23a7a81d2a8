// SPDX-License-Identifier: MIT OR Apache-2.0
// bpf-to-bpf calls (static and global subprograms), a bpf_loop callback and tail calls
// through a prog_array initialised with __array(values, ...).
//
// BPF_PROG_RUN of `calls_entry` with a packet of LEN bytes writes into `results`:
//   [0] = add3(LEN)               static __noinline subprog (LEN + 3)
//   [1] = global_mul([0], 2)      global subprog (verified on its own)
//   [2] = sum of 0..9 = 45        via a bpf_loop callback
//   [5] = 10                      bpf_loop's return value (iterations run)
//   [6] = twice_add3(LEN) = 2*(LEN+3)  a static subprog that calls another subprog
// then tail-calls jmp_table[0] = tail_a, which sets [3] = 0xa and tail-calls
// jmp_table[2] = tail_b, which sets [4] = 0xb and returns XDP_PASS.
// Return codes tell where it stopped: XDP_DROP (entry's tail call failed),
// XDP_TX (tail_a's tail call failed), XDP_PASS (both tail calls ran).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

int tail_a(struct xdp_md *ctx);
int tail_b(struct xdp_md *ctx);

/* Prog arrays take sizes, not BTF key/value types: the kernel refuses BTF for them. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jmp_table SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_a,
		[2] = (void *)&tail_b,
	},
};

static __noinline void set_result(__u32 idx, __u64 val)
{
	bpf_map_update_elem(&results, &idx, &val, BPF_ANY);
}

static __noinline __u64 add3(__u64 x)
{
	return x + 3;
}

static __noinline __u64 twice_add3(__u64 x)
{
	return add3(x) * 2;
}

__noinline int global_mul(int x, int y)
{
	return x * y;
}

struct loop_ctx {
	__u64 sum;
};

static int loop_cb(__u32 idx, void *data)
{
	struct loop_ctx *c = data;

	c->sum += idx;
	return 0;
}

SEC("xdp")
int calls_entry(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	struct loop_ctx lc = { .sum = 0 };
	__u64 a;
	long n;

	a = add3(len);
	set_result(0, a);
	set_result(1, global_mul((int)a, 2));
	n = bpf_loop(10, loop_cb, &lc, 0);
	set_result(2, lc.sum);
	set_result(5, n);
	set_result(6, twice_add3(len));

	bpf_tail_call(ctx, &jmp_table, 0);
	return XDP_DROP;
}

SEC("xdp")
int tail_a(struct xdp_md *ctx)
{
	set_result(3, 0xa);
	bpf_tail_call(ctx, &jmp_table, 2);
	return XDP_TX;
}

SEC("xdp")
int tail_b(struct xdp_md *ctx)
{
	set_result(4, 0xb);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
