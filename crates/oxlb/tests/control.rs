//! The control plane end to end, without the kernel: config file → plan → health checks against
//! real listeners on 127.0.0.1 → re-plan → metrics over HTTP.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxlb::config::Config;
use oxlb::health::{self, HealthChecker};
use oxlb::metrics::{MetricsServer, Snapshot};
use oxlb::plan::Plan;
use oxlb::planner::{self, HealthMap};

/// A temporary directory removed on drop (unique per process and call).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("oxlb-control-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config_text(ports: &[u16], extra_backend: bool) -> String {
    let mut s = String::from(
        "[global]\nmaglev_table_size = 65537\nmetrics_listen = \"127.0.0.1:0\"\n\n[[interface]]\nname = \"lo\"\nxdp_mode = \"generic\"\n\n",
    );
    s += "[[vip]]\naddress = \"10.200.0.1\"\nport = 80\nmode = \"nat\"\nsnat = \"10.200.0.254\"\n";
    s += "health = { type = \"tcp\", interval = \"50ms\", timeout = \"50ms\", rise = 2, fall = 2 }\n";
    for p in ports {
        s += &format!("[[vip.backend]]\naddress = \"127.0.0.1\"\nport = {p}\nweight = 10\n");
    }
    if extra_backend {
        s += "[[vip.backend]]\naddress = \"127.0.0.2\"\nport = 9\nweight = 0\n";
    }
    s += "\n[[vip]]\naddress = \"fd00::1\"\nprotocol = \"udp\"\nmode = \"dsr\"\nbackend = [{ address = \"fd00::10\" }, { address = \"fd00::11\", weight = 3 }]\n";
    s
}

fn share(plan: &Plan, vip: usize, backend_id: u32) -> f64 {
    let t = &plan.vips[vip].table;
    t.iter().filter(|x| **x == backend_id).count() as f64 / t.len() as f64
}

#[test]
fn config_to_plan_to_health_to_metrics() {
    let dir = TempDir::new();
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let path = dir.0.join("oxlb.toml");
    std::fs::write(&path, config_text(&ports, false)).unwrap();

    // Config → plan.
    let config = Config::load(&path).unwrap();
    let plan1 = planner::plan(&config, &HealthMap::new(), None).unwrap();
    assert_eq!(plan1.vips.len(), 2);
    for id in 0..3 {
        let s = share(&plan1, 0, id);
        assert!((s - 1.0 / 3.0).abs() < 0.01, "backend {id} has share {s}");
    }
    let v6 = &plan1.vips[1];
    let (a, b) = (v6.backends[0].id, v6.backends[1].id);
    assert!((share(&plan1, 1, a) - 0.25).abs() < 0.01 && (share(&plan1, 1, b) - 0.75).abs() < 0.01);

    // Health checks against the real listeners; close one, and the daemon loop re-plans.
    let (tx, rx) = channel();
    let checker = HealthChecker::start(health::targets(&config), &HealthMap::new(), tx).unwrap();
    let mut listeners = listeners;
    let closed = listeners.remove(1);
    drop(closed);
    let event = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("backend should go down");
    assert!(!event.healthy);
    assert_eq!(event.key.port, ports[1]);
    let plan2 = planner::plan(&config, &checker.states(), Some(&plan1)).unwrap();
    let down_id = plan1.vips[0].backends[1].id;
    assert!(!plan2.vips[0].backends[1].healthy);
    assert_eq!(share(&plan2, 0, down_id), 0.0);
    // Consistency: slots of the surviving backends mostly stay where they were (Maglev moves a
    // few more than the minimum; conntrack keeps established flows anyway).
    let survivors = plan1.vips[0]
        .table
        .iter()
        .zip(&plan2.vips[0].table)
        .filter(|(o, _)| **o != down_id);
    let (total, moved) = survivors.fold((0, 0), |(t, m), (o, n)| (t + 1, m + usize::from(o != n)));
    let moved = moved as f64 / total as f64;
    eprintln!(
        "1 of 3 backends down: {:.2}% of the survivors' slots moved",
        moved * 100.0
    );
    assert!(moved < 0.05, "{moved}");
    // Ids are unchanged by a health re-plan; the v6 table is untouched.
    assert_eq!(plan2.vips[1], plan1.vips[1]);

    // Reload with an extra drained backend: ids of everything else stay.
    std::fs::write(&path, config_text(&ports, true)).unwrap();
    let config2 = Config::load(&path).unwrap();
    let plan3 = planner::plan(&config2, &checker.states(), Some(&plan2)).unwrap();
    let ids = |p: &Plan| {
        p.vips
            .iter()
            .flat_map(|v| v.backends.iter().map(|b| b.id))
            .collect::<Vec<_>>()
    };
    let before: HashSet<u32> = ids(&plan2).into_iter().collect();
    let after = ids(&plan3);
    assert_eq!(after.len(), before.len() + 1);
    assert!(before.iter().all(|id| after.contains(id)));
    assert_eq!(
        plan3.vips[0].table, plan2.vips[0].table,
        "a weight-0 backend changes no slot"
    );

    // Bring the backend back.
    let _reopened = TcpListener::bind(("127.0.0.1", ports[1])).unwrap();
    let event = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("backend should come back");
    assert!(event.healthy);
    let plan4 = planner::plan(&config2, &checker.states(), Some(&plan3)).unwrap();
    assert_eq!(
        plan4.vips[0].table, plan1.vips[0].table,
        "recovery restores the original table"
    );
    checker.stop();

    // Metrics for the current plan over HTTP.
    let current = Arc::new(Mutex::new(plan4));
    let source_plan = Arc::clone(&current);
    let listen = config2.global.metrics_listen.unwrap();
    let server = MetricsServer::start(
        listen,
        Box::new(move || {
            let mut s = Snapshot::from_plan(&source_plan.lock().unwrap());
            s.vips[0].counters.packets = 42;
            s.reasons.push(("drop_no_backend".into(), 5));
            s
        }),
    )
    .unwrap();
    let body = get(server.local_addr(), "/metrics");
    assert!(
        body.contains("oxlb_vip_packets_total{vip=\"10.200.0.1:80/tcp\",mode=\"nat\"} 42"),
        "{body}"
    );
    assert!(body.contains(
        "oxlb_backend_up{vip=\"[fd00::1]:0/udp\",mode=\"dsr\",backend=\"[fd00::11]:0\"} 1"
    ));
    assert!(body.contains(&format!(
        "oxlb_backend_up{{vip=\"10.200.0.1:80/tcp\",mode=\"nat\",backend=\"127.0.0.1:{}\"}} 1",
        ports[1]
    )));
    assert!(body.contains("oxlb_datapath_packets_total{reason=\"drop_no_backend\"} 5"));
    server.stop();
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: oxlb\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    out
}

#[test]
fn invalid_file_reports_every_problem_with_positions() {
    let dir = TempDir::new();
    let path = dir.0.join("bad.toml");
    std::fs::write(
        &path,
        "[[interface]]\nname = \"eth0\"\n\n[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nsnat = \"10.0.0.2\"\n\n[[vip.backend]]\naddress = \"10.0.1.1\"\nweight = 70000\n\n[[vip.backend]]\naddress = \"fd00::1\"\n",
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "bad.toml:11:10: vip 10.0.0.1:80/tcp: backend weight must be 0..=65535 (got 70000)",
            "bad.toml:14:11: vip 10.0.0.1:80/tcp: NAT backend fd00::1 is not the same IP family as the VIP (use mode = \"dsr\" to mix)",
        ]
    );
}
