//! Reading back what XDP programs a device runs: `RTM_GETLINK` per-mode program ids, plus the
//! `bpf_link` that owns the attachment when there is one.

use super::{LinkError, XdpMode};
use crate::netlink::xdp::{self as nlxdp, attached};
use crate::netlink::Socket;
use crate::spec::LinkType;
use crate::sys::{self, ObjKind};

/// Which XDP modes of a device hold a program (`IFLA_XDP_ATTACHED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdpAttached {
    /// No program.
    None,
    /// Generic mode.
    Generic,
    /// Driver mode.
    Driver,
    /// Offload mode.
    Offload,
    /// Programs in more than one mode.
    Multi,
    /// A value this library does not know.
    Unknown(u8),
}

/// What is attached to a device, per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpInfo {
    /// Which modes hold a program.
    pub attached: XdpAttached,
    /// The attached program when exactly one mode holds one.
    pub prog_id: Option<u32>,
    /// Generic-mode program.
    pub generic_prog_id: Option<u32>,
    /// Driver-mode program.
    pub driver_prog_id: Option<u32>,
    /// Offloaded program.
    pub offload_prog_id: Option<u32>,
    /// The XDP `bpf_link` holding an attached program, if one does (matched by device index
    /// and program id; `None` for netlink attachments, without the rights to list links, or
    /// when links in several namespaces match).
    pub link_id: Option<u32>,
}

impl XdpInfo {
    /// The mode of the single attached program (`None` when none or several).
    pub fn mode(&self) -> Option<XdpMode> {
        match self.attached {
            XdpAttached::Generic => Some(XdpMode::Generic),
            XdpAttached::Driver => Some(XdpMode::Driver),
            XdpAttached::Offload => Some(XdpMode::Offload),
            _ => None,
        }
    }
}

/// Reads what XDP programs are attached to device `iface` (name or ifindex, in the calling thread's network
/// namespace), via `RTM_GETLINK`.
pub fn query_xdp(iface: impl Into<super::Iface>) -> Result<XdpInfo, LinkError> {
    let ifindex = iface.into().index()?;
    let sock = Socket::route()?;
    let x = nlxdp::get_link(&sock, ifindex)?.xdp;
    let nz = |v: u32| (v != 0).then_some(v);
    let ids = [x.skb_prog_id, x.drv_prog_id, x.hw_prog_id];
    Ok(XdpInfo {
        attached: match x.attached {
            attached::NONE => XdpAttached::None,
            attached::SKB => XdpAttached::Generic,
            attached::DRV => XdpAttached::Driver,
            attached::HW => XdpAttached::Offload,
            attached::MULTI => XdpAttached::Multi,
            v => XdpAttached::Unknown(v),
        },
        prog_id: nz(x.prog_id),
        generic_prog_id: nz(x.skb_prog_id),
        driver_prog_id: nz(x.drv_prog_id),
        offload_prog_id: nz(x.hw_prog_id),
        link_id: if ids.iter().any(|&i| i != 0) {
            find_xdp_link(ifindex, &ids)
        } else {
            None
        },
    })
}

/// Scans the kernel's links for the XDP link on `ifindex` running one of `prog_ids`.
/// Link info holds no namespace: a link on the same index in another namespace running the
/// same program would match too, so when more than one link matches, none is returned.
fn find_xdp_link(ifindex: u32, prog_ids: &[u32]) -> Option<u32> {
    let ids = sys::all_ids(ObjKind::Link).ok()?;
    let mut found = ids.into_iter().filter(|&id| {
        let Ok(fd) = sys::get_fd_by_id(ObjKind::Link, id) else {
            return false;
        };
        let Ok(i) = sys::link_info(std::os::fd::AsFd::as_fd(&fd)) else {
            return false;
        };
        LinkType(i.link_type) == LinkType::XDP
            && i.extra[0] as u32 == ifindex
            && i.prog_id != 0
            && prog_ids.contains(&i.prog_id)
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}
