//! `oxlb demo --flood SECS`: a SYN flood from spoofed random sources (hping3 at full rate)
//! against the IPv4 VIP while 100 keep-alive connections carry requests and legitimate
//! clients keep opening new connections. Passes when no keep-alive connection breaks or
//! changes backend, no backend is taken out, no NAT port runs out, the VIP stays open during
//! the flood (at least half the new connections succeed; the 99 % target is reported) and
//! every new connection in the 5 s after it succeeds.

use super::lab::{KeepAlive, Lab};
use super::traffic::{in_netns, Conn};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keep-alive connections carrying requests through the flood.
const KEEPALIVE: usize = 100;
/// Pause between two legitimate new connections of one client thread.
const NEW_CONN_EVERY: Duration = Duration::from_millis(20);
/// Client threads opening new connections side by side.
const OPENERS: usize = 4;
/// After the flood, every new connection must succeed within this window.
const AFTER: Duration = Duration::from_secs(5);
/// Target share of legitimate new connections that succeed during the flood (reported).
const TARGET_DURING: f64 = 0.99;
/// Share below which the run fails: the VIP must stay open (before the half-open table, a
/// 6 s flood closed it for 15 minutes: 0 of 20 connections). The 99 % target is reported,
/// not required: on a 2-core machine that also runs the generator and the backends, a
/// full-rate flood saturates the CPUs and frames (a legitimate SYN among them) are dropped at
/// the receive ring before XDP runs; measured 86-100 % there. See README "Under attack".
const MIN_DURING: f64 = 0.50;
/// A new connection succeeds when its handshake and its request are answered within this
/// (its SYN is sent at 0 s and resent at 1, 3 and 7 s: a lost SYN delays, two lost fail).
const PATIENCE: Duration = Duration::from_secs(10);

/// What the flood run measured.
#[derive(Debug, Default)]
pub struct FloodReport {
    /// SYNs hping3 says it sent.
    pub syns_sent: u64,
    /// Keep-alive connections that broke (reset, closed, no answer after the flood) or changed
    /// backend, out of [`KEEPALIVE`].
    pub keepalive_broken: usize,
    /// Keep-alive connections whose request timed out during the flood but which answered
    /// afterwards (stalled by packet loss, not broken).
    pub keepalive_stalled: usize,
    /// Requests sent on keep-alive connections during the flood.
    pub keepalive_requests: usize,
    /// New connections during the flood: (succeeded, tried).
    pub during: (usize, usize),
    /// New connections in the 5 s after it: (succeeded, tried).
    pub after: (usize, usize),
    /// Time to connect and get an answer during the flood, sorted (successes only).
    pub during_ms: Vec<u64>,
    /// Datapath counters that moved during the run.
    pub counters: BTreeMap<String, u64>,
    /// First error seen by a new connection, if any.
    pub first_error: Option<String>,
}

