//! rtnetlink over a `NETLINK_ROUTE` socket: the request/ack core ([`Socket::send_request`])
//! plus the XDP link requests ([`xdp`]); the TC (qdisc/filter) fallback builds on the same core.
//!
//! Written by hand rather than with `netlink-packet-route` + `netlink-sys`: those crates do
//! model `IFLA_XDP` (including the expected fd), but `netlink-packet-core`'s `ErrorMessage`
//! keeps only the errno and the raw echoed bytes — it does not parse the extended ack
//! (`NLMSGERR_ATTR_MSG`), which is the one thing that makes XDP/TC failures explainable
//! ("XDP program already attached", "native and generic XDP can't be active at the same time").
//! We would have to re-parse its payload by hand anyway, and the rest — a header, a family
//! struct and a few attributes — is a few hundred lines, against four extra crates.
//!
//! Every request gets `NLM_F_ACK`, so success and failure are both explicit; errors carry the
//! kernel's extended-ack text: `netlink: set XDP on veth0: device or resource busy: XDP
//! program already attached`.

pub mod msg;
mod socket;
pub mod tc;
pub mod xdp;

pub use msg::{Reply, Request};
pub use socket::Socket;

/// Errors from this module.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request; `ext_ack` is its explanation when it gave one.
    #[error("netlink: {what}: {}{}", errno_text(*.errno), ext_ack_suffix(.ext_ack))]
    Request {
        /// What was asked (e.g. `"set XDP on veth0"`).
        what: String,
        /// The positive errno.
        errno: i32,
        /// `NLMSGERR_ATTR_MSG`, the kernel's extended-ack message.
        ext_ack: Option<String>,
    },
    /// Opening or using the socket failed.
    #[error("netlink: {what}: {source}")]
    Socket {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The kernel's reply could not be parsed.
    #[error("netlink: {what}: malformed reply: {detail}")]
    Malformed {
        /// The request.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// No interface of that name exists in this network namespace.
    #[error("netlink: no network interface named {name:?} in this network namespace; hint: check `ip link show` (in the right netns)")]
    NoSuchInterface {
        /// The name looked up.
        name: String,
    },
}

impl NetlinkError {
    /// The errno of a refused request or failed socket call.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request { errno, .. } => Some(*errno),
            NetlinkError::Socket { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The kernel's extended-ack message, if the error carries one.
    pub fn ext_ack(&self) -> Option<&str> {
        match self {
            NetlinkError::Request { ext_ack, .. } => ext_ack.as_deref(),
            _ => None,
        }
    }

    fn socket(what: &str) -> Self {
        NetlinkError::Socket {
            what: what.to_string(),
            source: std::io::Error::last_os_error(),
        }
    }

    fn io(what: &str, step: &str) -> Self {
        NetlinkError::Socket {
            what: format!("{what} ({step})"),
            source: std::io::Error::last_os_error(),
        }
    }

    pub(crate) fn malformed(what: &str, detail: impl Into<String>) -> Self {
        NetlinkError::Malformed {
            what: what.to_string(),
            detail: detail.into(),
        }
    }
}

fn errno_text(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => format!("errno {errno}"),
    }
}

fn ext_ack_suffix(ext_ack: &Option<String>) -> String {
    ext_ack
        .as_ref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}
