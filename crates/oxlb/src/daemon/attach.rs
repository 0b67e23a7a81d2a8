//! Attaching the datapath to the configured interfaces, and taking it off again.
//!
//! A bpf_link is pinned as `<pin dir>/link_<iface>` so the datapath outlives the daemon; a
//! restarted daemon swaps its program into that link (`BPF_LINK_UPDATE`: atomic, no packet sees
//! an interface without XDP). On kernels without XDP links the netlink attachment persists by
//! itself and is replaced with `XDP_FLAGS_REPLACE`.

use super::undo::Undo;
use super::DaemonError;
use crate::config::{Config, XdpMode as ConfigMode};
use oxbpf::link::{attach_xdp, query_xdp, AttachPath, Link, LinkError, XdpMode, XdpOptions};
use oxbpf::netlink::{self, xdp::SetXdp};
use oxbpf::prog::Program;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How one interface got the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachReport {
    /// Interface name.
    pub iface: String,
    /// Interface index.
    pub ifindex: u32,
    /// The mode the kernel reports after attaching: `generic`, `driver`, `offload`
    /// (`unknown` when it cannot be read).
    pub mode: String,
    /// `link`, `netlink`, `link (program replaced)` when a pinned link was taken over, or
    /// `link (re-attached: A -> B mode)` when the configured mode changed.
    pub path: String,
}

fn mode(m: ConfigMode) -> XdpMode {
    match m {
        ConfigMode::Auto => XdpMode::Auto,
        ConfigMode::Generic => XdpMode::Generic,
        ConfigMode::Driver => XdpMode::Driver,
    }
}

fn mode_name(m: XdpMode) -> &'static str {
    match m {
        XdpMode::Generic => "generic",
        XdpMode::Driver => "driver",
        XdpMode::Offload => "offload",
        _ => "auto",
    }
}

/// The pin path of an interface's link.
pub fn link_pin(pin_dir: &Path, iface: &str) -> PathBuf {
    pin_dir.join(format!("link_{iface}"))
}

/// Attaches `prog` to every configured interface, taking over links pinned by an earlier run
/// (re-attached when the configured mode differs from the one they run in). `undo` learns
/// how to put each interface back as it was.
pub fn attach_all(
    config: &Config,
    prog: &Program,
    pin_dir: &Path,
    undo: &mut Undo,
) -> Result<Vec<AttachReport>, DaemonError> {
    let mut out = Vec::new();
    for i in &config.interfaces {
        let ifindex = netlink::xdp::ifindex(&i.name).map_err(|e| DaemonError::Attach {
            iface: i.name.clone(),
            source: e.into(),
        })?;
        let path = attach_one(&i.name, ifindex, mode(i.xdp_mode), prog, pin_dir, undo)?;
        out.push(AttachReport {
            iface: i.name.clone(),
            ifindex,
            mode: real_mode(ifindex),
            path,
        });
    }
    Ok(out)
}