/// Floods the lab's IPv4 VIP for `secs` seconds and checks what the module doc says.
/// `rate`: SYNs per second (0: hping3's full rate, `--flood`).
pub fn run(lab: &Lab, secs: u64, rate: u32) -> Result<FloodReport, String> {
    which_hping3()?;
    let vip = IpAddr::from(lab.t.vip);
    let ka = lab.keepalive_with(vip, KEEPALIVE, Some(PATIENCE));
    let owners = sticky(&ka).map_err(|e| format!("before the flood: {e}"))?;
    let before = counters(lab)?;
    let mut report = FloodReport::default();

    let stop = Arc::new(AtomicBool::new(false));
    let openers = open_until(lab, vip, Arc::clone(&stop));
    let flood = Command::new("ip")
        .args(["netns", "exec", &lab.t.client.ns, "timeout", "-s", "INT"])
        .arg(secs.to_string())
        .args(["hping3", "-S", "-p", "80", "--rand-source"])
        .args(pace(rate))
        .arg(vip.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start hping3: {e}"))?;
    let flood_end = Instant::now() + Duration::from_secs(secs);
    let mut broken = vec![false; owners.len()];
    let mut stalled = vec![false; owners.len()];
    while Instant::now() < flood_end {
        for (i, r) in ka.sticky(1).into_iter().enumerate() {
            report.keepalive_requests += 1;
            match r {
                Ok(b) if b == owners[i] => {}
                Err(e) if is_timeout(&e) => stalled[i] = true,
                _ => broken[i] = true,
            }
        }
    }
    let out = flood
        .wait_with_output()
        .map_err(|e| format!("hping3: {e}"))?;
    stop.store(true, Ordering::Relaxed);
    let during = join(openers)?;
    report.syns_sent = hping3_sent(&String::from_utf8_lossy(&out.stderr));
    report.during = tally(&during, &mut report.first_error);
    report.during_ms = during
        .iter()
        .filter_map(|(r, ms)| r.as_ref().ok().map(|_| *ms))
        .collect();
    report.during_ms.sort_unstable();

    // After the flood: new connections for 5 s, keep-alive connections once more.
    let stop = Arc::new(AtomicBool::new(false));
    let openers = open_until(lab, vip, Arc::clone(&stop));
    std::thread::sleep(AFTER);
    stop.store(true, Ordering::Relaxed);
    let after = join(openers)?;
    report.after = tally(&after, &mut report.first_error);
    for (i, r) in ka.sticky(1).into_iter().enumerate() {
        if r.as_ref().map(|b| b != &owners[i]).unwrap_or(true) {
            broken[i] = true;
        }
    }
    report.keepalive_broken = broken.iter().filter(|b| **b).count();
    report.keepalive_stalled = (0..owners.len())
        .filter(|&i| stalled[i] && !broken[i])
        .count();
    let now = counters(lab)?;
    report.counters = now
        .into_iter()
        .map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, d)| *d > 0)
        .collect();
    Ok(report)
}

/// Prints the report; `Err` names every requirement it misses.
pub fn judge(r: &FloodReport, secs: u64) -> Result<(), String> {
    let pct = |(ok, n): (usize, usize)| 100.0 * ok as f64 / n.max(1) as f64;
    println!(
        "   flood: {} SYNs in {secs} s from random spoofed sources ({:.0} per second)",
        r.syns_sent,
        r.syns_sent as f64 / secs as f64
    );
    println!(
        "   keep-alive connections broken or moved: {} of {KEEPALIVE} ({} requests during the flood; {} stalled by loss and answered after)",
        r.keepalive_broken, r.keepalive_requests, r.keepalive_stalled
    );
    let at = |q: f64| {
        let v = &r.during_ms;
        v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "   new connections during the flood: {}/{} ({:.2} %); connect + answer p50 {} ms, p99 {} ms, max {} ms",
        r.during.0,
        r.during.1,
        pct(r.during),
        at(0.5),
        at(0.99),
        r.during_ms.last().copied().unwrap_or(0)
    );
    if let (true, Some(e)) = (r.during.0 < r.during.1, &r.first_error) {
        println!("   first failure: {e}");
    }
    println!(
        "   new connections in the {} s after it: {}/{}",
        AFTER.as_secs(),
        r.after.0,
        r.after.1
    );
    let shown = [
        "syn_half_open",
        "syn_replaced",
        "syn_promoted",
        "drop_nat_ports",
        "drop_no_backend",
        "drop_no_flow",
        "guarded",
        "ct_resumed",
        "cookie_sent",
        "cookie_ok",
        "cookie_proxied",
    ];
    let line: Vec<String> = shown
        .iter()
        .map(|k| format!("{k} {}", r.counters.get(*k).copied().unwrap_or(0)))
        .collect();
    println!("   datapath counters: {}", line.join(", "));
    let mut missed = Vec::new();
    if r.keepalive_broken > 0 {
        missed.push(format!(
            "{} keep-alive connections broke",
            r.keepalive_broken
        ));
    }
    println!(
        "   target {:.0} % of new connections during the flood: {}",
        100.0 * TARGET_DURING,
        match pct(r.during) >= 100.0 * TARGET_DURING {
            true => "met",
            false => "NOT met (packets lost before XDP: the CPUs are saturated)",
        }
    );
    if r.during.1 == 0 || pct(r.during) < 100.0 * MIN_DURING {
        missed.push(format!(
            "only {:.2} % of new connections succeeded during the flood (need {:.0} %)",
            pct(r.during),
            100.0 * MIN_DURING
        ));
    }
    if r.after.1 == 0 || r.after.0 != r.after.1 {
        missed.push(format!(
            "{} of {} new connections failed after the flood",
            r.after.1 - r.after.0,
            r.after.1
        ));
    }
    if r.counters.get("drop_nat_ports").copied().unwrap_or(0) > 0 {
        missed.push("NAT source ports ran out during the flood (drop_nat_ports)".into());
    }
    if r.counters.get("drop_no_backend").copied().unwrap_or(0) > 0 {
        missed.push("backends were taken out during the flood (drop_no_backend)".into());
    }
    if let (false, Some(e)) = (missed.is_empty(), &r.first_error) {
        missed.push(format!("first error: {e}"));
    }
    match missed.is_empty() {
        true => Ok(()),
        false => Err(missed.join("; ")),
    }
}

