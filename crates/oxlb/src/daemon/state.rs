//! Files beside the pinned maps: `oxlb.state` (the running plan's names and the interfaces, for
//! `oxlb stats` and `oxlb down`) and `oxlb.pid` (for `oxlb reload`).
//!
//! bpffs holds only BPF objects, so these live under `/run/oxlb/`, named after the pin dir.

use super::{AttachReport, DaemonError};
use crate::plan::Plan;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The directory for oxlb's plain files that belong to `pin_dir`.
pub fn dir(pin_dir: &Path) -> PathBuf {
    let name = pin_dir
        .to_string_lossy()
        .trim_matches('/')
        .replace('/', "_");
    PathBuf::from("/run/oxlb").join(name)
}

fn write_file(path: &Path, text: &str) -> Result<(), DaemonError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DaemonError::io(parent, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| DaemonError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DaemonError::io(path, e))
}

/// Saves the plan's names and the attachments.
pub fn write(pin_dir: &Path, plan: &Plan, attached: &[AttachReport]) -> Result<(), DaemonError> {
    let vips: Vec<Value> = plan
        .vips
        .iter()
        .map(|v| {
            json!({
                "id": v.id, "vip": v.key().to_string(), "mode": v.mode.to_string(),
                "backends": v.backends.iter().map(|b| json!({
                    "id": b.id, "addr": b.addr.to_string(), "port": b.port,
                    "weight": b.weight, "healthy": b.healthy,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let ifaces: Vec<Value> = attached
        .iter()
        .map(|a| json!({"iface": a.iface, "ifindex": a.ifindex, "mode": a.mode, "path": a.path}))
        .collect();
    let v = json!({
        "pin_dir": pin_dir, "table_size": plan.table_size, "vips": vips, "interfaces": ifaces,
        "digest": crate::fleet::digest(plan),
    });
    write_file(
        &dir(pin_dir).join("oxlb.state"),
        &serde_json::to_string_pretty(&v).expect("json"),
    )
}

/// Reads the saved state, if any.
pub fn read(pin_dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir(pin_dir).join("oxlb.state")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Records this process as the running daemon.
pub fn write_pid(pin_dir: &Path) -> Result<(), DaemonError> {
    write_file(
        &dir(pin_dir).join("oxlb.pid"),
        &std::process::id().to_string(),
    )
}

/// Forgets the running daemon when that is this process (a pid file is removed only by its
/// owner).
pub fn remove_own_pid(pin_dir: &Path) {
    let path = dir(pin_dir).join("oxlb.pid");
    let ours =
        std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// The running daemon's pid, if one is alive.
pub fn running_pid(pin_dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir(pin_dir).join("oxlb.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

/// Removes the state directory.
pub fn remove_all(pin_dir: &Path) {
    let _ = std::fs::remove_dir_all(dir(pin_dir));
}

fn sysctl_file(pin_dir: &Path) -> PathBuf {
    dir(pin_dir).join("oxlb.sysctl")
}

/// The sysctl changes recorded for this pin dir (oldest first).
pub fn sysctls(pin_dir: &Path) -> Vec<super::sysctl::SysctlChange> {
    std::fs::read_to_string(sysctl_file(pin_dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Records `changes`, keeping the first recorded old value of each setting (a restarted
/// daemon finds its predecessor's values already set).
pub fn add_sysctls(
    pin_dir: &Path,
    changes: &[super::sysctl::SysctlChange],
) -> Result<(), DaemonError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut all = sysctls(pin_dir);
    for c in changes {
        if !all.iter().any(|o| o.path == c.path) {
            all.push(c.clone());
        }
    }
    write_file(
        &sysctl_file(pin_dir),
        &serde_json::to_string_pretty(&all).expect("json"),
    )
}

/// The outcome of the daemon's latest reload, for `oxlb reload` to report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadStatus {
    /// Reloads handled since the daemon started (0: none yet).
    pub count: u64,
    /// True when the new config runs; false when the daemon kept the old one.
    pub ok: bool,
    /// What was done, or why the new config was refused.
    pub message: String,
}

fn reload_file(pin_dir: &Path) -> PathBuf {
    dir(pin_dir).join("oxlb.reload")
}

/// Records the outcome of a reload.
pub fn write_reload(pin_dir: &Path, status: &ReloadStatus) -> Result<(), DaemonError> {
    write_file(
        &reload_file(pin_dir),
        &serde_json::to_string_pretty(status).expect("json"),
    )
}

/// The outcome of the latest reload, if the daemon recorded one.
pub fn read_reload(pin_dir: &Path) -> Option<ReloadStatus> {
    let text = std::fs::read_to_string(reload_file(pin_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The state files of `pin_dir` and their contents (`None`: absent), to put back with
/// [`restore_files`] when a start fails.
pub fn snapshot_files(pin_dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    ["oxlb.state", "oxlb.sysctl", "oxlb.reload"]
        .iter()
        .map(|name| {
            let path = dir(pin_dir).join(name);
            let content = std::fs::read(&path).ok();
            (path, content)
        })
        .collect()
}

/// Puts the files of a [`snapshot_files`] back as they were.
pub fn restore_files(snapshot: &[(PathBuf, Option<Vec<u8>>)]) -> Result<(), String> {
    for (path, content) in snapshot {
        let done = match content {
            Some(c) => std::fs::write(path, c),
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        done.map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
