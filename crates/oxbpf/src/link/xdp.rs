//! XDP attachment: a `bpf_link` where the kernel has XDP links (v5.9+), netlink otherwise.
//!
//! [`attach_xdp`] tries `BPF_LINK_CREATE` first. If that fails with an "unknown to this
//! kernel" errno (`EINVAL`, `EOPNOTSUPP`, `ENOTSUPP`, `E2BIG`), a probe decides whether the
//! kernel lacks XDP links at all — never the kernel version: `BPF_LINK_CREATE` with
//! `attach_type = BPF_XDP` and an invalid program fd gets `EBADF` from a kernel that knows XDP
//! links (it looks the fd up) and `EINVAL` from one that does not (v5.7/v5.8 reject the attach
//! type, older kernels the command). Only then does it fall back to netlink (`RTM_SETLINK`,
//! `IFLA_XDP`); the answer is remembered for the process. Any other failure (device busy,
//! driver without native XDP, ...) is returned as is.
//!
//! Setting the environment variable `OXBPF_FORCE_XDP_NETLINK=1` forces the netlink path
//! (for testing the fallback, or to interoperate with tools that only understand it).
//!
//! This is what makes a loader work unchanged on e.g. Ubuntu 20.04 (v5.4), where
//! `BPF_LINK_CREATE` does not exist. [`query_xdp`](super::query_xdp) reads the result back.
//!
//! [`XdpMode::Auto`] passes no mode flag on either path: the kernel picks driver mode when the
//! device's driver implements XDP, generic mode otherwise.

use super::base::NetlinkXdp;
use super::{AttachPath, Link, LinkError, LinkInfo};
use crate::netlink::xdp::{self as nlxdp, SetXdp, XDP_FLAGS_UPDATE_IF_NOEXIST};
use crate::netlink::Socket;
use crate::spec::AttachType;
use crate::sys::{self, attr::LinkCreateAttr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<XdpLink>();
};

/// Environment variable that forces the netlink path when set to `1`.
pub const FORCE_NETLINK_ENV: &str = "OXBPF_FORCE_XDP_NETLINK";

/// Where the XDP program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum XdpMode {
    /// No mode flag: the kernel uses driver mode if the driver supports it, else generic.
    #[default]
    Auto,
    /// Generic XDP (`XDP_FLAGS_SKB_MODE`): works on any device, after skb allocation.
    Generic,
    /// Native XDP in the driver (`XDP_FLAGS_DRV_MODE`).
    Driver,
    /// Offloaded to the NIC (`XDP_FLAGS_HW_MODE`).
    Offload,
}

impl XdpMode {
    /// The `XDP_FLAGS_*_MODE` bit (0 for [`Auto`](Self::Auto)).
    pub fn flags(self) -> u32 {
        match self {
            XdpMode::Auto => 0,
            XdpMode::Generic => nlxdp::XDP_FLAGS_SKB_MODE,
            XdpMode::Driver => nlxdp::XDP_FLAGS_DRV_MODE,
            XdpMode::Offload => nlxdp::XDP_FLAGS_HW_MODE,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto mode",
            XdpMode::Generic => "generic mode",
            XdpMode::Driver => "driver mode",
            XdpMode::Offload => "offload mode",
        }
    }
}

/// Which mechanism [`attach_xdp`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum XdpPath {
    /// `bpf_link` if the kernel has XDP links, else netlink.
    #[default]
    Auto,
    /// `bpf_link` only; [`LinkError::NotSupported`] on kernels without XDP links.
    Link,
    /// netlink only.
    Netlink,
}

/// Options for [`attach_xdp`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct XdpOptions {
    /// Which mechanism to use (overridden by `OXBPF_FORCE_XDP_NETLINK=1`).
    pub path: XdpPath,
}

impl XdpOptions {
    /// Sets [`path`](Self::path).
    pub fn path(mut self, path: XdpPath) -> Self {
        self.path = path;
        self
    }
}

/// An attached XDP program; dropping it detaches (see [`Link`]).
#[derive(Debug)]
pub struct XdpLink {
    link: Link,
    ifindex: u32,
    mode: XdpMode,
}

impl XdpLink {
    /// Whether a `bpf_link` or netlink holds the attachment.
    pub fn path(&self) -> AttachPath {
        self.link.path()
    }

    /// The device.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The mode asked for at attach.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// The underlying [`Link`].
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Gives up the XDP view, keeping the attachment.
    pub fn into_link(self) -> Link {
        self.link
    }

    /// Link id (bpf_link path), program id and device.
    pub fn info(&self) -> Result<LinkInfo, LinkError> {
        self.link.info()
    }

    /// Atomically swaps in `new_prog`: `BPF_LINK_UPDATE` on the link path; on the netlink
    /// path `XDP_FLAGS_REPLACE` with `IFLA_XDP_EXPECTED_FD` = our program, so the swap fails
    /// (`EEXIST`) if someone else replaced our program meanwhile.
    pub fn replace(&mut self, new_prog: BorrowedFd) -> Result<(), LinkError> {
        let new_id = prog_id(new_prog)?;
        if let Some(fd) = self.link.fd() {
            return sys::link_update(fd, new_prog, None).map_err(|source| LinkError::Sys {
                what: format!("replace XDP program on {}", ifname(self.ifindex)),
                source,
            });
        }
        let dup = new_prog
            .try_clone_to_owned()
            .map_err(|source| LinkError::Io {
                what: "duplicate program fd".into(),
                source,
            })?;
        let n = self.link.netlink_xdp_mut().ok_or(LinkError::Detached)?;
        n.swap(Some(new_prog))?;
        n.prog = dup;
        n.prog_id = new_id;
        Ok(())
    }

