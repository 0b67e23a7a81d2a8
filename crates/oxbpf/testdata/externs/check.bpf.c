// `oxbpf check` fixture: CO-RE on a struct whose target layout (check.target.bpf.c, built
// with -DTARGET) renames `port` and removes `flags`.
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
#endif
