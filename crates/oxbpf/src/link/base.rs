//! [`Link`]: an attachment owned by this process — a kernel `bpf_link` fd, or a netlink XDP
//! attachment that we remove ourselves — with pinning, explicit detach and `keep`.

use super::legacy::Legacy;
use super::LinkError;
use crate::netlink::xdp::{self as nlxdp, SetXdp, XDP_FLAGS_REPLACE};
use crate::netlink::{NetlinkError, Socket};
use crate::spec::{AttachType, LinkType};
use crate::sys;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How an attachment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttachPath {
    /// A kernel `bpf_link` (`BPF_LINK_CREATE`): detached when its last fd closes, unless pinned.
    Link,
    /// A netlink request (`RTM_SETLINK` for XDP, a `cls_bpf` filter for TC): no kernel object
    /// owns it, so [`Link`]'s drop removes it explicitly.
    Netlink,
    /// `BPF_PROG_ATTACH` (cgroup, sockmap, netns hooks on kernels without links for them):
    /// drop issues the matching `BPF_PROG_DETACH`.
    ProgAttach,
    /// `PERF_EVENT_IOC_SET_BPF` on a perf event (kernels before perf links, v5.15): the
    /// event fd is the attachment; drop disables and closes it.
    PerfIoctl,
    /// `setsockopt(SO_ATTACH_BPF)` on a socket: drop issues `SO_DETACH_BPF`.
    SocketOption,
}

/// What an attachment is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkTarget {
    /// A network device (XDP, tcx, netkit, TC filters).
    Ifindex(u32),
    /// A cgroup v2 directory, by cgroup id (the directory's inode number).
    Cgroup {
        /// `cgroup_id`.
        id: u64,
    },
    /// A network namespace, by inode number (`/proc/<pid>/ns/net`).
    Netns {
        /// The namespace inode.
        ino: u32,
    },
    /// A sockmap / sockhash.
    Map {
        /// The map id.
        id: u32,
    },
    /// A kernel function or BTF-typed tracepoint (fentry/fexit/tp_btf/lsm).
    Btf {
        /// The BTF object id (vmlinux or module); 0 if unknown.
        obj_id: u32,
        /// The BTF type id of the target.
        type_id: u32,
    },
    /// A raw tracepoint, by name.
    RawTracepoint,
    /// A perf event (tracepoint, uprobe, kprobe).
    PerfEvent,
    /// A socket (socket filter), by socket cookie (0 if unknown).
    Socket {
        /// `SO_COOKIE`.
        cookie: u64,
    },
    /// A target this library does not decode (yet).
    Other,
}

/// A snapshot of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// The kernel link id; `None` for netlink attachments, which have no link object.
    pub id: Option<u32>,
    /// The attached program's id.
    pub prog_id: u32,
    /// The kernel link type; `None` for netlink attachments.
    pub link_type: Option<LinkType>,
    /// What it is attached to.
    pub target: LinkTarget,
    /// The attach type, when the kernel reports it (cgroup, netns, tcx, sockmap, tracing
    /// links) or the legacy attachment knows it.
    pub attach_type: Option<AttachType>,
}

/// A netlink XDP attachment: everything needed to remove exactly our program later.
#[derive(Debug)]
pub(crate) struct NetlinkXdp {
    /// Opened at attach time, so later requests reach the same network namespace.
    pub sock: Socket,
    pub ifindex: u32,
    pub ifname: String,
    /// `XDP_FLAGS_*_MODE` used at attach (0 for auto).
    pub mode_flags: u32,
    /// Our own reference to the attached program, for `IFLA_XDP_EXPECTED_FD`.
    pub prog: OwnedFd,
    pub prog_id: u32,
}

