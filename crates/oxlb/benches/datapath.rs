//! ns/packet of the oxlb XDP datapath by `BPF_PROG_RUN`, as ratios against the floor program
//! (`bpf/floor.bpf.o`: parse Ethernet/IPv4/TCP, swap MACs, `XDP_TX`) measured in the same
//! rounds:
//! 1. established flow, new flow, NAT reply and non-VIP pass (1 NAT VIP, 16 backends), the
//!    established flow of an `ipip` and a `gue` VIP (encapsulated DSR, IPv4 in IPv4 / in UDP),
//!    with the cost of the datapath's building blocks (map lookups, helpers) measured alongside;
//! 2. established and new flow with 1, 100 and 10,000 VIPs × 2, 100 and 1,000 backends.
//!
//! Method (see `support`): one `BPF_PROG_RUN` with `repeat = 1` per packet on a fresh copy
//! of its frame, the kernel's `duration`; variants interleaved round by round. Every run's
//! verdict and output frame (addresses, MACs, checksums) are checked, and the datapath's
//! own counters must show that each variant took its path (conntrack hits for established,
//! misses for new flows, ...). New flows are TCP SYNs from client tuples never used before.
//!
//! Everything runs in a throw-away network namespace: `lb0` (10.0.0.1/16) with a permanent
//! neighbour, the router 10.0.0.254, behind which sit the backends (10.1.0.0/16) and the
//! clients (10.3.0.0/16), so `bpf_fib_lookup` answers as in production.
//!
//! Run as root: `cargo bench -p oxlb --bench datapath` (`-- --quick` for fewer rounds,
//! `-- --paths` for part 1 only).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use common::frames::{eth, ip_of, ipv4, tcp, ETH_IP, TCP};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::prog::Program;
use oxlb::datapath::abi::{RawFlowKey, RawVipKey, Reason};
use oxlb::datapath::{Layout, MapId};
use oxlb::plan::Mode;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use support::blocks::{self, Targets, REPS};
use support::lb::{
    bench_netns, is_backend, load_datapath, load_datapath_mode, open_nat_flow, vip_addr, Datapath,
    BACKEND_PORT, LB, ROUTER_MAC,
};
use support::{interleave, pin_to_one_cpu, run_once, Variant, XDP_PASS, XDP_TX};

/// The client of the established flow; new flows come from 10.3.0.1 upwards.
const EST_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 3, 255, 1);
const EST_PORT: u16 = 40000;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
/// An Ethernet + IPv4 + TCP frame (16 bytes of payload) from the router to `lb0`.
fn frame(mac: [u8; 6], src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    let seg = tcp(src.into(), dst.into(), sport, dport, flags, &[0x61; 16]);
    eth(mac, ROUTER_MAC, ETH_IP, &ipv4(src, dst, TCP, &seg))
}

/// Client tuples never used before: 50,000 ports per address from 10.3.0.1 up.
struct Fresh(u64);

impl Fresh {
    fn next(&mut self) -> (Ipv4Addr, u16) {
        let n = self.0;
        self.0 += 1;
        let addr = u32::from(Ipv4Addr::new(10, 3, 0, 1)) + (n / 50_000) as u32;
        (Ipv4Addr::from(addr), 10_000 + (n % 50_000) as u16)
    }
}

/// An `XDP_TX` output frame: to the router's MAC, valid IPv4 and TCP checksums, from `src`
/// to an address `dst` accepts.
fn sent(out: &[u8], src: Ipv4Addr, dst: impl Fn(Ipv4Addr) -> bool) -> Result<(), String> {
    if out[..6] != ROUTER_MAC {
        return Err(format!("destination MAC {:02x?}", &out[..6]));
    }
    let ip = ip_of(out);
    if !ip.checksums_ok() {
        return Err(format!("bad checksum in {:02x?}", ip.bytes));
    }
    match (ip.src, ip.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) if s == src && dst(d) => Ok(()),
        (s, d) => Err(format!("{s} -> {d}")),
    }
}

