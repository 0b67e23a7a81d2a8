//! netkit devices (v6.7+): programs attached to the primary or peer side with a netkit
//! `bpf_link`, ordered like tcx. There is no legacy path: netkit was born with links.

use super::support::link_create_attr;
use super::tc::TcOrder;
use super::{Link, LinkError};
use crate::spec::AttachType;
use crate::sys;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Which side of the netkit pair the program runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetkitSide {
    /// The primary device (in the host namespace).
    Primary,
    /// The peer device.
    Peer,
}

/// Attaches `prog` to the netkit device `iface` (name or ifindex) (the primary; the side picks which
/// direction), at `order`, failing with `ESTALE` unless the revision is `expected_revision`
/// (0: don't check).
pub fn attach_netkit(
    prog: BorrowedFd,
    iface: impl Into<super::Iface>,
    side: NetkitSide,
    order: TcOrder,
    expected_revision: u64,
) -> Result<Link, LinkError> {
    let ifindex = iface.into().index()?;
    let t = match side {
        NetkitSide::Primary => AttachType::NETKIT_PRIMARY,
        NetkitSide::Peer => AttachType::NETKIT_PEER,
    };
    let (flags, rel) = order.encode();
    let attr = link_create_attr(
        prog.as_raw_fd(),
        ifindex,
        t,
        flags,
        &[(0, rel)],
        &[(8, expected_revision)],
    );
    sys::link_create(&attr)
        .map(Link::from_fd)
        .map_err(|source| match source.errno {
            libc::EINVAL => LinkError::Sys {
                what: format!("attach {t} program to ifindex {ifindex} (not a netkit device, or a kernel before v6.7 without netkit links)"),
                source,
            },
            _ => LinkError::Sys {
                what: format!("attach {t} program to ifindex {ifindex}"),
                source,
            },
        })
}
