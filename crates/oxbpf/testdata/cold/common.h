/* Shared by the cold-load benchmark fixtures: the few kernel types they read, declared
 * with preserve_access_index (CO-RE finds the real layouts in the kernel's BTF), plus the
 * older layouts as `___flavour` types, the way CO-RE tools handle renamed fields. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define PAI __attribute__((preserve_access_index))

struct task_struct {
	unsigned int __state;
	int pid;
	int tgid;
	char comm[16];
} PAI;

/* Before v5.14 the task state was `long state`. */
struct task_struct___o {
	volatile long state;
} PAI;

struct gendisk {
	int major;
	int first_minor;
	char disk_name[32];
} PAI;

struct request_queue {
	struct gendisk *disk;
} PAI;

struct request {
	struct request_queue *q;
	unsigned int cmd_flags;
	unsigned int __data_len;
	unsigned long long start_time_ns;
	unsigned long long io_start_time_ns;
} PAI;

/* Before v5.17 a request named its disk directly. */
struct request___x {
	struct gendisk *rq_disk;
} PAI;

struct in6_addr {
	union {
		unsigned char u6_addr8[16];
		unsigned int u6_addr32[4];
	} in6_u;
} PAI;

struct sock_common {
	unsigned int skc_daddr;
	unsigned int skc_rcv_saddr;
	unsigned short skc_dport;
	unsigned short skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} PAI;

struct sock {
	struct sock_common __sk_common;
	unsigned int sk_rcvbuf;
	unsigned short sk_protocol;
} PAI;

struct inet_sock {
	struct sock sk;
	unsigned short inet_sport;
} PAI;

struct tcp_sock {
	unsigned int srtt_us;
	unsigned int snd_cwnd;
	unsigned int mss_cache;
	unsigned int total_retrans;
} PAI;

static __always_inline unsigned int task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___o *)t, state);
}

/* One hook as a tp_btf program named after the tracepoint and as a raw_tp program named
 * `raw`, both returning `body`: libbpf-tools ship both and pick one at run time. */
#define HOOK(tp, raw, body, ...)                              \
	SEC("tp_btf/" #tp) int BPF_PROG(tp, __VA_ARGS__)      \
	{                                                     \
		return body;                                  \
	}                                                     \
	SEC("raw_tp/" #tp) int BPF_PROG(raw, __VA_ARGS__)     \
	{                                                     \
		return body;                                  \
	}
