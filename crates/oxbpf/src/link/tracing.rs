//! Raw tracepoints and BTF-typed tracing programs (tp_btf, fentry, fexit, fmod_ret, lsm).
//!
//! * raw_tracepoint: `BPF_RAW_TRACEPOINT_OPEN` with the tracepoint name (every kernel with
//!   raw tracepoints; the result is a link fd).
//! * BTF-typed: `BPF_LINK_CREATE` with the program's attach type (the target was fixed at load
//!   by `attach_btf_id`), falling back to `BPF_RAW_TRACEPOINT_OPEN` without a name on kernels
//!   whose `BPF_LINK_CREATE` does not take tracing programs.
//!
//! Kernels in lockdown (integrity or confidentiality) refuse trampoline-based programs
//! (fentry/fexit/fmod_ret/lsm) with `EPERM`, usually already at load; the error says so.

use super::support::{link_create_attr, link_or_legacy, Mechanism};
use super::{Link, LinkError};
use crate::spec::AttachType;
use crate::sys;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The kernel lockdown mode (`none`, `integrity`, `confidentiality`), when securityfs shows it.
pub fn lockdown_mode() -> Option<String> {
    let s = std::fs::read_to_string("/sys/kernel/security/lockdown").ok()?;
    // "none [integrity] confidentiality"
    let start = s.find('[')? + 1;
    let end = s[start..].find(']')? + start;
    Some(s[start..end].to_string())
}

/// Explains an `EPERM` from a tracing attach or load: lockdown, or missing privileges.
pub fn explain_eperm(what: &str) -> String {
    match lockdown_mode().as_deref() {
        Some(m) if m != "none" => format!(
            "{what}: refused by the kernel (lockdown={m}: trampoline programs such as fentry/fexit/fmod_ret/lsm are not allowed)"
        ),
        Some(_) => format!("{what}: operation not permitted (needs CAP_BPF + CAP_PERFMON, or root)"),
        None => format!(
            "{what}: operation not permitted (needs CAP_BPF + CAP_PERFMON; kernel lockdown, which refuses trampoline programs, may be on: check /sys/kernel/security/lockdown)"
        ),
    }
}

/// Attaches the `raw_tracepoint` program `prog` to raw tracepoint `name` (e.g. `"sys_enter"`).
///
/// ```no_run
/// use oxbpf::link::attach_raw_tracepoint;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("raw_tracepoint/sys_enter") int on_enter(struct bpf_raw_tracepoint_args *ctx) { ... }
/// let prog = &coll.programs()["on_enter"];
/// let _link = attach_raw_tracepoint(prog.fd(), "sys_enter")?; // detached when dropped
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_raw_tracepoint(prog: BorrowedFd, name: &str) -> Result<Link, LinkError> {
    sys::raw_tracepoint_open(Some(name), prog)
        .map(Link::from_fd)
        .map_err(|source| LinkError::Sys {
            what: format!("attach raw tracepoint {name}"),
            source,
        })
}

/// Attaches a BTF-typed tracing program (tp_btf: `TRACE_RAW_TP`, fentry: `TRACE_FENTRY`,
/// fexit: `TRACE_FEXIT`, fmod_ret: `MODIFY_RETURN`, lsm: `LSM_MAC`) loaded with
/// `expected_attach_type = attach_type`, at the target chosen at load. `cookie` is what
/// `bpf_get_attach_cookie()` returns (link path, v5.19+; 0 for none).
///
/// ```no_run
/// use oxbpf::link::{attach_btf_tracing, Mechanism};
/// use oxbpf::spec::AttachType;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("tp_btf/sched_process_exec") int BPF_PROG(on_exec, struct task_struct *p, ...) { ... }
/// // The target was resolved in the kernel's BTF at load, from the section name.
/// let prog = &coll.programs()["on_exec"];
/// let _link = attach_btf_tracing(prog.fd(), AttachType::TRACE_RAW_TP, 0, Mechanism::Auto)?;
/// // fentry/fexit: AttachType::TRACE_FENTRY / TRACE_FEXIT (refused under kernel lockdown).
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_btf_tracing(
    prog: BorrowedFd,
    attach_type: AttachType,
    cookie: u64,
    mechanism: Mechanism,
) -> Result<Link, LinkError> {
    let what = || format!("attach {attach_type} program");
    let r = link_or_legacy(
        attach_type,
        mechanism,
        what,
        || {
            // link_create.tracing: target_btf_id (0: the load-time target), then the cookie
            // at offset 8; tp_btf links (v6.10+) read the same field.
            let attr = link_create_attr(prog.as_raw_fd(), 0, attach_type, 0, &[], &[(8, cookie)]);
            sys::link_create(&attr).map(Link::from_fd)
        },
        || {
            sys::raw_tracepoint_open(None, prog)
                .map(Link::from_fd)
                .map_err(|source| LinkError::Sys {
                    what: format!("{} via BPF_RAW_TRACEPOINT_OPEN", what()),
                    source,
                })
        },
    );
    r.map_err(|e| match e.errno() {
        Some(libc::EPERM) => LinkError::Invalid {
            what: what(),
            reason: explain_eperm("attach")
                .trim_start_matches("attach: ")
                .to_string(),
        },
        _ => e,
    })
}