impl NetlinkXdp {
    /// Swaps our program for `new` (or removes it when `new` is `None`), only if ours is still
    /// the attached one. Kernels before v5.7 lack `XDP_FLAGS_REPLACE` (plain `EINVAL`, no
    /// ext-ack); there we check the attached id first, then act (a small race, documented).
    pub fn swap(&self, new: Option<BorrowedFd>) -> Result<(), NetlinkError> {
        let fd = new.map_or(-1, |f| f.as_raw_fd());
        let guarded = SetXdp {
            fd,
            flags: self.mode_flags | XDP_FLAGS_REPLACE,
            expected_fd: Some(self.prog.as_raw_fd()),
        };
        match nlxdp::set_xdp(&self.sock, self.ifindex, &self.ifname, guarded) {
            Err(e) if e.errno() == Some(libc::EINVAL) && e.ext_ack().is_none() => {
                if !self.still_attached()? {
                    return Err(NetlinkError::Request {
                        what: format!("replace XDP on {}", self.ifname),
                        errno: libc::EEXIST,
                        ext_ack: Some("Active program does not match expected".into()),
                    });
                }
                let plain = SetXdp {
                    fd,
                    flags: self.mode_flags,
                    expected_fd: None,
                };
                nlxdp::set_xdp(&self.sock, self.ifindex, &self.ifname, plain)
            }
            other => other,
        }
    }

    /// True if our program is attached in some mode of the device.
    pub fn still_attached(&self) -> Result<bool, NetlinkError> {
        let x = nlxdp::get_link(&self.sock, self.ifindex)?.xdp;
        Ok([x.prog_id, x.skb_prog_id, x.drv_prog_id, x.hw_prog_id].contains(&self.prog_id))
    }
}

#[derive(Debug)]
enum Kind {
    Fd(OwnedFd),
    NetlinkXdp(NetlinkXdp),
    Legacy(Box<dyn Legacy>),
}

/// An attachment owned by this process; dropping it detaches it (see [`Link::keep`]).
///
/// * `bpf_link` path: the kernel detaches when the last reference goes away — our fd, and
///   any pin or fd held elsewhere.
/// * netlink path: drop removes the program with `XDP_FLAGS_REPLACE` and the expected fd set
///   to ours, so a program someone else attached since is never removed.
#[derive(Debug)]
pub struct Link {
    kind: Option<Kind>,
    pin: Option<PathBuf>,
}

