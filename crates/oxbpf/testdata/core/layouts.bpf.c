// CO-RE fixture. Built twice: as is (the program, "local" layouts) and with -DTARGET
// (layouts.target.bpf.c: moved/renamed/removed/resized fields, moved bitfields, changed enum
// values, removed types), whose .BTF is the target and whose `expect` array holds what the
// compiler computes for the target layout.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define OFFSETOF(t, f) __builtin_offsetof(t, f)

#ifndef TARGET
/* Local types: every access to them is relocatable (also plain `s->x` loads). */
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct inner { int x; int y; };
struct core_s {
	int a;
	short b;                 /* target: moved, becomes int */
	unsigned int c;          /* target: becomes unsigned long long (load widened) */
	int removed;             /* target: gone */
	unsigned int bf1 : 3;    /* target: bitfields moved and resized */
	unsigned int bf2 : 7;
	int bf3 : 5;
	struct inner in;         /* target: inside an anonymous struct, reordered */
	int arr[4];              /* target: moved */
	int d;                   /* target: becomes long (signed resize, poisons direct loads) */
	char tail[];             /* flexible array */
};
enum core_e { E_A = 1, E_B = 2, E_GONE = 3 };
enum core_e64 { E64_A = 1, E64_BIG = 2 };
struct gone_s { int x; };
struct match_s { int x; unsigned long y; };
struct amb { int y; };
struct same { int x; };
struct nomatch_s { int x; unsigned long y; };
#pragma clang attribute pop
#else
struct inner { int y; long pad; int x; };
struct core_s {
	long pad0;
	unsigned long long c;
	int b;
	char pad1;
	unsigned long long bf0 : 13;
	unsigned long long bf2 : 9;
	unsigned long long bf1 : 4;
	long bf3 : 6;
	struct {
		long pad2;
		struct inner in;
	};
	int pad3;
	int arr[6];
	long d;
	int a;
	char tail[];
};
enum core_e { E_B = 20, E_A = 10 };
enum core_e64 { E64_A = 7, E64_BIG = 0x123456789aULL };
struct match_s { int x; unsigned long y; long z; };
struct nomatch_s { int x; int y; };
/* Two flavors matching `struct amb` with different offsets: ambiguous. */
struct amb___v1 { int x; int y; };
struct amb___v2 { int y; int x; };
/* Two flavors matching `struct same` identically: fine. */
struct same___v1 { int x; };
struct same___v2 { int x; char c; };
#endif

/* Index of each checked value in `out` (local program) and `expect` (target object). */
enum {
	I_OFF_A, I_OFF_B, I_OFF_C, I_OFF_IN_X, I_OFF_IN_Y, I_OFF_ARR2, I_OFF_TAIL,
	I_SZ_B, I_SZ_C, I_SZ_ARR, I_EX_REMOVED, I_EX_A, I_SIGNED_B, I_SIGNED_BF3, I_SIGNED_C,
	I_BF1, I_BF2, I_BF3, I_BF1_DIRECT, I_BF3_DIRECT, I_VAL_B, I_VAL_C, I_VAL_IN_X, I_VAL_ARR2,
	I_TYPE_EXISTS_GONE, I_TYPE_EXISTS_S, I_TYPE_SIZE_S, I_TYPE_SIZE_INNER, I_MATCHES, I_NOMATCH,
	I_ENUM_EXISTS_GONE, I_ENUM_EXISTS_B, I_ENUM_B, I_ENUM_A, I_ENUM64_BIG, I_REMOVED_OR_DEFAULT,
	N_OUT
};

#ifdef TARGET
/* Shifts the target's type ids away from the local ones. */
struct shift1 { int a; } target_shift1 = { 1 };
struct shift2 { int a; } target_shift2 = { 2 };
#endif

char _license[] SEC("license") = "GPL";
char in[512];
__u64 out[N_OUT];

#ifdef TARGET
/* A sample object in the target layout, and the values the program must read from it. */
struct core_s sample = {
	.a = 11, .b = -1234, .c = 0x12345678, .bf1 = 5, .bf2 = 77, .bf3 = -3,
	.in = { .x = 31, .y = 32 }, .arr = { 40, 41, 42, 43, 44, 45 }, .d = -5,
};
__u64 expect[N_OUT] = {
	[I_OFF_A] = OFFSETOF(struct core_s, a),
	[I_OFF_B] = OFFSETOF(struct core_s, b),
	[I_OFF_C] = OFFSETOF(struct core_s, c),
	[I_OFF_IN_X] = OFFSETOF(struct core_s, in.x),
	[I_OFF_IN_Y] = OFFSETOF(struct core_s, in.y),
	[I_OFF_ARR2] = OFFSETOF(struct core_s, arr[2]),
	[I_OFF_TAIL] = OFFSETOF(struct core_s, tail),
	[I_SZ_B] = sizeof(int),
	[I_SZ_C] = sizeof(unsigned long long),
	[I_SZ_ARR] = sizeof(int[6]),
	[I_EX_REMOVED] = 0,
	[I_EX_A] = 1,
	[I_SIGNED_B] = 1,
	[I_SIGNED_BF3] = 1,
	[I_SIGNED_C] = 0,
	[I_BF1] = 5,
	[I_BF2] = 77,
	[I_BF3] = (__u64)-3,
	[I_BF1_DIRECT] = 5,
	[I_BF3_DIRECT] = (__u64)-3,
	[I_VAL_B] = (__u64)-1234,
	[I_VAL_C] = 0x12345678,
	[I_VAL_IN_X] = 31,
	[I_VAL_ARR2] = 42,
	[I_TYPE_EXISTS_GONE] = 0,
	[I_TYPE_EXISTS_S] = 1,
	[I_TYPE_SIZE_S] = sizeof(struct core_s),
	[I_TYPE_SIZE_INNER] = sizeof(struct inner),
	[I_MATCHES] = 1,
	[I_NOMATCH] = 0,
	[I_ENUM_EXISTS_GONE] = 0,
	[I_ENUM_EXISTS_B] = 1,
	[I_ENUM_B] = E_B,
	[I_ENUM_A] = E_A,
	[I_ENUM64_BIG] = E64_BIG,
	[I_REMOVED_OR_DEFAULT] = 99,
};
/* Keep the target's types in its BTF. */
enum core_e target_e;
enum core_e64 target_e64;
struct match_s target_match;
struct nomatch_s target_nomatch;
struct amb___v1 target_amb1;
struct amb___v2 target_amb2;
struct same___v1 target_same1;
struct same___v2 target_same2;
#else

