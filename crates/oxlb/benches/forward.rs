//! Packets per second forwarded on a real path: frames sent at full rate into a veth whose
//! peer runs the load balancer in driver mode, counted where they leave.
//!
//! Rig, in a throw-away namespace: the veth pair `gen0` <-> `lb0` (one queue per core used).
//! The generator is `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES` on a tiny XDP program
//! "received" on `gen0`: it writes one of the flows' frames (a template from an array, picked
//! by `bpf_get_prandom_u32`) over the packet and returns `XDP_TX`, which the kernel turns
//! into a real transmission out of `gen0`. The frame arrives on `lb0`, where the program
//! under test runs in driver mode and `XDP_TX`es it back out of `lb0`; on `gen0` a counter
//! program (a per-CPU `+= 1`, `XDP_DROP`) counts it. All of it runs in softirq on the CPU
//! that issued `BPF_PROG_RUN`, so "one core" is generator + load balancer + counter on one
//! CPU, and the ratios to the floor are what the load balancer's own cost changes.
//!
//! Programs on `lb0`, interleaved round by round: the floor (`bpf/floor.bpf.o`: parse,
//! swap MACs, `XDP_TX`), the rig alone (`return XDP_TX`), oxlb NAT on established flows
//! (1024 client ports, handshakes done first by `BPF_PROG_RUN`), oxlb DSR (1024 flows,
//! opened by their SYNs), and the kernel stack doing nftables DNAT + SNAT (an `XDP_PASS`
//! program on `lb0`, the stack forwards out of `lb0` again). Mpps = frames counted on `gen0`
//! / wall time of the slowest sender's run; "ns - floor" = 1000 / Mpps - the floor's, on
//! one core: what each packet costs beyond the floor.
//!
//! Run as root: `cargo bench -p oxlb --bench forward` (`-- --quick` for fewer frames).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use common::frames::{eth, ipv4, tcp, ETH_IP, TCP};
use common::Netns;
use oxbpf::asm::opcode::{BPF_ADD, BPF_AND, BPF_DW, BPF_JEQ, BPF_JGT, BPF_W};
use oxbpf::asm::{helper_id, Insn};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::link::{attach_xdp, XdpMode, XdpOptions};
use oxbpf::map::Map;
use oxbpf::prog::{self, LoadRequest, Program, TestRunOpts, BPF_F_TEST_XDP_LIVE_FRAMES};
use oxbpf::spec::{MapSpec, MapType, ProgramType};
use oxlb::datapath::abi::Reason;
use oxlb::plan::Mode;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::lb::{
    bench_netns, is_backend, load_datapath_mode, open_nat_flow, vip_addr, Datapath, BACKEND_PORT,
    LB, ROUTER_MAC,
};
use support::{median, XDP_TX};

/// Flows per variant (a power of two: the generator masks a random number).
const FLOWS: u32 = 1024;
/// Bytes of every frame: Ethernet + IPv4 + TCP + 18 bytes of payload, copied as 9 words.
const FRAME: usize = 72;
/// The clients: 10.3.0.1, ports from 20000.
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 1);
const CLIENT_PORT: u16 = 20000;
/// The VIP nftables DNATs (not one of oxlb's).
const NFT_VIP: Ipv4Addr = Ipv4Addr::new(10, 2, 9, 1);
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;

fn helper(name: &str) -> i32 {
    helper_id(name).unwrap_or_else(|| panic!("unknown helper {name}"))
}

fn array(name: &str, map_type: MapType, value: u32, entries: u32) -> Map {
    let spec = MapSpec {
        name: name.into(),
        map_type,
        key_size: 4,
        value_size: value,
        max_entries: entries,
        ..Default::default()
    };
    Map::create(&spec, None, None).unwrap_or_else(|e| panic!("create {name}: {e}"))
}

