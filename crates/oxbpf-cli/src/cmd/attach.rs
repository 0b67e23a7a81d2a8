//! `oxbpf attach|show xdp` (and the `detach` arguments; see [`super::detach`]).
//!
//! An XDP attachment must outlive this process. On the netlink path it does by itself; a
//! `bpf_link` lives only while an fd or a pin holds it, so `attach` pins the link (at `--pin`,
//! default one per network namespace and interface, see [`super::xdp_pins`]), and `detach`
//! detaches the link attached to the interface in *this* namespace and removes its pins, so
//! neither the link nor its program stays in the kernel.

use super::xdp_pins::{is_detached_xdp, pinned_link, sweep_stale, Place};
use crate::output::Output;
use anyhow::{bail, Context};
use oxbpf::link::{attach_xdp, query_xdp, AttachPath, Iface, XdpInfo, XdpMode, XdpOptions};
use oxbpf::prog::Program;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `oxbpf attach` kinds.
#[derive(clap::Subcommand)]
pub enum AttachKind {
    /// Attach an XDP program to a network interface.
    Xdp(AttachXdp),
}

/// Arguments of `oxbpf attach xdp`.
#[derive(clap::Args)]
pub struct AttachXdp {
    /// The BPF ELF object.
    pub object: PathBuf,
    /// The XDP program in it.
    pub program: String,
    /// Interface name.
    #[arg(long)]
    pub iface: String,
    /// XDP mode.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub mode: Mode,
    /// Pin the bpf_link here (default /sys/fs/bpf/oxbpf/xdp-ns<NETNS INODE>-if<IFINDEX>);
    /// unused on the netlink path.
    #[allow(rustdoc::invalid_html_tags)] // clap prints this text as is: no markdown
    #[arg(long, value_name = "PATH")]
    pub pin: Option<PathBuf>,
}

/// XDP mode on the command line.
#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Mode {
    /// Driver mode when the driver supports it, else generic.
    Auto,
    /// Generic (skb) mode.
    Generic,
    /// Native driver mode.
    Driver,
    /// Hardware offload.
    Offload,
}

impl From<Mode> for XdpMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Auto => XdpMode::Auto,
            Mode::Generic => XdpMode::Generic,
            Mode::Driver => XdpMode::Driver,
            Mode::Offload => XdpMode::Offload,
        }
    }
}

/// `oxbpf detach` kinds.
#[derive(clap::Subcommand)]
pub enum DetachKind {
    /// Detach the XDP program of an interface (link or netlink attachment).
    Xdp(IfaceArg),
}

/// `oxbpf show` kinds.
#[derive(clap::Subcommand)]
pub enum ShowKind {
    /// Show the XDP program of an interface.
    Xdp(IfaceArg),
}

/// `--iface IF`.
#[derive(clap::Args)]
pub struct IfaceArg {
    /// Interface name.
    #[arg(long)]
    pub iface: String,
}

fn path_name(p: AttachPath) -> &'static str {
    match p {
        AttachPath::Link => "link",
        AttachPath::Netlink => "netlink",
        _ => "other",
    }
}

/// Refuses a program that is not XDP, naming its type.
fn check_xdp(spec: &oxbpf::spec::CollectionSpec, name: &str, object: &Path) -> anyhow::Result<()> {
    let p = spec.programs.get(name).with_context(|| {
        format!(
            "no program {name:?} in {} (see `oxbpf inspect`)",
            object.display()
        )
    })?;
    if p.prog_type != oxbpf::spec::ProgramType::XDP {
        bail!(
            "program {name:?} is a {} program (section {:?}); `attach xdp` needs an XDP program, \
             one from a SEC(\"xdp\") section",
            p.prog_type,
            p.section
        );
    }
    Ok(())
}

/// Makes room for the pin at `pin` before attaching: creates its directory (on bpffs) and
/// removes a stale pin of a link that is no longer attached; refuses to replace anything else.
fn prepare_pin(pin: &Path, iface: &str) -> anyhow::Result<()> {
    if let Some(dir) = pin.parent() {
        oxbpf::pin::create_dir(dir)?;
    }
    sweep_stale();
    if std::fs::symlink_metadata(pin).is_err() {
        return Ok(());
    }
    match pinned_link(pin) {
        Some(l) if is_detached_xdp(&l) => {
            std::fs::remove_file(pin)
                .with_context(|| format!("remove stale pin {}", pin.display()))?;
            eprintln!(
                "removed stale pin {} (link {} was detached)",
                pin.display(),
                l.id.unwrap_or_default() // a pinned link always has an id
            );
            Ok(())
        }
        Some(l) => bail!(
            "{} already holds link {} (program {}); `oxbpf detach xdp --iface {iface}` removes \
             it if it is this interface's, or choose another --pin",
            pin.display(),
            l.id.unwrap_or_default(),
            l.prog_id
        ),
        None => bail!(
            "{} already exists and is not an XDP link; remove it or choose another --pin",
            pin.display()
        ),
    }
}

