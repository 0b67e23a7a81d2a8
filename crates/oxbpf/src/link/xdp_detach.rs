//! [`detach_xdp`]: removes whatever XDP program a device runs, attached by anyone (another
//! process, a pin, `ip link`), for tools that hold no [`XdpLink`](super::XdpLink) handle.
//! Programs this process attached are better detached through their handle, which removes
//! only its own program.

use super::{query_xdp, AttachPath, Iface, Link, LinkError, XdpMode};
use crate::netlink::xdp::{self as nlxdp, SetXdp};
use crate::netlink::Socket;

/// Detaches the XDP program(s) of `iface` (name or ifindex): the `bpf_link` holding it with
/// `BPF_LINK_DETACH` (the link object lives on, empty, while a pin or fd holds it), else the
/// netlink attachment in each mode that has one. Returns how it was attached, `None` when
/// nothing was.
///
/// ```no_run
/// # fn main() -> Result<(), oxbpf::link::LinkError> {
/// match oxbpf::link::detach_xdp("eth0")? {
///     Some(how) => println!("detached ({how:?})"),
///     None => println!("nothing attached"),
/// }
/// # Ok(())
/// # }
/// ```
pub fn detach_xdp(iface: impl Into<Iface>) -> Result<Option<AttachPath>, LinkError> {
    let iface = iface.into();
    let ifindex = iface.index()?;
    let info = query_xdp(ifindex)?;
    if let Some(id) = info.link_id {
        Link::from_id(id)?.detach()?;
        return Ok(Some(AttachPath::Link));
    }
    let modes = [
        (XdpMode::Generic, info.generic_prog_id),
        (XdpMode::Driver, info.driver_prog_id),
        (XdpMode::Offload, info.offload_prog_id),
    ];
    if modes.iter().all(|(_, id)| id.is_none()) {
        return Ok(None);
    }
    let sock = Socket::route()?;
    let name = nlxdp::get_link(&sock, ifindex)?.name;
    for (mode, _) in modes.iter().filter(|(_, id)| id.is_some()) {
        let req = SetXdp {
            fd: -1,
            flags: mode.flags(),
            expected_fd: None,
        };
        nlxdp::set_xdp(&sock, ifindex, &name, req)?;
    }
    Ok(Some(AttachPath::Netlink))
}
