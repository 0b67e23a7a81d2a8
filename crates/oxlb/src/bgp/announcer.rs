//! Which VIP addresses this node announces, kept in step with the plan, drains and `oxlb down`.
//!
//! A VIP address is announced while this node's datapath is attached and at least one VIP on
//! that address has a usable backend (healthy, weight > 0), unless the node is draining. Health
//! counts even when the planner's panic mode keeps unhealthy backends in the Maglev table
//! (`health_panic_threshold`): a node whose checks all fail stops attracting traffic, and nodes
//! that still see healthy backends keep the VIP announced. Announcements go to BIRD through the generated include (see
//! [`super::bird`]); a failed reconfigure is retried every [`RETRY`] until BIRD answers. The
//! state is mirrored to `oxlb.bgp` beside the daemon's state file for `oxlb drain`, `oxlb down`
//! and `oxlb stats`.

use super::bird;
use super::config::BgpConfig;
use super::BgpError;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a failed reconfigure is retried.
pub const RETRY: Duration = Duration::from_secs(1);

/// The VIP addresses of `plan` that have at least one usable (healthy, weighted) backend.
pub fn wanted(plan: &Plan) -> BTreeSet<IpAddr> {
    plan.vips
        .iter()
        .filter(|v| v.backends.iter().any(|b| b.healthy && b.weight > 0))
        .map(|v| v.addr)
        .collect()
}

/// What `oxlb.bgp` records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The BGP settings in force.
    pub config: Option<BgpConfig>,
    /// Addresses BIRD was last told to announce.
    pub announced: Vec<IpAddr>,
    /// Unix time (ms) the drain began, if draining.
    pub draining_since_ms: Option<u64>,
    /// Drain period in ms.
    pub drain_ms: u64,
    /// True once the drain period has passed.
    pub drained: bool,
    /// The last error talking to BIRD, if the last attempt failed.
    pub error: Option<String>,
}

/// The status file for `pin_dir`.
pub fn status_path(pin_dir: &Path) -> PathBuf {
    crate::daemon::state::dir(pin_dir).join("oxlb.bgp")
}

