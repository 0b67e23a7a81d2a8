//! BGP through a real BIRD 2 pair in network namespaces: a "router" BIRD that installs what it
//! learns in its kernel table, and a node BIRD driven by oxlb. Announcements and withdrawals
//! must reach the router's routing table: the announcer alone (healthy / unhealthy plans,
//! drain, communities), and the daemon (`oxlb run` with `[bgp]`: health loss withdraws,
//! `oxlb drain` withdraws and reports drained, a restarted daemon announces again, `oxlb down`
//! withdraws before detaching).

mod common;

use common::{require_kernel, Netns};
use oxlb::bgp::announcer::Announcer;
use oxlb::bgp::config::BgpConfig;
use oxlb::demo::fleet_bird::{node_conf, router_conf, Bird};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn have_bird() -> bool {
    if Command::new("bird").arg("--version").output().is_ok() {
        return true;
    }
    let why = "SKIPPED: bird not installed (bash .ci/setup installs bird2)";
    if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("{why}, and OXBPF_REQUIRE_KERNEL=1");
    }
    eprintln!("{why}");
    false
}

/// The lock serialising these tests and a fresh [`Pair`]; `None` when the test must skip.
fn setup(test: &str) -> Option<(std::sync::MutexGuard<'static, ()>, Pair)> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_kernel(test) || !have_bird() {
        return None;
    }
    Some((g, Pair::new()))
}

/// Router and node namespaces joined by a veth: router 10.88.0.254 / fd88::fe, node
/// 10.88.0.1 / fd88::1; the router BIRD (AS 65000) peers with the node (AS 65001) over both.
struct Pair {
    router: Netns,
    node: Netns,
    dir: PathBuf,
    router_bird: Option<Bird>,
    node_bird: Option<Bird>,
}

const VIP4: &str = "10.0.0.1";
const VIP6: &str = "fd00::1";

