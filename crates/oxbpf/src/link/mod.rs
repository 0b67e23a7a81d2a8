//! Attachments: [`Link`] (a `bpf_link` fd or a netlink attachment, detached on drop) and the
//! per-hook attach functions ([`attach_xdp`], ...).

mod base;
pub mod cgroup;
mod legacy;
pub mod netkit;
pub mod perf;
mod perf_perm;
pub mod probe;
pub mod sock;
pub mod support;
pub mod tc;
pub mod tracing;
pub mod xdp;
mod xdp_query;

pub use base::{AttachPath, Link, LinkInfo, LinkTarget};
pub use cgroup::{attach_cgroup, open_cgroup, query_attached, CgroupAttachMode, CgroupOptions};
pub use netkit::{attach_netkit, NetkitSide};
pub use perf::{attach_tracepoint, tracefs, tracepoint_id, PerfOptions};
pub use probe::{
    attach_kprobe, attach_kprobe_multi, attach_uprobe, symbol_offset, UprobeOptions, UprobeTarget,
};
pub use sock::{attach_netns, attach_socket_filter, attach_sockmap, open_netns};
pub use support::Mechanism;
pub use tc::{
    attach_tc, query_tc, TcAnchor, TcDirection, TcInfo, TcLink, TcOptions, TcOrder, TcxEntry,
};
pub use tracing::{attach_btf_tracing, attach_raw_tracepoint, lockdown_mode};
pub use xdp::{attach_xdp, xdp_link_supported, XdpLink, XdpMode, XdpOptions, XdpPath};
pub use xdp_query::{query_xdp, XdpAttached, XdpInfo};

use crate::netlink::NetlinkError;
use crate::sys::SysError;
use std::path::PathBuf;

/// Errors from this module.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A `bpf(2)` call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The failed call.
        source: SysError,
    },
    /// A netlink request failed (the message includes the kernel's explanation).
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// The running kernel lacks the mechanism asked for.
    #[error("{feature} not supported (requires >= {min_kernel}); hint: {hint}")]
    NotSupported {
        /// What is missing (e.g. `"XDP bpf_link"`).
        feature: &'static str,
        /// The first kernel release that has it.
        min_kernel: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// Netlink attachments have no kernel object to pin.
    #[error("cannot pin at {path}: attached with netlink (kernel without XDP bpf_link), which has no kernel link object; hint: use keep() to leave it attached")]
    NotPinnable {
        /// The requested pin path.
        path: PathBuf,
    },
    /// Legacy attachments (prog attach, perf ioctl, socket option) have no kernel object to pin.
    #[error("cannot pin at {path}: attached with {how:?} (this kernel has no bpf_link for the hook, or the legacy path was asked for), which has no kernel link object; hint: keep() leaves it attached")]
    NoLinkObject {
        /// The requested pin path.
        path: PathBuf,
        /// How it was attached.
        how: AttachPath,
    },
    /// The bpf_link attempt failed as unsupported and the legacy fallback failed too.
    #[error("{what}: bpf_link refused ({link}); legacy fallback failed too: {legacy}")]
    Fallback {
        /// What was being attached.
        what: String,
        /// The `BPF_LINK_CREATE` error.
        link: SysError,
        /// The legacy path's error.
        legacy: Box<LinkError>,
    },
    /// The kernel was built without the mechanism (decided from what the kernel exposes).
    #[error("{what} not supported by this kernel ({reason})")]
    KernelLacks {
        /// What is missing (e.g. `"kprobes"`).
        what: &'static str,
        /// How we know.
        reason: String,
    },
    /// Bad input from the caller (unknown symbol, malformed name, ...).
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being done.
        what: String,
        /// What is wrong, with a hint.
        reason: String,
    },
    /// The pinned object is not a link.
    #[error("{path} is not a pinned bpf_link (found {found:?})")]
    NotALink {
        /// The pin path.
        path: PathBuf,
        /// What the fd turned out to be.
        found: String,
    },
    /// No device has that index in the calling thread's network namespace.
    #[error("no network device with ifindex {ifindex} in this network namespace; hint: attach from a thread in the device's namespace")]
    NoSuchDevice {
        /// The index asked for.
        ifindex: u32,
    },
    /// The link was already detached.
    #[error("link already detached")]
    Detached,
    /// `perf_event_open` (or reading tracefs for it) was refused (`EACCES`/`EPERM`).
    #[error("{what}: {source}; hint: {hint}")]
    PerfRefused {
        /// What was being done.
        what: String,
        /// The refusal.
        source: std::io::Error,
        /// Which capability or setting refused it.
        hint: String,
    },
    /// A file operation (unpin) or fd duplication failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl LinkError {
    /// The errno behind the error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Sys { source, .. } => Some(source.errno),
            LinkError::Netlink(e) => e.errno(),
            LinkError::Io { source, .. } | LinkError::PerfRefused { source, .. } => {
                source.raw_os_error()
            }
            LinkError::Fallback { legacy, .. } => legacy.errno(),
            _ => None,
        }
    }
}
