//! The fleet lab end to end: `oxlb demo --fleet` (three LB nodes, each with its own BIRD,
//! behind a BIRD router doing ECMP over L4 hashes, DSR to three backends). It fails unless the
//! nodes' plan digests agree, new connections spread over every node and over the backends
//! within ±10 % of their weights, IPv6 and UDP reach every backend, and 140 long-lived flows
//! (TCP keep-alive and UDP, IPv4 and IPv6) stay on their backend when a node dies (SIGKILL,
//! link down), a node drains and restarts, and a fourth node joins; adding a backend moves only
//! its share. The whole run must stay under a minute.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_fleet() {
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("OXBPF_REQUIRE_KERNEL=1 but not root");
        }
        eprintln!("SKIPPED: oxlb demo --fleet needs root");
        return;
    }
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_oxlb"))
        .args(["demo", "--fleet", "--xdp-mode", "generic"])
        .output()
        .expect("run oxlb demo --fleet");
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("PASS: every fleet check held"),
        "oxlb demo --fleet failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "the router spreads both VIPs over lb1, lb2, lb3",
        "failed requests: 0",
        "after lb1's death: 140/140",
        "after lb2's drain (lb3 alone): 140/140",
        "adopted its pinned datapath: true",
        "after lb2's restart: 140/140",
        "digests of lb2, lb3, lb4 equal: true",
        "after lb4's join: 140/140",
        "digests agree on every live node: true",
        "after the new backend: 140/140",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
    assert!(
        took < Duration::from_secs(60),
        "the fleet demo took {took:?}:\n{text}"
    );
}
