//! The oxlb daemon: config → plan → datapath maps, XDP attached, kept in step with reloads and
//! health checks.
//!
//! State that must survive the daemon lives on bpffs under the config's pin dir: every datapath
//! map, the XDP link of each interface (`link_<iface>`), and `oxlb.state` (JSON: the running
//! plan's names for `oxlb stats`, and the interfaces). `oxlb.pid` names the running daemon,
//! which holds an exclusive lock on `oxlb.lock` (one daemon per pin dir), and `oxlb.reload`
//! records the outcome of its latest reload for `oxlb reload`.
//! Stopping the daemon (SIGTERM/SIGINT) leaves the datapath forwarding; a new daemon adopts the
//! pinned maps (conntrack intact) and swaps in its program atomically (re-attaching when the
//! configured `xdp_mode` differs). A start or reload that fails puts back what it changed
//! ([`undo::Undo`]). `oxlb down` detaches and removes everything.

mod attach;
pub mod kernel;
mod lock;
pub mod pressure;
mod reload;
pub(crate) mod signals;
pub mod state;
pub mod sysctl;
pub mod undo;

use crate::config::{Config, ConfigError};
use crate::datapath::{self, DatapathError, Layout, MapId};
use crate::health::{self, HealthChecker, HealthEvent};
use crate::metrics::MetricsServer;
use crate::plan::Plan;
use crate::planner::{self, HealthMap, Limits, PlanError};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use undo::Undo;

pub use attach::{detach_all, AttachReport};

