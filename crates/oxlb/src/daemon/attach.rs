//! Attaching the datapath to the configured interfaces, and taking it off again.
//!
//! A bpf_link is pinned as `<pin dir>/link_<iface>` so the datapath outlives the daemon; a
//! restarted daemon swaps its program into that link (`BPF_LINK_UPDATE`: atomic, no packet sees
//! an interface without XDP). On kernels without XDP links the netlink attachment persists by
//! itself and is replaced with `XDP_FLAGS_REPLACE`.

use super::DaemonError;
use crate::config::{Config, XdpMode as ConfigMode};
use oxbpf::link::{attach_xdp, query_xdp, AttachPath, Link, XdpMode, XdpOptions};
use oxbpf::netlink::{self, xdp::SetXdp};
use oxbpf::prog::Program;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// How one interface got the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachReport {
    /// Interface name.
    pub iface: String,
    /// Interface index.
    pub ifindex: u32,
    /// `generic`, `driver` or `auto`.
    pub mode: String,
    /// `link`, `netlink`, or `link (replaced)` when a pinned link was taken over.
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

/// Attaches `prog` to every configured interface (taking over links pinned by an earlier run).
pub fn attach_all(
    config: &Config,
    prog: &Program,
    pin_dir: &Path,
) -> Result<Vec<AttachReport>, DaemonError> {
    let mut out = Vec::new();
    for i in &config.interfaces {
        let err = |source| DaemonError::Attach {
            iface: i.name.clone(),
            source,
        };
        let ifindex = netlink::xdp::ifindex(&i.name).map_err(|e| err(e.into()))?;
        let pin = link_pin(pin_dir, &i.name);
        let m = mode(i.xdp_mode);
        if pin.exists() {
            let link = Link::from_pin(&pin).map_err(err)?;
            let fd = link.fd().ok_or_else(|| {
                DaemonError::Datapath(format!("{}: pinned link has no fd", pin.display()))
            })?;
            oxbpf::sys::link_update(fd, prog.fd(), None).map_err(|e| {
                DaemonError::Datapath(format!("{}: replace program in pinned link: {e}", i.name))
            })?;
            out.push(report(&i.name, ifindex, m, "link (program replaced)"));
            continue;
        }
        let mut link = match attach_xdp(prog.fd(), ifindex, m, XdpOptions::default()) {
            Ok(l) => l,
            Err(e) if matches!(e.errno(), Some(libc::EBUSY) | Some(libc::EEXIST)) => {
                replace_netlink(&i.name, ifindex, prog)?;
                out.push(report(&i.name, ifindex, m, "netlink (program replaced)"));
                continue;
            }
            Err(e) => return Err(err(e)),
        };
        let path = link.path();
        if path == AttachPath::Link {
            link.pin(&pin).map_err(err)?;
        }
        link.keep();
        out.push(report(
            &i.name,
            ifindex,
            m,
            if path == AttachPath::Link {
                "link"
            } else {
                "netlink"
            },
        ));
    }
    Ok(out)
}

fn report(iface: &str, ifindex: u32, m: XdpMode, path: &str) -> AttachReport {
    AttachReport {
        iface: iface.into(),
        ifindex,
        mode: mode_name(m).into(),
        path: path.into(),
    }
}

/// Replaces an earlier oxlb program attached through netlink; refuses to replace anyone else's.
fn replace_netlink(iface: &str, ifindex: u32, prog: &Program) -> Result<(), DaemonError> {
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
    let flags = match info.mode() {
        Some(XdpMode::Generic) => netlink::xdp::XDP_FLAGS_SKB_MODE,
        Some(XdpMode::Driver) => netlink::xdp::XDP_FLAGS_DRV_MODE,
        _ => 0,
    };
    let sock = netlink::Socket::route().map_err(|e| DaemonError::Datapath(e.to_string()))?;
    let req = SetXdp {
        fd: prog.fd().as_raw_fd(),
        flags: flags | netlink::xdp::XDP_FLAGS_REPLACE,
        expected_fd: Some(old.fd().as_raw_fd()),
    };
    netlink::xdp::set_xdp(&sock, ifindex, iface, req)
        .map_err(|e| DaemonError::Datapath(e.to_string()))
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
