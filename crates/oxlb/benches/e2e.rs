//! End to end: HTTP through oxlb (XDP, NAT mode, driver and generic) versus an nftables DNAT
//! load balancer (the netfilter path XDP replaces) on the demo topology (client, LB and 3
//! backends in network namespaces on one bridge; our HTTP server `demo::traffic::serve` on
//! the backends), with the client talking straight to one backend as the no-LB reference.
//!
//! Per load balancer and round: `wrk` keep-alive requests/s and latency (p50, p99), then
//! the rate of new connections (client threads each opening a connection from a fresh
//! source port, one request, RST close) — every new connection is a new flow for the LB.
//! Rounds interleave the load balancers (order rotated each round) and the medians over
//! rounds are printed, with ratios to nftables. Any failed request fails the benchmark.
//!
//! nftables: `dnat to jhash ip saddr . tcp sport mod 3 map { ... } : 8080` in prerouting and
//! `snat` to the LB's address in postrouting, so backends reply through it (one-armed, like
//! oxlb's NAT mode); it runs in the generic lab's LB namespace while oxlb is down there.
//!
//! Run as root: `cargo bench -p oxlb --bench e2e` (needs Debian's `wrk` and `nftables`;
//! `-- --quick` for one short round).

#[path = "../tests/common/mod.rs"]
mod common;

use oxlb::demo::lab::{Lab, LabOptions};
use oxlb::demo::topology::{in_ns, sh};
use oxlb::demo::traffic::{in_netns, Conn};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Client threads opening new connections.
const CONN_THREADS: usize = 4;
/// Source ports of the new connections, below the client's ephemeral range (wrk's ports).
const PORTS: std::ops::Range<u32> = 10_000..32_000;

/// The load balancers, in measuring order of the first round.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lb {
    /// The client sends to backend-1 directly.
    Direct,
    OxlbDriver,
    OxlbGeneric,
    Nftables,
}

impl Lb {
    const ALL: [Lb; 4] = [Lb::Direct, Lb::OxlbDriver, Lb::OxlbGeneric, Lb::Nftables];

    fn name(self) -> &'static str {
        match self {
            Lb::Direct => "none: client -> backend-1",
            Lb::OxlbDriver => "oxlb (XDP driver, nat)",
            Lb::OxlbGeneric => "oxlb (XDP generic, nat)",
            Lb::Nftables => "nftables DNAT (jhash) + SNAT",
        }
    }
}

/// One round's figures of one load balancer.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    conns_per_s: f64,
}

/// Milliseconds from a wrk latency like `1.23ms`, `850.00us` or `1.02s`.
fn ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// `wrk` keep-alive load on `url` from the client: (requests/s, p50 ms, p99 ms).
fn wrk(client_ns: &str, url: &str, secs: u32, what: &str) -> (f64, f64, f64) {
    let d = format!("-d{secs}s");
    let out = in_ns(client_ns, &["wrk", "-t2", "-c32", &d, "--latency", url])
        .unwrap_or_else(|e| panic!("{what}: wrk: {e}"));
    assert!(
        !out.contains("Socket errors") && !out.contains("Non-2xx"),
        "{what}: wrk saw errors:\n{out}"
    );
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("{what}: no {prefix:?} in wrk output:\n{out}"))
            .to_string()
    };
    let rps = field("Requests/sec:").parse().unwrap_or(f64::NAN);
    (rps, ms(&field("50%")), ms(&field("99%")))
}

