// xtask: cflags=-mcpu=v4
// SPDX-License-Identifier: MIT OR Apache-2.0
// Disassembler coverage only: naked functions whose inline assembly uses (nearly) every
// instruction encoding, so a disassembler can be compared with llvm-objdump instruction by
// instruction. Not meant to pass the verifier.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cov_map SEC(".maps");

__u64 cov_var;

#define ALU(op) \
	"r1 " op " 5;" "r1 " op " -7;" "r1 " op " r2;" "w1 " op " 5;" "w1 " op " w2;"

#define JMP(op) \
	"if r1 " op " 3 goto +1;" "if r1 " op " r2 goto +1;" \
	"if w1 " op " 3 goto +1;" "if w1 " op " w2 goto -1;"

SEC("socket")
__attribute__((naked)) int cov_alu(void)
{
	asm volatile(
		ALU("+=") ALU("-=") ALU("*=") ALU("/=") ALU("|=") ALU("&=")
		ALU("<<=") ALU(">>=") ALU("%=") ALU("^=") ALU("s>>=")
		ALU("s/=") ALU("s%=")
		"r1 = 5;" "r1 = -1;" "r1 = r2;" "w1 = 5;" "w1 = w2;"
		"r1 = -r1;" "w1 = -w1;"
		"r1 = (s8)r2;" "r1 = (s16)r2;" "r1 = (s32)r2;"
		"w1 = (s8)w2;" "w1 = (s16)w2;"
		"r1 = be16 r1;" "r1 = be32 r1;" "r1 = be64 r1;"
		"r1 = le16 r1;" "r1 = le32 r1;" "r1 = le64 r1;"
		"r1 = bswap16 r1;" "r1 = bswap32 r1;" "r1 = bswap64 r1;"
		"r1 = 0x123456789abcdef0 ll;"
		"r0 = 0;"
		"exit;");
}

SEC("socket")
__attribute__((naked)) int cov_mem(void)
{
	asm volatile(
		"r1 = *(u8 *)(r2 + 1);" "r1 = *(u16 *)(r2 - 2);" "r1 = *(u32 *)(r2 + 4);"
		"r1 = *(u64 *)(r10 - 8);"
		"r1 = *(s8 *)(r2 + 1);" "r1 = *(s16 *)(r2 + 2);" "r1 = *(s32 *)(r2 + 4);"
		"*(u8 *)(r10 - 1) = r1;" "*(u16 *)(r10 - 2) = r1;" "*(u32 *)(r10 - 4) = r1;"
		"*(u64 *)(r10 - 8) = r1;"
		"*(u8 *)(r10 - 1) = 1;" "*(u16 *)(r10 - 2) = -2;" "*(u32 *)(r10 - 4) = 3;"
		"*(u64 *)(r10 - 8) = 4;"
		"r0 = *(u8 *)skb[12];" "r0 = *(u16 *)skb[12];" "r0 = *(u32 *)skb[12];"
		"r0 = *(u8 *)skb[r1];" "r0 = *(u16 *)skb[r1];" "r0 = *(u32 *)skb[r1];"
		"r0 = 0;"
		"exit;");
}

SEC("socket")
__attribute__((naked)) int cov_atomic(void)
{
	asm volatile(
		"lock *(u64 *)(r1 + 8) += r2;" "lock *(u32 *)(r1 + 4) += w2;"
		"lock *(u64 *)(r1 + 8) |= r2;" "lock *(u32 *)(r1 + 4) |= w2;"
		"lock *(u64 *)(r1 + 8) &= r2;" "lock *(u32 *)(r1 + 4) &= w2;"
		"lock *(u64 *)(r1 + 8) ^= r2;" "lock *(u32 *)(r1 + 4) ^= w2;"
		"r2 = atomic_fetch_add((u64 *)(r1 + 8), r2);"
		"w2 = atomic_fetch_add((u32 *)(r1 + 4), w2);"
		"r2 = atomic_fetch_or((u64 *)(r1 + 8), r2);"
		"w2 = atomic_fetch_or((u32 *)(r1 + 4), w2);"
		"r2 = atomic_fetch_and((u64 *)(r1 + 8), r2);"
		"w2 = atomic_fetch_and((u32 *)(r1 + 4), w2);"
		"r2 = atomic_fetch_xor((u64 *)(r1 + 8), r2);"
		"w2 = atomic_fetch_xor((u32 *)(r1 + 4), w2);"
		"r2 = xchg_64(r1 + 8, r2);"
		"w2 = xchg32_32(r1 + 4, w2);"
		"r0 = cmpxchg_64(r1 + 8, r0, r2);"
		"w0 = cmpxchg32_32(r1 + 4, w0, w2);"
		"r0 = 0;"
		"exit;");
}

SEC("socket")
__attribute__((naked)) int cov_jmp(void)
{
	asm volatile(
		JMP("==") JMP("!=") JMP(">") JMP(">=") JMP("<") JMP("<=")
		JMP("s>") JMP("s>=") JMP("s<") JMP("s<=") JMP("&")
		"goto +0;"
		"gotol +1;"
		"may_goto +0;"
		"call 1;"
		"call 5;"
		"call 181;"
		"call cov_sub;"
		"callx r1;"
		"r1 = %[map] ll;"
		"r1 = %[var] ll;"
		"r0 = 0;"
		"exit;"
		:
		: [map] "i"(&cov_map), [var] "i"(&cov_var));
}

__attribute__((naked, noinline)) int cov_sub(void)
{
	asm volatile("r0 = 1;" "exit;");
}

char LICENSE[] SEC("license") = "GPL";
