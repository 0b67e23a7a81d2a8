//! A running lab: the demo topology, HTTP backends, and `oxlb run` in the LB namespace with a
//! generated config — shared by `oxlb demo`, the end-to-end tests and the benchmarks.
//!
//! The config has one IPv4 and one IPv6 VIP (port 80/tcp, same mode, HTTP health checks every
//! 200 ms), each with the backends the caller enables, by weight. Everything is torn down on drop (`oxlb down`, namespaces,
//! files).

use super::topology::Topology;
use super::traffic::{self, in_netns, Conn};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run the lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// `nat` or `dsr`.
    pub mode: String,
    /// `generic` or `driver`.
    pub xdp_mode: String,
    /// The `oxlb` executable to run as the daemon.
    pub exe: PathBuf,
    /// `[global] syn_cookies` of the daemon's config (`None`: the default, `flood`).
    pub syn_cookies: Option<String>,
    /// Run the daemon as root with only these capabilities, in setpriv's syntax
    /// ("-all,+bpf,+net_admin,+perfmon"), as the systemd unit does (ambient set, root
    /// granting nothing), in the LB namespace joined with `nsenter --net` (`oxlb --netns`
    /// needs CAP_SYS_ADMIN to switch namespaces). `None`: all of root's.
    pub caps: Option<String>,
}

/// Topology, backends and daemon.
pub struct Lab {
    /// The network.
    pub t: Topology,
    /// Pin directory of the datapath.
    pub pin_dir: PathBuf,
    opts: LabOptions,
    dir: PathBuf,
    cfg: PathBuf,
    daemon: Option<Child>,
    /// Per backend: set to stop its HTTP server.
    servers: Vec<Arc<AtomicBool>>,
}

/// Backend weights by backend index; `None` leaves the backend out of the config.
pub type Weights = [Option<u32>];

/// Waits up to 10 s for `ok`.
pub fn wait_for(what: &str, ok: impl FnMut() -> bool) -> Result<(), String> {
    wait_for_up_to(what, Duration::from_secs(10), ok)
}

/// Waits up to `limit` for `ok`.
pub fn wait_for_up_to(
    what: &str,
    limit: Duration,
    mut ok: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("timed out waiting for {what}"))
}

impl Lab {
    /// Builds the topology, starts the backends and the daemon with `weights`.
    pub fn start(opts: &LabOptions, weights: &Weights) -> Result<Lab, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let t = Topology::build(&tag, opts.mode == "dsr", opts.xdp_mode == "driver")?;
        let dir = std::env::temp_dir().join(format!("oxlb-lab-{tag}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut lab = Lab {
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/oxlb-lab-{tag}")),
            cfg: dir.join("oxlb.toml"),
            t,
            opts: opts.clone(),
            dir,
            daemon: None,
            servers: Vec::new(),
        };
        for i in 0..lab.t.backends.len() {
            lab.start_backend(i)?;
        }
        std::fs::write(&lab.cfg, lab.config(weights)).map_err(|e| e.to_string())?;
        lab.start_daemon()?;
        Ok(lab)
    }

    /// The config text for `weights`.
    pub fn config(&self, weights: &Weights) -> String {
        let t = &self.t;
        let nat = self.opts.mode == "nat";
        let mut s = format!(
            "[global]\nmaglev_table_size = 4099\nconntrack_size = 65536\nmetrics_listen = \"off\"\n\
             pin_dir = \"{}\"\n\n[[interface]]\nname = \"{}\"\nxdp_mode = \"{}\"\n",
            self.pin_dir.display(),
            t.lb.dev,
            self.opts.xdp_mode
        );
        if let Some(c) = &self.opts.syn_cookies {
            s = s.replacen(
                "[global]\n",
                &format!("[global]\nsyn_cookies = \"{c}\"\n"),
                1,
            );
        }
        for vip in [IpAddr::from(t.vip), IpAddr::from(t.vip6)] {
            s += &format!(
                "\n[[vip]]\naddress = \"{vip}\"\nport = 80\nprotocol = \"tcp\"\nmode = \"{}\"\n",
                self.opts.mode
            );
            if nat {
                s += &format!("snat = \"{}\"\n", t.lb.addr_like(vip));
            }
            s += "health = { type = \"http\", path = \"/\", interval = \"200ms\", timeout = \"200ms\", rise = 2, fall = 2 }\n";
            for (b, w) in t.backends.iter().zip(weights) {
                let Some(w) = w else { continue };
                s += &format!(
                    "\n[[vip.backend]]\naddress = \"{}\"\nport = {}\nweight = {w}\n",
                    b.addr_like(vip),
                    if nat { 8080 } else { 80 }
                );
            }
        }
        s
    }