/// The datapath's counters by reason name.
fn reasons(dp: &Datapath) -> BTreeMap<String, u64> {
    oxlb::stats::reason_counts(&dp.maps)
        .expect("read counters")
        .into_iter()
        .collect()
}

/// Every counter in `expect` grew by exactly its count since `before`.
fn assert_counted(dp: &Datapath, before: &BTreeMap<String, u64>, expect: &[(Reason, u64)]) {
    let after = reasons(dp);
    for (r, n) in expect {
        let grew = after[r.name()] - before[r.name()];
        assert_eq!(
            grew,
            *n,
            "counter {} grew by {grew}, expected {n}",
            r.name()
        );
    }
}

/// Conntrack entries in the datapath.
fn ct_entries(dp: &Datapath) -> u64 {
    dp.maps[&MapId::Ct].keys().filter(|k| k.is_ok()).count() as u64
}

/// Sends the established flow's first packet (a SYN); returns (backend, NAT port).
fn open_flow(dp: &Datapath, b: &Bench, vip: Ipv4Addr) -> (Ipv4Addr, u16) {
    let syn = frame(b.mac, EST_CLIENT, EST_PORT, vip, 80, SYN);
    let (out, backend, nat_port) =
        open_nat_flow(dp, (b.ifindex, b.mac), &syn, (EST_CLIENT, EST_PORT), vip);
    sent(&out, LB, is_backend).expect("first packet of the established flow");
    (backend, nat_port)
}

/// The established flow's packets (conntrack hit, to `backend`) and fresh new flows (SYNs)
/// to `vip`.
fn flow_variants<'a>(
    dp: &'a Datapath,
    b: &Bench,
    vip: Ipv4Addr,
    backend: Ipv4Addr,
) -> [Variant<'a>; 2] {
    let est = frame(b.mac, EST_CLIENT, EST_PORT, vip, 80, ACK);
    let mac = b.mac;
    let mut fresh = Fresh(0);
    [
        Variant::fixed(
            "established flow: conntrack hit, NAT",
            &dp.prog,
            XDP_TX,
            &est,
        )
        .checked(move |out| sent(out, LB, |d| d == backend)),
        Variant::new(
            "new flow: TCP SYN, Maglev, NAT",
            &dp.prog,
            XDP_TX,
            move || {
                let (src, port) = fresh.next();
                frame(mac, src, port, vip, 80, SYN)
            },
        )
        .checked(|out| sent(out, LB, is_backend)),
    ]
}

/// The established flow of `dp` (1 encapsulating VIP at `vip`): opened with a SYN, then its
/// ACKs; every output must carry the frame's IP packet unchanged inside an outer IPv4 header
/// (valid checksum) to the flow's backend, in UDP when `gue`.
fn encap_variant<'a>(dp: &'a Datapath, b: &Bench, vip: Ipv4Addr, gue: bool) -> Variant<'a> {
    let syn = frame(b.mac, EST_CLIENT, EST_PORT, vip, 80, SYN);
    let (v, _, out) = run_once(&dp.prog, &syn, b.ifindex);
    assert_eq!(v, XDP_TX, "first packet of the encapsulated flow");
    let backend = ip_of(&out).dst;
    let est = frame(b.mac, EST_CLIENT, EST_PORT, vip, 80, ACK);
    let inner = est[14..].to_vec();
    let name = if gue {
        "established flow: gue (IPv4 in UDP/IPv4)"
    } else {
        "established flow: ipip (IPv4 in IPv4)"
    };
    Variant::fixed(name, &dp.prog, XDP_TX, &est).checked(move |out| {
        let o = ip_of(out);
        let body = if gue { &o.l4()[8..] } else { o.l4() };
        match (
            out[..6] == ROUTER_MAC,
            o.header_ok(),
            o.dst == backend && is_backend_ip(o.dst),
            body == inner,
        ) {
            (true, true, true, true) => Ok(()),
            r => Err(format!(
                "encapsulated frame wrong (MAC, checksum, backend, inner): {r:?}"
            )),
        }
    })
}

