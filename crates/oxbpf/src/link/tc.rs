//! TC (traffic control) attachment: tcx `bpf_link`s (v6.6+) with ordering, falling back to a
//! direct-action `cls_bpf` filter under a `clsact` qdisc, made with netlink.
//!
//! [`attach_tc`] tries `BPF_LINK_CREATE` with `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` first; a
//! kernel without tcx refuses the attach type (`EINVAL`), and then the netlink path runs
//! (see [`super::support`] for how the answer is cached). The netlink path adds a `clsact`
//! qdisc when the device has none, then an exclusive (`NLM_F_EXCL`) `bpf` filter in
//! direct-action mode. Detaching removes only our filter — matched by priority, handle *and*
//! program id — and removes the qdisc only if we created it and no filter is left in it.
//! Filters other tools added are never touched.
//!
//! `OXBPF_FORCE_TC_NETLINK=1` in the environment forces the netlink path.

use super::legacy::{dup, prog_id, Legacy};
use super::support::{link_create_attr, link_or_legacy, Mechanism};
use super::{AttachPath, Link, LinkError, LinkInfo, LinkTarget};
use crate::netlink::tc::{self as nltc, NewBpfFilter, TC_H_CLSACT};
use crate::netlink::{xdp::get_link, Socket};
use crate::spec::AttachType;
use crate::sys::{self, Cmd};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Environment variable that forces the netlink path when set to `1`.
pub const FORCE_NETLINK_ENV: &str = "OXBPF_FORCE_TC_NETLINK";

const BPF_F_BEFORE: u32 = 1 << 3;
const BPF_F_AFTER: u32 = 1 << 4;
const BPF_F_ID: u32 = 1 << 5;
const BPF_F_LINK: u32 = 1 << 13;

/// Which direction of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcDirection {
    /// Packets received by the device.
    Ingress,
    /// Packets sent by the device.
    Egress,
}

impl TcDirection {
    /// The tcx attach type.
    pub fn attach_type(self) -> AttachType {
        match self {
            TcDirection::Ingress => AttachType::TCX_INGRESS,
            TcDirection::Egress => AttachType::TCX_EGRESS,
        }
    }

    /// The clsact parent of filters in this direction.
    pub fn parent(self) -> u32 {
        let min = match self {
            TcDirection::Ingress => nltc::TC_H_MIN_INGRESS,
            TcDirection::Egress => nltc::TC_H_MIN_EGRESS,
        };
        nltc::tc_h_make(TC_H_CLSACT, min)
    }

    fn name(self) -> &'static str {
        match self {
            TcDirection::Ingress => "ingress",
            TcDirection::Egress => "egress",
        }
    }
}