fn load(name: &str, insns: &[Insn]) -> Program {
    prog::load(&LoadRequest::new(name, ProgramType::XDP, insns, "GPL"))
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// The generator: overwrites the frame with `templates[prandom & (FLOWS - 1)]`, `XDP_TX`.
fn generator(templates: &Map) -> Program {
    let mut p = vec![
        Insn::mov64_reg(6, 1),
        Insn::call_helper(helper("bpf_get_prandom_u32")),
        Insn::alu64_imm(BPF_AND, 0, (FLOWS - 1) as i32),
        Insn::stx_mem(BPF_W, 10, 0, -4),
    ];
    p.extend(Insn::ld_map_fd(1, templates.fd().as_raw_fd()));
    p.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, -4),
        Insn::call_helper(helper("bpf_map_lookup_elem")),
        Insn::jmp_imm(BPF_JEQ, 0, 0, 2 * (FRAME as i16 / 8) + 7),
        Insn::ldx_mem(BPF_W, 2, 6, 0),
        Insn::ldx_mem(BPF_W, 3, 6, 4),
        Insn::mov64_reg(4, 2),
        Insn::alu64_imm(BPF_ADD, 4, FRAME as i32),
        Insn::jmp_reg(BPF_JGT, 4, 3, 2 * (FRAME as i16 / 8) + 2),
    ]);
    for i in 0..(FRAME / 8) as i16 {
        p.push(Insn::ldx_mem(BPF_DW, 5, 0, 8 * i));
        p.push(Insn::stx_mem(BPF_DW, 2, 5, 8 * i));
    }
    p.extend([
        Insn::mov64_imm(0, XDP_TX as i32),
        Insn::exit(),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]);
    load("fwd_gen", &p)
}

/// The counter on `gen0`: `counts[0] += 1` (per CPU), `XDP_DROP`.
fn counter(counts: &Map) -> Program {
    let mut p = vec![Insn::st_mem(BPF_W, 10, -4, 0)];
    p.extend(Insn::ld_map_fd(1, counts.fd().as_raw_fd()));
    p.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, -4),
        Insn::call_helper(helper("bpf_map_lookup_elem")),
        Insn::jmp_imm(BPF_JEQ, 0, 0, 3),
        Insn::ldx_mem(BPF_DW, 1, 0, 0),
        Insn::alu64_imm(BPF_ADD, 1, 1),
        Insn::stx_mem(BPF_DW, 0, 1, 0),
        Insn::mov64_imm(0, XDP_DROP),
        Insn::exit(),
    ]);
    load("fwd_count", &p)
}

