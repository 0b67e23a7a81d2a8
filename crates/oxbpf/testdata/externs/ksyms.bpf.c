// Typeless ksyms (addresses from /proc/kallsyms) and weak missing ksyms, typed and
// typeless (both 0).
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

extern const void bpf_prog_put __ksym;
extern const void oxbpf_no_such_symbol __ksym __weak;
extern const int oxbpf_no_such_var __ksym __weak;

__u64 out[4];

SEC("syscall")
int ksyms(void *ctx)
{
	out[0] = (__u64)&bpf_prog_put;
	out[1] = (__u64)&oxbpf_no_such_symbol;
	out[2] = (__u64)&oxbpf_no_such_var;
	out[3] = 3;
	return 0;
}
