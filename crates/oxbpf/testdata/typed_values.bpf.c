// SPDX-License-Identifier: MIT OR Apache-2.0
// Maps whose keys and values use every kind of type a value formatter must print: structs,
// unions (named and anonymous), arrays (nested, of char: strings or not), enums (signed,
// 64-bit, a value with no name), bitfields (signed, unsigned, trailing), _Bool, a pointer,
// typedef and const/volatile chains; a per-CPU array, an array of enums, an empty hash, a
// ring buffer and global data (.data, a DATASEC value).
//
// One BPF_PROG_RUN of `fill` (SEC("syscall"), no ctx) writes:
//   tasks:   {pid 42, "bash"} and {pid 7, "sshd"}, values below (see fill());
//   per_cpu: [0] = {packets 3, ST_RUN} on the CPU that runs it;
//   states:  [0] = ST_RUN, [1] = ST_DEAD, [2] = 5 (no enumerator), [3] = ST_IDLE;
//   last (.data) = the "sshd" key; returns 0.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum state { ST_IDLE = 0, ST_RUN = 1, ST_DEAD = -2 };
enum wide { W_SMALL = 1, W_HUGE = 0x100000000ULL };

struct task_key {
	__u32 pid;
	char comm[16];
};
typedef struct task_key task_key_t;
typedef const volatile __u32 cv_u32;

struct flags_bits {
	unsigned int ro : 1;
	unsigned int level : 3;
	unsigned int code : 12;
	int neg : 4;
};

union addr {
	__u32 v4;
	__u8 bytes[4];
};

struct task_val {
	__u64 count;
	enum state state;
	struct flags_bits flags;
	union addr addr;
	__s16 temps[3];
	_Bool alive;
	char tag[4];
	char raw[4];
	void *ptr;
	struct {
		__u16 lo, hi;
	} pair;
	union {
		__u32 as_u32;
		__u16 halves[2];
	};
	__u8 grid[2][3];
	cv_u32 chained;
	enum wide wide;
	__u8 tail : 5;
};

struct pcpu_val {
	__u64 packets;
	enum state st;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, task_key_t);
	__type(value, struct task_val);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pcpu_val);
} per_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, enum state);
} states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct task_key);
} empty SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct task_key last = { .pid = 1, .comm = "init" };

static __always_inline void put_state(__u32 i, enum state s)
{
	bpf_map_update_elem(&states, &i, &s, BPF_ANY);
}

SEC("syscall")
int fill(void *ctx)
{
	struct task_key k = { .pid = 42, .comm = "bash" };
	struct task_val v = {
		.count = 1000,
		.state = ST_RUN,
		.flags = { .ro = 1, .level = 5, .code = 0xabc, .neg = -3 },
		.addr = { .v4 = 0x0100007f },
		.temps = { -40, 0, 85 },
		.alive = 1,
		.tag = "ok",
		.raw = { 1, 2, (char)0xff, 0 },
		.ptr = (void *)0xdeadbeef,
		.pair = { .lo = 1, .hi = 2 },
		.as_u32 = 0x00020001,
		.grid = { { 1, 2, 3 }, { 4, 5, 6 } },
		.chained = 77,
		.wide = W_HUGE,
		.tail = 17,
	};
	struct pcpu_val pv = { .packets = 3, .st = ST_RUN };
	__u32 zero = 0;

	bpf_map_update_elem(&tasks, &k, &v, BPF_ANY);
	k.pid = 7;
	__builtin_memcpy(k.comm, "sshd", 5);
	v.count = 1;
	v.state = ST_DEAD;
	v.flags.neg = 7;
	v.alive = 0;
	v.wide = W_SMALL;
	v.tag[0] = 0;
	bpf_map_update_elem(&tasks, &k, &v, BPF_ANY);
	bpf_map_update_elem(&per_cpu, &zero, &pv, BPF_ANY);
	put_state(0, ST_RUN);
	put_state(1, ST_DEAD);
	put_state(2, (enum state)5);
	put_state(3, ST_IDLE);
	last = k;
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
