//! `oxlb demo`: a load balancer in network namespaces, exercised with real TCP, in one command.
//!
//! Builds client, lb and three backends on one L2 segment (dual-stack), starts `oxlb run` in
//! the lb namespace, and checks what a user cares about: every request answered, traffic
//! spread by weight over thousands of connections, every connection stays on one backend,
//! removing a backend moves only its share, adding one breaks nothing, the daemon restarts
//! under live connections, and the LB's own address still works. The end-to-end tests run it
//! in every forwarding and XDP mode.

pub mod fleet;
pub mod fleet_bird;
pub mod fleet_lab;
pub mod fleet_net;
pub mod fleet_udp;
pub mod flood;
pub mod lab;
pub mod topology;
pub mod traffic;

use lab::{backend_name, KeepAlive, Lab, LabOptions};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Instant;

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// `nat` or `dsr`.
    pub mode: String,
    /// `generic` or `driver`.
    pub xdp_mode: String,
    /// New IPv4 connections in the distribution round (from fixed source ports).
    pub connections: usize,
    /// Instead of the usual checks: a SYN flood of this many seconds (see [`flood`]).
    pub flood: Option<u64>,
    /// SYNs per second of the flood; 0 = hping3's full rate.
    pub flood_rate: u32,
    /// The daemon's `syn_cookies` setting (`None`: the default, `flood`).
    pub syn_cookies: Option<String>,
}

const WEIGHTS: [u32; 3] = [1, 2, 1];
/// Source ports of the distribution round start here: outside the default ephemeral range
/// (32768-60999), so no other connection holds them, and fixed, so the result is repeatable.
const FIRST_PORT: u16 = 61000;
/// Source ports compared before and after removing a backend.
const MOVE_PORTS: Range<u16> = 65000..65300;
/// A share may differ from its weight's share by this fraction of it.
const SHARE_TOLERANCE: f64 = 0.10;

fn weights(n: usize) -> Vec<Option<u32>> {
    (0..3).map(|i| (i < n).then_some(WEIGHTS[i])).collect()
}

/// Runs the demo; `Ok` only when every check passed.
pub fn run(opts: &DemoOptions) -> Result<(), String> {
    let start = Instant::now();
    println!("oxlb demo: {} mode, XDP {} mode", opts.mode, opts.xdp_mode);
    let lab_opts = LabOptions {
        mode: opts.mode.clone(),
        xdp_mode: opts.xdp_mode.clone(),
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        syn_cookies: opts.syn_cookies.clone(),
        caps: None,
    };
    let mut lab = Lab::start(&lab_opts, &weights(3))?;
    if let Some(line) = lab.log().lines().find(|l| l.contains("serving")) {
        println!("  {}", line.split("oxlb: ").last().unwrap_or(line));
    }
    let result = match opts.flood {
        Some(secs) => flood_check(&lab, secs, opts.flood_rate),
        None => exercise(&mut lab, opts),
    };
    drop(lab);
    verdict(result, "every check held", start)
}

/// Prints PASS (with `what` and the time since `start`) or FAIL; passes `result` on.
fn verdict(result: Result<(), String>, what: &str, start: Instant) -> Result<(), String> {
    match &result {
        Ok(()) => println!(
            "\nPASS: {what} ({:.1} s); topology torn down",
            start.elapsed().as_secs_f64()
        ),
        Err(e) => println!("\nFAIL: {e}"),
    }
    result
}

/// With `syn_cookies = "always"`: every new connection of the distribution round went through
/// the SYN proxy (a cookie, the client's ACK, the backend's SYN-ACK answered by the LB).
fn syn_proxied(lab: &Lab, before: &BTreeMap<String, u64>, conns: usize) -> Result<(), String> {
    let now = flood::counters(lab)?;
    let moved = |k: &str| now.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let (sent, ok, proxied) = (
        moved("cookie_sent"),
        moved("cookie_ok"),
        moved("cookie_proxied"),
    );
    println!("   SYN proxy: {sent} cookies sent, {ok} valid ACKs, {proxied} backend handshakes completed by the LB");
    if proxied < conns as u64 {
        return Err(format!(
            "syn_cookies = \"always\" but only {proxied} of {conns} connections went through the SYN proxy"
        ));
    }
    Ok(())
}

fn flood_check(lab: &Lab, secs: u64, rate: u32) -> Result<(), String> {
    println!("\n1. SYN flood of the IPv4 VIP {} for {secs} s:", lab.t.vip);
    let report = flood::run(lab, secs, rate)?;
    flood::judge(&report, secs)
}

/// Requests per backend name; the first error if any request failed.
pub(crate) fn tally(res: &[Result<String, String>]) -> Result<BTreeMap<String, usize>, String> {
    let mut per = BTreeMap::new();
    for r in res {
        *per.entry(r.clone()?).or_default() += 1;
    }
    Ok(per)
}