/// New connections to `dst:port` for `secs` from [`CONN_THREADS`] client threads, one
/// request each: connections per second. Panics if any failed.
fn new_conns(
    lab: &Lab,
    dst: IpAddr,
    port: u16,
    secs: f64,
    next: &Arc<AtomicU32>,
    what: &str,
) -> f64 {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..CONN_THREADS)
        .map(|_| {
            let next = Arc::clone(next);
            in_netns(&lab.t.client.ns, move || {
                let (mut ok, mut err) = (0u64, None);
                while Instant::now() < deadline && err.is_none() {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let p = PORTS.start + n % (PORTS.end - PORTS.start);
                    match Conn::open_port(dst, port, Some(p as u16)).and_then(|mut c| c.get()) {
                        Ok(_) => ok += 1,
                        Err(e) => err = Some(format!("from port {p}: {e}")),
                    }
                }
                (ok, err)
            })
        })
        .collect();
    let mut total = 0;
    for t in threads {
        let (ok, err) = t
            .join()
            .expect("client thread")
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if let Some(e) = err {
            panic!("{what}: a new connection failed {e}");
        }
        total += ok;
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Adds (`on`) or removes the nftables load balancer in the LB namespace; `ip_forward` is
/// on while it runs and restored after.
fn nftables(lab: &Lab, on: bool, saved_forward: &mut String) {
    let ns = &lab.t.lb.ns;
    let table = "oxlbbench";
    if !on {
        in_ns(ns, &["nft", "delete", "table", "ip", table]).expect("nft delete");
        in_ns(
            ns,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv4.ip_forward={saved_forward}"),
            ],
        )
        .expect("restore ip_forward");
        return;
    }
    *saved_forward = in_ns(ns, &["sysctl", "-n", "net.ipv4.ip_forward"])
        .expect("read ip_forward")
        .trim()
        .to_string();
    in_ns(ns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]).expect("ip_forward");
    let b: Vec<String> = lab.t.backends.iter().map(|b| b.addr.to_string()).collect();
    let map: Vec<String> = b
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{i} : {a}"))
        .collect();
    let rules = format!(
        "table ip {table} {{\n\
         chain pre {{ type nat hook prerouting priority dstnat; policy accept; \
         ip daddr {vip} tcp dport 80 dnat to jhash ip saddr . tcp sport mod {n} seed 0x6f786c62 \
         map {{ {map} }} : 8080; }}\n\
         chain post {{ type nat hook postrouting priority srcnat; policy accept; \
         ip daddr {{ {set} }} tcp dport 8080 snat to {lb}; }}\n}}\n",
        vip = lab.t.vip,
        n = b.len(),
        map = map.join(", "),
        set = b.join(", "),
        lb = lab.t.lb.addr
    );
    let file = std::env::temp_dir().join(format!("oxlb-bench-{}.nft", std::process::id()));
    std::fs::write(&file, rules).expect("write the nft rules");
    let res = in_ns(ns, &["nft", "-f", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    res.unwrap_or_else(|e| panic!("nft: {e}"));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !common::require_kernel("oxlb e2e benchmark") {
        return;
    }
    let missing: Vec<&str> = [("wrk", "wrk"), ("nft", "nftables")]
        .into_iter()
        .filter(|(tool, _)| sh(&["sh", "-c", &format!("command -v {tool}")]).is_err())
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "ERROR: the e2e benchmark needs {}: apt-get install -y {}",
            missing.join(", "),
            missing.join(" ")
        );
        std::process::exit(1);
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, wrk_secs, conn_secs) = if quick { (1, 1, 0.5) } else { (3, 2, 1.0) };
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_oxlb"));
    let lab = |xdp_mode: &str| {
        let opts = LabOptions {
            mode: "nat".into(),
            xdp_mode: xdp_mode.into(),
            exe: exe.clone(),
            syn_cookies: None,
            caps: None,
        };
        Lab::start(&opts, &[Some(1), Some(1), Some(1)])
            .unwrap_or_else(|e| panic!("start the {xdp_mode} lab: {e}"))
    };
    let driver = lab("driver");
    let mut generic = lab("generic");
    let ports = Arc::new(AtomicU32::new(0));
    let mut nft_on = false;
    let mut saved_forward = String::new();
    let mut figures: Vec<(Lb, Figures)> = Vec::new();
    for round in 0..rounds {
        for i in 0..Lb::ALL.len() {
            let lb = Lb::ALL[(i + round) % Lb::ALL.len()];
            // The generic lab's LB namespace runs oxlb or nftables, switched on demand.
            let want_nft = match lb {
                Lb::Nftables => Some(true),
                Lb::OxlbGeneric => Some(false),
                _ => None,
            };
            if want_nft.is_some_and(|w| w != nft_on) {
                nft_on = !nft_on;
                if nft_on {
                    generic.down();
                    nftables(&generic, true, &mut saved_forward);
                } else {
                    nftables(&generic, false, &mut saved_forward);
                    generic
                        .start_daemon()
                        .unwrap_or_else(|e| panic!("restart oxlb: {e}"));
                }
            }
            let (lab, dst, port) = match lb {
                Lb::Direct => (&generic, IpAddr::V4(generic.t.backends[0].addr), 8080),
                Lb::OxlbDriver => (&driver, IpAddr::V4(driver.t.vip), 80),
                _ => (&generic, IpAddr::V4(generic.t.vip), 80),
            };
            let url = format!("http://{dst}:{port}/");
            let (rps, p50_ms, p99_ms) = wrk(&lab.t.client.ns, &url, wrk_secs, lb.name());
            let conns_per_s = new_conns(lab, dst, port, conn_secs, &ports, lb.name());
            figures.push((
                lb,
                Figures {
                    rps,
                    p50_ms,
                    p99_ms,
                    conns_per_s,
                },
            ));
        }
    }
    if nft_on {
        nftables(&generic, false, &mut saved_forward);
    }
    report(&figures, rounds, wrk_secs, conn_secs);
}

