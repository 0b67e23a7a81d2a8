// xtask: cflags=-mcpu=v4
// SPDX-License-Identifier: MIT OR Apache-2.0
// Built with -mcpu=v4 so clang emits ISA v4 instructions: sign-extending loads and moves,
// signed division/modulo, unconditional bswap, 32-bit-offset gotol, and may_goto.
//
// BPF_PROG_RUN of `isa_v4` (XDP) with a packet of at least 16 bytes writes into `out`:
//   [0] = (s64)(s8)pkt[14]           sign-extending byte load
//   [1] = (s64)(s16)load16(pkt+14)   sign-extending half load (host order)
//   [2] = sdiv_in / -3               signed division (sdiv_in from rodata, default -100 → 33)
//   [3] = sdiv_in % 7                signed modulo (-100 % 7 = -2)
//   [4] = bswap64(sdiv_in) (default 0x9cffffffffffffff)
//   [5] = number of may_goto-bounded loop iterations (loop of 5)
// and returns XDP_PASS.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __s64 sdiv_in = -100;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} out SEC(".maps");

static __always_inline void put(__u32 idx, __s64 val)
{
	bpf_map_update_elem(&out, &idx, &val, BPF_ANY);
}

static __noinline __s64 may_goto_loop(void)
{
	__s64 n = 0;

	/* Counts to 5; may_goto lets the verifier bound the loop. */
	asm volatile("%[n] = 0;"
		     "1:"
		     "may_goto 2f;"
		     "%[n] += 1;"
		     "if %[n] < 5 goto 1b;"
		     "2:"
		     : [n] "+r"(n));
	return n;
}

SEC("xdp")
int isa_v4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile __s8 *b = data + 14;
	volatile __s16 *h = data + 14;
	__s64 x = sdiv_in;

	if (data + 16 > data_end)
		return XDP_ABORTED;
	put(0, *b);
	put(1, *h);
	put(2, x / -3);
	put(3, x % 7);
	put(4, __builtin_bswap64(x));
	put(5, may_goto_loop());
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