SEC("syscall")
int core_main(void *ctx)
{
	struct core_s *s = (void *)in;
	int tmp = 0;

	out[I_OFF_A] = bpf_core_field_offset(struct core_s, a);
	out[I_OFF_B] = bpf_core_field_offset(s->b);
	out[I_OFF_C] = bpf_core_field_offset(s->c);
	out[I_OFF_IN_X] = bpf_core_field_offset(s->in.x);
	out[I_OFF_IN_Y] = bpf_core_field_offset(s->in.y);
	out[I_OFF_ARR2] = bpf_core_field_offset(s->arr[2]);
	out[I_OFF_TAIL] = bpf_core_field_offset(s->tail);
	out[I_SZ_B] = bpf_core_field_size(s->b);
	out[I_SZ_C] = bpf_core_field_size(s->c);
	out[I_SZ_ARR] = bpf_core_field_size(s->arr);
	out[I_EX_REMOVED] = bpf_core_field_exists(s->removed);
	out[I_EX_A] = bpf_core_field_exists(s->a);
	out[I_SIGNED_B] = __builtin_preserve_field_info(s->b, BPF_FIELD_SIGNED);
	out[I_SIGNED_BF3] = __builtin_preserve_field_info(s->bf3, BPF_FIELD_SIGNED);
	out[I_SIGNED_C] = __builtin_preserve_field_info(s->c, BPF_FIELD_SIGNED);
	out[I_BF1] = BPF_CORE_READ_BITFIELD_PROBED(s, bf1);
	out[I_BF2] = BPF_CORE_READ_BITFIELD_PROBED(s, bf2);
	out[I_BF3] = BPF_CORE_READ_BITFIELD_PROBED(s, bf3);
	out[I_BF1_DIRECT] = BPF_CORE_READ_BITFIELD(s, bf1);
	out[I_BF3_DIRECT] = BPF_CORE_READ_BITFIELD(s, bf3);
	/* Direct loads: LDX offsets relocated, widths adjusted (short -> int is signed: poison,
	 * so b is read through bpf_core_read, which relocates the offset and size). */
	bpf_core_read(&tmp, sizeof(tmp), &s->b);
	out[I_VAL_B] = (__u64)(long)(short)tmp;
	out[I_VAL_C] = s->c;
	out[I_VAL_IN_X] = s->in.x;
	out[I_VAL_ARR2] = s->arr[2];
	out[I_TYPE_EXISTS_GONE] = bpf_core_type_exists(struct gone_s);
	out[I_TYPE_EXISTS_S] = bpf_core_type_exists(struct core_s);
	out[I_TYPE_SIZE_S] = bpf_core_type_size(struct core_s);
	out[I_TYPE_SIZE_INNER] = bpf_core_type_size(struct inner);
	out[I_MATCHES] = bpf_core_type_matches(struct match_s);
	out[I_NOMATCH] = bpf_core_type_matches(struct nomatch_s);
	out[I_ENUM_EXISTS_GONE] = bpf_core_enum_value_exists(enum core_e, E_GONE);
	out[I_ENUM_EXISTS_B] = bpf_core_enum_value_exists(enum core_e, E_B);
	out[I_ENUM_B] = bpf_core_enum_value(enum core_e, E_B);
	out[I_ENUM_A] = bpf_core_enum_value(enum core_e, E_A);
	out[I_ENUM64_BIG] = bpf_core_enum_value(enum core_e64, E64_BIG);
	/* Guarded access to a removed field: poisoned, but dead code. */
	if (bpf_core_field_exists(s->removed))
		out[I_REMOVED_OR_DEFAULT] = s->removed;
	else
		out[I_REMOVED_OR_DEFAULT] = 99;
	return 0;
}

/* Type ids: local and target. */
__u64 ids[2];

SEC("syscall")
int core_ids(void *ctx)
{
	ids[0] = bpf_core_type_id_local(struct core_s);
	ids[1] = bpf_core_type_id_kernel(struct core_s);
	return 0;
}

/* Unguarded read of a removed field: poisoned and reachable, so the load fails. */
SEC("syscall")
int core_poison_live(void *ctx)
{
	struct core_s *s = (void *)in;

	out[0] = s->removed;
	return 0;
}

/* A signed field that changed size, loaded directly: the width cannot be adjusted. */
SEC("syscall")
int core_poison_memsz(void *ctx)
{
	struct core_s *s = (void *)in;

	out[0] = s->d;
	return 0;
}
/* Candidates disagree: an error, not a silent pick. */
SEC("syscall")
int core_ambiguous(void *ctx)
{
	out[0] = bpf_core_field_offset(struct amb, y);
	return 0;
}

/* Candidates agree: fine. */
SEC("syscall")
int core_same(void *ctx)
{
	out[0] = bpf_core_field_offset(struct same, x);
	return 0;
}
#endif
