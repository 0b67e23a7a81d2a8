//! `oxlb demo --fleet`: three LB nodes behind an ECMP router, announced by BGP through BIRD,
//! and no connection lost when a node dies, drains for an upgrade, or joins.
//!
//! Every node gets the same config, so every node computes the same Maglev tables (checked by
//! the plan digests), and in DSR a node keeps no per-flow state another node would need: a
//! flow the router moves to another node (a conntrack miss there) is scheduled by the same
//! table to the same backend.

use super::fleet_lab::{FleetLab, PORT, WEIGHTS};
use super::fleet_net::{VIP4, VIP6};
use super::fleet_udp::UdpFlow;
use super::lab::{backend_name, round, wait_for, Flow, KeepAlive};
use super::tally;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Instant;

/// Fleet demo options.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// `generic` or `driver`.
    pub xdp_mode: String,
    /// New IPv4 connections in the distribution round.
    pub connections: usize,
}

/// Source ports of the distribution round (fixed: the result is repeatable).
const FIRST_PORT: u16 = 61000;
/// Source ports compared before and after adding a backend.
const MOVE_PORTS: Range<u16> = 65000..65300;
/// A share may differ from its weight's share by this fraction of it.
const SHARE_TOLERANCE: f64 = 0.10;
/// Long-lived flows: TCP over IPv4 and IPv6, UDP over IPv4 and IPv6.
const LONG_LIVED: [(&str, usize); 4] = [("tcp4", 70), ("tcp6", 30), ("udp4", 20), ("udp6", 20)];