/// Prints the medians over rounds, with ratios to nftables.
fn report(figures: &[(Lb, Figures)], rounds: usize, wrk_secs: u32, conn_secs: f64) {
    let of = |lb: Lb, f: fn(&Figures) -> f64| {
        median(
            figures
                .iter()
                .filter(|(l, _)| *l == lb)
                .map(|(_, x)| f(x))
                .collect(),
        )
    };
    let by_round = |lb: Lb, f: fn(&Figures) -> f64| {
        let v: Vec<String> = figures
            .iter()
            .filter(|(l, _)| *l == lb)
            .map(|(_, x)| format!("{:.0}", f(x)))
            .collect();
        v.join(" ")
    };
    println!(
        "oxlb e2e: HTTP through the load balancer on the demo topology (client, LB, 3 backends \
         running oxlb's demo HTTP server; namespaces on one bridge, TX checksum offload off; \
         client, LB and servers share {} CPUs). {rounds} interleaved rounds, order rotated; \
         medians over rounds; x nft = ratio to nftables.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let nft = |f: fn(&Figures) -> f64| of(Lb::Nftables, f);
    println!("\nkeep-alive: wrk -t2 -c32 -d{wrk_secs}s --latency");
    table(
        &["req/s", "x nft", "p50 ms", "p99 ms", "req/s by round"],
        |lb| {
            let rps = of(lb, |f| f.rps);
            vec![
                format!("{rps:.0}"),
                format!("{:.2}", rps / nft(|f| f.rps)),
                format!("{:.3}", of(lb, |f| f.p50_ms)),
                format!("{:.3}", of(lb, |f| f.p99_ms)),
                by_round(lb, |f| f.rps),
            ]
        },
    );
    println!(
        "\nnew connections: {conn_secs} s, {CONN_THREADS} client threads, a fresh source port and \
         one request each, RST close; the demo server (a thread per connection, accept polled \
         every 2 ms when idle) bounds this rate, so the single-backend row is the lowest"
    );
    table(&["conn/s", "x nft", "conn/s by round"], |lb| {
        let conns = of(lb, |f| f.conns_per_s);
        vec![
            format!("{conns:.0}"),
            format!("{:.2}", conns / nft(|f| f.conns_per_s)),
            by_round(lb, |f| f.conns_per_s),
        ]
    });
}

/// A row per load balancer: its name, then `cells(lb)` under `head` (the last column, the
/// per-round figures, left-aligned).
fn table(head: &[&str], cells: impl Fn(Lb) -> Vec<String>) {
    let line = |name: &str, cols: &[String]| {
        let (last, rest) = cols.split_last().expect("a column");
        let rest: String = rest.iter().map(|c| format!(" {c:>8}")).collect();
        println!("{name:<30}{rest}   {last}");
    };
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    line("load balancer", &head);
    for lb in Lb::ALL {
        line(lb.name(), &cells(lb));
    }
}
