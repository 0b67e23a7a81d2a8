// A strong kfunc no kernel has: the load must fail with the bpf_ksym_exists hint.
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

extern int bpf_kfunc_that_does_not_exist(int x) __ksym;

SEC("syscall")
int strong_kfunc(void *ctx)
{
	return bpf_kfunc_that_does_not_exist(1);
}
