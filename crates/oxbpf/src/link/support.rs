//! Picking the attach mechanism by trying, never by kernel version.
//!
//! Every hook with both a `bpf_link` and a legacy path goes through `link_or_legacy`: try
//! `BPF_LINK_CREATE`; if the kernel answers "unknown" (`EINVAL`, `EOPNOTSUPP`, `ENOTSUPP`,
//! `E2BIG`) and it was not already seen to work for that attach type, run the legacy path.
//! The answer is cached per attach type for the process: "yes" as soon as a link is created,
//! "no" only once the legacy path has succeeded after such a refusal — so a genuine `EINVAL`
//! (bad flags, wrong program type) never switches a working kernel to the fallback.

use super::LinkError;
use crate::spec::AttachType;
use crate::sys::SysError;
use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;
const SLOTS: usize = 64;

/// Per attach type: does `BPF_LINK_CREATE` work for it?
static LINK_SUPPORT: [AtomicU8; SLOTS] = [const { AtomicU8::new(UNKNOWN) }; SLOTS];

/// Which mechanism an attach function may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mechanism {
    /// A `bpf_link` where the kernel has one for the hook, else the legacy path.
    #[default]
    Auto,
    /// `bpf_link` only.
    Link,
    /// The legacy path only (netlink, `BPF_PROG_ATTACH`, perf ioctl, ...).
    Legacy,
}

fn slot(t: AttachType) -> Option<&'static AtomicU8> {
    LINK_SUPPORT.get(t.0 as usize)
}

/// What this process has learned about links for `t`: `Some(true)` created one,
/// `Some(false)` the kernel refused and the legacy path worked, `None` not tried yet.
pub fn link_known(t: AttachType) -> Option<bool> {
    match slot(t)?.load(Ordering::Relaxed) {
        YES => Some(true),
        NO => Some(false),
        _ => None,
    }
}

fn remember(t: AttachType, yes: bool) {
    if let Some(s) = slot(t) {
        s.store(if yes { YES } else { NO }, Ordering::Relaxed);
    }
}

/// Runs `link` or `legacy` as described in the module docs. `what` describes the attach in
/// errors (e.g. `"attach tc ingress to veth0"`).
pub(crate) fn link_or_legacy<T>(
    t: AttachType,
    mech: Mechanism,
    what: impl Fn() -> String,
    link: impl FnOnce() -> Result<T, SysError>,
    legacy: impl FnOnce() -> Result<T, LinkError>,
) -> Result<T, LinkError> {
    if mech == Mechanism::Legacy || (mech == Mechanism::Auto && link_known(t) == Some(false)) {
        return legacy();
    }
    match link() {
        Ok(v) => {
            remember(t, true);
            Ok(v)
        }
        Err(e) if e.is_unsupported() && mech == Mechanism::Auto && link_known(t) != Some(true) => {
            tracing::debug!("{}: bpf_link refused ({e}); trying the legacy path", what());
            match legacy() {
                Ok(v) => {
                    remember(t, false);
                    Ok(v)
                }
                Err(l) => Err(LinkError::Fallback {
                    what: what(),
                    link: e,
                    legacy: Box::new(l),
                }),
            }
        }
        Err(e) if e.is_unsupported() && mech == Mechanism::Link && link_known(t) != Some(true) => {
            let (feature, min_kernel) = link_feature(t);
            tracing::debug!("{}: bpf_link refused: {e}", what());
            Err(LinkError::NotSupported {
                feature,
                min_kernel,
                hint:
                    "the kernel refused BPF_LINK_CREATE for this hook; use Mechanism::Auto to fall \
                       back to the legacy attach path",
            })
        }
        Err(source) => Err(LinkError::Sys {
            what: format!("{} via bpf_link", what()),
            source,
        }),
    }
}

/// The link kind for `t` and the first kernel release that has it (documentation for errors;
/// decisions are made by trying).
fn link_feature(t: AttachType) -> (&'static str, &'static str) {
    use AttachType as A;
    match t {
        A::TCX_INGRESS | A::TCX_EGRESS => ("tcx bpf_link", "v6.6"),
        A::NETKIT_PRIMARY | A::NETKIT_PEER => ("netkit bpf_link", "v6.7"),
        A::SK_MSG_VERDICT
        | A::SK_SKB_STREAM_PARSER
        | A::SK_SKB_STREAM_VERDICT
        | A::SK_SKB_VERDICT => ("sockmap bpf_link", "v6.10"),
        A::XDP => ("XDP bpf_link", "v5.9"),
        A::SK_LOOKUP => ("sk_lookup bpf_link", "v5.9"),
        A::FLOW_DISSECTOR => ("netns bpf_link", "v5.8"),
        A::PERF_EVENT => ("perf_event bpf_link", "v5.15"),
        A::TRACE_KPROBE_MULTI => ("kprobe.multi bpf_link", "v5.18"),
        A::TRACE_UPROBE_MULTI => ("uprobe.multi bpf_link", "v6.6"),
        A::NETFILTER => ("netfilter bpf_link", "v6.4"),
        A::TRACE_RAW_TP | A::TRACE_FENTRY | A::TRACE_FEXIT | A::MODIFY_RETURN | A::LSM_MAC => {
            ("tracing bpf_link via BPF_LINK_CREATE", "v5.10")
        }
        _ if t.name().is_some_and(|n| n.starts_with("cgroup")) => ("cgroup bpf_link", "v5.7"),
        _ => ("bpf_link for this attach type", "a newer kernel"),
    }
}

/// Forgets every cached answer (tests that fake an old kernel with fault injection).
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub fn reset_link_probes() {
    for s in &LINK_SUPPORT {
        s.store(UNKNOWN, Ordering::Relaxed);
    }
}

/// Builds the `BPF_LINK_CREATE` attribute: `extra` words are written as 32-bit fields at
/// byte offsets into the command's trailing union.
pub(crate) fn link_create_attr(
    prog: i32,
    target: u32,
    t: AttachType,
    flags: u32,
    fields32: &[(usize, u32)],
    fields64: &[(usize, u64)],
) -> crate::sys::attr::LinkCreateAttr {
    let mut bytes = [0u8; 48];
    for &(off, v) in fields32 {
        bytes[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    for &(off, v) in fields64 {
        bytes[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
    let mut extra = [0u64; 6];
    for (i, w) in extra.iter_mut().enumerate() {
        *w = u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    }
    crate::sys::attr::LinkCreateAttr {
        prog_fd: prog as u32,
        target_fd: target,
        attach_type: t.0,
        flags,
        extra,
    }
}
