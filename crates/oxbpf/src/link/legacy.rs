//! Attachments without a kernel link object, owned by a [`Link`](super::Link): the
//! [`Legacy`] trait, and the `BPF_PROG_ATTACH` attachment shared by the cgroup, sockmap and
//! netns hooks.

use super::{AttachPath, LinkError, LinkInfo, LinkTarget};
use crate::spec::AttachType;
use crate::sys::{self, attr::ProgAttachAttr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// An attachment the process removes itself (no `bpf_link` holds it).
///
/// Implementations never detach in their own `Drop`: [`Link`](super::Link) calls
/// [`detach`](Legacy::detach) on drop, and [`keep`](Legacy::keep) when asked to leave it.
pub(crate) trait Legacy: std::fmt::Debug + Send + Sync {
    /// The mechanism used.
    fn path(&self) -> AttachPath;
    /// What is attached where.
    fn info(&self) -> Result<LinkInfo, LinkError>;
    /// Removes exactly our attachment (never someone else's).
    fn detach(&mut self) -> Result<(), LinkError>;
    /// Leaves it attached; the default simply forgets the bookkeeping.
    fn keep(self: Box<Self>) {}
}

/// Duplicates a borrowed fd so the attachment can outlive the caller's handle.
pub(crate) fn dup(fd: BorrowedFd, what: &str) -> Result<OwnedFd, LinkError> {
    fd.try_clone_to_owned().map_err(|source| LinkError::Io {
        what: format!("duplicate {what} fd"),
        source,
    })
}

/// The kernel id of a program fd.
pub(crate) fn prog_id(prog: BorrowedFd) -> Result<u32, LinkError> {
    sys::prog_info(prog)
        .map(|i| i.id)
        .map_err(|source| LinkError::Sys {
            what: "read program info".into(),
            source,
        })
}

/// A `BPF_PROG_ATTACH` attachment; detach is `BPF_PROG_DETACH` naming our program, so with
/// `BPF_F_ALLOW_MULTI` only our entry goes.
#[derive(Debug)]
pub(crate) struct ProgAttach {
    pub target: OwnedFd,
    pub prog: OwnedFd,
    pub prog_id: u32,
    pub attach_type: AttachType,
    pub link_target: LinkTarget,
    /// netns hooks: `BPF_PROG_ATTACH`/`DETACH` act on the calling thread's namespace with
    /// `target_fd` 0, so both run on a helper thread that joined `target`.
    pub netns: bool,
}

/// Runs `f` on a short-lived thread that joined the network namespace `ns` (`setns(2)`).
pub(crate) fn in_netns<T: Send>(
    ns: BorrowedFd,
    f: impl FnOnce() -> Result<T, LinkError> + Send,
) -> Result<T, LinkError> {
    let raw = ns.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(move || {
            if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } != 0 {
                return Err(LinkError::Io {
                    what: "join the target network namespace (setns)".into(),
                    source: std::io::Error::last_os_error(),
                });
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(LinkError::Io {
                what: "netns helper thread".into(),
                source: std::io::Error::other("panicked"),
            })
        })
    })
}

impl ProgAttach {
    /// Attaches `prog` to `target` with `flags`; `what` names it in errors.
    pub fn attach(
        target: BorrowedFd,
        prog: BorrowedFd,
        attach_type: AttachType,
        flags: u32,
        link_target: LinkTarget,
        netns: bool,
        what: &str,
    ) -> Result<Self, LinkError> {
        let me = ProgAttach {
            target: dup(target, "attach target")?,
            prog: dup(prog, "program")?,
            prog_id: prog_id(prog)?,
            attach_type,
            link_target,
            netns,
        };
        let attr = ProgAttachAttr {
            target_fd: if netns { 0 } else { target.as_raw_fd() as u32 },
            attach_bpf_fd: prog.as_raw_fd() as u32,
            attach_type: attach_type.0,
            attach_flags: flags,
            replace_bpf_fd: 0,
        };
        let attach = || {
            sys::prog_attach(&attr).map_err(|source| LinkError::Sys {
                what: format!("{what} via BPF_PROG_ATTACH"),
                source,
            })
        };
        if netns {
            in_netns(target, attach)?;
        } else {
            attach()?;
        }
        Ok(me)
    }
}

impl Legacy for ProgAttach {
    fn path(&self) -> AttachPath {
        AttachPath::ProgAttach
    }

    fn info(&self) -> Result<LinkInfo, LinkError> {
        Ok(LinkInfo {
            id: None,
            prog_id: self.prog_id,
            link_type: None,
            target: self.link_target,
            attach_type: Some(self.attach_type),
        })
    }

    fn detach(&mut self) -> Result<(), LinkError> {
        let attr = ProgAttachAttr {
            target_fd: if self.netns {
                0
            } else {
                self.target.as_raw_fd() as u32
            },
            attach_bpf_fd: self.prog.as_fd().as_raw_fd() as u32,
            attach_type: self.attach_type.0,
            ..Default::default()
        };
        let r = if self.netns {
            in_netns(self.target.as_fd(), || Ok(sys::prog_detach(&attr)))?
        } else {
            sys::prog_detach(&attr)
        };
        match r {
            // Already gone (someone detached it, or the cgroup/map went away).
            Err(e) if e.errno == libc::ENOENT => Ok(()),
            r => r.map_err(|source| LinkError::Sys {
                what: format!("detach program {} ({})", self.prog_id, self.attach_type),
                source,
            }),
        }
    }
}