/// Reads the status for `pin_dir`, if a daemon with `[bgp]` wrote one.
pub fn read_status(pin_dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(status_path(pin_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_status(pin_dir: &Path, s: &Status) {
    let path = status_path(pin_dir);
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(s).unwrap_or_default();
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Tells BIRD to announce exactly `addrs`.
pub fn announce(cfg: &BgpConfig, addrs: &BTreeSet<IpAddr>) -> Result<(), BgpError> {
    bird::write_include(&cfg.include, &bird::render(cfg, addrs))?;
    bird::configure(&cfg.socket)
}

/// Withdraws everything the daemon of `pin_dir` announced (for `oxlb down`, before detaching);
/// what was withdrawn, or `None` when that daemon had no `[bgp]`.
pub fn withdraw_pinned(pin_dir: &Path) -> Option<Result<Vec<IpAddr>, BgpError>> {
    let mut status = read_status(pin_dir)?;
    let cfg = status.config.clone()?;
    let was = std::mem::take(&mut status.announced);
    let r = announce(&cfg, &BTreeSet::new());
    status.error = r.as_ref().err().map(|e| e.to_string());
    write_status(pin_dir, &status);
    Some(r.map(|()| was))
}

/// Keeps BIRD's announcements in step with the daemon.
pub struct Announcer {
    cfg: BgpConfig,
    pin_dir: PathBuf,
    status: Status,
    /// What should be announced now (`None` until the datapath is attached).
    want: Option<BTreeSet<IpAddr>>,
    /// Set when BIRD has not yet accepted `want`.
    pending: bool,
    /// When the last attempt failed.
    failed_at: Option<Instant>,
    drain: Option<(Instant, Duration)>,
}

impl Announcer {
    /// An announcer for `cfg` (announces nothing until [`Announcer::update`]).
    pub fn new(cfg: BgpConfig, pin_dir: &Path) -> Announcer {
        let status = Status {
            config: Some(cfg.clone()),
            ..Status::default()
        };
        Announcer {
            cfg,
            pin_dir: pin_dir.to_path_buf(),
            status,
            want: None,
            pending: false,
            failed_at: None,
            drain: None,
        }
    }

    /// Replaces the settings (after a reload); announces again with them.
    pub fn set_config(&mut self, cfg: BgpConfig) {
        if cfg != self.cfg {
            self.cfg = cfg.clone();
            self.status.config = Some(cfg);
            self.retry_now();
            self.tick();
        }
    }

    /// The datapath is attached and runs `plan`: announce its usable VIP addresses (none
    /// while draining).
    pub fn update(&mut self, plan: &Plan) {
        let want = wanted(plan);
        if self.want.as_ref() != Some(&want) {
            self.want = Some(want);
            self.retry_now();
        }
        self.tick();
    }

    /// Withdraws every route and starts a drain of `period`: the datapath keeps forwarding,
    /// and [`Announcer::drained`] turns true once the period has passed.
    pub fn start_drain(&mut self, period: Duration) {
        tracing::info!(
            "draining: withdrawing every VIP, forwarding for {:.1} s more",
            period.as_secs_f64()
        );
        self.drain = Some((Instant::now(), period));
        self.status.draining_since_ms = Some(now_ms());
        self.status.drain_ms = period.as_millis() as u64;
        self.status.drained = false;
        self.retry_now();
        self.tick();
    }

    fn retry_now(&mut self) {
        self.pending = true;
        self.failed_at = None;
    }

    /// True once a drain period has passed.
    pub fn drained(&self) -> bool {
        self.status.drained
    }

    /// Retries a pending reconfigure and finishes a drain whose period passed; call often.
    pub fn tick(&mut self) {
        if let Some((since, period)) = self.drain {
            if !self.status.drained && since.elapsed() >= period && !self.pending {
                self.status.drained = true;
                tracing::info!(
                    "drained: no VIP announced for {:.1} s",
                    since.elapsed().as_secs_f64()
                );
                write_status(&self.pin_dir, &self.status);
            }
        }
        if !self.pending || self.failed_at.is_some_and(|t| t.elapsed() < RETRY) {
            return;
        }
        let addrs = match (&self.want, self.drain) {
            (Some(w), None) => w.clone(),
            _ => BTreeSet::new(),
        };
        match announce(&self.cfg, &addrs) {
            Ok(()) => {
                let list: Vec<IpAddr> = addrs.iter().copied().collect();
                if list != self.status.announced || self.status.error.is_some() {
                    tracing::info!("bgp: announcing {list:?} through BIRD");
                }
                self.status.announced = list;
                self.status.error = None;
                self.pending = false;
                self.failed_at = None;
            }
            Err(e) => {
                if self.status.error.as_deref() != Some(&e.to_string()) {
                    tracing::warn!("bgp: {e}; retrying every {} s", RETRY.as_secs());
                }
                self.status.error = Some(e.to_string());
                self.failed_at = Some(Instant::now());
            }
        }
        write_status(&self.pin_dir, &self.status);
    }
}

/// Starts, reconfigures or stops `announcer` to match `cfg`, and announces `plan` (whose
/// datapath is attached).
pub fn sync(
    announcer: &mut Option<Announcer>,
    cfg: Option<&BgpConfig>,
    pin_dir: &Path,
    plan: &Plan,
) {
    match (announcer.as_mut(), cfg) {
        (Some(a), Some(cfg)) => a.set_config(cfg.clone()),
        (None, Some(cfg)) => *announcer = Some(Announcer::new(cfg.clone(), pin_dir)),
        (Some(_), None) => {
            // [bgp] was removed from the config: withdraw what this node announced.
            if let Some(Err(e)) = withdraw_pinned(pin_dir) {
                tracing::warn!("bgp: withdraw after [bgp] was removed: {e}");
            }
            *announcer = None;
            let _ = std::fs::remove_file(status_path(pin_dir));
        }
        (None, None) => {}
    }
    if let Some(a) = announcer.as_mut() {
        a.update(plan);
    }
}

/// Default drain period.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

fn drain_request_path(pin_dir: &Path) -> PathBuf {
    crate::daemon::state::dir(pin_dir).join("oxlb.drain")
}

/// Records a drain request of `period` for the daemon of `pin_dir` (read on SIGUSR1).
pub fn request_drain(pin_dir: &Path, period: Duration) -> std::io::Result<()> {
    std::fs::write(drain_request_path(pin_dir), period.as_millis().to_string())
}

/// The drain period asked for by `oxlb drain` ([`DEFAULT_DRAIN`] when none was recorded).
pub fn take_drain_request(pin_dir: &Path) -> Duration {
    let path = drain_request_path(pin_dir);
    let ms = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    let _ = std::fs::remove_file(&path);
    ms.map(Duration::from_millis).unwrap_or(DEFAULT_DRAIN)
}
