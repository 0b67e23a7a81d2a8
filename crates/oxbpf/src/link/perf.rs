//! Perf-event based hooks (tracepoints, uprobes, kprobes): `perf_event_open(2)` an event,
//! then attach the program with a perf `bpf_link` (`BPF_LINK_CREATE`, attach type
//! `BPF_PERF_EVENT`, v5.15+), falling back to `PERF_EVENT_IOC_SET_BPF` + `PERF_EVENT_IOC_ENABLE`
//! on the event fd. The choice is made by trying and cached (see [`super::support`]).
//!
//! Tracepoint ids come from tracefs (`events/<category>/<name>/id`). When tracefs is not
//! mounted anywhere, it is mounted at `/sys/kernel/tracing` if the process may (root in the
//! initial mount namespace); otherwise the error says how to mount it.

use super::legacy::Legacy;
use super::support::{link_create_attr, link_or_legacy, Mechanism};
use super::{AttachPath, Link, LinkError, LinkInfo, LinkTarget};
use crate::spec::AttachType;
use crate::sys;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `PERF_TYPE_TRACEPOINT`.
pub(crate) const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `PERF_EVENT_IOC_ENABLE` = `_IO('$', 0)`.
const IOC_ENABLE: libc::c_ulong = 0x2400;
/// `PERF_EVENT_IOC_DISABLE` = `_IO('$', 1)`.
const IOC_DISABLE: libc::c_ulong = 0x2401;
/// `PERF_EVENT_IOC_SET_BPF` = `_IOW('$', 8, __u32)`.
const IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// `struct perf_event_attr` up to `config2` (`PERF_ATTR_SIZE_VER1`, 72 bytes): every kernel
/// with BPF accepts it.
#[repr(C)]
#[derive(Default)]
pub(crate) struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    pub config1: u64,
    pub config2: u64,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 72);

/// `perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)`.
pub(crate) fn perf_event_open(
    attr: &mut PerfEventAttr,
    pid: i32,
    cpu: i32,
    what: &str,
) -> Result<OwnedFd, LinkError> {
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *mut PerfEventAttr,
            pid,
            cpu,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(super::perf_perm::refused(
            format!("perf_event_open for {what}"),
            std::io::Error::last_os_error(),
            attr.type_,
        ));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A program set on a perf event with `PERF_EVENT_IOC_SET_BPF`; closing the event detaches.
#[derive(Debug)]
struct PerfIoctl {
    event: Option<OwnedFd>,
    prog_id: u32,
}

impl Legacy for PerfIoctl {
    fn path(&self) -> AttachPath {
        AttachPath::PerfIoctl
    }

    fn info(&self) -> Result<LinkInfo, LinkError> {
        Ok(LinkInfo {
            id: None,
            prog_id: self.prog_id,
            link_type: None,
            target: LinkTarget::PerfEvent,
            attach_type: Some(AttachType::PERF_EVENT),
        })
    }

    fn detach(&mut self) -> Result<(), LinkError> {
        if let Some(fd) = self.event.take() {
            unsafe { libc::ioctl(fd.as_raw_fd(), IOC_DISABLE, 0) };
        }
        Ok(())
    }

    fn keep(mut self: Box<Self>) {
        if let Some(fd) = self.event.take() {
            let _ = fd.into_raw_fd();
        }
    }
}

/// Attaches `prog` to the opened perf event `event` (link, else ioctl); `what` names it.
pub(crate) fn attach_perf_event(
    prog: BorrowedFd,
    event: OwnedFd,
    cookie: u64,
    mech: Mechanism,
    what: &str,
) -> Result<Link, LinkError> {
    let t = AttachType::PERF_EVENT;
    let event_raw = event.as_raw_fd();
    let mut event = Some(event);
    link_or_legacy(
        t,
        mech,
        || what.to_string(),
        || {
            let attr = link_create_attr(
                prog.as_raw_fd(),
                event_raw as u32,
                t,
                0,
                &[],
                &[(0, cookie)],
            );
            sys::link_create(&attr).map(Link::from_fd)
        },
        || {
            let ev = event.take().ok_or(LinkError::Detached)?;
            let ioctl = |req, arg: libc::c_int, step: &str| {
                if unsafe { libc::ioctl(ev.as_raw_fd(), req, arg) } < 0 {
                    return Err(LinkError::Io {
                        what: format!("{what}: {step}"),
                        source: std::io::Error::last_os_error(),
                    });
                }
                Ok(())
            };
            ioctl(IOC_SET_BPF, prog.as_raw_fd(), "PERF_EVENT_IOC_SET_BPF")?;
            ioctl(IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")?;
            Ok(Link::from_legacy(Box::new(PerfIoctl {
                event: Some(ev),
                prog_id: super::legacy::prog_id(prog)?,
            })))
        },
    )
}

static TRACEFS: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Where tracefs is mounted, mounting it at `/sys/kernel/tracing` when it is nowhere and the
/// process is allowed to.
pub fn tracefs() -> Result<PathBuf, LinkError> {
    let mut cached = TRACEFS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = &*cached {
        return Ok(p.clone());
    }
    let found = find_tracefs().map_or_else(mount_tracefs, Ok)?;
    *cached = Some(found.clone());
    Ok(found)
}

fn find_tracefs() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let mut debugfs = None;
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        match f[2] {
            "tracefs" => return Some(PathBuf::from(f[1])),
            "debugfs" => debugfs = Some(PathBuf::from(f[1]).join("tracing")),
            _ => {}
        }
    }
    debugfs.filter(|p| p.join("events").is_dir())
}

