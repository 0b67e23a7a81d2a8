// `oxbpf check` fixture: CO-RE on a struct whose target layout (check.target.bpf.c, built
// with -DTARGET) renames `port` and removes `flags`. Against that target, uses_port's
// poisoned instruction is reachable (the load fails), guarded_dead's and size_guarded's are
// behind branches CO-RE constants decide (unreachable: the load succeeds), flag_guarded's is
// behind a .rodata flag (unknown to check; the verifier sees 0 and the load succeeds).
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct oxbpf_conn {
	int id;
#ifdef TARGET
	int port_renamed;
#else
	int port;
	long flags;
#endif
	int state;
} __attribute__((preserve_access_index));

#ifdef TARGET
struct oxbpf_conn target_conn;
#else
__u64 out[4];

SEC("syscall")
int uses_port(void *ctx)
{
	out[0] = bpf_core_field_offset(struct oxbpf_conn, port);
	return 0;
}

SEC("syscall")
int guarded(void *ctx)
{
	out[1] = bpf_core_field_exists(struct oxbpf_conn, flags);
	out[2] = bpf_core_field_offset(struct oxbpf_conn, state);
	return 0;
}

/* The poisoned offset of `flags` sits behind its own existence check: dead on the target. */
SEC("syscall")
int guarded_dead(void *ctx)
{
	if (bpf_core_field_exists(struct oxbpf_conn, flags))
		out[3] = bpf_core_field_offset(struct oxbpf_conn, flags);
	return 0;
}

/* The guard is a size relocation: `flags` is a long only in the local layout. */
SEC("syscall")
int size_guarded(void *ctx)
{
	if (bpf_core_field_size(struct oxbpf_conn, state) == 8)
		out[3] = bpf_core_field_offset(struct oxbpf_conn, port);
	return 0;
}

/* Behind a .rodata flag: only the kernel knows it is 0 (frozen map), check cannot. */
const volatile int use_port = 0;

SEC("syscall")
int flag_guarded(void *ctx)
{
	if (use_port)
		out[0] = bpf_core_field_offset(struct oxbpf_conn, port);
	return 0;
}
#endif