/// Runs `oxbpf attach`.
pub fn attach(kind: AttachKind, out: &Output) -> anyhow::Result<ExitCode> {
    let AttachKind::Xdp(a) = kind;
    let ifindex = Iface::from(&a.iface).index()?;
    let place = Place::here(ifindex)?;
    let spec = super::read_spec(&a.object)?;
    check_xdp(&spec, &a.program, &a.object)?;
    let pin = a.pin.clone().unwrap_or_else(|| place.default_pin());
    let force_netlink = std::env::var(oxbpf::link::xdp::FORCE_NETLINK_ENV).is_ok_and(|v| v == "1");
    if !force_netlink && oxbpf::link::xdp_link_supported()? {
        prepare_pin(&pin, &a.iface)?;
    }
    let opts = super::load::options(std::slice::from_ref(&a.program), None, None);
    let mut report = oxbpf::collection::Collection::load_report(&spec, &opts).context("load")?;
    if let Some(e) = report.failed.remove(&a.program) {
        return Err(e).with_context(|| format!("load program {:?}", a.program));
    }
    let prog = report.collection.program(&a.program).expect("loaded above");
    let mut link = match attach_xdp(prog.fd(), ifindex, a.mode.into(), XdpOptions::default()) {
        Ok(link) => link,
        Err(e) if matches!(e.errno(), Some(libc::EEXIST) | Some(libc::EBUSY)) => bail!(
            "attach {:?} to {}: {e}\nhint: another XDP program is attached there; `oxbpf show xdp --iface {}` \
             says which, `oxbpf detach xdp --iface {}` removes it",
            a.program,
            a.iface,
            a.iface,
            a.iface
        ),
        Err(e) => return Err(e).with_context(|| format!("attach {:?} to {}", a.program, a.iface)),
    };
    let path = link.path();
    let pin = if path == AttachPath::Link {
        // On failure the link is dropped, which detaches the program: nothing is left behind.
        link.pin(&pin)?;
        if a.pin.is_some() {
            place.record_pin(&pin);
        }
        Some(pin)
    } else {
        None
    };
    let info = query_xdp(ifindex)?;
    let prog_id = prog.id();
    link.keep();
    let value = json!({
        "iface": a.iface, "ifindex": ifindex, "program": a.program, "prog_id": prog_id,
        "mode": mode_name(&info), "path": path_name(path), "pin": pin,
        "bpf_token": super::probe::token_json(),
    });
    out.emit(&value, || {
        let pinned = pin
            .as_ref()
            .map(|p| format!(", pinned at {}", p.display()))
            .unwrap_or_default();
        format!(
            "attached {} (id {prog_id}) to {} (ifindex {ifindex}) in {} mode via {}{pinned}\n{}",
            a.program,
            a.iface,
            mode_name(&info),
            path_name(path),
            super::probe::token_line()
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// The attached mode for messages ("none" when nothing is attached).
pub(super) fn mode_name(info: &XdpInfo) -> &'static str {
    match info.mode() {
        Some(XdpMode::Generic) => "generic",
        Some(XdpMode::Driver) => "driver",
        Some(XdpMode::Offload) => "offload",
        _ if info.prog_id.is_none()
            && info.generic_prog_id.is_none()
            && info.driver_prog_id.is_none() =>
        {
            "none"
        }
        _ => "multi",
    }
}

/// Runs `oxbpf show`.
pub fn show(kind: ShowKind, out: &Output) -> anyhow::Result<ExitCode> {
    let ShowKind::Xdp(a) = kind;
    let ifindex = Iface::from(&a.iface).index()?;
    let info = query_xdp(ifindex)?;
    let ids = [
        info.generic_prog_id,
        info.driver_prog_id,
        info.offload_prog_id,
    ];
    let progs: Vec<_> = ids
        .iter()
        .flatten()
        .map(|&id| {
            let name = Program::from_id(id)
                .map(|p| p.name().to_string())
                .unwrap_or_default();
            json!({"id": id, "name": name})
        })
        .collect();
    let path = match (info.link_id, progs.is_empty()) {
        (_, true) => None,
        (Some(_), false) => Some("link"),
        (None, false) => Some("netlink"),
    };
    let pins = match info.link_id {
        Some(id) => Place::here(ifindex)?.pins_of(id),
        None => Vec::new(),
    };
    let value = json!({
        "iface": a.iface, "ifindex": ifindex, "mode": mode_name(&info), "programs": progs,
        "link_id": info.link_id, "path": path, "pins": pins,
    });
    out.emit(&value, || {
        if progs.is_empty() {
            return format!("{}: no XDP program\n", a.iface);
        }
        let list: Vec<String> = progs
            .iter()
            .map(|p| format!("{} (id {})", p["name"].as_str().unwrap_or(""), p["id"]))
            .collect();
        format!(
            "{}: {} in {} mode via {}{}{}\n",
            a.iface,
            list.join(", "),
            mode_name(&info),
            path.unwrap_or("-"),
            info.link_id
                .map(|l| format!(" (link id {l})"))
                .unwrap_or_default(),
            pins.iter()
                .map(|p| format!(", pinned at {}", p.display()))
                .collect::<String>()
        )
    });
    Ok(ExitCode::SUCCESS)
}