/// A program or link to order a tcx attachment against.
#[derive(Debug, Clone, Copy)]
pub enum TcAnchor<'a> {
    /// An attached program, by fd.
    Prog(BorrowedFd<'a>),
    /// An attached program, by id.
    ProgId(u32),
    /// A tcx link, by fd.
    Link(BorrowedFd<'a>),
    /// A tcx link, by id.
    LinkId(u32),
}

/// Where a tcx program goes among the others on the same hook (tcx only; the netlink path
/// orders by [`TcOptions::priority`]).
#[derive(Debug, Clone, Copy, Default)]
pub enum TcOrder<'a> {
    /// The kernel's default: after every attached program.
    #[default]
    Default,
    /// Before every attached program.
    First,
    /// After every attached program.
    Last,
    /// Right before `anchor`.
    Before(TcAnchor<'a>),
    /// Right after `anchor`.
    After(TcAnchor<'a>),
}

impl TcOrder<'_> {
    /// `(flags, relative fd or id)` for `BPF_LINK_CREATE`.
    pub(crate) fn encode(self) -> (u32, u32) {
        let anchor = |a: TcAnchor| match a {
            TcAnchor::Prog(fd) => (0, fd.as_raw_fd() as u32),
            TcAnchor::ProgId(id) => (BPF_F_ID, id),
            TcAnchor::Link(fd) => (BPF_F_LINK, fd.as_raw_fd() as u32),
            TcAnchor::LinkId(id) => (BPF_F_LINK | BPF_F_ID, id),
        };
        match self {
            TcOrder::Default => (0, 0),
            TcOrder::First => (BPF_F_BEFORE, 0),
            TcOrder::Last => (BPF_F_AFTER, 0),
            TcOrder::Before(a) => {
                let (f, r) = anchor(a);
                (BPF_F_BEFORE | f, r)
            }
            TcOrder::After(a) => {
                let (f, r) = anchor(a);
                (BPF_F_AFTER | f, r)
            }
        }
    }
}

/// Options for [`attach_tc`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TcOptions<'a> {
    /// `Auto`: tcx if the kernel has it, else netlink; `Link`: tcx only; `Legacy`: netlink
    /// only (also forced by `OXBPF_FORCE_TC_NETLINK=1`).
    pub mechanism: Mechanism,
    /// tcx ordering.
    pub order: TcOrder<'a>,
    /// tcx: fail with `ESTALE` unless the hook's revision is this (0: don't check).
    pub expected_revision: u64,
    /// netlink: filter priority (0: the kernel picks one).
    pub priority: u16,
    /// netlink: filter handle (0: the kernel picks one).
    pub handle: u32,
    /// netlink: filter name shown by `tc filter show` (default `"oxbpf"`).
    pub name: Option<&'a str>,
}

impl<'a> TcOptions<'a> {
    /// Sets [`mechanism`](Self::mechanism).
    pub fn mechanism(mut self, m: Mechanism) -> Self {
        self.mechanism = m;
        self
    }
    /// Sets [`order`](Self::order).
    pub fn order(mut self, o: TcOrder<'a>) -> Self {
        self.order = o;
        self
    }
    /// Sets [`expected_revision`](Self::expected_revision).
    pub fn expected_revision(mut self, r: u64) -> Self {
        self.expected_revision = r;
        self
    }
    /// Sets [`priority`](Self::priority).
    pub fn priority(mut self, p: u16) -> Self {
        self.priority = p;
        self
    }
    /// Sets [`handle`](Self::handle).
    pub fn handle(mut self, h: u32) -> Self {
        self.handle = h;
        self
    }
    /// Sets [`name`](Self::name).
    pub fn name(mut self, n: &'a str) -> Self {
        self.name = Some(n);
        self
    }
}

/// An attached TC program; dropping it detaches (see [`Link`]).
#[derive(Debug)]
pub struct TcLink {
    link: Link,
    ifindex: u32,
    direction: TcDirection,
    filter: Option<(u16, u32)>,
}

impl TcLink {
    /// tcx link ([`AttachPath::Link`]) or cls_bpf filter ([`AttachPath::Netlink`]).
    pub fn path(&self) -> AttachPath {
        self.link.path()
    }
    /// The device.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
    /// The direction.
    pub fn direction(&self) -> TcDirection {
        self.direction
    }
    /// netlink path: the filter's `(priority, handle)`.
    pub fn filter(&self) -> Option<(u16, u32)> {
        self.filter
    }
    /// Link id (tcx), program id, device.
    pub fn info(&self) -> Result<LinkInfo, LinkError> {
        self.link.info()
    }
    /// The underlying [`Link`].
    pub fn link(&self) -> &Link {
        &self.link
    }
    /// Gives up the TC view, keeping the attachment.
    pub fn into_link(self) -> Link {
        self.link
    }
    /// Pins the tcx link (netlink filters have no kernel object).
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), LinkError> {
        self.link.pin(path)
    }
    /// Removes the pin.
    pub fn unpin(&mut self) -> Result<(), LinkError> {
        self.link.unpin()
    }
    /// Detaches now, reporting failures.
    pub fn detach(self) -> Result<(), LinkError> {
        self.link.detach()
    }
    /// Leaves the program attached after drop.
    pub fn keep(self) {
        self.link.keep()
    }
}

fn force_netlink() -> bool {
    std::env::var(FORCE_NETLINK_ENV).is_ok_and(|v| v == "1")
}

