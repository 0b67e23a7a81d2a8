//! End to end: HTTP through oxlb (XDP, NAT mode, driver and generic) versus an nftables DNAT
//! load balancer (the netfilter path XDP replaces) on the same namespace topology, measured
//! in the same run.
//!
//! Per load balancer: `wrk` keep-alive throughput and latency (2 threads, 32 connections,
//! 5 s) against the VIP, and the rate of new connections (one request each, sequential, by
//! our own client). The nftables setup: `dnat to numgen random mod 3 map { ... }` in
//! prerouting and `snat` to the LB's address in postrouting, so backends reply through it
//! (one-armed, like oxlb's NAT mode). Transmit checksum offload is off on every host.
//!
//! Run as root: `cargo bench -p oxlb --bench e2e` (needs Debian's `wrk` and `nftables`).

use oxlb::demo::lab::{Lab, LabOptions};
use oxlb::demo::topology::{in_ns, sh};
use std::net::IpAddr;
use std::time::Instant;

/// One load balancer's figures.
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

fn measure(lab: &Lab, what: &str) -> Figures {
    let url = format!("http://{}/", lab.t.vip);
    let out = in_ns(
        &lab.t.client.ns,
        &["wrk", "-t2", "-c32", "-d5s", "--latency", &url],
    )
    .unwrap_or_else(|e| panic!("{what}: wrk: {e}"));
    assert!(
        !out.contains("Socket errors") && !out.contains("Non-2xx"),
        "{what}: wrk saw errors:\n{out}"
    );
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("{what}: no {prefix:?} in wrk output:\n{out}"))
    };
    let rps: f64 = field("Requests/sec:").parse().unwrap();
    let (p50, p99) = (ms(&field("50%")), ms(&field("99%")));
    let n = 1000;
    let t = Instant::now();
    let res = lab.round(IpAddr::V4(lab.t.vip), n, None);
    let secs = t.elapsed().as_secs_f64();
    let failed = res.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "{what}: {failed} of {n} new connections failed");
    Figures {
        rps,
        p50_ms: p50,
        p99_ms: p99,
        conns_per_s: n as f64 / secs,
    }
}

/// Replaces oxlb with an nftables DNAT load balancer in the LB namespace.
fn nftables(lab: &Lab) {
    let ns = &lab.t.lb.ns;
    let b: Vec<String> = lab.t.backends.iter().map(|b| b.addr.to_string()).collect();
    in_ns(ns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]).unwrap();
    let rules = format!(
        "table ip oxlbcmp {{\n\
         chain pre {{ type nat hook prerouting priority dstnat; \
         ip daddr {vip} tcp dport 80 dnat to numgen random mod 3 map {{ 0 : {b0}, 1 : {b1}, 2 : {b2} }} : 8080; }}\n\
         chain post {{ type nat hook postrouting priority srcnat; \
         ip daddr {{ {b0}, {b1}, {b2} }} tcp dport 8080 snat to {lb}; }}\n}}\n",
        vip = lab.t.vip,
        b0 = b[0],
        b1 = b[1],
        b2 = b[2],
        lb = lab.t.lb.addr
    );
    let file = std::env::temp_dir().join(format!("oxlb-nft-{}.nft", std::process::id()));
    std::fs::write(&file, rules).unwrap();
    in_ns(ns, &["nft", "-f", file.to_str().unwrap()]).unwrap_or_else(|e| panic!("nft: {e}"));
    let _ = std::fs::remove_file(file);
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the end-to-end benchmark needs root (network namespaces, XDP)");
        return;
    }
    for tool in ["wrk", "nft"] {
        if sh(&["sh", "-c", &format!("command -v {tool}")]).is_err() {
            eprintln!("{tool} is missing: apt-get install -y wrk nftables (or bash .ci/setup)");
            std::process::exit(1);
        }
    }
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_oxlb"));
    let weights = [Some(1), Some(1), Some(1)];
    let mut rows = Vec::new();
    for xdp_mode in ["driver", "generic"] {
        let opts = LabOptions {
            mode: "nat".into(),
            xdp_mode: xdp_mode.into(),
            exe: exe.clone(),
        };
        let mut lab = Lab::start(&opts, &weights).expect("start the lab");
        let name = format!("oxlb (XDP {xdp_mode}, nat)");
        rows.push((name.clone(), measure(&lab, &name)));
        if xdp_mode == "generic" {
            lab.down();
            nftables(&lab);
            let name = "nftables DNAT (numgen, snat)".to_string();
            rows.push((name.clone(), measure(&lab, &name)));
        }
    }
    let nft = rows.last().map(|(_, f)| f.rps).unwrap_or(f64::NAN);
    let nft_c = rows.last().map(|(_, f)| f.conns_per_s).unwrap_or(f64::NAN);
    println!(
        "HTTP through the load balancer on the demo topology (wrk -t2 -c32 -d5s keep-alive; \
         1000 sequential new connections by our client):"
    );
    println!(
        "{:<30} {:>10} {:>8} {:>8} {:>8} {:>12} {:>8}",
        "load balancer", "req/s", "x nft", "p50 ms", "p99 ms", "new conn/s", "x nft"
    );
    for (name, f) in &rows {
        println!(
            "{name:<30} {:>10.0} {:>8.2} {:>8.3} {:>8.3} {:>12.0} {:>8.2}",
            f.rps,
            f.rps / nft,
            f.p50_ms,
            f.p99_ms,
            f.conns_per_s,
            f.conns_per_s / nft_c
        );
    }
}
