//! `oxbpf detach xdp --iface IF`: detaches the XDP program of that interface in this network
//! namespace — the `bpf_link` holding it, found by device and program id, or the netlink
//! attachment — and removes that link's pins (see [`super::xdp_pins`]), so neither the link
//! nor its program stays in the kernel.

use super::attach::{mode_name, DetachKind};
use super::xdp_pins::{link_gone, Place};
use crate::output::Output;
use anyhow::{bail, Context};
use oxbpf::link::{query_xdp, Iface, Link};
use serde_json::json;
use std::process::ExitCode;

/// Runs `oxbpf detach`.
pub fn detach(kind: DetachKind, out: &Output) -> anyhow::Result<ExitCode> {
    let DetachKind::Xdp(a) = kind;
    let ifindex = Iface::from(&a.iface).index()?;
    let info = query_xdp(ifindex)?;
    if mode_name(&info) == "none" {
        bail!("no XDP program is attached to {}", a.iface);
    }
    let mut removed = Vec::new();
    let mut held = None;
    let path = match info.link_id {
        Some(id) => {
            let link = Link::from_id(id).context("open XDP link")?;
            link.detach().context("detach XDP link")?;
            let place = Place::here(ifindex)?;
            for p in place.pins_of(id) {
                std::fs::remove_file(&p).with_context(|| format!("remove pin {}", p.display()))?;
                removed.push(p);
            }
            place.forget_record();
            if !link_gone(id) {
                held = Some(id);
            }
            "link"
        }
        None => {
            oxbpf::link::detach_xdp(ifindex)?;
            "netlink"
        }
    };
    if let Some(id) = held {
        eprintln!(
            "warning: link {id} is detached but still held by a pin or fd this command does not \
             know (see `bpftool link show id {id}`); remove that pin to free it and its program"
        );
    }
    out.emit(
        &json!({"iface": a.iface, "ifindex": ifindex, "path": path, "removed_pins": removed,
                "link_freed": held.is_none()}),
        || {
            let pins: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
            let pins = if pins.is_empty() {
                String::new()
            } else {
                format!(", removed pin {}", pins.join(", "))
            };
            format!("detached XDP from {} via {path}{pins}\n", a.iface)
        },
    );
    Ok(ExitCode::SUCCESS)
}