/// Attaches the `sched_cls` program `prog` to device `iface` (a name or an ifindex, in the
/// calling thread's network namespace) in `direction`. See the module docs for the mechanism choice.
pub fn attach_tc(
    prog: BorrowedFd,
    iface: impl Into<super::Iface>,
    direction: TcDirection,
    opts: TcOptions,
) -> Result<TcLink, LinkError> {
    let ifindex = iface.into().index()?;
    let ifname = super::xdp::device_name(ifindex).ok_or(LinkError::NoSuchDevice { ifindex })?;
    let mech = if force_netlink() {
        Mechanism::Legacy
    } else {
        opts.mechanism
    };
    let t = direction.attach_type();
    let what = || format!("attach tc {} program to {ifname}", direction.name());
    let mut filter = None;
    let link = link_or_legacy(
        t,
        mech,
        what,
        || {
            let (flags, rel) = opts.order.encode();
            let attr = link_create_attr(
                prog.as_raw_fd(),
                ifindex,
                t,
                flags,
                &[(0, rel)],
                &[(8, opts.expected_revision)],
            );
            sys::link_create(&attr).map(Link::from_fd)
        },
        || {
            if !matches!(opts.order, TcOrder::Default | TcOrder::Last) {
                return Err(LinkError::Invalid {
                    what: what(),
                    reason: "relative ordering needs tcx (bpf_link, kernel >= 6.6); hint: use TcOptions::priority on the netlink path".into(),
                });
            }
            let nl = TcFilter::attach(prog, ifindex, &ifname, direction, &opts)?;
            filter = Some((nl.priority, nl.handle));
            Ok(Link::from_legacy(Box::new(nl)))
        },
    )?;
    Ok(TcLink {
        link,
        ifindex,
        direction,
        filter,
    })
}

/// A `cls_bpf` filter we added: everything needed to remove exactly it.
#[derive(Debug)]
struct TcFilter {
    /// Opened at attach, so detach reaches the same network namespace.
    sock: Socket,
    ifindex: u32,
    ifname: String,
    direction: TcDirection,
    priority: u16,
    handle: u32,
    prog_id: u32,
    created_qdisc: bool,
    _prog: OwnedFd,
}

impl TcFilter {
    fn attach(
        prog: BorrowedFd,
        ifindex: u32,
        ifname: &str,
        direction: TcDirection,
        opts: &TcOptions,
    ) -> Result<Self, LinkError> {
        let prog_id = prog_id(prog)?;
        let keep = dup(prog, "program")?;
        let sock = Socket::route()?;
        let created_qdisc = nltc::add_clsact(&sock, ifindex, ifname)?;
        let new = NewBpfFilter {
            parent: direction.parent(),
            priority: opts.priority,
            handle: opts.handle,
            prog_fd: prog.as_raw_fd(),
            name: opts.name.unwrap_or("oxbpf"),
        };
        let (priority, handle) = match nltc::add_bpf_filter(&sock, ifindex, ifname, new) {
            Ok(v) => v,
            Err(e) => {
                if created_qdisc {
                    let _ = nltc::del_clsact(&sock, ifindex, ifname);
                }
                return Err(e.into());
            }
        };
        Ok(TcFilter {
            sock,
            ifindex,
            ifname: ifname.to_string(),
            direction,
            priority,
            handle,
            prog_id,
            created_qdisc,
            _prog: keep,
        })
    }
}

impl Legacy for TcFilter {
    fn path(&self) -> AttachPath {
        AttachPath::Netlink
    }

    fn info(&self) -> Result<LinkInfo, LinkError> {
        Ok(LinkInfo {
            id: None,
            prog_id: self.prog_id,
            link_type: None,
            target: LinkTarget::Ifindex(self.ifindex),
            attach_type: Some(self.direction.attach_type()),
        })
    }

