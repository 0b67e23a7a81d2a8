//! The datapath under `BPF_PROG_RUN`: loading it with a layout and a plan, running frames,
//! reading the reason counters; veths and neighbours for `bpf_fib_lookup`.

use std::collections::BTreeMap;

use oxbpf::collection::CollectionOptions;
use oxbpf::map::Map;
use oxbpf::prog::{Program, TestRunOpts};
use oxbpf::spec::Pinning;
use oxlb::daemon::kernel;
use oxlb::datapath::{self, Layout, MapId, MapOp};
use oxlb::plan::Plan;

use super::Netns;

/// XDP verdicts.
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
pub const XDP_REDIRECT: u32 = 4;

/// The LB's addresses on lb0, the client behind it, and the MAC frames arrive from.
pub const LB4: &str = "10.0.0.1";
pub const LB6: &str = "fd00::1";
pub const CLIENT4: &str = "10.0.0.100";
pub const CLIENT6: &str = "fd00::100";
pub const PEER_MAC: &str = "02:00:00:00:00:fe";

/// Loads `oxlb.bpf.o` sized by `layout` (no pinning) and writes `plan` into it; returns the
/// map operations that were applied.
pub fn load(layout: &Layout, plan: &Plan) -> (Program, BTreeMap<MapId, Map>, Vec<MapOp>) {
    let spec = kernel::spec(layout, Pinning::None).unwrap();
    let mut coll = kernel::load_collection(&spec, &CollectionOptions::default()).unwrap();
    let (prog, maps) = kernel::take(&mut coll).unwrap();
    let entries = datapath::entries(plan, layout).unwrap();
    let ops = datapath::diff(None, &entries).unwrap();
    kernel::apply(&maps, &ops).unwrap();
    (prog, maps, ops)
}

/// Runs one frame arriving on `ifindex` (0: no context): (verdict, output frame).
pub fn run(prog: &Program, frame: &[u8], ifindex: u32) -> (u32, Vec<u8>) {
    let ctx: Vec<u8> = [0, frame.len() as u32, 0, ifindex, 0, 0]
        .iter()
        .flat_map(|v: &u32| v.to_ne_bytes())
        .collect();
    let out = prog
        .test_run(&TestRunOpts {
            data_in: frame,
            ctx_in: if ifindex == 0 { &[] } else { &ctx },
            ..Default::default()
        })
        .unwrap();
    (out.retval, out.data_out)
}

/// The datapath's reason counters.
pub fn reasons(maps: &BTreeMap<MapId, Map>) -> BTreeMap<String, u64> {
    oxlb::stats::reason_counts(maps)
        .unwrap()
        .into_iter()
        .collect()
}

/// Runs `frame` on `ifindex` and returns the reason counters that changed, with their deltas.
pub fn run_counted(
    prog: &Program,
    maps: &BTreeMap<MapId, Map>,
    frame: &[u8],
    ifindex: u32,
) -> (u32, Vec<u8>, BTreeMap<String, u64>) {
    let before = reasons(maps);
    let (rv, out) = run(prog, frame, ifindex);
    let moved = reasons(maps)
        .into_iter()
        .filter_map(|(k, v)| {
            let b = before[&k];
            (v != b).then_some((k, v - b))
        })
        .collect();
    (rv, out, moved)
}

/// Creates veth pairs `(name, peer)` in `ns`, both ends up.
pub fn veths(ns: &Netns, pairs: &[(&str, &str)]) {
    for (a, b) in pairs {
        ns.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        ns.ip(&["link", "set", a, "up"]);
        ns.ip(&["link", "set", b, "up"]);
    }
}

/// A permanent neighbour entry `addr` → `mac` on `dev`.
pub fn neigh(ns: &Netns, addr: &str, mac: &str, dev: &str) {
    ns.ip(&[
        "neigh",
        "add",
        addr,
        "lladdr",
        mac,
        "dev",
        dev,
        "nud",
        "permanent",
    ]);
}

/// Lets the namespace forward (the fib's forwarding lookup needs it).
pub fn forwarding(ns: &Netns) {
    ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
}

/// The tests' LB namespace: veths lb0 (LB4, LB6; the client's neighbour entries with MAC
/// `client_mac`) and lb1 (10.0.5.1/24), forwarding on.
pub fn lb_netns(prefix: &str, client_mac: &str) -> Netns {
    let ns = Netns::new(prefix);
    veths(&ns, &[("lb0", "peer0"), ("lb1", "peer1")]);
    ns.ip(&["addr", "add", &format!("{LB4}/24"), "dev", "lb0"]);
    ns.ip(&["addr", "add", &format!("{LB6}/64"), "dev", "lb0", "nodad"]);
    ns.ip(&["addr", "add", "10.0.5.1/24", "dev", "lb1"]);
    neigh(&ns, CLIENT4, client_mac, "lb0");
    neigh(&ns, CLIENT6, client_mac, "lb0");
    forwarding(&ns);
    ns
}