    /// Detaches now, reporting failures (drop does the same silently).
    pub fn detach(self) -> Result<(), LinkError> {
        self.link.detach()
    }

    /// Leaves the program attached after drop (see [`Link::keep`]).
    pub fn keep(self) {
        self.link.keep()
    }

    /// Pins the link (bpf_link path only; netlink attachments have no kernel object).
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), LinkError> {
        self.link.pin(path)
    }
}

/// Attaches the XDP program `prog` to device `iface` (a name like `"eth0"` or an ifindex) in
/// `mode`. [`Program::attach_xdp`](crate::prog::Program::attach_xdp) does the same with a
/// check of the program's type.
///
/// Fails if any XDP program is already attached in that mode (`EBUSY`, with the kernel's
/// explanation on the netlink path). See the module docs for the path choice.
pub fn attach_xdp(
    prog: BorrowedFd,
    iface: impl Into<super::Iface>,
    mode: XdpMode,
    opts: XdpOptions,
) -> Result<XdpLink, LinkError> {
    let ifindex = iface.into().index()?;
    if device_name(ifindex).is_none() {
        return Err(LinkError::NoSuchDevice { ifindex });
    }
    let path = if force_netlink() {
        XdpPath::Netlink
    } else {
        opts.path
    };
    let use_link = match path {
        XdpPath::Netlink => false,
        XdpPath::Link => true,
        XdpPath::Auto => PROBE.load(Ordering::Relaxed) != NO,
    };
    let link = if use_link {
        match attach_link(prog, ifindex, mode) {
            Ok(link) => link,
            Err(e) if e.is_unsupported() && !xdp_link_supported()? => {
                if path == XdpPath::Link {
                    return Err(LinkError::NotSupported {
                        feature: "XDP bpf_link",
                        min_kernel: "v5.9",
                        hint: "use XdpPath::Auto or XdpPath::Netlink to attach with netlink",
                    });
                }
                tracing::debug!("kernel lacks XDP bpf_link; attaching with netlink");
                attach_netlink(prog, ifindex, mode)?
            }
            Err(source) => {
                return Err(LinkError::Sys {
                    what: format!(
                        "attach XDP to {} ({}) via bpf_link",
                        ifname(ifindex),
                        mode.describe()
                    ),
                    source,
                })
            }
        }
    } else {
        attach_netlink(prog, ifindex, mode)?
    };
    Ok(XdpLink {
        link,
        ifindex,
        mode,
    })
}

fn force_netlink() -> bool {
    std::env::var(FORCE_NETLINK_ENV).is_ok_and(|v| v == "1")
}

fn attach_link(prog: BorrowedFd, ifindex: u32, mode: XdpMode) -> Result<Link, sys::SysError> {
    let attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: ifindex,
        attach_type: AttachType::XDP.0,
        flags: mode.flags(),
        ..Default::default()
    };
    let fd = sys::link_create(&attr)?;
    PROBE.store(YES, Ordering::Relaxed);
    Ok(Link::from_fd(fd))
}

fn attach_netlink(prog: BorrowedFd, ifindex: u32, mode: XdpMode) -> Result<Link, LinkError> {
    // Everything that can fail without side effects comes before the attach itself.
    let prog_id = prog_id(prog)?;
    let dup = prog.try_clone_to_owned().map_err(|source| LinkError::Io {
        what: "duplicate program fd".into(),
        source,
    })?;
    let sock = Socket::route()?;
    let name = nlxdp::get_link(&sock, ifindex)?.name;
    let change = SetXdp {
        fd: prog.as_raw_fd(),
        flags: mode.flags() | XDP_FLAGS_UPDATE_IF_NOEXIST,
        expected_fd: None,
    };
    nlxdp::set_xdp(&sock, ifindex, &name, change)?;
    Ok(Link::from_netlink_xdp(NetlinkXdp {
        sock,
        ifindex,
        ifname: name,
        mode_flags: mode.flags(),
        prog: dup,
        prog_id,
    }))
}

fn prog_id(prog: BorrowedFd) -> Result<u32, LinkError> {
    sys::prog_info(prog)
        .map(|i| i.id)
        .map_err(|source| LinkError::Sys {
            what: "read program info".into(),
            source,
        })
}

/// The interface name for messages (`"ifindex N"` if it has none in this namespace).
fn ifname(ifindex: u32) -> String {
    device_name(ifindex).unwrap_or_else(|| format!("ifindex {ifindex}"))
}

/// The name of device `ifindex` in the calling thread's network namespace.
pub(crate) fn device_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    Some(
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned(),
    )
}

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;
/// Process-wide answer of [`xdp_link_supported`].
static PROBE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether this kernel can create XDP `bpf_link`s (v5.9+), probed once per process without
/// attaching anything (see the module docs).
pub fn xdp_link_supported() -> Result<bool, LinkError> {
    match PROBE.load(Ordering::Relaxed) {
        YES => return Ok(true),
        NO => return Ok(false),
        _ => {}
    }
    let attr = LinkCreateAttr {
        prog_fd: u32::MAX, // fd -1: never valid
        target_fd: 0,
        attach_type: AttachType::XDP.0,
        ..Default::default()
    };
    let supported = match sys::link_create(&attr) {
        Err(e) if e.errno == libc::EBADF => true,
        Err(e) if e.is_unsupported() => false,
        Ok(_fd) => true,
        Err(source) => {
            return Err(LinkError::Sys {
                what: "probe for XDP bpf_link support".into(),
                source,
            })
        }
    };
    PROBE.store(if supported { YES } else { NO }, Ordering::Relaxed);
    Ok(supported)
}

/// Forgets the probed answer (tests that fake an old kernel with fault injection).
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub fn reset_xdp_link_probe() {
    PROBE.store(UNKNOWN, Ordering::Relaxed);
}