    fn detach(&mut self) -> Result<(), LinkError> {
        let parent = self.direction.parent();
        let ours = match nltc::list_filters(&self.sock, self.ifindex, parent) {
            Ok(fs) => fs.iter().any(|f| {
                f.priority == self.priority && f.handle == self.handle && f.prog_id == self.prog_id
            }),
            // The device (or its qdisc) is gone, and our filter with it.
            Err(e) if matches!(e.errno(), Some(libc::ENODEV | libc::EINVAL | libc::ENOENT)) => {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        };
        if !ours {
            tracing::debug!(
                "tc filter pref {} handle {:#x} on {} is gone or not ours; left alone",
                self.priority,
                self.handle,
                self.ifname
            );
        } else {
            match nltc::del_filter(
                &self.sock,
                self.ifindex,
                &self.ifname,
                parent,
                self.priority,
                self.handle,
            ) {
                Err(e) if matches!(e.errno(), Some(libc::ENOENT | libc::ENODEV)) => {}
                r => r?,
            }
        }
        if self.created_qdisc {
            let empty = [TcDirection::Ingress, TcDirection::Egress].iter().all(|d| {
                nltc::list_filters(&self.sock, self.ifindex, d.parent()).is_ok_and(|f| f.is_empty())
            });
            if empty {
                match nltc::del_clsact(&self.sock, self.ifindex, &self.ifname) {
                    Err(e)
                        if matches!(
                            e.errno(),
                            Some(libc::ENOENT | libc::EINVAL | libc::ENODEV)
                        ) => {}
                    r => r?,
                }
            }
            self.created_qdisc = false;
        }
        Ok(())
    }
}

/// One program on a tcx hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcxEntry {
    /// The program.
    pub prog_id: u32,
    /// Its tcx link (`None` if attached with `BPF_PROG_ATTACH`).
    pub link_id: Option<u32>,
}

/// What runs on one direction of a device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcInfo {
    /// tcx programs in run order (empty on kernels without tcx).
    pub tcx: Vec<TcxEntry>,
    /// The tcx hook's revision (`None` without tcx).
    pub revision: Option<u64>,
    /// Filters under the clsact qdisc (any classifier kind; ours are `bpf`).
    pub filters: Vec<nltc::Filter>,
}

/// `BPF_PROG_QUERY` with the v6.6 multi-prog fields.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    count: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// Reads what runs on `direction` of device `iface` (name or ifindex): tcx programs (`BPF_PROG_QUERY`) and
/// clsact filters (`RTM_GETTFILTER`).
pub fn query_tc(
    iface: impl Into<super::Iface>,
    direction: TcDirection,
) -> Result<TcInfo, LinkError> {
    let ifindex = iface.into().index()?;
    let mut info = TcInfo::default();
    let mut progs = [0u32; 64];
    let mut links = [0u32; 64];
    let mut a = QueryAttr {
        target: ifindex,
        attach_type: direction.attach_type().0,
        prog_ids: sys::ptr_to_u64(progs.as_mut_ptr()),
        link_ids: sys::ptr_to_u64(links.as_mut_ptr()),
        count: progs.len() as u32,
        ..Default::default()
    };
    match unsafe { sys::bpf(Cmd::ProgQuery, &mut a) } {
        Ok(_) => {
            let n = (a.count as usize).min(progs.len());
            info.revision = Some(a.revision);
            info.tcx = (0..n)
                .map(|i| TcxEntry {
                    prog_id: progs[i],
                    link_id: (links[i] != 0).then_some(links[i]),
                })
                .collect();
        }
        Err(e) if e.is_unsupported() || e.errno == libc::ENODEV => {}
        Err(source) => {
            return Err(LinkError::Sys {
                what: format!("query tcx {} of ifindex {ifindex}", direction.name()),
                source,
            })
        }
    }
    let sock = Socket::route()?;
    get_link(&sock, ifindex).map_err(|e| match e.errno() {
        Some(libc::ENODEV) => LinkError::NoSuchDevice { ifindex },
        _ => e.into(),
    })?;
    if nltc::has_clsact(&sock, ifindex)? {
        info.filters = nltc::list_filters(&sock, ifindex, direction.parent())?;
    }
    Ok(info)
}