fn is_backend_ip(a: IpAddr) -> bool {
    matches!(a, IpAddr::V4(a) if is_backend(a))
}

/// Where the bench runs and for how long.
struct Bench {
    ifindex: u32,
    mac: [u8; 6],
    rounds: usize,
    per_round: usize,
}

fn main() {
    if !common::require_kernel("oxlb datapath benchmark") {
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let only_paths = std::env::args().any(|a| a == "--paths");
    let (rounds, per_round) = if quick { (5, 200) } else { (21, 1000) };
    let (ns, ifindex, mac) = bench_netns("peer0", 1);
    let b = Bench {
        ifindex,
        mac,
        rounds,
        per_round,
    };
    ns.run(move |_| {
        let cpu = pin_to_one_cpu();
        println!(
            "oxlb datapath, ns/packet by BPF_PROG_RUN (pinned to CPU {cpu}). Method: one \
             BPF_PROG_RUN with repeat=1 per packet on a fresh copy of the frame (repeat>1 would \
             rerun the program on its own rewritten output); the kernel's duration of each run. \
             Variants interleaved round by round; \"mean\" = median over rounds of the round's \
             mean, \"median\" = median of all runs."
        );
        let floor_spec = oxbpf::elf::load_collection_spec(include_bytes!("../bpf/floor.bpf.o"))
            .expect("floor object");
        let floor_coll =
            Collection::load(&floor_spec, &CollectionOptions::default()).expect("load floor");
        let floor = floor_coll.program("floor_xdp").expect("floor_xdp");
        paths(&b, floor);
        if !only_paths {
            scaling(&b, floor);
        }
    });
}

/// Row of the paths table.
fn row(v: &Variant, floor: &Variant) {
    println!(
        "{:<46} {:>8.1} {:>8.1} {:>8.2} {:>8.2}",
        v.name,
        v.mean(),
        v.median(),
        v.mean() / floor.mean(),
        v.median() / floor.median()
    );
}

/// Established flow, new flow, NAT reply and non-VIP pass against the floor, with the
/// building blocks measured in the same rounds.
fn paths(b: &Bench, floor: &Program) {
    // 16 backends: NAT source ports are per (backend, SNAT address), and the new flows must
    // not fill one backend's range.
    let table = Layout::default().table_size;
    let dp = load_datapath(1, 16, 0, table);
    let vip = vip_addr(0);
    let (backend, nat_port) = open_flow(&dp, b, vip);
    let est = frame(b.mac, EST_CLIENT, EST_PORT, vip, 80, ACK);
    let reply = frame(b.mac, backend, BACKEND_PORT, LB, nat_port, ACK);
    let pass = frame(b.mac, EST_CLIENT, 40001, LB, 22, ACK);
    let blocks = blocks::load(&Targets {
        vips: (
            &dp.maps[&MapId::Vips],
            RawVipKey::new(vip.into(), 80, TCP).to_bytes(),
        ),
        ct: (
            &dp.maps[&MapId::Ct],
            RawFlowKey::new(EST_CLIENT.into(), EST_PORT, vip.into(), 80, TCP).to_bytes(),
        ),
        fib: (LB, backend),
    });
    let [est_v, new_v] = flow_variants(&dp, b, vip, backend);
    let dp_ipip = load_datapath_mode(1, 16, 0, table, Mode::Ipip);
    let dp_gue = load_datapath_mode(1, 16, 0, table, Mode::Gue);
    let mut v = vec![
        Variant::fixed("floor: parse, swap MACs, XDP_TX", floor, XDP_TX, &est)
            .checked(move |out| sent(out, EST_CLIENT, |d| d == vip)),
        est_v,
        new_v,
        Variant::fixed("NAT reply: backend -> client", &dp.prog, XDP_TX, &reply)
            .checked(move |out| sent(out, vip, |d| d == EST_CLIENT)),
        Variant::fixed(
            "non-VIP pass: TCP to the LB's own :22",
            &dp.prog,
            XDP_PASS,
            &pass,
        )
        .checked(move |out| match out == pass {
            true => Ok(()),
            false => Err("a passed frame was modified".into()),
        }),
        encap_variant(&dp_ipip, b, vip, false),
        encap_variant(&dp_gue, b, vip, true),
    ];
    v.push(Variant::fixed("empty program", &blocks.empty, XDP_TX, &est));
    for (name, prog) in &blocks.ops {
        v.push(Variant::fixed(*name, prog, XDP_TX, &est));
    }
    let ct_before = ct_entries(&dp);
    let before = reasons(&dp);
    let (before_ipip, before_gue) = (reasons(&dp_ipip), reasons(&dp_gue));
    interleave(&mut v, b.ifindex, b.rounds, b.per_round);
    for (d, before, x) in [
        (&dp_ipip, &before_ipip, &v[5]),
        (&dp_gue, &before_gue, &v[6]),
    ] {
        assert_counted(
            d,
            before,
            &[(Reason::CtHit, x.runs()), (Reason::Tx, x.runs())],
        );
    }
    let (est_n, new_n, reply_n, pass_n) = (v[1].runs(), v[2].runs(), v[3].runs(), v[4].runs());
    assert_counted(
        &dp,
        &before,
        &[
            (Reason::CtHit, est_n),
            (Reason::CtMiss, new_n),
            (Reason::SynHalfOpen, new_n),
            (Reason::NatReply, reply_n),
            (Reason::PassNotVip, pass_n),
            (Reason::Tx, est_n + new_n + reply_n),
        ],
    );
    assert_eq!(
        ct_entries(&dp) - ct_before,
        0,
        "a NAT SYN opens a half-open flow (oxlb_syn), not a conntrack entry"
    );

    println!(
        "\n1. paths (1 NAT VIP, 16 backends, {table}-slot Maglev ring; {} rounds × {} runs); \
         every run's verdict, output frame and the datapath's counters checked (ct_hit +{est_n}, ct_miss +{new_n}, \
         syn_half_open +{new_n}, nat_reply +{reply_n}, pass_not_vip +{pass_n})",
        b.rounds, b.per_round
    );
    println!(
        "{:<46} {:>8} {:>8} {:>8} {:>8}",
        "path", "mean ns", "med ns", "x floor", "(median)"
    );
    for x in &v[..7] {
        row(x, &v[0]);
    }
    let ratio = v[1].mean() / v[0].mean();
    let empty = v[7].mean();
    println!(
        "encapsulation: ipip / NAT established = {:.2}, gue / NAT established = {:.2} \
         (medians {:.2}, {:.2})",
        v[5].mean() / v[1].mean(),
        v[6].mean() / v[1].mean(),
        v[5].median() / v[1].median(),
        v[6].median() / v[1].median()
    );
    println!(
        "established / floor = {ratio:.2} (median {:.2}); target <= 1.5: {}. Without the cost \
         of BPF_PROG_RUN itself (empty program, {empty:.1} ns): {:.1}",
        v[1].median() / v[0].median(),
        if ratio <= 1.5 { "met" } else { "NOT met" },
        (v[1].mean() - empty) / (v[0].mean() - empty)
    );
    breakdown(&v);
}

/// Prints what each building block costs and how the paths add up.
fn breakdown(v: &[Variant]) {
    let (floor, est, new, pass, empty) = (
        v[0].mean(),
        v[1].mean(),
        v[2].mean(),
        v[4].mean(),
        v[7].mean(),
    );
    let op: Vec<f64> = v[8..]
        .iter()
        .map(|x| (x.mean() - empty) / REPS as f64)
        .collect();
    let [vip, ct, _ct16, miss, insert, count, clock, near, far, fib] = op[..] else {
        unreachable!("ten blocks")
    };
    println!(
        "\nwhere the time goes (same rounds; each block program repeats its operation {REPS}×; \
         one operation = (block - empty) / {REPS}):"
    );
    println!(
        "  {:<52} {:>7.1} ns",
        "BPF_PROG_RUN itself (empty program)", empty
    );
    println!(
        "  {:<52} {:>7.1} ns",
        "floor's own work (floor - empty)",
        floor - empty
    );
    for (x, ns) in v[8..].iter().zip(&op) {
        println!("  {:<52} {:>7.1} ns", x.name, ns);
    }
    println!(
        "  => a read on another 4 KiB page costs {:.1} ns more than one on a page already \
         touched (far - near)",
        far - near
    );
    let floor_work = floor - empty;
    let est_blocks = ct + clock + 4.0 * count;
    println!(
        "established = floor's work + 1 conntrack lookup + the datapath clock (next-hop cache \
         age) + 4 counters + the rest (VIP id slot and backend array reads, key building, NAT \
         rewrite, incremental checksums, copies):\n  {:.1} ns over the empty program = {floor_work:.1} + {est_blocks:.1} (blocks) \
         + {:.1} (rest)",
        est - empty,
        est - empty - floor_work - est_blocks
    );
    println!(
        "  the conntrack lookup alone gives (floor + conntrack lookup) / floor = {:.2}; the \
         1.5 × target leaves {:.1} ns beyond the floor",
        (floor + ct) / floor,
        0.5 * floor
    );
    println!(
        "non-VIP pass = floor's parse + 1 VIP filter read (oxlb_vipfilter: an array word, no \
         conntrack, NAT or VIP lookup) + 1 counter: {:.1} ns over the empty program, blocks \
         {:.1} ns; pass / floor = {:.2}, target <= 1.2: {}",
        pass - empty,
        near + count,
        pass / floor,
        if pass / floor <= 1.2 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "new flow (NAT SYN) = VIP lookup + Maglev + the clock + 3 lookups of fresh tuples \
         (conntrack: the tuple's old flow; oxlb_syn and oxlb_nat: a free NAT port) + 1 LRU \
         insert (oxlb_syn) + 4 counters + NAT rewrite; the next hop comes from the per-CPU \
         backend cache (bpf_fib_lookup, {fib:.1} ns, once per backend and second): {:.1} ns \
         over the empty program, blocks {:.1} ns; new flow / floor = {:.2} (median {:.2}), \
         target <= 8: {}",
        new - empty,
        vip + clock + 3.0 * miss + insert + 4.0 * count,
        new / floor,
        v[2].median() / v[0].median(),
        if new / floor <= 8.0 { "met" } else { "NOT met" }
    );
}

/// Maglev ring size for the scaling runs: the largest of 65537, 16381 and 4099 slots whose
/// 10,000-VIP ring fits in a quarter of the available memory and 2 GiB. The kernel stores
/// array values in 8-byte slots, so the ring takes VIPs × size × 8 bytes.
fn ring_size(max_vips: u64) -> (u32, u64) {
    let avail_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let budget = (avail_kib * 1024 / 4).min(2 << 30);
    [65537u32, 16381, 4099]
        .into_iter()
        .map(|m| (m, max_vips * u64::from(m) * 8))
        .find(|(_, bytes)| *bytes <= budget)
        .unwrap_or((4099, max_vips * 4099 * 8))
}

/// Established and new-flow cost for every (VIPs, backends) pair, each cell interleaved with
/// the floor; flatness is judged on the floor-relative figures.
fn scaling(b: &Bench, floor: &Program) {
    // An open NAT flow keeps its source port until it has been quiet for 15 minutes (see
    // the note printed below), so each cell keeps its new flows to a few thousand: with 2
    // backends each has 16,384 ports, and port allocation (8 linear probes) starts failing
    // at about a fifth of them.
    let (rounds, per_round) = (b.rounds.min(15), b.per_round);
    let new_per_round = (per_round / 5).max(1);
    let (table, ring_bytes) = ring_size(10_000);
    println!(
        "\n2. scaling: NAT VIPs on port 80, the measured VIP in the middle of the VIP ids; \
         Maglev ring of {table} slots per VIP in every cell (10,000 VIPs: {:.2} GiB ring; chosen \
         to fit a quarter of MemAvailable and 2 GiB); {rounds} rounds × {per_round} runs per cell \
         ({new_per_round} for new flows), interleaved with the floor. New flows per cell: {}, as an open NAT flow keeps its \
         source port until it is closed or quiet (15 min by default).",
        ring_bytes as f64 / (1u64 << 30) as f64,
        rounds * new_per_round
    );
    println!(
        "{:>7} {:>9} {:>8} {:>15} {:>11} {:>15} {:>11}",
        "VIPs", "backends", "floor ns", "established ns", "x floor", "new flow ns", "x floor"
    );
    let mut cells: Vec<[f64; 4]> = Vec::new();
    // The first cell is loaded once more at the end: how much two loads of the same
    // configuration differ (fresh maps land in different memory) is the noise floor.
    let grid = [1u32, 100, 10_000]
        .into_iter()
        .flat_map(|v| [2u32, 100, 1000].map(|b| (v, b)))
        .chain([(1, 2)]);
    for (n_vips, n_backends) in grid {
        {
            let target = n_vips / 2;
            let dp = load_datapath(n_vips, n_backends, target, table);
            let vip = vip_addr(target);
            let floor_frame = frame(b.mac, EST_CLIENT, EST_PORT, vip, 80, ACK);
            let (backend, _) = open_flow(&dp, b, vip);
            let [est, new] = flow_variants(&dp, b, vip, backend);
            let mut v = vec![
                Variant::fixed("floor", floor, XDP_TX, &floor_frame),
                est,
                new.per_round(new_per_round),
            ];
            let before = reasons(&dp);
            interleave(&mut v, b.ifindex, rounds, per_round);
            assert_counted(
                &dp,
                &before,
                &[(Reason::CtHit, v[1].runs()), (Reason::CtMiss, v[2].runs())],
            );
            let (fm, fd) = (v[0].mean(), v[0].median());
            let pair = |a: f64, b: f64, p: usize| format!("{a:.p$} / {b:.p$}");
            println!(
                "{n_vips:>7} {n_backends:>9} {fm:>8.1} {:>15} {:>11} {:>15} {:>11}",
                pair(v[1].mean(), v[1].median(), 1),
                pair(v[1].mean() / fm, v[1].median() / fd, 2),
                pair(v[2].mean(), v[2].median(), 1),
                pair(v[2].mean() / fm, v[2].median() / fd, 2),
            );
            cells.push([
                v[1].mean() / fm,
                v[1].median() / fd,
                v[2].mean() / fm,
                v[2].median() / fd,
            ]);
        }
    }
    let again = cells.pop().expect("the repeated cell");
    let spread = |i: usize| {
        let it = || cells.iter().map(|c| c[i]);
        it().fold(f64::MIN, f64::max) / it().fold(f64::MAX, f64::min)
    };
    let corner = |i: usize| cells[cells.len() - 1][i] / cells[0][i];
    let reload = |i: usize| again[i].max(cells[0][i]) / again[i].min(cells[0][i]);
    let verdict = |x: f64| if x <= 1.1 { "met" } else { "NOT met" };
    for (name, i) in [("established", 0), ("new flow", 2)] {
        let (m, d) = (spread(i), spread(i + 1));
        println!(
            "{name} (x floor, mean / median): largest/smallest cell {m:.2} / {d:.2}; (10,000 VIPs \
             × 1,000 backends) / (1 × 2) = {:.2} / {:.2}; (1 × 2) loaded twice: {:.2} / {:.2} \
             apart; target <= 1.1: {} / {}",
            corner(i),
            corner(i + 1),
            reload(i),
            reload(i + 1),
            verdict(m),
            verdict(d)
        );
    }
}
