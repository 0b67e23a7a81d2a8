//! A running fleet lab: [`FleetNet`], a BIRD router peering with every LB node, and per LB
//! node its own BIRD and `oxlb run` (with `[bgp]`) — started, killed, drained and restarted on
//! demand. Everything is torn down on drop (`oxlb down` per node, BIRD, namespaces, files).

use super::fleet_bird::{node_conf, router_conf, Bird};
use super::fleet_net::{FleetNet, NODES, ROUTER4, ROUTER6, VIP4, VIP6};
use super::lab::{backend_name, wait_for};
use super::topology::sh;
use super::{fleet_udp, traffic};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Backend weights (the fourth backend joins later).
pub const WEIGHTS: [u32; 4] = [1, 2, 1, 1];
/// The VIPs' port (TCP and UDP).
pub const PORT: u16 = 80;
/// AS numbers: the router, every LB node.
const ROUTER_AS: u32 = 65000;
const NODE_AS: u32 = 65001;

/// One LB node's processes.
#[derive(Default)]
struct NodeProcs {
    bird: Option<Bird>,
    daemon: Option<Child>,
    started: bool,
}

/// The lab.
pub struct FleetLab {
    /// The network.
    pub net: FleetNet,
    exe: PathBuf,
    xdp_mode: String,
    dir: PathBuf,
    tag: String,
    router: Option<Bird>,
    nodes: Vec<NodeProcs>,
    servers: Vec<Arc<AtomicBool>>,
    /// Backends in the nodes' configs.
    backends: usize,
}