impl Link {
    /// Wraps a `bpf_link` fd (from `BPF_LINK_CREATE`, `BPF_RAW_TRACEPOINT_OPEN`, ...).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Link {
            kind: Some(Kind::Fd(fd)),
            pin: None,
        }
    }

    pub(crate) fn from_netlink_xdp(n: NetlinkXdp) -> Self {
        Link {
            kind: Some(Kind::NetlinkXdp(n)),
            pin: None,
        }
    }

    pub(crate) fn from_legacy(l: Box<dyn Legacy>) -> Self {
        Link {
            kind: Some(Kind::Legacy(l)),
            pin: None,
        }
    }

    /// Opens the link pinned at `path` (dropping it later does not detach: the pin holds it).
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Self, LinkError> {
        let path = path.as_ref();
        let fd = sys::obj_get(path).map_err(|source| LinkError::Sys {
            what: format!("open pinned link {}", path.display()),
            source,
        })?;
        let kind = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if kind != "anon_inode:bpf-link" {
            return Err(LinkError::NotALink {
                path: path.to_path_buf(),
                found: kind,
            });
        }
        Ok(Link {
            kind: Some(Kind::Fd(fd)),
            pin: Some(path.to_path_buf()),
        })
    }

    /// Opens the link with kernel id `id` (as `bpftool link show` lists it); dropping the
    /// result only closes our fd, [`detach`](Self::detach) detaches it for every holder.
    pub fn from_id(id: u32) -> Result<Self, LinkError> {
        let fd = sys::get_fd_by_id(sys::ObjKind::Link, id).map_err(|source| LinkError::Sys {
            what: format!("open link id {id}"),
            source,
        })?;
        Ok(Link::from_fd(fd))
    }

    /// Which mechanism holds the attachment.
    pub fn path(&self) -> AttachPath {
        match &self.kind {
            Some(Kind::NetlinkXdp(_)) => AttachPath::Netlink,
            Some(Kind::Legacy(l)) => l.path(),
            _ => AttachPath::Link,
        }
    }

    /// The `bpf_link` fd; `None` for netlink attachments.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Some(Kind::Fd(fd)) => Some(fd.as_fd()),
            _ => None,
        }
    }

    /// Where the link is pinned, if [`pin`](Self::pin)ned or opened [`from_pin`](Self::from_pin).
    pub fn pin_path(&self) -> Option<&Path> {
        self.pin.as_deref()
    }

    pub(crate) fn netlink_xdp_mut(&mut self) -> Option<&mut NetlinkXdp> {
        match &mut self.kind {
            Some(Kind::NetlinkXdp(n)) => Some(n),
            _ => None,
        }
    }

    /// Link id, program id and target, as the kernel reports them now.
    pub fn info(&self) -> Result<LinkInfo, LinkError> {
        match &self.kind {
            Some(Kind::Fd(fd)) => decode_link_info(fd.as_fd()),
            Some(Kind::NetlinkXdp(n)) => Ok(LinkInfo {
                id: None,
                prog_id: n.prog_id,
                link_type: None,
                target: LinkTarget::Ifindex(n.ifindex),
                attach_type: Some(AttachType::XDP),
            }),
            Some(Kind::Legacy(l)) => l.info(),
            None => Err(LinkError::Detached),
        }
    }

    /// Pins the link at `path` on a bpffs mount, so it outlives this process.
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), LinkError> {
        let path = path.as_ref();
        match &self.kind {
            Some(Kind::Fd(fd)) => {
                sys::pin::pin(fd.as_fd(), path).map_err(|f| LinkError::Io {
                    what: format!("pin link at {}", path.display()),
                    source: f.source,
                })?;
                self.pin = Some(path.to_path_buf());
                Ok(())
            }
            Some(Kind::NetlinkXdp(_)) => Err(LinkError::NotPinnable {
                path: path.to_path_buf(),
            }),
            Some(Kind::Legacy(l)) => Err(LinkError::NoLinkObject {
                path: path.to_path_buf(),
                how: l.path(),
            }),
            None => Err(LinkError::Detached),
        }
    }

    /// Removes the pin made by [`pin`](Self::pin) (or the one opened by
    /// [`from_pin`](Self::from_pin)); a no-op when not pinned.
    pub fn unpin(&mut self) -> Result<(), LinkError> {
        if let Some(path) = self.pin.take() {
            if let Err(source) = std::fs::remove_file(&path) {
                let err = LinkError::Io {
                    what: format!("unpin link at {}", path.display()),
                    source,
                };
                self.pin = Some(path);
                return Err(err);
            }
        }
        Ok(())
    }

    /// Swaps the link's program for `new_prog` atomically (`BPF_LINK_UPDATE`; works on a
    /// link opened [`from_pin`](Self::from_pin) too). Only `bpf_link`s can: netlink XDP
    /// attachments swap with [`XdpLink::replace`](super::XdpLink::replace).
    pub fn update(&self, new_prog: BorrowedFd) -> Result<(), LinkError> {
        match &self.kind {
            Some(Kind::Fd(fd)) => sys::link_update(fd.as_fd(), new_prog, None).map_err(|source| {
                LinkError::Sys {
                    what: "replace the program of link".into(),
                    source,
                }
            }),
            Some(Kind::NetlinkXdp(_)) | Some(Kind::Legacy(_)) => Err(LinkError::Invalid {
                what: "replace the program of link".into(),
                reason: format!(
                    "attached with {:?}, which has no kernel link to update; hint: XdpLink::replace swaps netlink XDP programs",
                    self.path()
                ),
            }),
            None => Err(LinkError::Detached),
        }
    }

    /// Detaches now. For a `bpf_link` this is `BPF_LINK_DETACH` (the link stays valid but
    /// empty, even if pinned); kernels before v5.9 lack it, and then closing our fd detaches
    /// unless the link is pinned.
    pub fn detach(mut self) -> Result<(), LinkError> {
        match self.kind.take() {
            Some(Kind::Fd(fd)) => match sys::link_detach(fd.as_fd()) {
                Ok(()) => Ok(()),
                Err(e) if e.is_unsupported() && self.pin.is_none() => Ok(()), // close detaches
                Err(source) => Err(LinkError::Sys {
                    what: "detach link".into(),
                    source,
                }),
            },
            Some(Kind::NetlinkXdp(n)) => n.swap(None).map_err(LinkError::from),
            Some(Kind::Legacy(mut l)) => l.detach(),
            None => Ok(()),
        }
    }

    /// Leaves the attachment in place when this value is dropped (also known as "forget").
    ///
    /// netlink path: the program stays attached until someone removes it. `bpf_link` path:
    /// our fd is deliberately leaked, so the link lives until this process exits; pin it
    /// ([`pin`](Self::pin)) to keep it beyond that.
    pub fn keep(mut self) {
        match self.kind.take() {
            Some(Kind::Fd(fd)) => {
                let _ = fd.into_raw_fd();
            }
            Some(Kind::NetlinkXdp(n)) => drop(n),
            Some(Kind::Legacy(l)) => l.keep(),
            None => {}
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let n = match self.kind.take() {
            Some(Kind::Legacy(mut l)) => {
                if let Err(e) = l.detach() {
                    tracing::warn!("failed to detach on drop ({:?}): {e}", l.path());
                }
                return;
            }
            Some(Kind::NetlinkXdp(n)) => Some(n),
            _ => None,
        };
        if let Some(n) = n {
            match n.swap(None) {
                Ok(()) => {}
                // Someone else's program is attached now, or the device is gone: not ours to
                // remove.
                Err(e) if matches!(e.errno(), Some(libc::EEXIST | libc::ENODEV)) => {
                    tracing::debug!("XDP on {} not removed on drop: {e}", n.ifname)
                }
                Err(e) => tracing::warn!("failed to remove XDP from {} on drop: {e}", n.ifname),
            }
        }
    }
}

