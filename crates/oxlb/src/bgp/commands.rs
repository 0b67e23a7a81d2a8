//! What the `oxlb` commands do about BGP: `drain`, the withdrawal before `down`, and the
//! warnings and status lines of `check` and `stats`.

use super::announcer::{self, read_status};
use crate::config::Config;
use crate::plan::Mode;
use std::path::Path;
use std::time::{Duration, Instant};

/// Asks the daemon of `pin_dir` to drain (withdraw every VIP, keep forwarding for `period`)
/// and waits until it reports drained; the lines to print.
pub fn drain(pin_dir: &Path, period: Duration) -> Result<Vec<String>, String> {
    let pid = crate::daemon::state::running_pid(pin_dir)
        .ok_or_else(|| format!("no running oxlb daemon for {}", pin_dir.display()))?;
    if read_status(pin_dir).and_then(|s| s.config).is_none() {
        return Err(format!(
            "the daemon of {} has no [bgp] section: nothing announces its VIPs, so there is nothing to drain",
            pin_dir.display()
        ));
    }
    announcer::request_drain(pin_dir, period).map_err(|e| format!("drain request: {e}"))?;
    let start = Instant::now();
    // SAFETY: sending a signal has no memory-safety preconditions.
    if unsafe { libc::kill(pid, libc::SIGUSR1) } != 0 {
        return Err(format!(
            "signal pid {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut lines = Vec::new();
    let mut withdrawn = None;
    let deadline = start + period + Duration::from_secs(10);
    while Instant::now() < deadline {
        let s = read_status(pin_dir).unwrap_or_default();
        if withdrawn.is_none() && s.draining_since_ms.is_some() && s.announced.is_empty() {
            withdrawn = Some(start.elapsed());
            lines.push(format!(
                "withdrawn every VIP after {:.2} s; forwarding for {:.1} s more",
                start.elapsed().as_secs_f64(),
                period.as_secs_f64()
            ));
        }
        if s.drained {
            lines.push(format!(
                "drained after {:.1} s: safe to stop or upgrade this node (the datapath still forwards until `oxlb down`)",
                start.elapsed().as_secs_f64()
            ));
            return Ok(lines);
        }
        if let Some(e) = s.error.filter(|_| withdrawn.is_none()) {
            lines.push(format!("waiting for BIRD: {e}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "the daemon (pid {pid}) did not report drained within {:.0} s{}",
        (period + Duration::from_secs(10)).as_secs_f64(),
        read_status(pin_dir)
            .and_then(|s| s.error)
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    ))
}

/// Withdraws the VIPs of `pin_dir`'s daemon before `oxlb down` detaches; lines to print.
pub fn withdraw_before_down(pin_dir: &Path) -> Vec<String> {
    match announcer::withdraw_pinned(pin_dir) {
        None => Vec::new(),
        Some(Ok(was)) => {
            // Give the withdrawal a moment to reach the peers before traffic stops here.
            std::thread::sleep(Duration::from_millis(300));
            vec![format!("bgp: withdrew {was:?}")]
        }
        Some(Err(e)) => vec![format!(
            "bgp: could not withdraw through BIRD ({e}); routers will route around this node only when BFD or the hold timer notices"
        )],
    }
}

/// `oxlb check` warnings: NAT VIPs announced by BGP lose their flows when a node fails.
pub fn warnings(config: &Config) -> Vec<String> {
    if config.bgp.is_none() {
        return Vec::new();
    }
    config
        .vips
        .iter()
        .filter(|v| v.mode == Mode::Nat)
        .map(|v| {
            format!(
                "warning: vip {} (line {}) is mode = \"nat\" and announced by BGP: its flows are tied to this node's \
                 snat address and source ports, so they break when ECMP moves them to another node \
                 (a node dies, drains or joins); use mode = \"dsr\" for a fleet",
                v.key(),
                v.line
            )
        })
        .collect()
}

/// `oxlb stats` lines about BGP, when the daemon has `[bgp]`.
pub fn status_lines(pin_dir: &Path) -> Option<(String, serde_json::Value)> {
    let s = read_status(pin_dir)?;
    let state = if s.drained {
        "drained"
    } else if s.draining_since_ms.is_some() {
        "draining"
    } else {
        "announcing"
    };
    let mut text = format!("bgp: {state} {:?}", s.announced);
    if let Some(e) = &s.error {
        text += &format!(" (BIRD: {e})");
    }
    let json = serde_json::json!({
        "state": state, "announced": s.announced, "error": s.error,
    });
    Some((text, json))
}