/// Fails unless every configured interface exists (checked before anything is created).
pub fn require_interfaces(config: &Config) -> Result<(), DaemonError> {
    for i in &config.interfaces {
        netlink::xdp::ifindex(&i.name).map_err(|e| DaemonError::Attach {
            iface: i.name.clone(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// The mode of the XDP program on `ifindex`, as the kernel reports it now.
pub fn real_mode(ifindex: u32) -> String {
    match query_xdp(ifindex).ok().and_then(|i| i.mode()) {
        Some(m) => mode_name(m).into(),
        None => "unknown".into(),
    }
}

fn datapath_err(iface: &str) -> impl Fn(String) -> DaemonError + '_ {
    move |e| DaemonError::Datapath(format!("{iface}: {e}"))
}

/// Attaches `prog` in `mode` and pins the link at `pin` (netlink attachments need no pin).
fn attach_pinned(
    prog: BorrowedFd,
    ifindex: u32,
    m: XdpMode,
    pin: &Path,
) -> Result<AttachPath, LinkError> {
    let mut link = attach_xdp(prog, ifindex, m, XdpOptions::default())?;
    let path = link.path();
    if path == AttachPath::Link {
        link.pin(pin)?;
    }
    link.keep();
    Ok(path)
}

/// Removes an attachment made by [`attach_pinned`]: the pinned link, else `prog` by netlink.
fn detach_pinned(iface: &str, ifindex: u32, pin: &Path, prog: BorrowedFd) -> Result<(), String> {
    if pin.exists() {
        let link = Link::from_pin(pin).map_err(|e| e.to_string())?;
        if let Some(fd) = link.fd() {
            oxbpf::sys::link_detach(fd).map_err(|e| e.to_string())?;
        }
        return std::fs::remove_file(pin).map_err(|e| format!("{}: {e}", pin.display()));
    }
    let flags = match query_xdp(ifindex).ok().and_then(|i| i.mode()) {
        Some(m) => m.flags(),
        None => 0,
    };
    let sock = netlink::Socket::route().map_err(|e| e.to_string())?;
    let req = SetXdp {
        fd: -1,
        flags: flags | netlink::xdp::XDP_FLAGS_REPLACE,
        expected_fd: Some(prog.as_raw_fd()),
    };
    netlink::xdp::set_xdp(&sock, ifindex, iface, req).map_err(|e| e.to_string())
}

fn attach_one(
    iface: &str,
    ifindex: u32,
    wanted: XdpMode,
    prog: &Program,
    pin_dir: &Path,
    undo: &mut Undo,
) -> Result<String, DaemonError> {
    let err = datapath_err(iface);
    let pin = link_pin(pin_dir, iface);
    let current = query_xdp(ifindex).map_err(|e| err(e.to_string()))?.mode();
    let ours = prog
        .fd()
        .try_clone_to_owned()
        .map_err(|e| err(e.to_string()))?;
    if pin.exists() {
        let link = Link::from_pin(&pin).map_err(|e| err(e.to_string()))?;
        let fd = link
            .fd()
            .ok_or_else(|| err(format!("{}: pinned link has no fd", pin.display())))?;
        let old_id = link.info().map_err(|e| err(e.to_string()))?.prog_id;
        // Held until the undo runs: the link drops its reference when its program is swapped.
        let old = Program::from_id(old_id).map_err(|e| err(e.to_string()))?;
        if let Some(cur) = current.filter(|c| wanted != XdpMode::Auto && *c != wanted) {
            oxbpf::sys::link_detach(fd).map_err(|e| err(format!("detach pinned link: {e}")))?;
            std::fs::remove_file(&pin).map_err(|e| DaemonError::io(&pin, e))?;
            return reattach(iface, ifindex, (cur, old), wanted, ours, &pin, undo);
        }
        oxbpf::sys::link_update(fd, prog.fd(), None)
            .map_err(|e| err(format!("replace program in pinned link: {e}")))?;
        undo.push(
            format!("{iface}: program swap in {}", pin.display()),
            move || {
                let link = Link::from_pin(&pin).map_err(|e| e.to_string())?;
                let fd = link.fd().ok_or("pinned link has no fd")?;
                oxbpf::sys::link_update(fd, old.fd(), None).map_err(|e| e.to_string())
            },
        );
        return Ok("link (program replaced)".into());
    }
    let path = match attach_pinned(prog.fd(), ifindex, wanted, &pin) {
        Ok(p) => p,
        Err(e) if matches!(e.errno(), Some(libc::EBUSY) | Some(libc::EEXIST)) => {
            replace_netlink(iface, ifindex, wanted, prog, undo)?;
            return Ok("netlink (program replaced)".into());
        }
        Err(source) => {
            return Err(DaemonError::Attach {
                iface: iface.into(),
                source,
            })
        }
    };
    let name = iface.to_string();
    undo.push(format!("{iface}: new XDP attachment"), move || {
        detach_pinned(&name, ifindex, &pin, ours.as_fd())
    });
    Ok(match path {
        AttachPath::Link => "link".into(),
        _ => "netlink".into(),
    })
}

/// After the old link was detached: attaches `ours` in `wanted` mode, or puts the old program
/// back in its mode and fails with the reason.
fn reattach(
    iface: &str,
    ifindex: u32,
    (old_mode, old): (XdpMode, Program),
    wanted: XdpMode,
    ours: OwnedFd,
    pin: &Path,
    undo: &mut Undo,
) -> Result<String, DaemonError> {
    let (from, to) = (mode_name(old_mode), mode_name(wanted));
    tracing::warn!(
        "{iface}: re-attaching in {to} mode (it ran in {from} mode): packets pass to the host \
         stack for the moment in between"
    );
    if let Err(e) = attach_pinned(ours.as_fd(), ifindex, wanted, pin) {
        let back = attach_pinned(old.fd(), ifindex, old_mode, pin)
            .map(|_| format!("it stays in {from} mode with the program it had"))
            .unwrap_or_else(|e2| format!("and putting it back in {from} mode failed too: {e2}"));
        return Err(DaemonError::Datapath(format!(
            "{iface}: cannot attach in {to} mode: {e}; {back}"
        )));
    }
    let (name, pin) = (iface.to_string(), pin.to_path_buf());
    undo.push(format!("{iface}: re-attach in {from} mode"), move || {
        detach_pinned(&name, ifindex, &pin, ours.as_fd())?;
        attach_pinned(old.fd(), ifindex, old_mode, &pin)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    Ok(format!("link (re-attached: {from} -> {to} mode)"))
}

/// Replaces an earlier oxlb program attached through netlink; refuses to replace anyone else's,
/// and to change its mode (that needs `oxlb down`).
fn replace_netlink(
    iface: &str,
    ifindex: u32,
    wanted: XdpMode,
    prog: &Program,
    undo: &mut Undo,
) -> Result<(), DaemonError> {
    let info = query_xdp(ifindex).map_err(|source| DaemonError::Attach {
        iface: iface.into(),
        source,
    })?;
    let busy = |why: &str| {
        DaemonError::Datapath(format!(
            "{iface}: another XDP program is attached ({why}); detach it first"
        ))
    };
    let old_id = info.prog_id.ok_or_else(|| busy("several modes"))?;
    let old = Program::from_id(old_id).map_err(|e| DaemonError::Datapath(e.to_string()))?;
    if old.name() != super::kernel::PROGRAM && !super::kernel::PROGRAM.starts_with(old.name()) {
        return Err(busy(&format!("{} id {old_id}", old.name())));
    }
    if info.link_id.is_some() {
        return Err(busy("held by a bpf_link that is not oxlb's pin"));
    }
    let current = info.mode();
    if let Some(cur) = current.filter(|c| wanted != XdpMode::Auto && *c != wanted) {
        return Err(DaemonError::Datapath(format!(
            "{iface}: oxlb runs there in {} mode through netlink; changing to {} mode needs \
             `oxlb down` first",
            mode_name(cur),
            mode_name(wanted)
        )));
    }
    let flags = current.map_or(0, XdpMode::flags);
    let sock = netlink::Socket::route().map_err(|e| DaemonError::Datapath(e.to_string()))?;
    let swap = move |sock: &netlink::Socket, new: BorrowedFd, expected: BorrowedFd, iface: &str| {
        let req = SetXdp {
            fd: new.as_raw_fd(),
            flags: flags | netlink::xdp::XDP_FLAGS_REPLACE,
            expected_fd: Some(expected.as_raw_fd()),
        };
        netlink::xdp::set_xdp(sock, ifindex, iface, req)
    };
    swap(&sock, prog.fd(), old.fd(), iface).map_err(|e| DaemonError::Datapath(e.to_string()))?;
    let ours = prog
        .fd()
        .try_clone_to_owned()
        .map_err(|e| DaemonError::Datapath(e.to_string()))?;
    let name = iface.to_string();
    undo.push(format!("{iface}: netlink program swap"), move || {
        swap(&sock, old.fd(), ours.as_fd(), &name).map_err(|e| e.to_string())
    });
    Ok(())
}

/// Detaches oxlb from every interface recorded in `ifaces` (pinned link or netlink).
pub fn detach_all(pin_dir: &Path, ifaces: &[String]) -> Vec<String> {
    let mut done = Vec::new();
    for iface in ifaces {
        let pin = link_pin(pin_dir, iface);
        if pin.exists() {
            if let Ok(link) = Link::from_pin(&pin) {
                if let Some(fd) = link.fd() {
                    let _ = oxbpf::sys::link_detach(fd);
                }
            }
            let _ = std::fs::remove_file(&pin);
            done.push(format!("{iface}: link detached"));
            continue;
        }
        let Ok(ifindex) = netlink::xdp::ifindex(iface) else {
            continue;
        };
        let Ok(info) = query_xdp(ifindex) else {
            continue;
        };
        let ours = info
            .prog_id
            .and_then(|id| Program::from_id(id).ok())
            .is_some_and(|p| super::kernel::PROGRAM.starts_with(p.name()));
        if ours {
            let flags = match info.mode() {
                Some(XdpMode::Generic) => netlink::xdp::XDP_FLAGS_SKB_MODE,
                Some(XdpMode::Driver) => netlink::xdp::XDP_FLAGS_DRV_MODE,
                _ => 0,
            };
            if let Ok(sock) = netlink::Socket::route() {
                let req = SetXdp {
                    fd: -1,
                    flags,
                    expected_fd: None,
                };
                if netlink::xdp::set_xdp(&sock, ifindex, iface, req).is_ok() {
                    done.push(format!("{iface}: netlink attachment removed"));
                }
            }
        }
    }
    done
}
