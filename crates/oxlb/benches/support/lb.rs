//! The benches' load balancer: a namespace whose `lb0` routes to the backends (10.1.0.0/16)
//! and clients (10.3.0.0/16) through a router with a permanent neighbour entry, so
//! `bpf_fib_lookup` answers as in production, and the datapath loaded with VIPs of a mode.

use super::super::common::frames::{eth, ip_of, ipv4, tcp_seq, ETH_IP, TCP};
use super::super::common::Netns;
use super::{run_once, XDP_TX};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::Map;
use oxbpf::prog::Program;
use oxbpf::spec::Pinning;
use oxlb::daemon::kernel;
use oxlb::datapath::{self, Encap, Layout, MapId, Prefix};
use oxlb::maglev::{build_table, MaglevEntry};
use oxlb::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// The LB's address on `lb0`, its NAT source.
pub const LB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// The router behind `lb0`.
pub const ROUTER: &str = "10.0.0.254";
/// The router's MAC.
pub const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

/// The backends' port.
pub const BACKEND_PORT: u16 = 8080;

/// Conntrack and NAT entries: room for every new flow a run makes.
pub const CT_ENTRIES: u32 = 1 << 18;

/// VIP `i`: 10.2.0.1 + i.
pub fn vip_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 2, 0, 1)) + i)
}

/// Backend `i`: 10.1.0.1 + i.
pub fn backend_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 1)) + i)
}

/// Whether `a` is a backend address.
pub fn is_backend(a: Ipv4Addr) -> bool {
    a.octets()[..2] == [10, 1]
}

/// The bench namespace with `lb0` up (its veth peer `peer`, both with `queues` queues), its
/// ifindex and MAC.
pub fn bench_netns(peer: &str, queues: u32) -> (Netns, u32, [u8; 6]) {
    let ns = Netns::new("oxlbbench");
    let q = queues.to_string();
    ns.ip(&[
        "link",
        "add",
        "lb0",
        "numtxqueues",
        &q,
        "numrxqueues",
        &q,
        "type",
        "veth",
        "peer",
        "name",
        peer,
        "numtxqueues",
        &q,
        "numrxqueues",
        &q,
    ]);
    ns.ip(&["addr", "add", "10.0.0.1/16", "dev", "lb0"]);
    ns.ip(&["link", "set", "lb0", "up"]);
    ns.ip(&["link", "set", peer, "up"]);
    ns.ip(&[
        "neigh",
        "add",
        ROUTER,
        "lladdr",
        "02:00:00:00:00:fe",
        "dev",
        "lb0",
        "nud",
        "permanent",
    ]);
    ns.ip(&["route", "add", "10.1.0.0/16", "via", ROUTER]);
    ns.ip(&["route", "add", "10.3.0.0/16", "via", ROUTER]);
    ns.exec(&["sysctl", "-qw", "net.ipv4.conf.lb0.forwarding=1"]);
    let (ifindex, mac) = ns.link("lb0");
    (ns, ifindex, mac)
}

/// The datapath, loaded unpinned.
pub struct Datapath {
    /// `oxlb_xdp`.
    pub prog: Program,
    /// Its maps.
    pub maps: BTreeMap<MapId, Map>,
}

/// `n_vips` NAT VIPs on port 80/tcp; VIP `target` balances `n_backends` backends through a
/// Maglev table of `table` slots, written by the daemon's pipeline (plan → entries → diff →
/// apply). Only the target's ring row is written: the ring array is preallocated for every
/// VIP, so the memory is the same, and no other row is looked up.
pub fn load_datapath(n_vips: u32, n_backends: u32, target: u32, table: u32) -> Datapath {
    load_datapath_mode(n_vips, n_backends, target, table, Mode::Nat)
}

/// [`load_datapath`] with VIPs of `mode` (ipip/gue: outer sources from 10.200.0.0/24).
pub fn load_datapath_mode(
    n_vips: u32,
    n_backends: u32,
    target: u32,
    table: u32,
    mode: Mode,
) -> Datapath {
    let layout = Layout {
        max_vips: n_vips,
        max_backends: n_backends,
        table_size: table,
        ct_entries: CT_ENTRIES,
        encap: Encap {
            source4: Some(Prefix::parse("10.200.0.0/24").expect("prefix")),
            ..Encap::default()
        },
        ..Layout::default()
    };
    let names: Vec<String> = (0..n_backends)
        .map(|i| format!("{}:{BACKEND_PORT}", backend_addr(i)))
        .collect();
    let maglev: Vec<MaglevEntry> = names
        .iter()
        .enumerate()
        .map(|(i, name)| MaglevEntry {
            id: i as u32,
            name,
            weight: 1,
        })
        .collect();
    let backends: Vec<BackendPlan> = (0..n_backends)
        .map(|id| BackendPlan {
            id,
            addr: IpAddr::V4(backend_addr(id)),
            port: BACKEND_PORT,
            weight: 1,
            healthy: true,
        })
        .collect();
    let vips = (0..n_vips)
        .map(|id| {
            let on = id == target;
            VipPlan {
                id,
                addr: IpAddr::V4(vip_addr(id)),
                port: 80,
                proto: Proto::Tcp,
                mode,
                snat_addr: (mode == Mode::Nat).then_some(IpAddr::V4(LB)),
                backends: if on { backends.clone() } else { Vec::new() },
                table: if on {
                    build_table(&maglev, table).expect("maglev table")
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let plan = Plan {
        table_size: table,
        vips,
    };
    let spec = kernel::spec(&layout, Pinning::None).expect("datapath spec");
    let mut coll = Collection::load(&spec, &CollectionOptions::default()).expect("load datapath");
    let (prog, maps) = kernel::take(&mut coll).expect("datapath maps");
    let mut entries = datapath::entries(&plan, &layout).expect("plan entries");
    entries.rings.retain(|id, _| *id == target);
    let ops = datapath::diff(None, &entries).expect("diff");
    kernel::apply(&maps, &ops).expect("write maps");
    Datapath { prog, maps }
}

/// Opens a NAT flow from `client`:`port` to `vip`:80 with `syn` (arriving on `ifindex`,
/// addressed to `mac`): a NAT SYN only opens a half-open flow, so the backend's SYN-ACK (ISN
/// 7000) and the client's ACK of it follow. Returns the SYN's output, its backend and NAT
/// port.
pub fn open_nat_flow(
    dp: &Datapath,
    (ifindex, mac): (u32, [u8; 6]),
    syn: &[u8],
    (client, port): (Ipv4Addr, u16),
    vip: Ipv4Addr,
) -> (Vec<u8>, Ipv4Addr, u16) {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    let (v, _, out) = run_once(&dp.prog, syn, ifindex);
    assert_eq!(v, XDP_TX, "SYN of the NAT flow from port {port}");
    let ip = ip_of(&out);
    let IpAddr::V4(backend) = ip.dst else {
        unreachable!("IPv4")
    };
    let nat_port = ip.sport();
    let handshake = [
        (backend, BACKEND_PORT, LB, nat_port, SYN | ACK, (7000, 1001)),
        (client, port, vip, 80, ACK, (1001, 7001)),
    ];
    for (src, sport, dst, dport, flags, seq_ack) in handshake {
        let seg = tcp_seq(src.into(), dst.into(), sport, dport, flags, seq_ack, &[]);
        let f = eth(mac, ROUTER_MAC, ETH_IP, &ipv4(src, dst, TCP, &seg));
        let (v, _, _) = run_once(&dp.prog, &f, ifindex);
        assert_eq!(v, XDP_TX, "handshake of the NAT flow from port {port}");
    }
    (out, backend, nat_port)
}
