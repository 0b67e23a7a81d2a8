// Typed ksyms: per-CPU kernel variables through BPF_PSEUDO_BTF_ID (the kernel resolves their
// addresses with kallsyms, so it needs CONFIG_KALLSYMS_ALL for data symbols).
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct rq {
	int cpu;
} __attribute__((preserve_access_index));

extern const struct rq runqueues __ksym;
extern const int bpf_prog_active __ksym;

__u64 out[4];

SEC("syscall")
int ksyms_typed(void *ctx)
{
	const struct rq *this_rq = bpf_this_cpu_ptr(&runqueues);
	const struct rq *rq1 = bpf_per_cpu_ptr(&runqueues, 1);
	const int *active = bpf_this_cpu_ptr(&bpf_prog_active);

	out[0] = this_rq->cpu;
	out[1] = bpf_get_smp_processor_id();
	out[2] = rq1 ? rq1->cpu : 12345;
	out[3] = *active >= 0;
	return 0;
}
