//! ns/packet of the XDP datapath by BPF_PROG_RUN, against the floor program
//! (`bpf/floor.bpf.o`: parse Ethernet/IP/TCP, swap MACs, `XDP_TX`) measured in the same run
//! (one NAT VIP, 16 backends), and the same cost with 1, 100 and 10,000 VIPs × 2, 100 and
//! 1,000 backends.
//!
//! Method: BPF_PROG_RUN with `repeat > 1` reruns a program on the buffer it already rewrote,
//! so every figure is a loop of `repeat = 1` runs on a fresh copy of the frame and the mean of
//! the kernel-reported `duration`; rounds of all variants are interleaved to cancel drift, and
//! the median of the per-round means is printed. Every run's verdict is checked.
//!
//! Runs in a throw-away network namespace: `lb0` (10.0.0.1/16) with one permanent neighbour,
//! the router 10.0.0.254, behind which sit the backends (10.1.0.0/16) and the client
//! (10.3.0.100), so `bpf_fib_lookup` answers as in production.
//!
//! Run as root: `cargo bench -p oxlb --bench datapath` (`-- --quick` for fewer rounds).

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::prog::{Program, TestRunOpts};
use oxbpf::spec::Pinning;
use oxlb::daemon::kernel;
use oxlb::datapath::{self, Layout, MapId, MapOp};
use oxlb::demo::topology::sh;
use oxlb::demo::traffic::in_netns;
use oxlb::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};
use std::net::{IpAddr, Ipv4Addr};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const TABLE: u32 = 4099;
const LB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 100);

fn vip_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, (i >> 8) as u8, i as u8)
}

fn backend_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8)
}

/// RFC 1071 checksum of `data`.
fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 + TCP (ACK, 16 bytes of payload) frame with valid checksums.
fn tcp_frame(dst_mac: [u8; 6], src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let payload = [0x61u8; 16];
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x10; // ACK
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp.extend_from_slice(&payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let c = csum(&pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xfe]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

/// The bench namespace; removed on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let ns = Netns(format!("oxlbbench{}", std::process::id()));
        let ip = |args: &[&str]| {
            let mut v = vec!["ip", "-n", &ns.0];
            v.extend_from_slice(args);
            sh(&v).unwrap_or_else(|e| panic!("{e}"));
        };
        sh(&["ip", "netns", "add", &ns.0]).unwrap();
        ip(&[
            "link", "add", "lb0", "type", "veth", "peer", "name", "peer0",
        ]);
        ip(&["addr", "add", "10.0.0.1/16", "dev", "lb0"]);
        ip(&["link", "set", "lb0", "up"]);
        ip(&["link", "set", "peer0", "up"]);
        ip(&[
            "neigh",
            "add",
            "10.0.0.254",
            "lladdr",
            "02:00:00:00:00:fe",
            "dev",
            "lb0",
            "nud",
            "permanent",
        ]);
        ip(&["route", "add", "10.1.0.0/16", "via", "10.0.0.254"]);
        ip(&["route", "add", "10.3.0.0/16", "via", "10.0.0.254"]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            "net.ipv4.conf.lb0.forwarding=1",
        ])
        .unwrap();
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

/// `struct xdp_md` for a frame of `len` bytes arriving on `ifindex`.
fn ctx(len: usize, ifindex: u32) -> Vec<u8> {
    [0, len as u32, 0, ifindex, 0, 0]
        .iter()
        .flat_map(|v: &u32| v.to_ne_bytes())
        .collect()
}

/// One `repeat = 1` run: (verdict, kernel ns, output).
fn run(prog: &Program, frame: &[u8], ifindex: u32) -> (u32, u64, Vec<u8>) {
    let c = ctx(frame.len(), ifindex);
    let out = prog
        .test_run(&TestRunOpts {
            data_in: frame,
            ctx_in: &c,
            repeat: 1,
            ..Default::default()
        })
        .expect("BPF_PROG_RUN");
    (out.retval, out.duration.as_nanos() as u64, out.data_out)
}

/// The datapath loaded (unpinned) with `n_vips` NAT VIPs on port 80, the target VIP
/// `target` holding `n_backends` backends in its Maglev row.
struct Datapath {
    prog: Program,
    maps: std::collections::BTreeMap<MapId, oxbpf::map::Map>,
}

fn load_datapath(n_vips: u32, n_backends: u32, target: u32) -> Datapath {
    let layout = Layout {
        max_vips: n_vips,
        max_backends: n_backends,
        table_size: TABLE,
        ct_entries: 1 << 18,
        ..Layout::default()
    };
    let backends: Vec<BackendPlan> = (0..n_backends)
        .map(|id| BackendPlan {
            id,
            addr: IpAddr::V4(backend_addr(id)),
            port: 8080,
            weight: 1,
            healthy: true,
        })
        .collect();
    let vips = (0..n_vips)
        .map(|id| {
            // Every VIP gets a Maglev row; the target's spans all backends, the others
            // the first two (their rows are never looked up; see `ring_ops`).
            let own: Vec<BackendPlan> = match id == target {
                true => backends.clone(),
                false => backends[..2.min(backends.len())].to_vec(),
            };
            let table = (0..TABLE).map(|s| own[s as usize % own.len()].id).collect();
            VipPlan {
                id,
                addr: IpAddr::V4(vip_addr(id)),
                port: 80,
                proto: Proto::Tcp,
                mode: Mode::Nat,
                snat_addr: Some(IpAddr::V4(LB)),
                backends: own,
                table,
            }
        })
        .collect();
    let plan = Plan {
        table_size: TABLE,
        vips,
    };
    let spec = kernel::spec(&layout, Pinning::None).expect("datapath spec");
    let mut coll = Collection::load(&spec, &CollectionOptions::default()).expect("load datapath");
    let (prog, maps) = kernel::take(&mut coll).expect("datapath maps");
    let entries = datapath::entries(&plan, &layout).expect("plan entries");
    let ops = datapath::diff(None, &entries).expect("diff");
    // The ring array is preallocated for every VIP (max_vips × table), so memory is the
    // same whether other rows are written or not; writing 41 M slots for the 10,000-VIP
    // case would only slow the setup. The target VIP's row is written in full.
    let first = layout.ring_index(target, 0);
    let ops: Vec<MapOp> = ops
        .into_iter()
        .filter(|op| match op {
            MapOp::UpdateRun {
                map: MapId::Ring,
                first_key,
                ..
            } => (first..first + TABLE).contains(first_key),
            _ => true,
        })
        .collect();
    kernel::apply(&maps, &ops).expect("write maps");
    Datapath { prog, maps }
}

/// A named variant: a frame per run index, and the verdict it must give.
struct Variant<'a> {
    name: &'static str,
    prog: &'a Program,
    frame: Box<dyn FnMut(u64) -> Vec<u8> + 'a>,
    verdict: u32,
    /// Per-round means, ns.
    rounds: Vec<f64>,
}