    /// Starts `oxlb run` and waits until it serves.
    pub fn start_daemon(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("oxlb.log"))
            .map_err(|e| e.to_string())?;
        let mut cmd = match &self.opts.caps {
            None => {
                let mut c = Command::new(&self.opts.exe);
                c.args(["--netns", &self.t.lb.ns]);
                c
            }
            Some(caps) => {
                let mut c = Command::new("nsenter");
                // As systemd's CapabilityBoundingSet= + AmbientCapabilities= +
                // SecureBits=noroot-locked + NoNewPrivileges= (dist/oxlb.service): root's uid
                // grants nothing on exec, the ambient set is all the daemon has.
                c.arg(format!("--net=/run/netns/{}", self.t.lb.ns))
                    .arg("setpriv");
                for set in ["--inh-caps", "--ambient-caps", "--bounding-set"] {
                    c.args([set, caps]);
                }
                c.args([
                    "--securebits=+noroot,+noroot_locked",
                    "--no-new-privs",
                    "--",
                ])
                .arg(&self.opts.exe);
                c
            }
        };
        let child = cmd
            .args(["run", "-c"])
            .arg(&self.cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.opts.exe.display()))?;
        let mut child = child;
        let pid = child.id() as i32;
        let mut exited = None;
        // Loading and verifying the datapath takes ~20 s in the 6.1 VM under TCG.
        let waited = wait_for_up_to("oxlb to attach", Duration::from_secs(90), || {
            exited = child.try_wait().ok().flatten();
            exited.is_some() || crate::daemon::state::running_pid(&self.pin_dir) == Some(pid)
        });
        self.daemon = Some(child);
        match (waited, exited) {
            (_, Some(status)) => Err(format!("oxlb exited ({status}); oxlb log:\n{}", self.log())),
            (Err(e), None) => Err(format!("{e}; oxlb log:\n{}", self.log())),
            (Ok(()), None) => Ok(()),
        }
    }

    /// Starts backend `i`'s HTTP server (ports 80 and 8080).
    pub fn start_backend(&mut self, i: usize) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        traffic::serve(&self.t.backends[i].ns, backend_name(i), Arc::clone(&stop))?;
        match self.servers.get_mut(i) {
            Some(s) => *s = stop,
            None => self.servers.push(stop),
        }
        Ok(())
    }

    /// Stops backend `i`'s HTTP server (its listening sockets close; served connections
    /// finish on their own).
    pub fn stop_backend(&self, i: usize) {
        self.servers[i].store(true, Ordering::Relaxed);
    }

    /// Stops the daemon (SIGTERM); the pinned datapath keeps forwarding.
    pub fn stop_daemon(&mut self) -> Result<(), String> {
        let Some(mut child) = self.daemon.take() else {
            return Ok(());
        };
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().map_err(|e| e.to_string())?;
        match status.success() {
            true => Ok(()),
            false => Err(format!("oxlb exited with {status}; log:\n{}", self.log())),
        }
    }

    /// Rewrites the config with `weights` and reloads (SIGHUP), waiting for the new plan.
    pub fn reload(&self, weights: &Weights) -> Result<(), String> {
        std::fs::write(&self.cfg, self.config(weights)).map_err(|e| e.to_string())?;
        let pid = crate::daemon::state::running_pid(&self.pin_dir).ok_or("oxlb is not running")?;
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGHUP) };
        let want = weights.iter().flatten().count();
        wait_for("the reload", || {
            crate::daemon::state::read(&self.pin_dir).is_some_and(|s| {
                s["vips"].as_array().is_some_and(|vips| {
                    vips.iter()
                        .all(|v| v["backends"].as_array().is_some_and(|b| b.len() == want))
                })
            })
        })
    }

    /// One request on each of `n` new connections to `vip` (source ports from `ports` when
    /// given): the answering backend's name, or the error.
    pub fn round(
        &self,
        vip: IpAddr,
        n: usize,
        ports: Option<std::ops::Range<u16>>,
    ) -> Vec<Result<String, String>> {
        round(&self.t.client.ns, vip, n, ports)
    }

    /// Opens `n` keep-alive connections to `vip` from the client.
    pub fn keepalive(&self, vip: IpAddr, n: usize) -> KeepAlive {
        self.keepalive_with(vip, n, None)
    }

    /// Like [`Lab::keepalive`]; `patience`: how long a connection waits for its handshake
    /// and each answer (default 3 s).
    pub fn keepalive_with(
        &self,
        vip: IpAddr,
        n: usize,
        patience: Option<std::time::Duration>,
    ) -> KeepAlive {
        KeepAlive::open(&self.t.client.ns, n, move |_| {
            match patience {
                Some(t) => Conn::open_patient(vip, t),
                None => Conn::open(vip, None),
            }
            .map(|c| Box::new(c) as Box<dyn Flow>)
        })
    }

    /// `oxlb stats` output.
    pub fn stats(&self) -> String {
        Command::new(&self.opts.exe)
            .args(["stats", "--pin-dir"])
            .arg(&self.pin_dir)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| format!("oxlb stats: {e}"))
    }

    /// Health of backend `i` in the running plan: `Some(h)` when it is `h` in every VIP.
    pub fn healthy(&self, i: usize) -> Option<bool> {
        let state = crate::daemon::state::read(&self.pin_dir)?;
        let addrs = [
            self.t.backends[i].addr.to_string(),
            self.t.backends[i].addr6.to_string(),
        ];
        let mut seen = Vec::new();
        for v in state["vips"].as_array()? {
            for b in v["backends"].as_array()? {
                if b["addr"]
                    .as_str()
                    .is_some_and(|a| addrs.iter().any(|x| x == a))
                {
                    seen.push(b["healthy"].as_bool()?);
                }
            }
        }
        let first = *seen.first()?;
        seen.iter().all(|h| *h == first).then_some(first)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("oxlb.log")).unwrap_or_default()
    }

    /// The config file.
    pub fn config_path(&self) -> &Path {
        &self.cfg
    }
}

