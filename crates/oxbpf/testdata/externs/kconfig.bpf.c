// .kconfig externs of every supported type, the LINUX_* virtual ones, weak unknowns.
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_BPF_EVENTS __kconfig;
extern int CONFIG_HZ __kconfig;
extern char CONFIG_LOCALVERSION[16] __kconfig;
extern int CONFIG_OXBPF_NOT_A_CONFIG __kconfig __weak;
extern _Bool CONFIG_KALLSYMS_ALL __kconfig __weak;

__u64 out[10];
char localversion[16];

SEC("syscall")
int kconfig(void *ctx)
{
	out[0] = LINUX_KERNEL_VERSION;
	out[1] = LINUX_HAS_BPF_COOKIE;
	out[2] = LINUX_HAS_SYSCALL_WRAPPER;
	out[3] = CONFIG_BPF_SYSCALL;
	out[4] = CONFIG_BPF_JIT;
	out[5] = CONFIG_BPF_EVENTS;
	out[6] = CONFIG_HZ;
	out[7] = CONFIG_OXBPF_NOT_A_CONFIG;
	out[8] = CONFIG_KALLSYMS_ALL;
	out[9] = 9;
	__builtin_memcpy(localversion, CONFIG_LOCALVERSION, sizeof(localversion));
	return 0;
}