/// hping3's pacing arguments: `--flood`, or one SYN every 1/rate s (`-i uN`).
fn pace(rate: u32) -> Vec<String> {
    match rate {
        0 => vec!["--flood".into()],
        r => vec!["-i".into(), format!("u{}", (1_000_000 / r).max(1))],
    }
}

/// Whether a request failed by timing out (a stall under loss) rather than by a reset or close.
fn is_timeout(e: &str) -> bool {
    e.contains("os error 11") || e.contains("timed out")
}

fn which_hping3() -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("hping3").is_file()))
        .unwrap_or(false);
    match found {
        true => Ok(()),
        false => Err("hping3 not found: apt-get install hping3 (or run .ci/setup)".into()),
    }
}

/// Per keep-alive connection, the backend answering it.
fn sticky(ka: &KeepAlive) -> Result<Vec<String>, String> {
    ka.sticky(2)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| format!("keep-alive connection {i}: {e}")))
        .collect()
}

/// [`OPENERS`] client threads, each opening a new connection (one request) every
/// [`NEW_CONN_EVERY`] until `stop` (one at a time: a slow one delays its thread's next).
fn open_until(lab: &Lab, vip: IpAddr, stop: Arc<AtomicBool>) -> Vec<Opener> {
    (0..OPENERS)
        .map(|_| open_one_by_one(lab, vip, Arc::clone(&stop)))
        .collect()
}

/// Every opener's connections.
fn join(openers: Vec<Opener>) -> Result<Vec<Tried>, String> {
    let mut all = Vec::new();
    for o in openers {
        all.extend(
            o.join()
                .map_err(|_| "client thread panicked".to_string())??,
        );
    }
    Ok(all)
}

fn open_one_by_one(lab: &Lab, vip: IpAddr, stop: Arc<AtomicBool>) -> Opener {
    in_netns(&lab.t.client.ns, move || {
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            let r = Conn::open_patient(vip, PATIENCE).and_then(|mut c| c.get());
            out.push((r, t.elapsed().as_millis() as u64));
            if let Some(rest) = NEW_CONN_EVERY.checked_sub(t.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        out
    })
}

/// A new connection: its backend or error, and the milliseconds it took.
type Tried = (Result<String, String>, u64);
/// A client thread opening new connections.
type Opener = std::thread::JoinHandle<Result<Vec<Tried>, String>>;

fn tally(res: &[Tried], first: &mut Option<String>) -> (usize, usize) {
    let ok = res.iter().filter(|(r, _)| r.is_ok()).count();
    if first.is_none() {
        *first = res.iter().find_map(|(r, _)| r.clone().err());
    }
    (ok, res.len())
}

/// "N packets transmitted" from hping3's closing statistics.
fn hping3_sent(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.split(" packets transmitted")
                .next()
                .filter(|_| l.contains("packets transmitted"))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The datapath's reason counters.
pub(super) fn counters(lab: &Lab) -> Result<BTreeMap<String, u64>, String> {
    let maps = crate::daemon::kernel::open_pinned(&lab.pin_dir).map_err(|e| e.to_string())?;
    Ok(crate::stats::reason_counts(&maps)
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_hping3_statistics() {
        let text = "HPING 10.0.0.1 (veth 10.0.0.1): S set, 40 headers + 0 data bytes\n\
                    hping in flood mode, no replies will be shown\n\n\
                    --- 10.0.0.1 hping statistic ---\n\
                    2104417 packets transmitted, 0 packets received, 100% packet loss\n";
        assert_eq!(super::hping3_sent(text), 2_104_417);
        assert_eq!(super::hping3_sent("garbage"), 0);
    }
}