/// Interleaves `rounds` rounds of `per_round` runs of each variant.
fn measure(variants: &mut [Variant], ifindex: u32, rounds: usize, per_round: u64) {
    let mut i = 0u64;
    for _ in 0..rounds {
        for v in variants.iter_mut() {
            let mut total = 0;
            for _ in 0..per_round {
                let f = (v.frame)(i);
                i += 1;
                let (verdict, ns, _) = run(v.prog, &f, ifindex);
                assert_eq!(verdict, v.verdict, "{}: verdict", v.name);
                total += ns;
            }
            v.rounds.push(total as f64 / per_round as f64);
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the datapath benchmark needs root (BPF_PROG_RUN, a network namespace)");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, per_round) = if quick { (5, 200) } else { (21, 1000) };
    let ns = Netns::new();
    let ifindex: u32 = sh(&[
        "ip",
        "netns",
        "exec",
        &ns.0,
        "cat",
        "/sys/class/net/lb0/ifindex",
    ])
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let lb_mac: [u8; 6] = {
        let s = sh(&[
            "ip",
            "netns",
            "exec",
            &ns.0,
            "cat",
            "/sys/class/net/lb0/address",
        ])
        .unwrap();
        let b: Vec<u8> = s
            .trim()
            .split(':')
            .map(|x| u8::from_str_radix(x, 16).unwrap())
            .collect();
        b.try_into().unwrap()
    };
    in_netns(&ns.0, move || {
        println!(
            "oxlb datapath, ns/packet by BPF_PROG_RUN: mean of the kernel's duration over loops of \
             repeat=1 runs, median of {rounds} interleaved rounds × {per_round} runs"
        );
        paths(ifindex, lb_mac, rounds, per_round);
        scaling(ifindex, lb_mac, rounds.min(7), per_round);
    })
    .join()
    .expect("bench thread")
    .expect("enter netns");
}

/// Established flow, new flow, NAT reply and non-VIP pass against the floor.
fn paths(ifindex: u32, mac: [u8; 6], rounds: usize, per_round: u64) {
    let floor_spec = oxbpf::elf::load_collection_spec(include_bytes!("../bpf/floor.bpf.o"))
        .expect("floor object");
    let floor_coll =
        Collection::load(&floor_spec, &CollectionOptions::default()).expect("load floor");
    let floor = floor_coll.program("floor_xdp").expect("floor_xdp");
    // 16 backends: NAT source ports are per (backend, SNAT address), and the new-flow runs
    // must not fill one backend's range (linear probing would start dropping).
    let dp = load_datapath(1, 16, 0);
    let vip = vip_addr(0);
    let est = tcp_frame(mac, CLIENT, 40000, vip, 80);
    // The established flow's NAT port and backend, from its first (new-flow) run.
    let (v, _, out) = run(&dp.prog, &est, ifindex);
    assert_eq!(v, XDP_TX, "first packet of the flow");
    let nat_port = u16::from_be_bytes([out[34], out[35]]);
    let backend = Ipv4Addr::new(out[30], out[31], out[32], out[33]);
    let reply = tcp_frame(mac, backend, 8080, LB, nat_port);
    let pass = tcp_frame(mac, CLIENT, 40001, LB, 22);
    let mut variants = vec![
        Variant {
            name: "floor (parse, swap MACs, XDP_TX)",
            prog: floor,
            frame: Box::new(|_| est.clone()),
            verdict: XDP_TX,
            rounds: Vec::new(),
        },
        Variant {
            name: "established flow (conntrack hit, NAT)",
            prog: &dp.prog,
            frame: Box::new(|_| est.clone()),
            verdict: XDP_TX,
            rounds: Vec::new(),
        },
        Variant {
            name: "new flow (Maglev, conntrack + NAT insert)",
            prog: &dp.prog,
            frame: Box::new(|i| tcp_frame(mac, CLIENT, 1024 + (i % 60000) as u16, vip, 80)),
            verdict: XDP_TX,
            rounds: Vec::new(),
        },
        Variant {
            name: "NAT reply (backend -> client)",
            prog: &dp.prog,
            frame: Box::new(|_| reply.clone()),
            verdict: XDP_TX,
            rounds: Vec::new(),
        },
        Variant {
            name: "non-VIP pass (LB's own address)",
            prog: &dp.prog,
            frame: Box::new(|_| pass.clone()),
            verdict: XDP_PASS,
            rounds: Vec::new(),
        },
    ];
    // New flows: distinct source ports across all rounds (the LRU conntrack holds them).
    assert!(
        rounds as u64 * per_round < 60000,
        "new-flow ports would repeat"
    );
    measure(&mut variants, ifindex, rounds, per_round);
    let floor_ns = median(&variants[0].rounds);
    println!("\n{:<44} {:>9} {:>9}", "path", "ns/pkt", "x floor");
    for v in &variants {
        let m = median(&v.rounds);
        println!("{:<44} {:>9.1} {:>9.2}", v.name, m, m / floor_ns);
    }
    let est_ratio = median(&variants[1].rounds) / floor_ns;
    println!(
        "established / floor = {est_ratio:.2} (target <= 1.5): {}",
        if est_ratio <= 1.5 { "met" } else { "NOT met" }
    );
}

/// Established and new-flow cost for every (VIPs, backends) pair.
fn scaling(ifindex: u32, mac: [u8; 6], rounds: usize, per_round: u64) {
    println!(
        "\nscaling (NAT VIPs on port 80; target VIP in the middle; {TABLE}-slot Maglev rows; \
         median of {rounds} interleaved rounds × {per_round} runs):"
    );
    println!(
        "{:>7} {:>9} {:>16} {:>16}",
        "VIPs", "backends", "established ns", "new flow ns"
    );
    let mut est_all = Vec::new();
    let mut new_all = Vec::new();
    let mut port_base = 0u64;
    for n_vips in [1u32, 100, 10_000] {
        for n_backends in [2u32, 100, 1000] {
            let target = n_vips / 2;
            let dp = load_datapath(n_vips, n_backends, target);
            let vip = vip_addr(target);
            let est = tcp_frame(mac, CLIENT, 40000, vip, 80);
            let (v, _, _) = run(&dp.prog, &est, ifindex);
            assert_eq!(v, XDP_TX);
            let base = port_base;
            let mut variants = vec![
                Variant {
                    name: "established",
                    prog: &dp.prog,
                    frame: Box::new(|_| est.clone()),
                    verdict: XDP_TX,
                    rounds: Vec::new(),
                },
                Variant {
                    name: "new flow",
                    prog: &dp.prog,
                    frame: Box::new(move |i| {
                        tcp_frame(mac, CLIENT, 1024 + ((base + i) % 60000) as u16, vip, 80)
                    }),
                    verdict: XDP_TX,
                    rounds: Vec::new(),
                },
            ];
            measure(&mut variants, ifindex, rounds, per_round);
            port_base += 2 * rounds as u64 * per_round;
            let (e, n) = (median(&variants[0].rounds), median(&variants[1].rounds));
            println!("{n_vips:>7} {n_backends:>9} {e:>16.1} {n:>16.1}");
            est_all.push(e);
            new_all.push(n);
            drop(variants);
            drop(dp.maps);
        }
    }
    let spread = |v: &[f64]| {
        v.iter().cloned().fold(f64::MIN, f64::max) / v.iter().cloned().fold(f64::MAX, f64::min)
    };
    let (se, sn) = (spread(&est_all), spread(&new_all));
    let smallest_to_largest = est_all[est_all.len() - 1] / est_all[0];
    println!(
        "established: largest/smallest of all cells {se:.2}, (10,000 VIPs × 1,000 backends) / (1 × 2) = \
         {smallest_to_largest:.2} (target <= 1.1): {}",
        if smallest_to_largest <= 1.1 { "met" } else { "NOT met" }
    );
    println!("new flow: largest/smallest of all cells {sn:.2}");
}