fn exercise(lab: &mut Lab, opts: &DemoOptions) -> Result<(), String> {
    let (vip4, vip6) = (IpAddr::from(lab.t.vip), IpAddr::from(lab.t.vip6));
    // Long-lived keep-alive connections, opened first and used throughout.
    let ka4 = lab.keepalive(vip4, 10);
    let ka6 = lab.keepalive(vip6, 4);
    let owners = |ka: &KeepAlive, what: &str| -> Result<Vec<String>, String> {
        ka.sticky(3)
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.map_err(|e| format!("{what} keep-alive connection {i}: {e}")))
            .collect()
    };
    let own4 = owners(&ka4, "IPv4")?;
    let own6 = owners(&ka6, "IPv6")?;

    let before = flood::counters(lab)?;
    distribution(lab, opts.connections)?;
    if opts.syn_cookies.as_deref() == Some("always") {
        syn_proxied(lab, &before, opts.connections)?;
    }

    println!("\n2. IPv6 VIP {vip6}: 300 new connections:");
    let per = tally(&lab.round(vip6, 300, None))?;
    println!("   {per:?}; failed requests: 0");
    if per.len() != 3 {
        return Err(format!("IPv6 traffic reached only {per:?}"));
    }

    println!("\n3. keep-alive connections (10 IPv4, 4 IPv6), 3 requests each:");
    println!(
        "   every connection stayed on one backend: {} | {}",
        own4.join(" "),
        own6.join(" ")
    );

    removal(lab)?;
    let same = |ka: &KeepAlive, own: &[String], what: &str, gone: bool| -> Result<usize, String> {
        let mut n = 0;
        for (i, r) in ka.sticky(2).into_iter().enumerate() {
            if gone && own[i] == backend_name(2) {
                continue;
            }
            let b =
                r.map_err(|e| format!("{what} keep-alive connection {i} ({}) broke: {e}", own[i]))?;
            if b != own[i] {
                return Err(format!(
                    "{what} keep-alive connection {i} moved from {} to {b}",
                    own[i]
                ));
            }
            n += 1;
        }
        Ok(n)
    };
    let kept = same(&ka4, &own4, "IPv4", true)? + same(&ka6, &own6, "IPv6", true)?;
    println!("   keep-alive connections on surviving backends still answered by the same backend: {kept}");

    println!("\n5. add backend-3 back (config reload):");
    lab.reload(&weights(3))?;
    let kept = same(&ka4, &own4, "IPv4", true)? + same(&ka6, &own6, "IPv6", true)?;
    let per = tally(&lab.round(vip4, 200, None))?;
    println!("   keep-alive connections unchanged: {kept}; 200 new connections: {per:?}");
    if !per.contains_key(&backend_name(2)) {
        return Err("no new connection reached the re-added backend-3".into());
    }

    println!("\n6. restart the daemon under live connections:");
    lab.stop_daemon()?;
    let down = same(&ka4, &own4, "IPv4 (daemon stopped)", true)?;
    let per = tally(&lab.round(vip4, 50, None))?;
    println!("   daemon stopped: {down} keep-alive connections answered, 50 new connections served ({} backends)", per.len());
    lab.start_daemon()?;
    let adopted = lab.log().contains("adopted the pinned datapath");
    let kept = same(&ka4, &own4, "IPv4 (daemon restarted)", true)?
        + same(&ka6, &own6, "IPv6 (daemon restarted)", true)?;
    let per = tally(&lab.round(vip6, 50, None))?;
    println!(
        "   restarted (adopted pinned maps and conntrack: {adopted}): {kept} keep-alive connections on the same backends, 50 new IPv6 connections served ({} backends)",
        per.len()
    );
    if !adopted {
        return Err(format!(
            "the restarted daemon did not adopt the datapath:\n{}",
            lab.log()
        ));
    }
    drop((ka4, ka6));

    health(lab)?;
    own_address(lab)?;

    println!(
        "\n9. oxlb stats:\n{}",
        lab.stats()
            .trim_end()
            .lines()
            .map(|l| format!("   {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

/// New IPv4 connections from fixed source ports: zero failures, shares within
/// ±[`SHARE_TOLERANCE`] of the weights.
fn distribution(lab: &Lab, n: usize) -> Result<(), String> {
    let ports = FIRST_PORT..FIRST_PORT.saturating_add(n as u16).min(MOVE_PORTS.start);
    let n = ports.len();
    println!("\n1. {n} new IPv4 connections, one request each:");
    let res = lab.round(lab.t.vip.into(), 0, Some(ports));
    let failed = res.iter().filter(|r| r.is_err()).count();
    let per = tally(&res.into_iter().filter(Result::is_ok).collect::<Vec<_>>())?;
    let total_w: u32 = WEIGHTS.iter().sum();
    println!(
        "   {:<12} {:>6} {:>8} {:>8}",
        "backend", "conns", "share", "weight"
    );
    let mut off = Vec::new();
    for (i, w) in WEIGHTS.iter().enumerate() {
        let name = backend_name(i);
        let got = per.get(&name).copied().unwrap_or(0) as f64 / n as f64;
        let want = *w as f64 / total_w as f64;
        println!(
            "   {name:<12} {:>6} {:>7.1}% {:>7.1}%",
            per.get(&name).copied().unwrap_or(0),
            100.0 * got,
            100.0 * want
        );
        if (got - want).abs() > SHARE_TOLERANCE * want {
            off.push(format!(
                "{name} got {:.1}% for {:.1}%",
                100.0 * got,
                100.0 * want
            ));
        }
    }
    println!("   failed requests: {failed}");
    if failed > 0 {
        return Err(format!("{failed} of {n} requests failed"));
    }
    if !off.is_empty() {
        return Err(format!(
            "distribution off by more than 10 %: {}",
            off.join(", ")
        ));
    }
    Ok(())
}

/// Removes backend-3 and checks that only its fixed ports moved.
fn removal(lab: &Lab) -> Result<(), String> {
    println!(
        "\n4. remove backend-3 (config reload) and compare {} fixed client ports:",
        MOVE_PORTS.len()
    );
    let vip = IpAddr::from(lab.t.vip);
    let before = lab.round(vip, 0, Some(MOVE_PORTS));
    lab.reload(&weights(2))?;
    // The same client ports again: each SYN is scheduled afresh (a stale conntrack entry
    // of a reused port is not followed), so this shows where the Maglev table sends them.
    let after = lab.round(vip, 0, Some(MOVE_PORTS));
    let (mut moved, mut moved_wrongly, mut on_removed) = (0, 0, 0);
    let removed = backend_name(2);
    for (b, a) in before.iter().zip(&after) {
        let (Ok(b), Ok(a)) = (b, a) else {
            return Err(format!("a fixed-port request failed: {b:?} / {a:?}"));
        };
        on_removed += usize::from(*b == removed);
        if a != b {
            moved += 1;
            moved_wrongly += usize::from(*b != removed);
        }
    }
    println!(
        "   moved: {moved} of {} ports ({:.1}%, 1/N of 4 weight units = 25%); {on_removed} were on backend-3; moved between surviving backends: {moved_wrongly}",
        MOVE_PORTS.len(),
        100.0 * moved as f64 / MOVE_PORTS.len() as f64
    );
    // Maglev is near-minimal, not exactly minimal: a few slots may change hands between the
    // surviving backends. Every port of the removed backend must move; others barely.
    let allowed = MOVE_PORTS.len() / 50;
    if moved - moved_wrongly != on_removed || moved_wrongly > allowed {
        return Err(format!(
            "removing one backend moved {moved_wrongly} connections between surviving backends (allowed {allowed})"
        ));
    }
    Ok(())
}

/// Health checks take a backend whose server stopped out of new-flow selection, and put it
/// back when it serves again.
fn health(lab: &mut Lab) -> Result<(), String> {
    println!("\n7. health checks: backend-2's server stops, then starts again:");
    let vip = IpAddr::from(lab.t.vip);
    lab.stop_backend(1);
    let t0 = Instant::now();
    lab::wait_for("backend-2 to be marked down", || {
        lab.healthy(1) == Some(false)
    })?;
    let down_after = t0.elapsed();
    let per = tally(&lab.round(vip, 100, None));
    lab.start_backend(1)?;
    let per = per?;
    if per.contains_key(&backend_name(1)) {
        return Err(format!(
            "new connections still reach the failed backend-2: {per:?}"
        ));
    }
    let t0 = Instant::now();
    lab::wait_for("backend-2 to be marked up", || lab.healthy(1) == Some(true))?;
    let up_after = t0.elapsed();
    let back = tally(&lab.round(vip, 100, None))?;
    println!(
        "   marked down after {:.1} s; 100 new connections meanwhile, none failed: {per:?}",
        down_after.as_secs_f64()
    );
    println!(
        "   marked up after {:.1} s; 100 new connections: {back:?}",
        up_after.as_secs_f64()
    );
    if !back.contains_key(&backend_name(1)) {
        return Err("backend-2 gets no new connections after it recovered".into());
    }
    Ok(())
}

/// A server on the LB's own addresses answers while XDP is attached.
fn own_address(lab: &Lab) -> Result<(), String> {
    println!("\n8. the LB's own address (not a VIP) while oxlb is attached:");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    traffic::serve(&lab.t.lb.ns, "lb-itself".into(), stop.clone())?;
    let mut answers = Vec::new();
    for addr in [IpAddr::from(lab.t.lb.addr), IpAddr::from(lab.t.lb.addr6)] {
        let r = traffic::in_netns(&lab.t.client.ns, move || {
            traffic::Conn::open(addr, None).and_then(|mut c| c.get())
        })
        .join()
        .map_err(|_| "client thread panicked".to_string())??;
        answers.push(format!("{addr} -> {}", r.as_deref().unwrap_or("?")));
        if r.as_deref() != Ok("lb-itself") {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(format!("request to the LB's own address {addr}: {r:?}"));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    println!("   {}", answers.join(", "));
    Ok(())
}
