//! Why `perf_event_open` (tracepoints, kprobes, uprobes) was refused: the capability the
//! kernel wants for the event type, a user namespace (perf events are not covered by BPF
//! tokens), or `kernel.perf_event_paranoid` / a policy. Measured on v6.18 with
//! `perf_event_paranoid=2`: a tracepoint event needs `CAP_PERFMON`; the kprobe and uprobe
//! PMUs need `CAP_SYS_ADMIN`.

use crate::sys::caps::{Cap, CapSet};
use crate::sys::perm::in_user_namespace;

/// The capability `perf_event_open` wants for an event of perf type `type_`.
fn required(type_: u32) -> Cap {
    if type_ == super::perf::PERF_TYPE_TRACEPOINT {
        Cap::Perfmon
    } else {
        Cap::SysAdmin
    }
}

/// The hint for a refused perf event of perf type `type_` (or for unreadable tracefs).
pub(crate) fn hint(type_: u32) -> String {
    let need = required(type_);
    if in_user_namespace() {
        return format!(
            "this process runs in a user namespace: perf events need {need} in the initial \
             user namespace and a BPF token does not cover perf_event_open or tracefs; attach \
             a raw tracepoint (BPF_RAW_TRACEPOINT_OPEN) instead, which the token allows"
        );
    }
    let caps = CapSet::effective().unwrap_or_default();
    if !caps.satisfies(need) {
        let root = unsafe { libc::geteuid() } == 0;
        return format!(
            "this event needs {need}, which this process lacks{}",
            if root {
                " (running as root, but the capability was dropped)"
            } else {
                ""
            }
        );
    }
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "this process holds {need}; kernel.perf_event_paranoid={paranoid}, lockdown or a \
         security module (LSM) refused it"
    )
}

/// Wraps a refused (`EACCES`/`EPERM`) perf or tracefs operation with its hint; other errors
/// stay plain I/O errors.
pub(crate) fn refused(what: String, source: std::io::Error, type_: u32) -> super::LinkError {
    match source.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => super::LinkError::PerfRefused {
            what,
            source,
            hint: hint(type_),
        },
        _ => super::LinkError::Io { what, source },
    }
}