impl Pair {
    fn new() -> Pair {
        let router = Netns::new("oxbgpr");
        let node = Netns::new("oxbgpn");
        router.ip(&[
            "link", "add", "r0", "type", "veth", "peer", "name", "n0", "netns", &node.name,
        ]);
        for (ns, dev, a4, a6) in [
            (&router, "r0", "10.88.0.254/24", "fd88::fe/64"),
            (&node, "n0", "10.88.0.1/24", "fd88::1/64"),
        ] {
            ns.ip(&["addr", "add", a4, "dev", dev]);
            ns.ip(&["-6", "addr", "add", a6, "dev", dev, "nodad"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        let dir = std::env::temp_dir().join(common::unique("oxlb-bgp-"));
        let peers: Vec<(IpAddr, u32)> = vec![
            ("10.88.0.1".parse().unwrap(), 65001),
            ("fd88::1".parse().unwrap(), 65001),
        ];
        let conf = router_conf("10.88.0.254".parse().unwrap(), 65000, &peers);
        let router_bird = Bird::start(&router.name, &dir.join("router"), &conf).unwrap();
        Pair {
            router,
            node,
            dir,
            router_bird: Some(router_bird),
            node_bird: None,
        }
    }

    fn include(&self) -> PathBuf {
        self.dir.join("node").join("oxlb.conf")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("node").join("bird.ctl")
    }

    /// The `[bgp]` section for the node.
    fn bgp_toml(&self) -> String {
        format!(
            "[bgp]\nsocket = \"{}\"\ninclude = \"{}\"\nlocal_as = 65001\nrouter_id = \"10.88.0.1\"\n\
             communities = [\"65000:4242\"]\nneighbor = [{{ address = \"10.88.0.254\", as = 65000 }}, \
             {{ address = \"fd88::fe\", as = 65000 }}]\n",
            self.socket().display(),
            self.include().display()
        )
    }

    /// Starts the node's BIRD (its include must exist: BIRD refuses a missing one).
    fn start_node_bird(&mut self, cfg: &BgpConfig) {
        let text = oxlb::bgp::bird::render(cfg, &Default::default());
        oxlb::bgp::bird::write_include(&self.include(), &text).unwrap();
        let conf = node_conf(&self.include());
        self.node_bird = Some(Bird::start(&self.node.name, &self.dir.join("node"), &conf).unwrap());
    }

    /// The router's kernel route to `vip` (empty when there is none).
    fn route(&self, vip: &str) -> String {
        let fam = if vip.contains(':') { "-6" } else { "-4" };
        self.router
            .ip(&[fam, "route", "show", vip])
            .trim()
            .to_string()
    }

    /// Waits until the router's kernel has (or lacks) a route to `vip`; how long it took.
    fn wait_route(&self, vip: &str, present: bool) -> Duration {
        let t0 = Instant::now();
        while Instant::now() < t0 + Duration::from_secs(15) {
            let r = self.route(vip);
            if r.is_empty() != present {
                return t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let show = self
            .router_bird
            .as_ref()
            .map(|b| b.cmd("show protocols all").unwrap_or_default().join("\n"))
            .unwrap_or_default();
        panic!(
            "router route to {vip}: wanted present={present}, have {:?} after 15 s\n{show}\nnode bird: {}",
            self.route(vip),
            std::fs::read_to_string(self.dir.join("node/bird.out")).unwrap_or_default()
        );
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.node_bird.take();
        self.router_bird.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(pair: &Pair, extra: &str) -> oxlb::config::Config {
    let text = format!(
        "[global]\nmaglev_table_size = 1009\n[[interface]]\nname = \"n0\"\n{extra}{}",
        pair.bgp_toml()
    );
    oxlb::config::Config::parse(&text, "oxlb.toml").unwrap_or_else(|e| panic!("{e}"))
}

const VIPS: &str = "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\n\
    health = { type = \"tcp\", port = 9, interval = \"100ms\", timeout = \"100ms\", rise = 1, fall = 1 }\n\
    backend = [{ address = \"10.88.0.254\" }]\n\
    [[vip]]\naddress = \"fd00::1\"\nport = 80\nmode = \"dsr\"\nbackend = [{ address = \"fd88::fe\" }]\n";

#[test]
fn announcer_reaches_the_peers_routing_table() {
    let Some((_g, mut pair)) = setup("announcer_reaches_the_peers_routing_table") else {
        return;
    };
    let cfg = config(&pair, VIPS);
    let bgp = cfg.bgp.clone().unwrap();
    pair.start_node_bird(&bgp);
    let pin_dir = pair.dir.join("pins");
    let mut a = Announcer::new(bgp, &pin_dir);
    let mut health = oxlb::planner::HealthMap::new();
    let plan = oxlb::planner::plan(&cfg, &health, None).unwrap();
    a.update(&plan);
    let t4 = pair.wait_route(VIP4, true);
    let t6 = pair.wait_route(VIP6, true);
    println!(
        "announced: v4 after {t4:?}: {} | v6 after {t6:?}: {}",
        pair.route(VIP4),
        pair.route(VIP6)
    );
    assert!(pair.route(VIP4).contains("via 10.88.0.1"));
    assert!(pair.route(VIP6).contains("via fd88::1"));
    let all = pair
        .router_bird
        .as_ref()
        .unwrap()
        .cmd("show route 10.0.0.1/32 all")
        .unwrap()
        .join("\n");
    assert!(all.contains("(65000,4242)"), "community missing:\n{all}");

    // The IPv4 VIP's only backend fails its health check: its prefix is withdrawn, the IPv6
    // one stays.
    let key = oxlb::plan::BackendKey {
        vip: cfg.vips[0].key(),
        addr: "10.88.0.254".parse().unwrap(),
        port: 0,
    };
    health.insert(key, false);
    let sick = oxlb::planner::plan(&cfg, &health, Some(&plan)).unwrap();
    // (Its Maglev table stays full: panic mode, every backend is down.)
    assert!(sick.vips[0].backends.iter().all(|b| !b.healthy));
    a.update(&sick);
    let t = pair.wait_route(VIP4, false);
    println!("withdrawn on health loss after {t:?}");
    assert!(!pair.route(VIP6).is_empty());
    let status = oxlb::bgp::announcer::read_status(&pin_dir).unwrap();
    assert_eq!(status.announced, vec![VIP6.parse::<IpAddr>().unwrap()]);

    // Healthy again, then a drain: everything withdrawn, drained after the period.
    a.update(&plan);
    pair.wait_route(VIP4, true);
    a.start_drain(Duration::from_millis(300));
    pair.wait_route(VIP4, false);
    pair.wait_route(VIP6, false);
    assert!(!a.drained());
    std::thread::sleep(Duration::from_millis(350));
    a.tick();
    assert!(a.drained());
    // A plan change while drained announces nothing.
    a.update(&sick);
    std::thread::sleep(Duration::from_millis(300));
    assert!(pair.route(VIP6).is_empty());
}

#[test]
fn bird_refusing_the_include_is_reported_and_retried() {
    let Some((_g, mut pair)) = setup("bird_refusing_the_include_is_reported_and_retried") else {
        return;
    };
    let cfg = config(&pair, VIPS);
    let bgp = cfg.bgp.clone().unwrap();
    // No node BIRD yet: the announcer reports the socket and retries.
    let pin_dir = pair.dir.join("pins");
    let mut a = Announcer::new(bgp.clone(), &pin_dir);
    let plan = oxlb::planner::plan(&cfg, &Default::default(), None).unwrap();
    a.update(&plan);
    let status = oxlb::bgp::announcer::read_status(&pin_dir).unwrap();
    let err = status.error.expect("an error without BIRD");
    assert!(
        err.contains("bird.ctl") && err.contains("is bird running"),
        "{err}"
    );
    pair.start_node_bird(&bgp);
    std::thread::sleep(oxlb::bgp::announcer::RETRY);
    a.tick();
    pair.wait_route(VIP4, true);
    // A main config whose include is broken: BIRD's own error comes back.
    std::fs::write(pair.include(), "protocol static {").unwrap();
    let e = oxlb::bgp::bird::configure(&pair.socket()).expect_err("broken include");
    assert!(e.to_string().starts_with("BIRD refused `configure`"), "{e}");
}

/// `oxlb` with a config, in the node namespace.
fn oxlb(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oxlb"))
        .args(["--netns", ns])
        .args(args)
        .output()
        .unwrap()
}

fn start_daemon(ns: &str, cfg: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_oxlb"))
        .args(["--netns", ns, "run", "-c"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[test]
fn daemon_announces_withdraws_drains_and_withdraws_before_down() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_kernel("daemon_announces_withdraws_drains_and_withdraws_before_down")
        || !have_bird()
    {
        return;
    }
    let mut pair = Pair::new();
    let pin_dir = format!("/sys/fs/bpf/{}", common::unique("oxlb-bgp-"));
    let cfg_text = format!(
        "[global]\nmaglev_table_size = 1009\nmetrics_listen = \"off\"\npin_dir = \"{pin_dir}\"\n\
         [[interface]]\nname = \"n0\"\nxdp_mode = \"generic\"\n{VIPS}{}",
        pair.bgp_toml()
    );
    let cfg = oxlb::config::Config::parse(&cfg_text, "oxlb.toml").unwrap();
    pair.start_node_bird(cfg.bgp.as_ref().unwrap());
    let cfg_path = pair.dir.join("oxlb.toml");
    std::fs::write(&cfg_path, &cfg_text).unwrap();
    let log = pair.dir.join("oxlb.log");
    // The health-checked backend: a listener on the router's port 9.
    let listener = pair
        .router
        .run(|_| TcpListener::bind("10.88.0.254:9").unwrap());
    let node = pair.node.name.clone();
    let mut daemon = start_daemon(&node, &cfg_path, &log);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let t = pair.wait_route(VIP4, true);
    pair.wait_route(VIP6, true);
    println!("daemon announced after {t:?}");

    drop(listener);
    let t = pair.wait_route(VIP4, false);
    println!("health loss withdrew the IPv4 VIP after {t:?}");
    assert!(!pair.route(VIP6).is_empty());
    let _listener = pair
        .router
        .run(|_| TcpListener::bind("10.88.0.254:9").unwrap());
    pair.wait_route(VIP4, true);

    let stats = oxlb(&node, &["stats", "--pin-dir", &pin_dir]);
    let text = String::from_utf8_lossy(&stats.stdout).to_string();
    assert!(
        text.contains("plan digest ") && text.contains("bgp: announcing [10.0.0.1, fd00::1]"),
        "{text}"
    );

    let t0 = Instant::now();
    let out = oxlb(
        &node,
        &["drain", "--pin-dir", &pin_dir, "--period", "500ms"],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("withdrew") || text.contains("withdrawn every VIP"),
        "{text}"
    );
    assert!(text.contains("drained after"), "{text}");
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert!(pair.route(VIP4).is_empty() && pair.route(VIP6).is_empty());
    // The datapath still forwards while drained: XDP stays attached.
    assert!(pair.node.ip(&["link", "show", "n0"]).contains("xdp"));

    // Rolling upgrade: stop the drained daemon, start the new one: it announces again.
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    daemon.wait().unwrap();
    daemon = start_daemon(&node, &cfg_path, &log);
    pair.wait_route(VIP4, true);
    pair.wait_route(VIP6, true);

    let out = oxlb(&node, &["down", "--pin-dir", &pin_dir]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("bgp: withdrew [10.0.0.1, fd00::1]"),
        "{text}\n{}",
        logs()
    );
    pair.wait_route(VIP4, false);
    pair.wait_route(VIP6, false);
    let _ = daemon.kill();
    let _ = daemon.wait();
}
