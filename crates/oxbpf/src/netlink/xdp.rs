//! rtnetlink link requests for XDP: set/replace/remove a program (`RTM_SETLINK` + `IFLA_XDP`)
//! and read back what is attached (`RTM_GETLINK`).

use super::msg::{attr_string, attr_u32, attrs, Request};
use super::{NetlinkError, Socket};
use std::ffi::CString;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const IFLA_IFNAME: u16 = 3;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const IFLA_XDP_EXPECTED_FD: u16 = 8;

/// `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail with `EBUSY` if a program is already attached.
pub const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
/// `XDP_FLAGS_SKB_MODE`: generic XDP.
pub const XDP_FLAGS_SKB_MODE: u32 = 2;
/// `XDP_FLAGS_DRV_MODE`: native (driver) XDP.
pub const XDP_FLAGS_DRV_MODE: u32 = 4;
/// `XDP_FLAGS_HW_MODE`: offloaded XDP.
pub const XDP_FLAGS_HW_MODE: u32 = 8;
/// `XDP_FLAGS_REPLACE` (v5.7): act only if the attached program is `IFLA_XDP_EXPECTED_FD`.
pub const XDP_FLAGS_REPLACE: u32 = 16;
/// The mode bits of the XDP flags.
pub const XDP_FLAGS_MODES: u32 = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE;

/// `XDP_ATTACHED_*`: which modes hold a program.
pub mod attached {
    /// No program.
    pub const NONE: u8 = 0;
    /// Native (driver) mode.
    pub const DRV: u8 = 1;
    /// Generic (skb) mode.
    pub const SKB: u8 = 2;
    /// Offloaded to hardware.
    pub const HW: u8 = 3;
    /// More than one mode holds a program.
    pub const MULTI: u8 = 4;
}

/// The `IFLA_XDP` attributes of a device, as the kernel reports them (0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpState {
    /// `IFLA_XDP_ATTACHED` (see [`attached`]).
    pub attached: u8,
    /// `IFLA_XDP_PROG_ID`: the program, when exactly one mode holds one.
    pub prog_id: u32,
    /// `IFLA_XDP_SKB_PROG_ID`: generic mode.
    pub skb_prog_id: u32,
    /// `IFLA_XDP_DRV_PROG_ID`: driver mode.
    pub drv_prog_id: u32,
    /// `IFLA_XDP_HW_PROG_ID`: offload mode.
    pub hw_prog_id: u32,
}

/// A device as `RTM_GETLINK` reports it (the parts used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name (`IFLA_IFNAME`).
    pub name: String,
    /// XDP attachment state.
    pub xdp: XdpState,
}

/// One `RTM_SETLINK` XDP change.
#[derive(Debug, Clone, Copy)]
pub struct SetXdp {
    /// Program fd to attach, or `-1` to remove.
    pub fd: i32,
    /// `XDP_FLAGS_*`.
    pub flags: u32,
    /// With [`XDP_FLAGS_REPLACE`]: the program fd expected to be attached now (`-1`: none).
    pub expected_fd: Option<i32>,
}

fn ifinfomsg(ifindex: u32) -> [u8; 16] {
    let mut m = [0u8; 16]; // family AF_UNSPEC, type 0, flags 0, change 0
    m[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    m
}

/// Applies `change` to the device `ifindex`; `ifname` names it in errors.
pub fn set_xdp(
    sock: &Socket,
    ifindex: u32,
    ifname: &str,
    change: SetXdp,
) -> Result<(), NetlinkError> {
    let what = if change.fd < 0 {
        format!("remove XDP from {ifname}")
    } else {
        format!("set XDP on {ifname}")
    };
    #[cfg(feature = "fault-injection")]
    if change.flags & XDP_FLAGS_REPLACE != 0 && fault::no_replace() {
        return Err(NetlinkError::Request {
            what,
            errno: libc::EINVAL,
            ext_ack: None,
        });
    }
    let mut req = Request::new(RTM_SETLINK, 0, what);
    req.push_raw(&ifinfomsg(ifindex))
        .begin_nest(IFLA_XDP)
        .attr_i32(IFLA_XDP_FD, change.fd);
    if change.flags != 0 {
        req.attr_u32(IFLA_XDP_FLAGS, change.flags);
    }
    if let Some(e) = change.expected_fd {
        req.attr_i32(IFLA_XDP_EXPECTED_FD, e);
    }
    req.end_nest();
    sock.send_request(&req).map(drop)
}

/// Test-only: make the kernel look older than v5.7, which rejects `XDP_FLAGS_REPLACE` with a
/// bare `EINVAL` (no extended ack).
#[cfg(feature = "fault-injection")]
pub mod fault {
    use std::sync::atomic::{AtomicBool, Ordering};

    static NO_REPLACE: AtomicBool = AtomicBool::new(false);

    /// While true, requests with `XDP_FLAGS_REPLACE` fail like on v5.4.
    pub fn set_no_replace(on: bool) {
        NO_REPLACE.store(on, Ordering::Relaxed);
    }

    pub(super) fn no_replace() -> bool {
        NO_REPLACE.load(Ordering::Relaxed)
    }
}

/// Reads the name and XDP state of device `ifindex`.
pub fn get_link(sock: &Socket, ifindex: u32) -> Result<LinkState, NetlinkError> {
    let what = format!("get link {ifindex}");
    let mut req = Request::new(RTM_GETLINK, 0, what.clone());
    req.push_raw(&ifinfomsg(ifindex));
    let replies = sock.send_request(&req)?;
    let reply = replies
        .iter()
        .find(|r| r.msg_type == RTM_NEWLINK)
        .ok_or_else(|| NetlinkError::malformed(&what, "no RTM_NEWLINK in the reply"))?;
    let body = reply
        .payload
        .get(16..)
        .ok_or_else(|| NetlinkError::malformed(&what, "reply shorter than ifinfomsg"))?;
    let mut state = LinkState {
        ifindex,
        name: String::new(),
        xdp: XdpState::default(),
    };
    for (ty, p) in attrs(body) {
        match ty {
            IFLA_IFNAME => state.name = attr_string(p),
            IFLA_XDP => {
                for (ty, p) in attrs(p) {
                    let x = &mut state.xdp;
                    match ty {
                        IFLA_XDP_ATTACHED => x.attached = p.first().copied().unwrap_or(0),
                        IFLA_XDP_PROG_ID => x.prog_id = attr_u32(p).unwrap_or(0),
                        IFLA_XDP_SKB_PROG_ID => x.skb_prog_id = attr_u32(p).unwrap_or(0),
                        IFLA_XDP_DRV_PROG_ID => x.drv_prog_id = attr_u32(p).unwrap_or(0),
                        IFLA_XDP_HW_PROG_ID => x.hw_prog_id = attr_u32(p).unwrap_or(0),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(state)
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32, NetlinkError> {
    let c = CString::new(name).map_err(|_| NetlinkError::NoSuchInterface {
        name: name.to_string(),
    })?;
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(NetlinkError::NoSuchInterface {
            name: name.to_string(),
        }),
        i => Ok(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_interface_is_typed() {
        let e = ifindex("oxbpf-no-such-if").unwrap_err();
        assert!(matches!(e, NetlinkError::NoSuchInterface { .. }), "{e}");
        assert!(ifindex("bad\0name").is_err());
    }
}
