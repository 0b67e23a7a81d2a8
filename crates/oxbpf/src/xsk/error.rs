//! [`XskError`]: every AF_XDP failure says what was being done and, where it helps, what to do.

/// Errors from creating, binding or using AF_XDP sockets and their UMEM.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// A configuration value the kernel would refuse, caught before any syscall.
    #[error("AF_XDP config: {what} {value} invalid: {reason}")]
    Config {
        /// The field (`"frame_size"`, `"rx_size"`...).
        what: &'static str,
        /// The value given.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A syscall failed.
    #[error("AF_XDP {op}: {source}{hint}")]
    Sys {
        /// What was being done (`"bind"`, `"register UMEM"`...).
        op: &'static str,
        /// The kernel's error.
        source: std::io::Error,
        /// What to do about it (empty or starting with `"; hint: "`).
        hint: String,
    },
    /// Zero-copy was required and the driver refused it.
    #[error("AF_XDP bind ifindex {ifindex} queue {queue} in zero-copy mode: {source}; hint: the driver does not support AF_XDP zero-copy here (veth never does); use BindMode::Auto or BindMode::Copy")]
    ZeroCopyRefused {
        /// Interface.
        ifindex: u32,
        /// Queue.
        queue: u32,
        /// The kernel's error.
        source: std::io::Error,
    },
    /// A frame of another UMEM was handed to this socket's rings.
    #[error("AF_XDP {op}: frame of UMEM {frame_umem} given to a ring of UMEM {umem}; hint: frames only go back to the UMEM they came from")]
    ForeignFrame {
        /// The ring operation.
        op: &'static str,
        /// The frame's UMEM id.
        frame_umem: u32,
        /// The ring's UMEM id.
        umem: u32,
    },
    /// The socket has no such ring (size 0, or a socket sharing another's fill/completion rings).
    #[error("AF_XDP socket has no {0} ring; hint: give it a non-zero size, or use the rings of the socket that first bound this queue")]
    NoRing(&'static str),
    /// Loading the default redirect program failed.
    #[error("AF_XDP redirect program: {0}")]
    Load(#[from] crate::collection::LoadError),
    /// Updating the XSKMAP failed.
    #[error("AF_XDP XSKMAP: {0}")]
    Map(#[from] crate::map::MapError),
    /// Attaching the redirect program failed.
    #[error("AF_XDP redirect program attach: {0}")]
    Link(#[from] crate::link::LinkError),
}

impl XskError {
    /// A [`XskError::Sys`] from the last OS error, with a hint chosen by errno.
    pub(crate) fn last(op: &'static str) -> XskError {
        XskError::sys(op, std::io::Error::last_os_error())
    }

    /// A [`XskError::Sys`] from `source`, with a hint chosen by errno.
    pub(crate) fn sys(op: &'static str, source: std::io::Error) -> XskError {
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                "; hint: AF_XDP needs CAP_NET_RAW (and CAP_NET_ADMIN / CAP_BPF for the XDP program)"
            }
            Some(libc::EAFNOSUPPORT) => "; hint: the kernel lacks CONFIG_XDP_SOCKETS",
            Some(libc::EBUSY) if op == "bind" => {
                "; hint: another AF_XDP socket is bound to this interface queue"
            }
            Some(libc::EINVAL) if op == "bind" => {
                "; hint: check the queue exists (ethtool -l) and the interface is up, and that a socket sharing a UMEM passes no mode flags"
            }
            Some(libc::ENOMEM) | Some(libc::ENOBUFS) => {
                "; hint: raise RLIMIT_MEMLOCK (ulimit -l) or use a smaller UMEM"
            }
            _ => "",
        };
        XskError::Sys {
            op,
            source,
            hint: hint.into(),
        }
    }
}