/// `counts[0]` of every possible CPU, by CPU number.
fn per_cpu(counts: &Map) -> Vec<u64> {
    let v = counts.lookup(&0u32.to_ne_bytes()).expect("read counter");
    v.expect("counter slot")
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// An Ethernet + IPv4 + TCP frame of [`FRAME`] bytes from the router to `lb0`.
fn frame(mac: [u8; 6], src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let seg = tcp(
        src.into(),
        dst.into(),
        sport,
        dport,
        ACK,
        &[0x61; FRAME - 54],
    );
    eth(mac, ROUTER_MAC, ETH_IP, &ipv4(src, dst, TCP, &seg))
}

/// The `FLOWS` client ACKs to `vip`:80.
fn acks(mac: [u8; 6], vip: Ipv4Addr) -> Vec<Vec<u8>> {
    (0..FLOWS as u16)
        .map(|i| frame(mac, CLIENT, CLIENT_PORT + i, vip, 80))
        .collect()
}

/// One run with `repeat = 1`, not live: (verdict, output).
fn run(prog: &Program, f: &[u8], ifindex: u32) -> (u32, Vec<u8>) {
    let (v, _, out) = support::run_once(prog, f, ifindex);
    (v, out)
}

/// Opens the `FLOWS` NAT flows to `vip`: the client's SYN, the backend's SYN-ACK, the
/// client's ACK, so each is an established conntrack entry.
fn open_nat(dp: &Datapath, ifindex: u32, mac: [u8; 6], vip: Ipv4Addr) {
    for i in 0..FLOWS as u16 {
        let port = CLIENT_PORT + i;
        let seg = tcp(CLIENT.into(), vip.into(), port, 80, SYN, &[]);
        let syn = eth(mac, ROUTER_MAC, ETH_IP, &ipv4(CLIENT, vip, TCP, &seg));
        let (_, backend, _) = open_nat_flow(dp, (ifindex, mac), &syn, (CLIENT, port), vip);
        assert!(is_backend(backend), "SYN sent to {backend}");
    }
}

/// Opens the `FLOWS` DSR flows to `vip` with their SYNs.
fn open_dsr(dp: &Datapath, ifindex: u32, mac: [u8; 6], vip: Ipv4Addr) {
    for i in 0..FLOWS as u16 {
        let seg = tcp(CLIENT.into(), vip.into(), CLIENT_PORT + i, 80, SYN, &[]);
        let syn = eth(mac, ROUTER_MAC, ETH_IP, &ipv4(CLIENT, vip, TCP, &seg));
        assert_eq!(run(&dp.prog, &syn, ifindex).0, XDP_TX, "DSR SYN");
    }
}

/// nftables on the kernel stack: DNAT `NFT_VIP`:80 to a backend, SNAT to the LB.
fn nftables(ns: &Netns) {
    let rules = format!(
        "table ip fwdbench {{\n chain pre {{ type nat hook prerouting priority dstnat; \
         ip daddr {NFT_VIP} tcp dport 80 dnat to 10.1.0.1:{BACKEND_PORT}; }}\n chain post {{ \
         type nat hook postrouting priority srcnat; ip daddr 10.1.0.0/16 snat to {LB}; }}\n}}\n"
    );
    let path = std::env::temp_dir().join(format!("fwdbench-{}.nft", std::process::id()));
    std::fs::write(&path, rules).expect("write nft rules");
    ns.exec(&["nft", "-f", path.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&path);
    ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    ns.exec(&["sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"]);
    ns.exec(&["sysctl", "-qw", "net.ipv4.conf.lb0.send_redirects=0"]);
}

/// A program on `lb0` with the frames sent to it, and what the check after a run needs.
struct Variant<'a> {
    name: &'static str,
    prog: &'a Program,
    frames: Vec<Vec<u8>>,
    /// The datapath's counter that must grow by at least the frames counted.
    reason: Option<(&'a Datapath, Reason)>,
    /// Mpps per round, by core count.
    mpps: BTreeMap<usize, Vec<f64>>,
}

/// Whether `nft` (nftables) is installed.
fn have_nft() -> bool {
    std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Sends `frames` live frames from `gen0` on each of `cpus` at once; returns the wall time
/// of the slowest sender.
fn send(gen: &Program, gen0: u32, cpus: &[usize], frames: u32) -> Duration {
    let seed = vec![0u8; FRAME];
    let start = Arc::new(Barrier::new(cpus.len()));
    std::thread::scope(|s| {
        let senders: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                let (start, seed) = (start.clone(), &seed);
                s.spawn(move || {
                    common::cpu::pin_to_cpu(cpu);
                    let md = support::xdp_md(FRAME, gen0);
                    start.wait();
                    let t = Instant::now();
                    gen.test_run(&TestRunOpts {
                        data_in: seed,
                        data_out_size: Some(0),
                        ctx_in: &md,
                        ctx_out_size: Some(0),
                        repeat: frames,
                        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
                        ..Default::default()
                    })
                    .unwrap_or_else(|e| panic!("live BPF_PROG_RUN: {e}"));
                    t.elapsed()
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|h| h.join().expect("sender"))
            .max()
            .expect("a sender")
    })
}

/// What one measurement needs: the rig's programs, maps and devices.
struct Rig {
    gen: Program,
    templates: Map,
    counts: Map,
    gen0: u32,
    lb0: u32,
    frames: u32,
}

impl Rig {
    /// Attaches `v` to `lb0`, sends, returns Mpps; checks the frames came back.
    fn measure(&self, v: &mut Variant, cpus: &[usize]) {
        for (i, f) in v.frames.iter().enumerate() {
            self.templates
                .update(&(i as u32).to_ne_bytes(), f, 0)
                .expect("template");
        }
        let _link = attach_xdp(
            v.prog.fd(),
            self.lb0,
            XdpMode::Driver,
            XdpOptions::default(),
        )
        .unwrap_or_else(|e| panic!("attach {} to lb0: {e}", v.name));
        let before = per_cpu(&self.counts);
        let reason_before = v.reason.map(|(dp, r)| reason_count(dp, r));
        let took = send(&self.gen, self.gen0, cpus, self.frames);
        let after = per_cpu(&self.counts);
        let got = after.iter().sum::<u64>() - before.iter().sum::<u64>();
        let sent = u64::from(self.frames) * cpus.len() as u64;
        assert!(
            got * 10 >= sent * 9,
            "{}: {got} of {sent} frames came back to gen0",
            v.name
        );
        // Every sender's frames are forwarded on its own CPU: n cores really work.
        for &cpu in cpus {
            let on = after[cpu] - before[cpu];
            assert!(
                on * 2 >= u64::from(self.frames),
                "{}: CPU {cpu} counted {on} of its {} frames",
                v.name,
                self.frames
            );
        }
        if let (Some((dp, r)), Some(b)) = (v.reason, reason_before) {
            let grew = reason_count(dp, r) - b;
            // A few frames on gen0 may be the kernel's own (neighbour discovery...).
            assert!(
                grew + 16 >= got,
                "{}: {} grew by {grew}, {got} frames",
                v.name,
                r.name()
            );
        }
        v.mpps
            .entry(cpus.len())
            .or_default()
            .push(got as f64 / took.as_secs_f64() / 1e6);
    }
}

fn reason_count(dp: &Datapath, r: Reason) -> u64 {
    oxlb::stats::reason_counts(&dp.maps)
        .expect("read counters")
        .into_iter()
        .find(|(k, _)| k == r.name())
        .map_or(0, |(_, v)| v)
}

fn main() {
    if !common::require_kernel("oxlb forwarding benchmark") {
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, frames) = if quick { (3, 300_000) } else { (7, 1_000_000) };
    let all = common::cpu::allowed_cpus();
    let cores: Vec<usize> = if all.len() >= 2 { vec![1, 2] } else { vec![1] };
    let (ns, lb0, mac) = bench_netns("gen0", cores.len() as u32);
    let (gen0, _) = ns.link("gen0");
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    let nft = have_nft();
    if nft {
        nftables(&ns);
    } else {
        eprintln!("nft not found: the nftables row is left out");
    }
    ns.run(move |_| {
        let templates = array("fwd_templates", MapType::ARRAY, FRAME as u32, FLOWS);
        let counts = array("fwd_counts", MapType::PERCPU_ARRAY, 8, 1);
        let rig = Rig {
            gen: generator(&templates),
            templates,
            counts,
            gen0,
            lb0,
            frames,
        };
        let count_prog = counter(&rig.counts);
        let _count = attach_xdp(
            count_prog.fd(),
            gen0,
            XdpMode::Driver,
            XdpOptions::default(),
        )
        .expect("attach the counter to gen0");
        let floor_spec = oxbpf::elf::load_collection_spec(include_bytes!("../bpf/floor.bpf.o"))
            .expect("floor object");
        let floor_coll =
            Collection::load(&floor_spec, &CollectionOptions::default()).expect("load floor");
        let floor = floor_coll.program("floor_xdp").expect("floor_xdp");
        let table = oxlb::datapath::Layout::default().table_size;
        let nat = load_datapath_mode(1, 16, 0, table, Mode::Nat);
        let dsr = load_datapath_mode(1, 16, 0, table, Mode::Dsr);
        let vip = vip_addr(0);
        open_nat(&nat, lb0, mac, vip);
        open_dsr(&dsr, lb0, mac, vip);
        let pass = load("fwd_pass", &[Insn::mov64_imm(0, XDP_PASS), Insn::exit()]);
        let bounce = load(
            "fwd_bounce",
            &[Insn::mov64_imm(0, XDP_TX as i32), Insn::exit()],
        );
        let mut v = vec![
            Variant {
                name: "floor: parse, swap MACs, XDP_TX",
                prog: floor,
                frames: acks(mac, vip),
                reason: None,
                mpps: BTreeMap::new(),
            },
            Variant {
                name: "rig alone: return XDP_TX",
                prog: &bounce,
                frames: acks(mac, vip),
                reason: None,
                mpps: BTreeMap::new(),
            },
            Variant {
                name: "oxlb nat, established flows",
                prog: &nat.prog,
                frames: acks(mac, vip),
                reason: Some((&nat, Reason::CtHit)),
                mpps: BTreeMap::new(),
            },
            Variant {
                name: "oxlb dsr",
                prog: &dsr.prog,
                frames: acks(mac, vip),
                reason: Some((&dsr, Reason::Tx)),
                mpps: BTreeMap::new(),
            },
        ];
        if nft {
            v.push(Variant {
                name: "kernel stack: nftables DNAT + SNAT",
                prog: &pass,
                frames: acks(mac, NFT_VIP),
                // Without the DNAT nothing routes NFT_VIP: frames that come back were forwarded.
                reason: None,
                mpps: BTreeMap::new(),
            });
        }
        println!(
            "oxlb forwarding: Mpps counted on gen0 after a round trip through lb0 (live \
             BPF_PROG_RUN frames, {FLOWS} flows, {FRAME}-byte frames, {frames} frames per \
             sender and run, {rounds} interleaved rounds; CPUs {all:?})"
        );
        for _ in 0..rounds {
            for &n in &cores {
                for x in v.iter_mut() {
                    rig.measure(x, &all[all.len() - n..]);
                }
            }
        }
        report(&v, &cores);
    });
}

/// The table: median Mpps per core count, the ratio to the floor and the time each packet
/// costs beyond the floor's on one core; then the goals.
fn report(v: &[Variant], cores: &[usize]) {
    print!("{:<40}", "program on lb0");
    for n in cores {
        print!(" {:>11} {:>7}", format!("{n} core Mpps"), "x floor");
    }
    print!(" {:>11}", "ns - floor");
    if cores.len() > 1 {
        print!(" {:>7}", "2c / 1c");
    }
    println!();
    let med = |x: &Variant, n: usize| median(&x.mpps[&n]);
    for x in v {
        print!("{:<40}", x.name);
        for &n in cores {
            print!(" {:>11.2} {:>7.2}", med(x, n), med(x, n) / med(&v[0], n));
        }
        print!(" {:>11.1}", 1e3 / med(x, 1) - 1e3 / med(&v[0], 1));
        if cores.len() > 1 {
            print!(" {:>7.2}", med(x, 2) / med(x, 1));
        }
        println!();
    }
    let (nat, last) = (med(&v[2], 1), cores[cores.len() - 1]);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "goals (issue 17): oxlb NAT established >= 0.6 x floor: {:.2}, {}",
        nat / med(&v[0], 1),
        verdict(nat >= 0.6 * med(&v[0], 1))
    );
    if let Some(nft) = v.get(4) {
        println!(
            "  >= 4 x nftables: {:.1}, {}",
            nat / med(nft, 1),
            verdict(nat >= 4.0 * med(nft, 1))
        );
    }
    if last > 1 {
        let r = med(&v[2], last) / nat;
        println!(
            "  {last} cores >= 1.8 x one core: {r:.2}, {} (the CPUs are shared with whatever else \
             runs on this machine)",
            verdict(r >= 1.8)
        );
    }
}