/// 32-bit word `i` of the `bpf_link_info` union (native byte order, as the kernel wrote it).
fn word(extra: &[u64; 8], i: usize) -> u32 {
    let b = extra[i / 2].to_ne_bytes();
    let o = (i % 2) * 4;
    u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Reads `bpf_link_info` and decodes the per-type union into a [`LinkTarget`].
pub(crate) fn decode_link_info(fd: BorrowedFd) -> Result<LinkInfo, LinkError> {
    let i = sys::link_info(fd).map_err(|source| LinkError::Sys {
        what: "read link info".into(),
        source,
    })?;
    let lt = LinkType(i.link_type);
    let e = &i.extra;
    let (target, attach_type) = match lt {
        LinkType::XDP => (LinkTarget::Ifindex(word(e, 0)), Some(AttachType::XDP)),
        LinkType::TCX | LinkType::NETKIT => (
            LinkTarget::Ifindex(word(e, 0)),
            Some(AttachType(word(e, 1))),
        ),
        LinkType::CGROUP => (
            LinkTarget::Cgroup { id: e[0] },
            Some(AttachType(word(e, 2))),
        ),
        LinkType::NETNS => (
            LinkTarget::Netns { ino: word(e, 0) },
            Some(AttachType(word(e, 1))),
        ),
        LinkType::SOCKMAP => (
            LinkTarget::Map { id: word(e, 0) },
            Some(AttachType(word(e, 1))),
        ),
        LinkType::TRACING => (
            LinkTarget::Btf {
                obj_id: word(e, 1),
                type_id: word(e, 2),
            },
            Some(AttachType(word(e, 0))),
        ),
        LinkType::RAW_TRACEPOINT => (LinkTarget::RawTracepoint, None),
        LinkType::PERF_EVENT => (LinkTarget::PerfEvent, Some(AttachType::PERF_EVENT)),
        _ => (LinkTarget::Other, None),
    };
    Ok(LinkInfo {
        id: Some(i.id),
        prog_id: i.prog_id,
        link_type: Some(lt),
        target,
        attach_type,
    })
}