/// Runs the fleet demo; `Ok` only when every check passed.
pub fn run(opts: &FleetOptions) -> Result<(), String> {
    let start = Instant::now();
    println!(
        "oxlb demo --fleet: 3 LB nodes (BIRD each, DSR, XDP {} mode) behind an ECMP router (BIRD, L4 hash), 3 backends",
        opts.xdp_mode
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut lab = FleetLab::start(&exe, &opts.xdp_mode, 3, 3)?;
    let result = exercise(&mut lab, opts);
    if result.is_err() {
        println!("--- router BIRD log ---\n{}", lab.router_log().trim_end());
        for i in 0..4 {
            let log = lab.log(i);
            if !log.is_empty() {
                println!("--- lb{} log ---\n{}", i + 1, log.trim_end());
                if let Ok(s) = lab.stats(i) {
                    println!("--- lb{} datapath counters ---\n{}", i + 1, s["reasons"]);
                }
            }
        }
    }
    drop(lab);
    super::verdict(result, "every fleet check held", start)
}

/// The long-lived flows, opened from the client.
fn open_long_lived(lab: &FleetLab) -> KeepAlive {
    let kinds: Vec<&'static str> = LONG_LIVED
        .iter()
        .flat_map(|(k, n)| std::iter::repeat_n(*k, *n))
        .collect();
    let n = kinds.len();
    KeepAlive::open(
        &lab.net.client,
        n,
        move |i| -> Result<Box<dyn Flow>, String> {
            let (v4, v6) = (IpAddr::from(VIP4), IpAddr::from(VIP6));
            Ok(match kinds[i] {
                "tcp4" => Box::new(super::traffic::Conn::open(v4, None)?),
                "tcp6" => Box::new(super::traffic::Conn::open(v6, None)?),
                "udp4" => Box::new(UdpFlow::open(v4, PORT)?),
                _ => Box::new(UdpFlow::open(v6, PORT)?),
            })
        },
    )
}

/// How many long-lived flows answered from the backend they started on; the first broken or
/// moved one as an error.
fn survivors(ka: &KeepAlive, owners: &[String]) -> (usize, Option<String>) {
    let mut ok = 0;
    let mut first = None;
    for (i, r) in ka.sticky(1).into_iter().enumerate() {
        match r {
            Ok(b) if b == owners[i] => ok += 1,
            Ok(b) => {
                first.get_or_insert(format!("flow {i} moved from {} to {b}", owners[i]));
            }
            Err(e) => {
                first.get_or_insert(format!("flow {i} ({}) broke: {e}", owners[i]));
            }
        }
    }
    (ok, first)
}

/// Checks the long-lived flows after an event; `t0` is when it happened.
fn check_flows(
    ka: &KeepAlive,
    owners: &[String],
    what: &str,
    t0: Option<Instant>,
) -> Result<(), String> {
    let (ok, bad) = survivors(ka, owners);
    let since = t0
        .map(|t| {
            format!(
                "; every flow answered {:.2} s after it",
                t.elapsed().as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!(
        "   long-lived flows still on their backend after {what}: {ok}/{}{since}",
        owners.len()
    );
    match bad {
        None => Ok(()),
        Some(e) => Err(format!("{what}: {e}")),
    }
}

fn exercise(lab: &mut FleetLab, opts: &FleetOptions) -> Result<(), String> {
    let t = lab.wait_paths(&[0, 1, 2])?;
    println!(
        "\n0. BGP: the router spreads both VIPs over lb1, lb2, lb3 (waited {:.1} s after the last daemon attached): {:?}",
        t.as_secs_f64(),
        lab.paths(VIP4.into())
    );
    digests(lab)?;
    distribution(lab, opts.connections)?;

    println!(
        "\n3. {} long-lived flows (TCP keep-alive and connected UDP, IPv4 and IPv6):",
        LONG_LIVED.iter().map(|(_, n)| n).sum::<usize>()
    );
    let ka = open_long_lived(lab);
    let owners: Vec<String> = ka
        .sticky(2)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| format!("long-lived flow {i}: {e}")))
        .collect::<Result<_, _>>()?;
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &owners {
        *per.entry(o).or_default() += 1;
    }
    println!("   opened, each answered twice by one backend: {per:?}");

    println!("\n4. lb1 dies (link down, then SIGKILL of its oxlb and BIRD):");
    let before: Vec<u64> = (0..3).map(|i| lab.packets(i)).collect();
    ka.ask(1);
    let carried: Vec<String> = (0..3)
        .map(|i| format!("lb{} {}", i + 1, lab.packets(i) - before[i]))
        .collect();
    println!(
        "   one request on every long-lived flow: packets seen per node {}",
        carried.join(", ")
    );
    if lab.packets(0) == before[0] {
        return Err(
            "lb1 carries none of the long-lived flows: its death would prove nothing".into(),
        );
    }
    let t0 = Instant::now();
    lab.kill_node(0)?;
    let routed = lab.wait_paths(&[1, 2])?;
    println!(
        "   the router dropped lb1 after {:.2} s (BFD)",
        routed.as_secs_f64()
    );
    check_flows(&ka, &owners, "lb1's death", Some(t0))?;

    println!("\n5. rolling upgrade of lb2: oxlb drain, restart, announce again:");
    let t0 = Instant::now();
    let out = lab.drain(1, "1s")?;
    for l in out.lines() {
        println!("   {l}");
    }
    lab.wait_paths(&[2])?;
    check_flows(&ka, &owners, "lb2's drain (lb3 alone)", None)?;
    lab.stop_daemon(1)?;
    lab.start_daemon(1)?;
    let back = lab.wait_paths(&[1, 2])?;
    println!(
        "   lb2 restarted (adopted its pinned datapath: {}), back in the router's ECMP {:.2} s after its start, {:.1} s after the drain began",
        lab.log(1).contains("adopted the pinned datapath"),
        back.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    check_flows(&ka, &owners, "lb2's restart", None)?;

    println!("\n6. lb4 joins:");
    let t0 = Instant::now();
    lab.start_node(3)?;
    lab.wait_paths(&[1, 2, 3])?;
    let agree = same_digest(lab, &[1, 2, 3]);
    println!(
        "   in the router's ECMP {:.2} s after it started; digests of lb2, lb3, lb4 equal: {agree}",
        t0.elapsed().as_secs_f64()
    );
    if !agree {
        return Err("lb4's plan digest differs from the others'".into());
    }
    check_flows(&ka, &owners, "lb4's join", None)?;
    let flows: Vec<(usize, u64)> = [1, 2, 3].iter().map(|i| (*i, lab.new_flows(*i))).collect();
    let per = tally(&round(&lab.net.client, VIP4.into(), 300, None))?;
    let moved: Vec<String> = flows
        .iter()
        .map(|(i, n)| format!("lb{} +{}", i + 1, lab.new_flows(*i) - n))
        .collect();
    println!(
        "   300 new connections: {per:?}; new flows per node: {}",
        moved.join(", ")
    );
    if flows.iter().any(|(i, n)| lab.new_flows(*i) == *n) {
        return Err(format!("a live node scheduled no new flow: {moved:?}"));
    }

    add_backend(lab)?;
    check_flows(&ka, &owners, "the new backend", None)?;
    Ok(())
}

fn same_digest(lab: &FleetLab, nodes: &[usize]) -> bool {
    let d: Vec<String> = nodes.iter().map(|i| lab.digest(*i)).collect();
    d.iter().all(|x| *x == d[0] && x != "?")
}

fn digests(lab: &FleetLab) -> Result<(), String> {
    let d: Vec<String> = (0..3).map(|i| lab.digest(i)).collect();
    println!(
        "\n1. plan digests (oxlb stats): lb1 {} lb2 {} lb3 {}",
        d[0], d[1], d[2]
    );
    if !same_digest(lab, &[0, 1, 2]) {
        return Err("the nodes' plan digests differ".into());
    }
    Ok(())
}

/// New connections spread over every node (each node's counters move) and over the backends
/// within ±[`SHARE_TOLERANCE`] of their weights; IPv6 and UDP reach every backend.
fn distribution(lab: &FleetLab, n: usize) -> Result<(), String> {
    let ports = FIRST_PORT..FIRST_PORT.saturating_add(n as u16).min(MOVE_PORTS.start);
    let n = ports.len();
    println!("\n2. {n} new IPv4 TCP connections, one request each:");
    let before: Vec<u64> = (0..3).map(|i| lab.new_flows(i)).collect();
    let res = round(&lab.net.client, VIP4.into(), 0, Some(ports));
    let failed = res.iter().filter(|r| r.is_err()).count();
    let per = tally(&res.into_iter().filter(Result::is_ok).collect::<Vec<_>>())?;
    let nodes: Vec<u64> = (0..3).map(|i| lab.new_flows(i) - before[i]).collect();
    println!(
        "   new flows per LB node: lb1 {} ({:.1}%), lb2 {} ({:.1}%), lb3 {} ({:.1}%)",
        nodes[0],
        100.0 * nodes[0] as f64 / n as f64,
        nodes[1],
        100.0 * nodes[1] as f64 / n as f64,
        nodes[2],
        100.0 * nodes[2] as f64 / n as f64
    );
    let total_w: u32 = WEIGHTS[..3].iter().sum();
    let mut off = Vec::new();
    for (i, w) in WEIGHTS[..3].iter().enumerate() {
        let name = backend_name(i);
        let got = per.get(&name).copied().unwrap_or(0);
        let (share, want) = (got as f64 / n as f64, *w as f64 / total_w as f64);
        println!(
            "   {name}: {got} connections, {:.1}% for weight {:.1}%",
            100.0 * share,
            100.0 * want
        );
        if (share - want).abs() > SHARE_TOLERANCE * want {
            off.push(format!(
                "{name} {:.1}% for {:.1}%",
                100.0 * share,
                100.0 * want
            ));
        }
    }
    println!("   failed requests: {failed}");
    if failed > 0 {
        return Err(format!("{failed} of {n} requests failed"));
    }
    if nodes.contains(&0) {
        return Err(format!("an LB node got no new flow: {nodes:?}"));
    }
    if !off.is_empty() {
        return Err(format!(
            "distribution off by more than 10 %: {}",
            off.join(", ")
        ));
    }
    let per6 = tally(&round(&lab.net.client, VIP6.into(), 200, None))?;
    let udp = |vip: IpAddr| -> Result<BTreeMap<String, usize>, String> {
        let res = super::traffic::in_netns(&lab.net.client, move || {
            (0..100)
                .map(|_| UdpFlow::open(vip, PORT).and_then(|mut f| f.get()))
                .collect::<Vec<_>>()
        })
        .join()
        .map_err(|_| "client thread panicked".to_string())??;
        tally(&res)
    };
    let (u4, u6) = (udp(VIP4.into())?, udp(VIP6.into())?);
    println!("   200 IPv6 TCP connections: {per6:?}");
    println!("   100 IPv4 UDP flows: {u4:?}; 100 IPv6 UDP flows: {u6:?}");
    if [&per6, &u4, &u6].iter().any(|m| m.len() != 3) {
        return Err("IPv6 or UDP traffic did not reach all three backends".into());
    }
    Ok(())
}

/// Adds backend-4 to every node: only its share of new flows moves.
fn add_backend(lab: &mut FleetLab) -> Result<(), String> {
    println!(
        "\n7. backend-4 added to every node (config reload); {} fixed client ports compared:",
        MOVE_PORTS.len()
    );
    let client = lab.net.client.clone();
    let before = round(&client, VIP4.into(), 0, Some(MOVE_PORTS));
    lab.reload_all(4)?;
    let live = lab.live();
    let agree = wait_for("equal digests", || same_digest(lab, &live)).is_ok();
    let after = round(&client, VIP4.into(), 0, Some(MOVE_PORTS));
    let new = backend_name(3);
    let (mut moved, mut wrong) = (0, 0);
    for (b, a) in before.iter().zip(&after) {
        let (Ok(b), Ok(a)) = (b, a) else {
            return Err(format!("a fixed-port request failed: {b:?} / {a:?}"));
        };
        if a != b {
            moved += 1;
            wrong += usize::from(*a != new);
        }
    }
    let total_w: u32 = WEIGHTS.iter().sum();
    println!(
        "   digests agree on every live node: {agree}; moved {moved} of {} ({:.1}%, backend-4's weight share {:.1}%), moved elsewhere than backend-4: {wrong}",
        MOVE_PORTS.len(),
        100.0 * moved as f64 / MOVE_PORTS.len() as f64,
        100.0 * WEIGHTS[3] as f64 / total_w as f64
    );
    if !agree {
        return Err("the nodes' digests differ after the reload".into());
    }
    if wrong > MOVE_PORTS.len() / 50 || moved == 0 {
        return Err(format!(
            "adding a backend moved {wrong} flows between old backends"
        ));
    }
    Ok(())
}