/// Errors of the daemon and the commands that act on a running datapath.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The plan does not fit the datapath.
    #[error(transparent)]
    Layout(#[from] DatapathError),
    /// Reading the datapath object failed.
    #[error("datapath object: {0}")]
    Elf(#[from] oxbpf::elf::ElfError),
    /// Loading the datapath failed.
    #[error("load datapath: {0}")]
    Load(#[from] oxbpf::collection::LoadError),
    /// A map operation failed.
    #[error(transparent)]
    Map(#[from] oxbpf::map::MapError),
    /// Attaching XDP failed.
    #[error("{iface}: {source}")]
    Attach {
        /// Interface.
        iface: String,
        /// Why.
        source: oxbpf::link::LinkError,
    },
    /// Another daemon holds the pin dir.
    #[error(
        "pin dir {} is in use by {}: stop it first (SIGTERM keeps its datapath forwarding; `oxlb down --pin-dir {0}` removes it), or give this daemon another pin_dir",
        pin_dir.display(),
        pid.map_or("another oxlb daemon".to_string(), |p| format!("oxlb pid {p}"))
    )]
    Busy {
        /// The pin dir.
        pin_dir: PathBuf,
        /// The daemon holding it, when its pid file names a live process.
        pid: Option<i32>,
    },
    /// Something else about the datapath.
    #[error("{0}")]
    Datapath(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl DaemonError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DaemonError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Datapath sizes for `config` (planner limits follow them).
pub fn layout_for(config: &Config) -> Layout {
    Layout {
        table_size: config.global.maglev_table_size,
        ct_entries: config.global.conntrack_size,
        syn_entries: config.global.syn_table_size,
        guard_new_flows: config.global.new_flow_guard,
        syn_cookies: config.global.syn_cookies,
        syn_cookie_rate: config.global.syn_cookie_rate,
        nat_timeouts: config.global.nat_timeouts,
        encap: config.encap,
        ..Layout::default()
    }
}

fn limits(layout: &Layout) -> Limits {
    Limits {
        max_vips: layout.max_vips,
        max_backends: layout.max_backends,
    }
}

/// Starts the metrics endpoint of `config` (none when it says "off").
fn metrics_server(
    config: &Config,
    plan: &Arc<Mutex<Plan>>,
) -> Result<Option<MetricsServer>, DaemonError> {
    let Some(addr) = config.global.metrics_listen else {
        return Ok(None);
    };
    let plan = Arc::clone(plan);
    let pin_dir = config.global.pin_dir.clone();
    let server = MetricsServer::start(
        addr,
        Box::new(move || {
            let plan = plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let maps = kernel::open_pinned(&pin_dir);
            let snap = maps.and_then(|m| Ok(crate::stats::snapshot(&m, &plan)?));
            snap.unwrap_or_else(|e| {
                tracing::warn!("metrics: {e}");
                crate::metrics::Snapshot::from_plan(&plan)
            })
        }),
    )
    .map_err(|e| {
        DaemonError::Datapath(format!(
            "metrics server on {addr}: {e}; hint: set [global] metrics_listen to a free address or \"off\""
        ))
    })?;
    tracing::info!("metrics at http://{}/metrics", server.local_addr());
    Ok(Some(server))
}

/// How often the datapath's loss counters are sampled for warnings.
const PRESSURE_EVERY: Duration = Duration::from_secs(5);

/// A running daemon.
pub struct Daemon {
    config_path: PathBuf,
    config: Config,
    layout: Layout,
    datapath: kernel::Datapath,
    plan: Arc<Mutex<Plan>>,
    health: HealthMap,
    checker: Option<HealthChecker>,
    events: Receiver<HealthEvent>,
    events_tx: std::sync::mpsc::Sender<HealthEvent>,
    metrics: Option<MetricsServer>,
    pressure: pressure::Pressure,
    /// Reloads handled (numbers the outcomes in the reload status file).
    reloads: u64,
    /// Announces the VIPs through BIRD (`[bgp]`).
    bgp: Option<crate::bgp::announcer::Announcer>,
    /// How the XDP program was attached, per interface.
    pub attached: Vec<AttachReport>,
    /// The pin dir's lock (held while the daemon lives; released last).
    _lock: lock::PinDirLock,
}

impl Daemon {
    /// Loads (or adopts) the datapath, writes the plan, attaches XDP, starts checks and metrics.
    /// Takes the pin dir's lock first (another daemon there: refused, nothing touched). A start
    /// that fails removes what it created and puts back what it changed: an adopted datapath
    /// keeps its pins, entries, links and programs.
    pub fn start(config_path: &Path) -> Result<Daemon, DaemonError> {
        let config = Config::load(config_path)?;
        let layout = layout_for(&config);
        if let Some(w) = crate::config::advice::conntrack_warning(&config, layout.nat_port_count) {
            tracing::warn!("{w}");
        }
        let pin_dir = config.global.pin_dir.clone();
        let health = HealthMap::new();
        let plan = planner::plan_with_limits(&config, &health, None, &limits(&layout))?;
        let plan = Arc::new(Mutex::new(plan));
        let state_dir_existed = state::dir(&pin_dir).exists();
        let lock = lock::acquire(&pin_dir)?;
        // Declared after the lock: dropped (rolled back) before the lock is released.
        let mut undo = Undo::new();
        let files = state::snapshot_files(&pin_dir);
        let state_dir = state::dir(&pin_dir);
        undo.push("state files", move || match state_dir_existed {
            true => state::restore_files(&files),
            false => std::fs::remove_dir_all(&state_dir)
                .map_err(|e| format!("{}: {e}", state_dir.display())),
        });
        attach::require_interfaces(&config)?;
        // Bind the metrics port before touching the kernel: a taken port fails the start
        // with nothing attached.
        let metrics = metrics_server(&config, &plan)?;
        let datapath = kernel::load(&layout, &pin_dir, &mut undo)?;
        let next_plan = plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let next = datapath::entries(&next_plan, &layout)?;
        let mut ops = datapath::diff(None, &next)?;
        if datapath.adopted {
            ops = kernel::keep_adopted_counters(&datapath.maps, ops);
            let saved = kernel::saved_values(&datapath.maps, &ops)?;
            let dir = pin_dir.clone();
            undo.push("entries written into the adopted maps", move || {
                kernel::restore(&dir, &saved)
            });
        }
        let written = kernel::apply(&datapath.maps, &ops)?;
        if datapath.adopted {
            let keep: Vec<Vec<u8>> = next.map_entries(MapId::Vips).map(|(k, _)| k).collect();
            let ids: Vec<u32> = next.rings.keys().copied().collect();
            let pruned = kernel::prune_vips(&datapath.maps, &keep, &ids)?;
            let stale = pruned.iter().filter(|p| p.0 == MapId::Vips).count();
            let dir = pin_dir.clone();
            undo.push("stale VIPs removed", move || kernel::restore(&dir, &pruned));
            tracing::info!(
                "adopted the pinned datapath in {} (conntrack kept); removed {stale} stale VIPs",
                pin_dir.display()
            );
        }
        tracing::debug!("wrote {written} map entries");
        tracing::info!("datapath clock: {}", kernel::clock().why);
        let changes = sysctl::apply_undoable(&config, &mut undo)?;
        state::add_sysctls(&pin_dir, &changes)?;
        let attached = attach::attach_all(&config, &datapath.program, &pin_dir, &mut undo)?;
        state::write(&pin_dir, &next_plan, &attached)?;
        let started = state::ReloadStatus {
            count: 0,
            ok: true,
            message: "started".into(),
        };
        state::write_reload(&pin_dir, &started)?;
        // Last: a pid file means "serving" (`oxlb reload`, the demo wait for it).
        state::write_pid(&pin_dir)?;
        let (events_tx, events) = channel();
        let mut d = Daemon {
            config_path: config_path.to_path_buf(),
            config,
            layout,
            datapath,
            plan,
            health,
            checker: None,
            events,
            events_tx,
            metrics,
            pressure: pressure::Pressure::default(),
            reloads: 0,
            bgp: None,
            attached,
            _lock: lock,
        };
        if let Err(e) = d.start_checks() {
            undo.rollback();
            return Err(e);
        }
        undo.commit();
        d.sync_bgp();
        for a in &d.attached {
            tracing::info!(
                "oxlb: serving {} VIPs on {} (ifindex {}) in {} mode via {}; maps pinned at {}",
                d.plan().vips.len(),
                a.iface,
                a.ifindex,
                a.mode,
                a.path,
                d.config.global.pin_dir.display()
            );
        }
        Ok(d)
    }

    /// The plan the datapath runs now.
    pub fn plan(&self) -> Plan {
        self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn start_checks(&mut self) -> Result<(), DaemonError> {
        if let Some(c) = self.checker.take() {
            self.health = c.states();
            c.stop();
        }
        let targets = health::targets(&self.config);
        if !targets.is_empty() {
            let c = HealthChecker::start(targets, &self.health, self.events_tx.clone())
                .map_err(|e| DaemonError::Datapath(format!("start health checks: {e}")))?;
            self.checker = Some(c);
        }
        Ok(())
    }

    /// Re-plans with the current config and health and writes only what changed.
    fn replan(&mut self) -> Result<usize, DaemonError> {
        let prev = self.plan();
        let next_plan = planner::plan_with_limits(
            &self.config,
            &self.health,
            Some(&prev),
            &limits(&self.layout),
        )?;
        let prev_entries = datapath::entries(&prev, &self.layout)?;
        let next_entries = datapath::entries(&next_plan, &self.layout)?;
        let ops = datapath::diff(Some(&prev_entries), &next_entries)?;
        let n = kernel::apply(&self.datapath.maps, &ops)?;
        state::write(&self.config.global.pin_dir, &next_plan, &self.attached)?;
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = next_plan;
        self.sync_bgp();
        Ok(n)
    }

    /// Logs what the datapath lost or refused since the last sample (see [`pressure`]).
    fn warn_pressure(&mut self) {
        let plan = self.plan();
        let ct_size = self.config.global.conntrack_size;
        match self.pressure.sample(&self.datapath.maps, &plan, ct_size) {
            Ok(lines) => lines.iter().for_each(|l| tracing::warn!("{l}")),
            Err(e) => tracing::debug!("reading datapath counters: {e}"),
        }
    }

    /// Brings BGP in step with the config and the running plan (the datapath is attached).
    fn sync_bgp(&mut self) {
        let plan = self.plan();
        crate::bgp::announcer::sync(
            &mut self.bgp,
            self.config.bgp.as_ref(),
            &self.config.global.pin_dir,
            &plan,
        );
    }

    /// Serves until SIGTERM/SIGINT: SIGHUP reloads, health changes re-plan. The datapath keeps
    /// running after return.
    pub fn run(mut self) -> Result<(), DaemonError> {
        let sig = signals::install();
        let mut sampled = std::time::Instant::now() - PRESSURE_EVERY;
        loop {
            if sampled.elapsed() >= PRESSURE_EVERY {
                sampled = std::time::Instant::now();
                self.warn_pressure();
            }
            match self.events.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => {
                    let state = if ev.healthy { "up" } else { "down" };
                    tracing::info!("backend {} is {state} {}", ev.key, ev.reason);
                    self.health.insert(ev.key, ev.healthy);
                    match self.replan() {
                        Ok(n) => tracing::info!(
                            "re-planned after health change: {n} map entries written"
                        ),
                        Err(e) => tracing::error!("re-plan failed, keeping the running plan: {e}"),
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
            if sig.take_drain() {
                let period = crate::bgp::announcer::take_drain_request(&self.config.global.pin_dir);
                match self.bgp.as_mut() {
                    Some(b) => b.start_drain(period),
                    None => tracing::warn!(
                        "drain asked, but no [bgp] is configured: nothing to withdraw"
                    ),
                }
            }
            if let Some(b) = self.bgp.as_mut() {
                b.tick();
            }
            if sig.take_hup() {
                self.reloads += 1;
                let status = match self.reload() {
                    Ok(message) => {
                        tracing::info!("reloaded {}: {message}", self.config_path.display());
                        state::ReloadStatus {
                            count: self.reloads,
                            ok: true,
                            message,
                        }
                    }
                    Err(e) => {
                        tracing::error!("reload failed, keeping the running config: {e}");
                        state::ReloadStatus {
                            count: self.reloads,
                            ok: false,
                            message: e.to_string(),
                        }
                    }
                };
                if let Err(e) = state::write_reload(&self.config.global.pin_dir, &status) {
                    tracing::error!("record the reload outcome: {e}");
                }
            }
            if sig.stop_requested() {
                tracing::info!("stopping; the datapath keeps forwarding (`oxlb down` removes it)");
                if let Some(c) = self.checker.take() {
                    c.stop();
                }
                if let Some(m) = self.metrics.take() {
                    m.stop();
                }
                return Ok(());
            }
        }
    }
}
