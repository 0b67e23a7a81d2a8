//! Why `oxbpf run --ctx FILE` was refused with `E2BIG`: the kernel copies its context struct
//! for the program type and requires every byte past it to be zero, so the message names the
//! struct and its size on this kernel (from its BTF) instead of blaming an old kernel.

use oxbpf::btf::Kind;
use oxbpf::spec::ProgramType;

/// The context struct `BPF_PROG_RUN` takes for `t`, if it is a fixed kernel struct.
fn ctx_struct(t: ProgramType) -> Option<&'static str> {
    Some(match t {
        ProgramType::XDP => "xdp_md",
        ProgramType::SCHED_CLS
        | ProgramType::SCHED_ACT
        | ProgramType::SOCKET_FILTER
        | ProgramType::CGROUP_SKB
        | ProgramType::LWT_IN
        | ProgramType::LWT_OUT
        | ProgramType::LWT_XMIT
        | ProgramType::LWT_SEG6LOCAL => "__sk_buff",
        ProgramType::FLOW_DISSECTOR => "bpf_flow_keys",
        ProgramType::SK_LOOKUP => "bpf_sk_lookup",
        _ => return None,
    })
}

/// The explanation for a context of `len` bytes refused with `E2BIG` by a `t` program.
pub fn explain(t: ProgramType, len: usize) -> String {
    let limit = ctx_struct(t).map(|name| {
        let size = oxbpf::btf::kernel::vmlinux().ok().and_then(|b| {
            let id = b.find_by_name_kind(name, Kind::Struct)?;
            b.resolve_size(id).ok()
        });
        match size {
            Some(n) => format!("struct {name} is {n} bytes on this kernel"),
            None => format!("the context is struct {name}"),
        }
    });
    format!(
        "--ctx is {len} bytes, larger than this kernel accepts for a {t} program ({}): \
         bytes past the context struct must be zero (E2BIG); pass at most that many bytes",
        limit.unwrap_or_else(|| "its context struct is smaller".into())
    )
}