impl FleetLab {
    /// Builds the network, starts the router, the backends (the first `backends`
    /// configured) and the first `nodes` LB nodes.
    pub fn start(
        exe: &Path,
        xdp_mode: &str,
        nodes: usize,
        backends: usize,
    ) -> Result<FleetLab, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let net = FleetNet::build(&tag)?;
        let dir = std::env::temp_dir().join(format!("oxlb-fleet-{tag}"));
        let mut lab = FleetLab {
            net,
            exe: exe.to_path_buf(),
            xdp_mode: xdp_mode.into(),
            dir,
            tag,
            router: None,
            nodes: (0..NODES).map(|_| NodeProcs::default()).collect(),
            servers: Vec::new(),
            backends,
        };
        let peers: Vec<(IpAddr, u32)> = lab
            .net
            .nodes
            .iter()
            .flat_map(|n| [(n.addr.into(), NODE_AS), (n.addr6.into(), NODE_AS)])
            .collect();
        let conf = router_conf(ROUTER4.into(), ROUTER_AS, &peers);
        lab.router = Some(Bird::start(
            &lab.net.router,
            &lab.dir.join("router"),
            &conf,
        )?);
        for i in 0..lab.net.backends.len() {
            let stop = Arc::new(AtomicBool::new(false));
            let ns = lab.net.backends[i].ns.clone();
            traffic::serve(&ns, backend_name(i), Arc::clone(&stop))?;
            let vips = vec![VIP4.into(), VIP6.into()];
            fleet_udp::serve(&ns, backend_name(i), vips, PORT, Arc::clone(&stop))?;
            lab.servers.push(stop);
        }
        for i in 0..nodes {
            lab.start_node(i)?;
        }
        Ok(lab)
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("lb{}", i + 1))
    }

    /// Node `i`'s pin dir.
    pub fn pin_dir(&self, i: usize) -> PathBuf {
        PathBuf::from(format!("/sys/fs/bpf/oxf{}lb{}", self.tag, i + 1))
    }

    /// Node `i`'s config text.
    pub fn config(&self, i: usize) -> String {
        let n = &self.net.nodes[i];
        let dir = self.node_dir(i);
        let mut s = format!(
            "[global]\nmaglev_table_size = 4099\nconntrack_size = 65536\nmetrics_listen = \"off\"\n\
             pin_dir = \"{}\"\n\n[[interface]]\nname = \"eth0\"\nxdp_mode = \"{}\"\n\n\
             [bgp]\nsocket = \"{}\"\ninclude = \"{}\"\nlocal_as = {NODE_AS}\nrouter_id = \"{}\"\n\
             hold_time = \"3s\"\nbfd = true\n\
             neighbor = [{{ address = \"{ROUTER4}\", as = {ROUTER_AS} }}, {{ address = \"{ROUTER6}\", as = {ROUTER_AS} }}]\n",
            self.pin_dir(i).display(),
            self.xdp_mode,
            dir.join("bird.ctl").display(),
            dir.join("oxlb.conf").display(),
            n.addr,
        );
        for (vip, proto) in [
            (IpAddr::from(VIP4), "tcp"),
            (VIP6.into(), "tcp"),
            (VIP4.into(), "udp"),
            (VIP6.into(), "udp"),
        ] {
            let check = if proto == "tcp" { "http" } else { "tcp" };
            let _ = write!(
                s,
                "\n[[vip]]\naddress = \"{vip}\"\nport = {PORT}\nprotocol = \"{proto}\"\nmode = \"dsr\"\n\
                 health = {{ type = \"{check}\", port = 8080, interval = \"200ms\", timeout = \"200ms\", rise = 2, fall = 2 }}\n"
            );
            for (b, w) in self.net.backends.iter().zip(WEIGHTS).take(self.backends) {
                let addr: IpAddr = if vip.is_ipv4() {
                    b.addr.into()
                } else {
                    b.addr6.into()
                };
                let _ = writeln!(s, "[[vip.backend]]\naddress = \"{addr}\"\nweight = {w}");
            }
        }
        s
    }

    /// Starts node `i`: its BIRD, then `oxlb run` (which announces once attached).
    pub fn start_node(&mut self, i: usize) -> Result<(), String> {
        let dir = self.node_dir(i);
        let cfg = crate::config::Config::parse(&self.config(i), "oxlb.toml")
            .map_err(|e| e.to_string())?;
        let bgp = cfg.bgp.as_ref().ok_or("no [bgp] in the node config")?;
        let include = dir.join("oxlb.conf");
        if !include.exists() {
            let text = crate::bgp::bird::render(bgp, &Default::default());
            crate::bgp::bird::write_include(&include, &text).map_err(|e| e.to_string())?;
        }
        let bird = Bird::start(&self.net.nodes[i].ns, &dir, &node_conf(&include))?;
        self.nodes[i].bird = Some(bird);
        self.nodes[i].started = true;
        self.start_daemon(i)
    }

    /// Starts node `i`'s daemon and waits until it serves.
    pub fn start_daemon(&mut self, i: usize) -> Result<(), String> {
        let dir = self.node_dir(i);
        let cfg = dir.join("oxlb.toml");
        std::fs::write(&cfg, self.config(i)).map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("oxlb.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(&self.exe)
            .args(["--netns", &self.net.nodes[i].ns, "run", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.exe.display()))?;
        let pid = child.id() as i32;
        self.nodes[i].daemon = Some(child);
        let pin_dir = self.pin_dir(i);
        wait_for("oxlb to attach", || {
            crate::daemon::state::running_pid(&pin_dir) == Some(pid)
        })
        .map_err(|e| format!("lb{}: {e}; log:\n{}", i + 1, self.log(i)))
    }

    /// Kills node `i` as a machine dies: its link goes down (nothing more leaves it, not even
    /// a TCP FIN of its BGP sessions), then its daemon and BIRD get SIGKILL.
    pub fn kill_node(&mut self, i: usize) -> Result<(), String> {
        sh(&[
            "ip",
            "-n",
            &self.net.nodes[i].ns,
            "link",
            "set",
            "eth0",
            "down",
        ])?;
        if let Some(mut d) = self.nodes[i].daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        if let Some(mut b) = self.nodes[i].bird.take() {
            b.kill();
        }
        Ok(())
    }

    /// Stops node `i`'s daemon (SIGTERM); its datapath and BIRD keep running.
    pub fn stop_daemon(&mut self, i: usize) -> Result<(), String> {
        let Some(mut child) = self.nodes[i].daemon.take() else {
            return Ok(());
        };
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().map_err(|e| e.to_string())?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("lb{} exited with {status}:\n{}", i + 1, self.log(i)))
    }

    /// `oxlb drain` on node `i`: its output.
    pub fn drain(&self, i: usize, period: &str) -> Result<String, String> {
        let out = self.oxlb(&[
            "drain",
            "--pin-dir",
            &self.pin_dir(i).to_string_lossy(),
            "--period",
            period,
        ])?;
        Ok(out)
    }

    /// Rewrites every running node's config with `backends` backends and reloads it.
    pub fn reload_all(&mut self, backends: usize) -> Result<(), String> {
        self.backends = backends;
        for i in self.live() {
            let cfg = self.node_dir(i).join("oxlb.toml");
            std::fs::write(&cfg, self.config(i)).map_err(|e| e.to_string())?;
            let pin = self.pin_dir(i);
            let pid = crate::daemon::state::running_pid(&pin).ok_or("daemon not running")?;
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGHUP) };
        }
        for i in self.live() {
            let pin = self.pin_dir(i);
            wait_for("the reload", || {
                crate::daemon::state::read(&pin).is_some_and(|s| {
                    s["vips"].as_array().is_some_and(|v| {
                        v.iter().all(|v| {
                            v["backends"]
                                .as_array()
                                .is_some_and(|b| b.len() == backends)
                        })
                    })
                })
            })?;
        }
        Ok(())
    }

    /// Nodes whose daemon runs.
    pub fn live(&self) -> Vec<usize> {
        (0..NODES)
            .filter(|i| self.nodes[*i].daemon.is_some())
            .collect()
    }

    /// The router's next hops for `vip` (the LB nodes ECMP spreads over).
    pub fn paths(&self, vip: IpAddr) -> Vec<IpAddr> {
        let fam = if vip.is_ipv4() { "-4" } else { "-6" };
        let out = sh(&[
            "ip",
            "-n",
            &self.net.router,
            fam,
            "route",
            "show",
            &vip.to_string(),
        ])
        .unwrap_or_default();
        let words: Vec<&str> = out.split_whitespace().collect();
        let mut hops: Vec<IpAddr> = words
            .windows(2)
            .filter(|w| w[0] == "via")
            .filter_map(|w| w[1].parse().ok())
            .collect();
        hops.sort();
        hops
    }

    /// Waits until the router spreads both VIPs over exactly the nodes `want`; how long.
    pub fn wait_paths(&self, want: &[usize]) -> Result<Duration, String> {
        let t0 = Instant::now();
        let expect = |v6: bool| -> Vec<IpAddr> {
            let mut v: Vec<IpAddr> = want
                .iter()
                .map(|i| {
                    let n = &self.net.nodes[*i];
                    if v6 {
                        n.addr6.into()
                    } else {
                        n.addr.into()
                    }
                })
                .collect();
            v.sort();
            v
        };
        let ok =
            || self.paths(VIP4.into()) == expect(false) && self.paths(VIP6.into()) == expect(true);
        wait_for("the router's ECMP routes", ok).map_err(|e| {
            format!(
                "{e}: want lb{:?}, have {:?} / {:?}",
                want.iter().map(|i| i + 1).collect::<Vec<_>>(),
                self.paths(VIP4.into()),
                self.paths(VIP6.into())
            )
        })?;
        Ok(t0.elapsed())
    }

    fn oxlb(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.exe)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        match out.status.success() {
            true => Ok(text),
            false => Err(format!(
                "oxlb {}: {text}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    /// `oxlb stats --json` of node `i`.
    pub fn stats(&self, i: usize) -> Result<Value, String> {
        let text = self.oxlb(&[
            "stats",
            "--json",
            "--pin-dir",
            &self.pin_dir(i).to_string_lossy(),
        ])?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    /// A VIP counter (`"new_flows"`, `"packets"`) of node `i`, summed over its VIPs.
    fn vip_sum(&self, i: usize, counter: &str) -> u64 {
        self.stats(i)
            .ok()
            .and_then(|s| {
                s["vips"]
                    .as_array()
                    .map(|v| v.iter().filter_map(|v| v[counter].as_u64()).sum())
            })
            .unwrap_or(0)
    }

    /// New flows node `i` has scheduled, over all VIPs.
    pub fn new_flows(&self, i: usize) -> u64 {
        self.vip_sum(i, "new_flows")
    }

    /// VIP packets node `i` has forwarded.
    pub fn packets(&self, i: usize) -> u64 {
        self.vip_sum(i, "packets")
    }

    /// Node `i`'s plan digest.
    pub fn digest(&self, i: usize) -> String {
        self.stats(i)
            .ok()
            .and_then(|s| s["digest"].as_str().map(String::from))
            .unwrap_or_else(|| "?".into())
    }

    /// The router BIRD's log.
    pub fn router_log(&self) -> String {
        self.router.as_ref().map(Bird::log).unwrap_or_default()
    }

    /// Node `i`'s daemon log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.node_dir(i).join("oxlb.log")).unwrap_or_default()
    }
}

impl Drop for FleetLab {
    fn drop(&mut self) {
        for s in &self.servers {
            s.store(true, Ordering::Relaxed);
        }
        for i in 0..NODES {
            if !self.nodes[i].started {
                continue;
            }
            let _ = Command::new(&self.exe)
                .args(["--netns", &self.net.nodes[i].ns, "down", "--pin-dir"])
                .arg(self.pin_dir(i))
                .output();
            if let Some(mut c) = self.nodes[i].daemon.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            self.nodes[i].bird.take();
        }
        self.router.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
