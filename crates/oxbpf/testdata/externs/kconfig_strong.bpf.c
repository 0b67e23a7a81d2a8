// A strong kconfig extern no kernel sets: the load must fail.
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

extern int CONFIG_OXBPF_NOT_A_CONFIG __kconfig;

int out;

SEC("syscall")
int kconfig_strong(void *ctx)
{
	out = CONFIG_OXBPF_NOT_A_CONFIG;
	return 0;
}
