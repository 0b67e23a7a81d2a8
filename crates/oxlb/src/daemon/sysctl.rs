//! Kernel settings the datapath depends on, set by the daemon and put back by `oxlb down`.
//!
//! `bpf_fib_lookup` answers "forwarding disabled" when the ingress device of the lookup does
//! not forward, so each XDP interface gets `net.ipv4.conf.<if>.forwarding = 1` when an IPv4
//! VIP exists and `net.ipv6.conf.<if>.forwarding = 1` when an IPv6 VIP exists. Only the XDP
//! interfaces are switched, never `net.ipv4.ip_forward` (every interface). An IPv6 interface
//! that forwards ignores router advertisements unless `accept_ra = 2`, so an interface that
//! accepted them (`accept_ra = 1`) is switched to 2 and keeps its SLAAC address and default
//! route.
//!
//! Every change is logged and recorded with its old value beside the pins
//! ([`super::state::add_sysctls`]); a setting someone changed since is left alone on restore.

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// One sysctl the daemon changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlChange {
    /// Path under `/proc/sys`, e.g. `net/ipv6/conf/eth0/forwarding`.
    pub path: String,
    /// Value before.
    pub old: String,
    /// Value set.
    pub new: String,
}

/// A sysctl the config needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    /// Path under `/proc/sys`.
    pub path: String,
    /// Value.
    pub value: &'static str,
    /// Set only when the current value is this one (`None`: always).
    pub only_if: Option<&'static str>,
    /// Why (for the log).
    pub why: &'static str,
}

/// The sysctls `config` needs, in the order to set them.
pub fn required(config: &Config) -> Vec<Required> {
    let mut out = Vec::new();
    let v4 = config.vips.iter().any(|v| v.addr.is_ipv4());
    let v6 = config.vips.iter().any(|v| v.addr.is_ipv6());
    for i in &config.interfaces {
        if v4 {
            out.push(Required {
                path: format!("net/ipv4/conf/{}/forwarding", i.name),
                value: "1",
                only_if: None,
                why: "IPv4 VIPs: bpf_fib_lookup needs IPv4 forwarding on the XDP interface",
            });
        }
        if v6 {
            out.push(Required {
                path: format!("net/ipv6/conf/{}/accept_ra", i.name),
                value: "2",
                only_if: Some("1"),
                why: "keep accepting router advertisements once the interface forwards",
            });
            out.push(Required {
                path: format!("net/ipv6/conf/{}/forwarding", i.name),
                value: "1",
                only_if: None,
                why: "IPv6 VIPs: bpf_fib_lookup needs IPv6 forwarding on the XDP interface",
            });
        }
    }
    out
}

/// Sets `req` unless it already has its value (or its precondition fails); returns the
/// change made.
pub fn ensure(req: &Required) -> std::io::Result<Option<SysctlChange>> {
    let file = format!("/proc/sys/{}", req.path);
    let old = std::fs::read_to_string(&file)?.trim().to_string();
    if old == req.value || req.only_if.is_some_and(|v| v != old) {
        return Ok(None);
    }
    std::fs::write(&file, req.value)?;
    Ok(Some(SysctlChange {
        path: req.path.clone(),
        old,
        new: req.value.to_string(),
    }))
}

/// Sets everything `config` needs, logging each change; returns the changes. All or nothing:
/// when one fails, those already made are put back.
pub fn apply(config: &Config) -> Result<Vec<SysctlChange>, super::DaemonError> {
    let mut changes = Vec::new();
    for req in required(config) {
        let change = ensure(&req).map_err(|e| {
            restore(&changes);
            super::DaemonError::Datapath(format!(
                "set {} = {}: {e} ({})",
                req.path.replace('/', "."),
                req.value,
                req.why
            ))
        })?;
        if let Some(c) = change {
            tracing::info!(
                "set {} = {} (was {}): {}",
                c.path.replace('/', "."),
                c.new,
                c.old,
                req.why
            );
            changes.push(c);
        }
    }
    Ok(changes)
}

/// [`apply`], teaching `undo` to put the changes back.
pub fn apply_undoable(
    config: &Config,
    undo: &mut super::undo::Undo,
) -> Result<Vec<SysctlChange>, super::DaemonError> {
    let changes = apply(config)?;
    let back = changes.clone();
    undo.push("forwarding sysctls", move || {
        restore(&back);
        Ok(())
    });
    Ok(changes)
}

/// Puts back the old values, newest change first; returns what was restored.
pub fn restore(changes: &[SysctlChange]) -> Vec<String> {
    let mut restored = Vec::new();
    for c in changes.iter().rev() {
        let file = format!("/proc/sys/{}", c.path);
        let ours = std::fs::read_to_string(&file).is_ok_and(|now| now.trim() == c.new);
        if ours && std::fs::write(&file, &c.old).is_ok() {
            restored.push(format!("{} = {}", c.path.replace('/', "."), c.old));
        }
    }
    restored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_decide_what_is_required() {
        let text = |vips: &str| {
            format!(
                "[[interface]]\nname = \"eth9\"\n{vips}[[vip.backend]]\naddress = \"{}\"\nport = 80\n",
                if vips.contains("fd00") { "fd00::2" } else { "10.0.0.2" }
            )
        };
        let v4 = Config::parse(
            &text(
                "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nprotocol = \"tcp\"\nmode = \"dsr\"\n",
            ),
            "t.toml",
        )
        .unwrap();
        let paths: Vec<String> = required(&v4).into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["net/ipv4/conf/eth9/forwarding"]);
        let v6 = Config::parse(
            &text(
                "[[vip]]\naddress = \"fd00::1\"\nport = 80\nprotocol = \"tcp\"\nmode = \"dsr\"\n",
            ),
            "t.toml",
        )
        .unwrap();
        let paths: Vec<String> = required(&v6).into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            [
                "net/ipv6/conf/eth9/accept_ra",
                "net/ipv6/conf/eth9/forwarding"
            ]
        );
    }
}
