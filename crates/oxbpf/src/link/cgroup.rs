//! cgroup hooks (cgroup_skb, cgroup/sock, sock_addr, sockops, sysctl, sockopt, device): a
//! cgroup `bpf_link` (v5.7+, `BPF_LINK_CREATE` with the cgroup directory as target), falling
//! back to `BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI` (or the flags asked for). The choice is
//! made by trying, and cached per attach type (see [`super::support`]).

use super::legacy::ProgAttach;
use super::support::{link_create_attr, link_or_legacy, Mechanism};
use super::{Link, LinkError, LinkTarget};
use crate::spec::AttachType;
use crate::sys::{self, attr::ProgQueryAttr, Cmd};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// `BPF_F_ALLOW_OVERRIDE`.
const BPF_F_ALLOW_OVERRIDE: u32 = 1;
/// `BPF_F_ALLOW_MULTI`.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// How a `BPF_PROG_ATTACH` (legacy path) program coexists with others on the cgroup.
/// Links always behave like [`Multi`](Self::Multi).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CgroupAttachMode {
    /// `BPF_F_ALLOW_MULTI`: several programs run, this cgroup's and its ancestors'.
    #[default]
    Multi,
    /// `BPF_F_ALLOW_OVERRIDE`: one program, which descendants may override.
    Override,
    /// No flag: one program, descendants may not attach.
    Exclusive,
}

impl CgroupAttachMode {
    fn flags(self) -> u32 {
        match self {
            CgroupAttachMode::Multi => BPF_F_ALLOW_MULTI,
            CgroupAttachMode::Override => BPF_F_ALLOW_OVERRIDE,
            CgroupAttachMode::Exclusive => 0,
        }
    }
}

/// Options for [`attach_cgroup`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct CgroupOptions {
    /// Link, `BPF_PROG_ATTACH`, or whichever the kernel has.
    pub mechanism: Mechanism,
    /// Flags for the `BPF_PROG_ATTACH` path.
    pub mode: CgroupAttachMode,
}

impl CgroupOptions {
    /// Sets [`mechanism`](Self::mechanism).
    pub fn mechanism(mut self, m: Mechanism) -> Self {
        self.mechanism = m;
        self
    }
    /// Sets [`mode`](Self::mode).
    pub fn mode(mut self, m: CgroupAttachMode) -> Self {
        self.mode = m;
        self
    }
}

/// Opens a cgroup v2 directory for [`attach_cgroup`].
pub fn open_cgroup(path: impl AsRef<Path>) -> Result<OwnedFd, LinkError> {
    open_dir(path.as_ref(), "cgroup")
}

pub(crate) fn open_dir(path: &Path, what: &str) -> Result<OwnedFd, LinkError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|source| LinkError::Io {
            what: format!("open {what} {}", path.display()),
            source,
        })
}

/// The inode number behind `fd` (the cgroup id of a cgroup v2 directory, the namespace
/// inode of a netns file).
pub(crate) fn inode(fd: BorrowedFd) -> u64 {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0 {
        st.st_ino
    } else {
        0
    }
}

/// Attaches `prog` to the cgroup v2 directory `cgroup` (an fd from [`open_cgroup`]) at
/// `attach_type` (e.g. `CGROUP_INET_EGRESS`, `CGROUP_INET4_CONNECT`, `CGROUP_SOCK_OPS`).
///
/// ```no_run
/// use oxbpf::link::{attach_cgroup, open_cgroup, CgroupOptions};
/// use oxbpf::spec::AttachType;
/// use std::os::fd::AsFd;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("cgroup/connect4") int block(struct bpf_sock_addr *ctx) { ... }
/// let prog = &coll.programs()["block"];
/// let cgroup = open_cgroup("/sys/fs/cgroup/system.slice")?;
/// let link = attach_cgroup(
///     prog.fd(),
///     cgroup.as_fd(),
///     AttachType::CGROUP_INET4_CONNECT,
///     CgroupOptions::default(), // a bpf_link, or BPF_PROG_ATTACH on kernels before 5.7
/// )?;
/// println!("attached via {:?}", link.path());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_cgroup(
    prog: BorrowedFd,
    cgroup: BorrowedFd,
    attach_type: AttachType,
    opts: CgroupOptions,
) -> Result<Link, LinkError> {
    let id = inode(cgroup);
    let what = || format!("attach {attach_type} program to cgroup {id}");
    link_or_legacy(
        attach_type,
        opts.mechanism,
        what,
        || {
            let attr = link_create_attr(
                prog.as_raw_fd(),
                cgroup.as_raw_fd() as u32,
                attach_type,
                0,
                &[],
                &[],
            );
            sys::link_create(&attr).map(Link::from_fd)
        },
        || {
            let pa = ProgAttach::attach(
                cgroup,
                prog,
                attach_type,
                opts.mode.flags(),
                LinkTarget::Cgroup { id },
                false,
                &what(),
            )?;
            Ok(Link::from_legacy(Box::new(pa)))
        },
    )
}

/// The ids of the programs attached to `target` (cgroup or netns fd, sockmap) at
/// `attach_type`, by either path (`BPF_PROG_QUERY`).
pub fn query_attached(target: BorrowedFd, attach_type: AttachType) -> Result<Vec<u32>, LinkError> {
    let mut ids = vec![0u32; 64];
    let mut a = ProgQueryAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_type: attach_type.0,
        prog_ids: sys::ptr_to_u64(ids.as_mut_ptr()),
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    unsafe { sys::bpf(Cmd::ProgQuery, &mut a) }.map_err(|source| LinkError::Sys {
        what: format!("query {attach_type} programs"),
        source,
    })?;
    ids.truncate((a.prog_cnt as usize).min(64));
    Ok(ids)
}