fn mount_tracefs() -> Result<PathBuf, LinkError> {
    let target = Path::new("/sys/kernel/tracing");
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(LinkError::Io {
            what: "tracefs is not mounted, and mounting it at /sys/kernel/tracing failed (hint: `mount -t tracefs nodev /sys/kernel/tracing` as root)".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    tracing::info!("mounted tracefs at {}", target.display());
    Ok(target.to_path_buf())
}

fn valid_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// The perf id of tracepoint `category/name` (tracefs `events/<category>/<name>/id`).
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64, LinkError> {
    let what = format!("find tracepoint {category}/{name}");
    if !valid_component(category) || !valid_component(name) {
        return Err(LinkError::Invalid {
            what,
            reason: "category and name must be single path components (e.g. \"syscalls\", \"sys_enter_getpid\")".into(),
        });
    }
    let path = tracefs()?
        .join("events")
        .join(category)
        .join(name)
        .join("id");
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LinkError::Invalid {
            what: what.clone(),
            reason: format!(
                "{} does not exist; hint: list {}/events/{category}/",
                path.display(),
                path.parent()
                    .and_then(|p| p.parent())
                    .and_then(|p| p.parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        },
        _ => super::perf_perm::refused(format!("read {}", path.display()), e, PERF_TYPE_TRACEPOINT),
    })?;
    text.trim().parse().map_err(|_| LinkError::Invalid {
        what,
        reason: format!("{} holds {:?}, not a number", path.display(), text.trim()),
    })
}

/// Options for the perf-event based attach functions.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct PerfOptions {
    /// Perf link, ioctl, or whichever the kernel has.
    pub mechanism: Mechanism,
    /// `bpf_get_attach_cookie()` value (perf link path only).
    pub cookie: u64,
}

impl PerfOptions {
    /// Sets [`mechanism`](Self::mechanism).
    pub fn mechanism(mut self, m: Mechanism) -> Self {
        self.mechanism = m;
        self
    }
    /// Sets [`cookie`](Self::cookie).
    pub fn cookie(mut self, c: u64) -> Self {
        self.cookie = c;
        self
    }
}

/// Attaches the `tracepoint` program `prog` to tracepoint `category/name`
/// (e.g. `"syscalls"`, `"sys_enter_getpid"`), system-wide.
pub fn attach_tracepoint(
    prog: BorrowedFd,
    category: &str,
    name: &str,
    opts: PerfOptions,
) -> Result<Link, LinkError> {
    let id = tracepoint_id(category, name)?;
    let what = format!("attach to tracepoint {category}/{name}");
    let mut attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        config: id,
        sample_period: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    let event = perf_event_open(&mut attr, -1, 0, &what)?;
    attach_perf_event(prog, event, opts.cookie, opts.mechanism, &what)
}
