//! Socket-level hooks: sockmap/sockhash programs (sk_msg, sk_skb), network-namespace hooks
//! (sk_lookup, flow_dissector) and classic socket filters.
//!
//! * sockmap: a sockmap `bpf_link` (v6.10+) with the map as target, else `BPF_PROG_ATTACH`
//!   to the map.
//! * netns: a netns `bpf_link` (v5.7+ flow_dissector, v5.9+ sk_lookup, which has no other
//!   way), else `BPF_PROG_ATTACH` (flow_dissector only), which acts on the calling thread's
//!   namespace: attach and detach run on a helper thread that joined the target namespace.
//! * socket filter: `setsockopt(SO_ATTACH_BPF)`; there is no link for it.

use super::cgroup::{inode, open_dir};
use super::legacy::{dup, prog_id, Legacy, ProgAttach};
use super::support::{link_create_attr, link_or_legacy, Mechanism};
use super::{AttachPath, Link, LinkError, LinkInfo, LinkTarget};
use crate::spec::AttachType;
use crate::sys;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Attaches `prog` to sockmap/sockhash `map` at `attach_type` (`SK_MSG_VERDICT`,
/// `SK_SKB_STREAM_PARSER`, `SK_SKB_STREAM_VERDICT`, `SK_SKB_VERDICT`).
///
/// ```no_run
/// use oxbpf::link::{attach_sockmap, Mechanism};
/// use oxbpf::spec::AttachType;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("sk_msg") int redirect(struct sk_msg_md *msg) { ... } and a BPF_MAP_TYPE_SOCKMAP `socks`.
/// let prog = &coll.programs()["redirect"];
/// let socks = coll.map("socks").unwrap();
/// let _link = attach_sockmap(prog.fd(), socks.fd(), AttachType::SK_MSG_VERDICT, Mechanism::Auto)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_sockmap(
    prog: BorrowedFd,
    map: BorrowedFd,
    attach_type: AttachType,
    mechanism: Mechanism,
) -> Result<Link, LinkError> {
    let map_id = sys::map_info(map).map(|i| i.id).unwrap_or(0);
    let what = || format!("attach {attach_type} program to map {map_id}");
    link_or_legacy(
        attach_type,
        mechanism,
        what,
        || create(prog, map.as_raw_fd() as u32, attach_type),
        || {
            let pa = ProgAttach::attach(
                map,
                prog,
                attach_type,
                0,
                LinkTarget::Map { id: map_id },
                false,
                &what(),
            )?;
            Ok(Link::from_legacy(Box::new(pa)))
        },
    )
}

fn create(prog: BorrowedFd, target: u32, t: AttachType) -> Result<Link, sys::SysError> {
    let attr = link_create_attr(prog.as_raw_fd(), target, t, 0, &[], &[]);
    sys::link_create(&attr).map(Link::from_fd)
}

/// Opens a network namespace file (`/proc/self/ns/net`, `/run/netns/<name>`).
pub fn open_netns(path: impl AsRef<Path>) -> Result<OwnedFd, LinkError> {
    open_dir(path.as_ref(), "network namespace")
}

/// Attaches `prog` to the network namespace `netns` at `attach_type` (`SK_LOOKUP`,
/// `FLOW_DISSECTOR`).
///
/// ```no_run
/// use oxbpf::link::{attach_netns, open_netns, Mechanism};
/// use oxbpf::spec::AttachType;
/// use std::os::fd::AsFd;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("sk_lookup") int steer(struct bpf_sk_lookup *ctx) { ... }
/// let prog = &coll.programs()["steer"];
/// let netns = open_netns("/proc/self/ns/net")?;
/// let _link = attach_netns(prog.fd(), netns.as_fd(), AttachType::SK_LOOKUP, Mechanism::Auto)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_netns(
    prog: BorrowedFd,
    netns: BorrowedFd,
    attach_type: AttachType,
    mechanism: Mechanism,
) -> Result<Link, LinkError> {
    let ino = inode(netns) as u32;
    let what = || format!("attach {attach_type} program to netns {ino}");
    link_or_legacy(
        attach_type,
        mechanism,
        what,
        || create(prog, netns.as_raw_fd() as u32, attach_type),
        || {
            if attach_type == AttachType::SK_LOOKUP {
                return Err(LinkError::NotSupported {
                    feature: "sk_lookup (netns bpf_link)",
                    min_kernel: "v5.9",
                    hint: "sk_lookup programs can only be attached with a link",
                });
            }
            let pa = ProgAttach::attach(
                netns,
                prog,
                attach_type,
                0,
                LinkTarget::Netns { ino },
                true,
                &what(),
            )?;
            Ok(Link::from_legacy(Box::new(pa)))
        },
    )
}

const SO_DETACH_BPF: libc::c_int = 27;
const SO_ATTACH_BPF: libc::c_int = 50;
const SO_COOKIE: libc::c_int = 57;

/// A socket filter set with `SO_ATTACH_BPF`; we hold a duplicate of the socket fd so we can
/// detach it later.
#[derive(Debug)]
struct SocketFilter {
    sock: OwnedFd,
    prog_id: u32,
    cookie: u64,
}

impl Legacy for SocketFilter {
    fn path(&self) -> AttachPath {
        AttachPath::SocketOption
    }

    fn info(&self) -> Result<LinkInfo, LinkError> {
        Ok(LinkInfo {
            id: None,
            prog_id: self.prog_id,
            link_type: None,
            target: LinkTarget::Socket {
                cookie: self.cookie,
            },
            attach_type: None,
        })
    }

    fn detach(&mut self) -> Result<(), LinkError> {
        let zero: libc::c_int = 0;
        let rc = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_DETACH_BPF,
                &zero as *const _ as *const libc::c_void,
                std::mem::size_of_val(&zero) as libc::socklen_t,
            )
        };
        let err = std::io::Error::last_os_error();
        // ENOENT: nothing attached any more.
        if rc == 0 || err.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        Err(LinkError::Io {
            what: "detach socket filter (SO_DETACH_BPF)".into(),
            source: err,
        })
    }
}

/// Attaches the `socket_filter` program `prog` to `socket` (`SO_ATTACH_BPF`). Dropping the
/// returned [`Link`] detaches it; the link holds a duplicate of the socket fd until then.
///
/// ```no_run
/// use oxbpf::link::attach_socket_filter;
/// use std::os::fd::AsFd;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("socket") int keep_dns(struct __sk_buff *skb) { ... }
/// let prog = &coll.programs()["keep_dns"];
/// let socket = std::net::UdpSocket::bind("127.0.0.1:5353")?;
/// let _link = attach_socket_filter(prog.fd(), socket.as_fd())?; // SO_ATTACH_BPF
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_socket_filter(prog: BorrowedFd, socket: BorrowedFd) -> Result<Link, LinkError> {
    let prog_id = prog_id(prog)?;
    let sock = dup(socket, "socket")?;
    let pfd: libc::c_int = prog.as_raw_fd();
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_BPF,
            &pfd as *const _ as *const libc::c_void,
            std::mem::size_of_val(&pfd) as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(LinkError::Io {
            what: format!("attach socket filter program {prog_id} (SO_ATTACH_BPF)"),
            source: std::io::Error::last_os_error(),
        });
    }
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of_val(&cookie) as libc::socklen_t;
    unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_COOKIE,
            &mut cookie as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    Ok(Link::from_legacy(Box::new(SocketFilter {
        sock,
        prog_id,
        cookie,
    })))
}