impl Lab {
    /// Stops the daemon and removes the datapath (`oxlb down`): the LB namespace is plain
    /// Linux again (used to compare against other load balancers).
    pub fn down(&mut self) {
        let _ = Command::new(&self.opts.exe)
            .args(["--netns", &self.t.lb.ns, "down", "--pin-dir"])
            .arg(&self.pin_dir)
            .output();
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &self.servers {
            s.store(true, Ordering::Relaxed);
        }
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request on each of `n` new TCP connections to `vip:80` from namespace `ns` (source
/// ports from `ports` when given): the answering backend's name, or the error.
pub fn round(
    ns: &str,
    vip: IpAddr,
    n: usize,
    ports: Option<std::ops::Range<u16>>,
) -> Vec<Result<String, String>> {
    let ports: Vec<Option<u16>> = match ports {
        Some(r) => r.map(Some).collect(),
        None => vec![None; n],
    };
    let total = ports.len();
    in_netns(ns, move || {
        ports
            .into_iter()
            .map(|p| Conn::open(vip, p).and_then(|mut c| c.get()))
            .collect()
    })
    .join()
    .unwrap_or_else(|_| Err("client thread panicked".into()))
    .unwrap_or_else(|e| vec![Err(e); total])
}

/// Name a backend answers with.
pub fn backend_name(i: usize) -> String {
    format!("backend-{}", i + 1)
}

/// Per connection, the answering backends or the error.
type Answers = Vec<Result<String, String>>;
/// A request to the keep-alive thread: requests per connection, where to send the answers.
type Ask = (usize, Sender<Answers>);

/// Long-lived keep-alive connections served by one client thread.
pub struct KeepAlive {
    tx: Option<Sender<Ask>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

/// A long-lived flow that answers requests with the backend's name.
pub trait Flow: Send {
    /// Sends one request; the answering backend's name.
    fn get(&mut self) -> Result<String, String>;
}

impl Flow for Conn {
    fn get(&mut self) -> Result<String, String> {
        Conn::get(self)
    }
}

impl KeepAlive {
    /// Opens `n` flows (`open(i)`) in namespace `ns`, served by one client thread.
    pub fn open(
        ns: &str,
        n: usize,
        open: impl Fn(usize) -> Result<Box<dyn Flow>, String> + Send + 'static,
    ) -> KeepAlive {
        let (tx, rx) = channel::<Ask>();
        let thread = in_netns(ns, move || {
            let mut flows: Vec<Result<Box<dyn Flow>, String>> = (0..n).map(&open).collect();
            while let Ok((k, reply)) = rx.recv() {
                let answers = flows
                    .iter_mut()
                    .map(|c| match c {
                        Ok(c) => (0..k)
                            .map(|_| c.get())
                            .collect::<Result<Vec<_>, _>>()
                            .map(|v| v.join(",")),
                        Err(e) => Err(e.clone()),
                    })
                    .collect();
                let _ = reply.send(answers);
            }
        });
        KeepAlive {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Sends `k` requests on every connection: per connection, the comma-joined backend names
    /// or the first error.
    pub fn ask(&self, k: usize) -> Answers {
        let (tx, rx) = channel();
        match self.tx.as_ref().map(|t| t.send((k, tx))) {
            Some(Ok(())) => rx.recv().unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Per connection, the one backend that answered all `k` requests, or why not.
    pub fn sticky(&self, k: usize) -> Answers {
        self.ask(k)
            .into_iter()
            .map(|r| {
                let r = r?;
                let first = r.split(',').next().unwrap_or_default().to_string();
                match r.split(',').all(|n| n == first) {
                    true => Ok(first),
                    false => Err(format!("changed backend within the connection: {r}")),
                }
            })
            .collect()
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
