//! The XDP datapath (`bpf/oxlb.bpf.o`) on crafted frames through `BPF_PROG_RUN`, loaded with
//! oxbpf and filled through the daemon's own map writer.
//!
//! Every test runs on a thread inside a network namespace it creates: veths `lb0`/`lb1` with
//! addresses and permanent neighbour entries, so `bpf_fib_lookup` gives real answers.
//! Rewritten frames are checked field by field and their IPv4 header and TCP/UDP/ICMP
//! checksums are verified from scratch (tests/common/frames.rs), independently of the
//! datapath's incremental updates.

mod common;
#[path = "packets/cookies.rs"]
mod cookies;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::frames::*;
use common::xdp::{
    self, CLIENT4, CLIENT6, LB4, LB6, PEER_MAC, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX,
};
use common::{require_kernel, Netns};
use oxbpf::map::Map;
use oxbpf::map::BPF_ANY;
use oxbpf::prog::Program;
use oxlb::datapath::abi::{
    RawCt, RawFlowKey, RawGuard, RawNat, NAT_CLOSED, NAT_OPEN, NAT_TICK_SHIFT, NAT_TIME_WAIT,
};
use oxlb::datapath::{Layout, MapId, MapOp};
use oxlb::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};

const TS: u32 = 251;
const NAT_MIN: u16 = 16384;
const NAT_COUNT: u16 = 16384;

const CLIENT_MAC: &str = "02:00:00:00:00:64";

/// id, address, port, MAC of its neighbour entry (None: no entry), behind lb1.
const BACKENDS: [(u32, &str, u16, Option<&str>, bool); 8] = [
    (0, "10.0.0.10", 8080, Some("02:00:00:00:00:10"), false),
    (1, "10.0.0.11", 8080, Some("02:00:00:00:00:11"), false),
    (2, "10.0.0.12", 0, Some("02:00:00:00:00:12"), false),
    (3, "10.0.0.13", 0, None, false),
    (4, "fd00::10", 8053, Some("02:00:00:00:01:10"), false),
    (5, "fd00::11", 8053, Some("02:00:00:00:01:11"), false),
    (6, "10.0.5.20", 9000, Some("02:00:00:00:05:20"), true),
    (7, "fd00::12", 0, Some("02:00:00:00:01:12"), false),
];

/// id, address, port, protocol, mode, SNAT address, ring backends.
type VipDef = (
    u32,
    &'static str,
    u16,
    Proto,
    Mode,
    Option<&'static str>,
    &'static [u32],
);
const VIPS: [VipDef; 10] = [
    (0, "10.0.1.1", 80, Proto::Tcp, Mode::Nat, Some(LB4), &[0, 1]),
    (1, "10.0.1.1", 53, Proto::Udp, Mode::Nat, Some(LB4), &[0, 1]),
    (2, "10.0.2.1", 443, Proto::Tcp, Mode::Dsr, None, &[2]),
    (3, "10.0.3.1", 0, Proto::Tcp, Mode::Dsr, None, &[2]),
    (
        4,
        "fd00:1::1",
        53,
        Proto::Udp,
        Mode::Nat,
        Some(LB6),
        &[4, 5],
    ),
    (
        5,
        "fd00:1::1",
        80,
        Proto::Tcp,
        Mode::Nat,
        Some(LB6),
        &[4, 5],
    ),
    (6, "10.0.4.1", 80, Proto::Tcp, Mode::Dsr, None, &[3]),
    (7, "10.0.6.1", 80, Proto::Tcp, Mode::Nat, Some(LB4), &[]),
    (
        8,
        "10.0.7.1",
        80,
        Proto::Tcp,
        Mode::Nat,
        Some("10.0.5.1"),
        &[6],
    ),
    (9, "fd00:2::1", 443, Proto::Tcp, Mode::Dsr, None, &[7]),
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn backend(id: u32) -> (IpAddr, u16, [u8; 6]) {
    let b = BACKENDS[id as usize];
    (ip(b.1), b.2, b.3.map(mac).unwrap_or_default())
}

fn layout() -> Layout {
    Layout {
        max_vips: 16,
        max_backends: 16,
        table_size: TS,
        ct_entries: 4096,
        ..Layout::default()
    }
}

fn plan() -> Plan {
    let vips = VIPS
        .iter()
        .map(|&(id, addr, port, proto, mode, snat, ring)| VipPlan {
            id,
            addr: ip(addr),
            port,
            proto,
            mode,
            snat_addr: snat.map(ip),
            backends: ring
                .iter()
                .map(|b| BackendPlan {
                    id: *b,
                    addr: backend(*b).0,
                    port: backend(*b).1,
                    weight: 1,
                    healthy: true,
                })
                .collect(),
            table: if ring.is_empty() {
                Vec::new()
            } else {
                (0..TS as usize).map(|s| ring[s % ring.len()]).collect()
            },
        })
        .collect();
    Plan {
        table_size: TS,
        vips,
    }
}

/// The namespace of the tests: LB on lb0 (10.0.0.1, fd00::1) and lb1 (10.0.5.1).
fn topology() -> Netns {
    let ns = xdp::lb_netns("oxlbpk", CLIENT_MAC);
    for (_, addr, _, m, behind_lb1) in BACKENDS {
        if let Some(m) = m {
            xdp::neigh(&ns, addr, m, if behind_lb1 { "lb1" } else { "lb0" });
        }
    }
    ns
}

/// The loaded datapath, as seen from a thread inside the namespace.
struct Dp {
    prog: Program,
    maps: BTreeMap<MapId, Map>,
    lb0: (u32, [u8; 6]),
    lb1: (u32, [u8; 6]),
    ns: String,
    layout: Layout,
}

impl Dp {
    fn load(ns: &str) -> Dp {
        Dp::load_with(ns, layout())
    }

    fn load_with(ns: &str, layout: Layout) -> Dp {
        let (prog, maps, ops) = xdp::load(&layout, &plan());
        let writes_to = |id: MapId| {
            ops.iter()
                .map(|op| match op {
                    MapOp::Update { map, .. } if *map == id => 1,
                    MapOp::UpdateRun {
                        map,
                        values,
                        value_size,
                        ..
                    } if *map == id => values.len() / value_size,
                    _ => 0,
                })
                .sum::<usize>()
        };
        assert_eq!(writes_to(MapId::Ring), VIPS.len() * TS as usize);
        assert_eq!(writes_to(MapId::Vips), VIPS.len());
        Dp {
            prog,
            maps,
            lb0: common::link_of(ns, "lb0"),
            lb1: common::link_of(ns, "lb1"),
            ns: ns.to_string(),
            layout,
        }
    }

    /// Runs one frame arriving on lb0: (verdict, output frame).
    fn run(&self, frame: &[u8]) -> (u32, Vec<u8>) {
        xdp::run(&self.prog, frame, self.lb0.0)
    }

    fn reasons(&self) -> BTreeMap<String, u64> {
        xdp::reasons(&self.maps)
    }

    /// Runs `frame` and returns the reason counters that changed.
    fn run_counted(&self, frame: &[u8]) -> (u32, Vec<u8>, BTreeMap<String, u64>) {
        xdp::run_counted(&self.prog, &self.maps, frame, self.lb0.0)
    }

    /// A frame from the client's router to lb0.
    fn frame(&self, ip_packet: &[u8]) -> Vec<u8> {
        eth(self.lb0.1, mac(PEER_MAC), ethertype(ip_packet), ip_packet)
    }

    /// The client's SYN to vip:vport from client:cport (sequence number 1000): (verdict,
    /// output frame, counters).
    fn syn(&self, client: IpAddr, cport: u16, vip: IpAddr, vport: u16) -> Counted {
        let pkt = ip_tcp(client, vip, cport, vport, SYN, (1000, 0), b"");
        self.run_counted(&self.frame(&pkt))
    }

    /// The backend's answer to a forwarded client packet `fwd` (as the LB sent it), back
    /// to the LB: flags, (seq, ack).
    fn answer(&self, fwd: &[u8], flags: u8, seq_ack: (u32, u32)) -> Vec<u8> {
        let o = ip_of(fwd);
        let pkt = ip_tcp(o.dst, o.src, o.dport(), o.sport(), flags, seq_ack, b"");
        eth(
            self.lb0.1,
            fwd[..6].try_into().unwrap(),
            ethertype(&pkt),
            &pkt,
        )
    }

    /// A NAT TCP handshake through the LB: the client's SYN, the backend's SYN-ACK
    /// (ISN 7000) back to the client, the client's ACK (promotes the half-open flow).
    /// Ok: the SYN as forwarded; Err: the SYN's counters when it was not forwarded.
    fn handshake(
        &self,
        client: IpAddr,
        cport: u16,
        vip: IpAddr,
        vport: u16,
    ) -> Result<Vec<u8>, BTreeMap<String, u64>> {
        let (rv, out, d) = self.syn(client, cport, vip, vport);
        if rv != XDP_TX {
            return Err(d);
        }
        assert_eq!(d.get("syn_half_open"), Some(&1), "SYN half-open: {d:?}");
        let (rv, back, d) = self.run_counted(&self.answer(&out, SYN | ACK, (7000, 1001)));
        assert_eq!(
            (rv, d.get("nat_reply")),
            (XDP_TX, Some(&1)),
            "SYN-ACK: {d:?}"
        );
        let b = ip_of(&back);
        assert_eq!((b.src, b.dst, b.dport()), (vip, client, cport));
        assert!(b.checksums_ok());
        let ack = ip_tcp(client, vip, cport, vport, ACK, (1001, 7001), b"");
        let (rv, fwd, d) = self.run_counted(&self.frame(&ack));
        assert_eq!(
            (rv, d.get("syn_promoted")),
            (XDP_TX, Some(&1)),
            "ACK: {d:?}"
        );
        assert_eq!(
            ip_of(&fwd).sport(),
            ip_of(&out).sport(),
            "ACK on the SYN's port"
        );
        Ok(out)
    }

    fn set_ring(&self, vip: u32, backends: &[u32]) {
        let ring = &self.maps[&MapId::Ring];
        for s in 0..TS {
            let k = self.layout.ring_index(vip, s);
            let b = backends[s as usize % backends.len()];
            ring.update(&k.to_ne_bytes(), &b.to_ne_bytes(), BPF_ANY)
                .unwrap();
        }
    }
}

/// A verdict, the output frame and the counters that moved.
type Counted = (u32, Vec<u8>, BTreeMap<String, u64>);

fn flow_hash(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> u32 {
    RawFlowKey::new(src, sport, dst, dport, proto).hash(Layout::default().hash_seed)
}

fn nat_port_of(h: u32) -> u16 {
    NAT_MIN + ((h >> 7) % u32::from(NAT_COUNT)) as u16
}

fn ring_pick(ring: &[u32], h: u32) -> u32 {
    ring[(h % TS) as usize % ring.len()]
}

/// NAT forward (new flow, then established), then the backend's reply. Returns (NAT port,
/// backend id).
fn nat_flow(dp: &Dp, ipv6: bool, proto: u8) -> (u16, u32) {
    let name = format!(
        "NAT {} {}",
        if ipv6 { "v6" } else { "v4" },
        if proto == TCP { "TCP" } else { "UDP" }
    );
    let (vip, client, lb) = if ipv6 {
        (ip("fd00:1::1"), ip(CLIENT6), ip(LB6))
    } else {
        (ip("10.0.1.1"), ip(CLIENT4), ip(LB4))
    };
    let vport = if proto == UDP { 53 } else { 80 };
    let vid = VIPS
        .iter()
        .find(|v| ip(v.1) == vip && v.2 == vport)
        .unwrap();
    let cport = 40000 + u16::from(proto);
    let payload = b"hello oxlb payload";
    let frame = dp.frame(&ip_l4(client, vip, proto, cport, vport, payload));
    let h = flow_hash(client, cport, vip, vport, proto);
    let nat_port = nat_port_of(h);
    let bid = ring_pick(vid.6, h);
    let (baddr, bport, bmac) = backend(bid);
    // TCP: the handshake makes the flow established; UDP's first packet does.
    let first = if proto == TCP {
        dp.handshake(client, cport, vip, vport).expect("handshake");
        "ct_hit"
    } else {
        "ct_miss"
    };

    let (rv, out, d) = dp.run_counted(&frame);
    assert_eq!(rv, XDP_TX, "{name}: forward verdict");
    assert_eq!(&out[..6], &bmac, "{name}: dst MAC = backend {bid}");
    assert_eq!(&out[6..12], &dp.lb0.1, "{name}: src MAC = lb0");
    let o = ip_of(&out);
    assert_eq!((o.src, o.dst), (lb, baddr), "{name}: addresses");
    assert_eq!((o.sport(), o.dport()), (nat_port, bport), "{name}: ports");
    assert!(o.checksums_ok(), "{name}: checksums of {out:02x?}");
    let hdr = if proto == TCP { 20 } else { 8 };
    assert_eq!(&o.l4()[hdr..], payload, "{name}: payload intact");
    assert_eq!(d.get(first), Some(&1), "{name}: {d:?}");
    assert_eq!(d.get("tx"), Some(&1), "{name}: {d:?}");

    let (rv2, out2, d) = dp.run_counted(&frame);
    assert_eq!(
        (rv2, &out2),
        (XDP_TX, &out),
        "{name}: established flow, same rewrite"
    );
    assert_eq!(d.get("ct_hit"), Some(&1), "{name}: {d:?}");

    let reply = eth(
        dp.lb0.1,
        bmac,
        ethertype(&out[14..]),
        &ip_l4(baddr, lb, proto, bport, nat_port, b"reply!"),
    );
    let (rv, rout, d) = dp.run_counted(&reply);
    assert_eq!(rv, XDP_TX, "{name}: reply verdict");
    assert_eq!(
        &rout[..6],
        &mac(CLIENT_MAC),
        "{name}: reply to the client MAC"
    );
    let r = ip_of(&rout);
    assert_eq!((r.src, r.dst), (vip, client), "{name}: reply addresses");
    assert_eq!(
        (r.sport(), r.dport()),
        (vport, cport),
        "{name}: reply ports"
    );
    assert!(r.checksums_ok(), "{name}: reply checksums");
    assert_eq!(d.get("nat_reply"), Some(&1), "{name}: {d:?}");
    (nat_port, bid)
}

#[test]
fn nat_dsr_vlan_icmp_and_conntrack_paths() {
    if !require_kernel("nat_dsr_vlan_icmp_and_conntrack_paths") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = Dp::load(name);
        let nat4 = nat_flow(&dp, false, TCP);
        nat_flow(&dp, false, UDP);
        let nat6 = nat_flow(&dp, true, TCP);
        nat_flow(&dp, true, UDP);
        udp_checksums(&dp);
        dsr_and_vlan(&dp);
        pass_drop_redirect(&dp);
        icmp_too_big(&dp, nat4, nat6);
        conntrack(&dp, nat4);
        next_hop_cache(&dp);
        let s = oxlb::stats::snapshot(&dp.maps, &plan()).unwrap();
        assert!(s.vips[0].counters.packets >= 2 && s.vips[0].counters.new_flows >= 1);
        let entries = |id: MapId| dp.maps[&id].keys().count();
        assert!(entries(MapId::Ct) >= 4 && entries(MapId::Nat) >= 4);
    });
}

fn udp_checksums(dp: &Dp) {
    // IPv4 UDP without checksum (0) stays without one after NAT.
    let mut pkt = ip_l4(ip(CLIENT4), ip("10.0.1.1"), UDP, 5555, 53, b"zero csum");
    pkt[26..28].copy_from_slice(&[0, 0]);
    let (rv, out) = dp.run(&dp.frame(&pkt));
    assert_eq!(rv, XDP_TX, "UDP csum 0");
    let o = ip_of(&out);
    assert_eq!(&o.l4()[6..8], &[0, 0], "UDP csum 0 stays 0");
    assert!(o.header_ok());

    // IPv6 UDP whose translated checksum computes to 0 goes out as 0xffff.
    let (client, cport, vip) = (ip(CLIENT6), 41000, ip("fd00:1::1"));
    let h = flow_hash(client, cport, vip, 53, UDP);
    let (baddr, bport, _) = backend(ring_pick(&[4, 5], h));
    let mut payload = b"\0\0padpad".to_vec();
    let mut after = udp(ip(LB6), baddr, nat_port_of(h), bport, &payload);
    after[6..8].copy_from_slice(&[0, 0]);
    let mut data = vec![];
    data.extend_from_slice(&v6(LB6).octets());
    if let IpAddr::V6(b) = baddr {
        data.extend_from_slice(&b.octets());
    }
    data.extend_from_slice(&(after.len() as u32).to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, UDP]);
    data.extend_from_slice(&after);
    let w = 0xffff - ones_sum(&data);
    payload[..2].copy_from_slice(&w.to_be_bytes());
    let (rv, out) = dp.run(&dp.frame(&ip_l4(client, vip, UDP, cport, 53, &payload)));
    let o = ip_of(&out);
    assert_eq!(rv, XDP_TX);
    assert_eq!(
        &o.l4()[6..8],
        &[0xff, 0xff],
        "UDP/IPv6 zero checksum sent as ffff"
    );
    assert!(o.l4_ok());
}

fn dsr_and_vlan(dp: &Dp) {
    let b2 = backend(2).2;
    // A port VIP and a port-0 (any port) VIP.
    for (vip, dport) in [("10.0.2.1", 443), ("10.0.3.1", 12345)] {
        let frame = dp.frame(&ip_l4(ip(CLIENT4), ip(vip), TCP, 33333, dport, b"dsr"));
        let (rv, out) = dp.run(&frame);
        assert_eq!(rv, XDP_TX, "DSR {vip}:{dport}");
        assert_eq!(&out[..6], &b2, "DSR {vip}:{dport}: backend MAC");
        assert_eq!(&out[6..12], &dp.lb0.1, "DSR {vip}:{dport}: lb0 MAC");
        assert_eq!(&out[12..], &frame[12..], "DSR {vip}:{dport}: L3+ untouched");
        assert!(ip_of(&out).checksums_ok());
    }
    let frame = dp.frame(&ip_l4(ip(CLIENT6), ip("fd00:2::1"), TCP, 33333, 443, b""));
    let (rv, out) = dp.run(&frame);
    assert_eq!(rv, XDP_TX, "DSR v6");
    assert_eq!(&out[..6], &backend(7).2);
    assert_eq!(&out[12..], &frame[12..]);

    // One VLAN tag: handled, tag kept. Two: passed.
    let inner = ip_l4(ip(CLIENT4), ip("10.0.2.1"), TCP, 1000, 443, b"");
    let mut tagged = vec![0x00, 0x0a, 0x08, 0x00];
    tagged.extend_from_slice(&inner);
    let frame = eth(dp.lb0.1, mac(PEER_MAC), ETH_VLAN, &tagged);
    let (rv, out, d) = dp.run_counted(&frame);
    assert_eq!(rv, XDP_TX, "VLAN DSR");
    assert_eq!(&out[..6], &b2);
    assert_eq!(&out[12..], &frame[12..], "VLAN tag and packet kept");
    assert_eq!(d.get("vlan"), Some(&1));
    let mut double = vec![0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00];
    double.extend_from_slice(&inner);
    let frame = eth(dp.lb0.1, mac(PEER_MAC), ETH_VLAN, &double);
    let (rv, out) = dp.run(&frame);
    assert_eq!(
        (rv, &out),
        (XDP_PASS, &frame),
        "double VLAN: PASS untouched"
    );
}

fn pass_drop_redirect(dp: &Dp) {
    let ssh = dp.frame(&ip_l4(ip(CLIENT4), ip(LB4), TCP, 50000, 22, b"ssh"));
    let (rv, out, d) = dp.run_counted(&ssh);
    assert_eq!(
        (rv, &out),
        (XDP_PASS, &ssh),
        "ssh to the host: PASS untouched"
    );
    assert_eq!(d.get("pass_not_vip"), Some(&1));
    let arp = eth(
        [0xff; 6],
        mac(PEER_MAC),
        ETH_ARP,
        &[0x00, 0x01, 0x08, 0x00, 6, 4, 0, 1]
            .iter()
            .chain([0u8; 20].iter())
            .copied()
            .collect::<Vec<u8>>(),
    );
    let (rv, out) = dp.run(&arp);
    assert_eq!((rv, &out), (XDP_PASS, &arp), "ARP: PASS untouched");
    let ns_msg = icmp6(v6(CLIENT6), v6(LB6), 135, 0, [0; 4], &v6(LB6).octets());
    let nd = dp.frame(&ipv6(v6(CLIENT6), v6(LB6), ICMP6, &ns_msg));
    let (rv, out) = dp.run(&nd);
    assert_eq!(
        (rv, &out),
        (XDP_PASS, &nd),
        "neighbour solicitation: PASS untouched"
    );

    let f = dp.frame(&ip_l4(ip(CLIENT4), ip("10.0.6.1"), TCP, 1, 80, b""));
    let (rv, _, d) = dp.run_counted(&f);
    assert_eq!(rv, XDP_DROP, "VIP without backends: DROP");
    assert_eq!(d.get("drop_no_backend"), Some(&1));

    let syn = |dst: &str, sport: u16, payload: &[u8]| {
        dp.frame(&ip_tcp(
            ip(CLIENT4),
            ip(dst),
            sport,
            80,
            SYN,
            (1000, 0),
            payload,
        ))
    };
    let f = syn("10.0.4.1", 1, b"");
    let (rv, out, d) = dp.run_counted(&f);
    assert_eq!(
        (rv, &out),
        (XDP_PASS, &f),
        "backend without neighbour: PASS untouched"
    );
    assert_eq!(d.get("fib_no_neigh"), Some(&1));

    let f = syn("10.0.7.1", 2, b"via lb1");
    let (rv, out, d) = dp.run_counted(&f);
    assert_eq!(rv, XDP_REDIRECT, "backend behind lb1: REDIRECT");
    assert_eq!(d.get("redirect"), Some(&1));
    assert_eq!(&out[..6], &backend(6).2);
    assert_eq!(&out[6..12], &dp.lb1.1, "src MAC = lb1");
    let o = ip_of(&out);
    assert_eq!((o.src, o.dst), (ip("10.0.5.1"), ip("10.0.5.20")));
    assert_eq!(o.dport(), 9000);
    assert!(o.checksums_ok(), "redirect checksums");
}

fn icmp_too_big(dp: &Dp, nat4: (u16, u32), nat6: (u16, u32)) {
    // IPv4 NAT: a router says the reply VIP:80 -> client:40006 was too big.
    let (nat_port, bid) = nat4;
    let (baddr, bport, bmac) = backend(bid);
    let quoted = ip_l4(ip("10.0.1.1"), ip(CLIENT4), TCP, 80, 40006, b"");
    let msg = icmp4(3, 4, [0, 0, 0x05, 0x78], &quoted[..28]);
    let frame = dp.frame(&ipv4(v4("10.0.0.254"), v4("10.0.1.1"), ICMP, &msg));
    let (rv, out, d) = dp.run_counted(&frame);
    assert_eq!(rv, XDP_TX, "ICMPv4 frag-needed (NAT)");
    assert_eq!(d.get("icmp_forwarded"), Some(&1));
    assert_eq!(&out[..6], &bmac);
    let o = ip_of(&out);
    assert_eq!((o.src, o.dst), (ip(LB4), baddr), "outer SNAT -> backend");
    assert!(o.checksums_ok(), "outer IPv4 and ICMP checksums");
    let q = Ip::parse(&o.l4()[8..]);
    assert_eq!((q.src, q.dst), (baddr, ip(LB4)), "quoted backend -> SNAT");
    assert!(q.header_ok(), "quoted IPv4 header checksum");
    let qp = &o.l4()[8 + 20..8 + 24];
    assert_eq!(
        (
            u16::from_be_bytes([qp[0], qp[1]]),
            u16::from_be_bytes([qp[2], qp[3]])
        ),
        (bport, nat_port)
    );

    // IPv6 NAT.
    let (nat_port, bid) = nat6;
    let (baddr, bport, bmac) = backend(bid);
    let quoted = ip_l4(ip("fd00:1::1"), ip(CLIENT6), TCP, 80, 40006, b"");
    let msg = icmp6(
        v6("fd00::fe"),
        v6("fd00:1::1"),
        2,
        0,
        1280u32.to_be_bytes(),
        &quoted[..48],
    );
    let frame = dp.frame(&ipv6(v6("fd00::fe"), v6("fd00:1::1"), ICMP6, &msg));
    let (rv, out) = dp.run(&frame);
    assert_eq!(rv, XDP_TX, "ICMPv6 too-big (NAT)");
    assert_eq!(&out[..6], &bmac);
    let o = ip_of(&out);
    assert_eq!((o.src, o.dst), (ip(LB6), baddr));
    assert!(o.l4_ok(), "ICMPv6 checksum with pseudo-header");
    let q = &o.l4()[8..];
    assert_eq!(
        IpAddr::from(<[u8; 16]>::try_from(&q[8..24]).unwrap()),
        baddr
    );
    assert_eq!(
        IpAddr::from(<[u8; 16]>::try_from(&q[24..40]).unwrap()),
        ip(LB6)
    );
    assert_eq!(
        (
            u16::from_be_bytes([q[40], q[41]]),
            u16::from_be_bytes([q[42], q[43]])
        ),
        (bport, nat_port)
    );

    // DSR: MAC rewrite only.
    let quoted = ip_l4(ip("10.0.2.1"), ip(CLIENT4), TCP, 443, 33333, b"");
    let msg = icmp4(3, 4, [0, 0, 0x05, 0x78], &quoted[..28]);
    let frame = dp.frame(&ipv4(v4("10.0.0.254"), v4("10.0.2.1"), ICMP, &msg));
    let (rv, out) = dp.run(&frame);
    assert_eq!(rv, XDP_TX, "ICMPv4 frag-needed (DSR)");
    assert_eq!(&out[..6], &backend(2).2);
    assert_eq!(&out[12..], &frame[12..]);

    // About a flow nobody knows; and an echo request to a VIP.
    let quoted = ip_l4(ip("10.0.1.1"), ip("10.9.9.9"), TCP, 80, 1, b"");
    let msg = icmp4(3, 4, [0; 4], &quoted[..28]);
    let frame = dp.frame(&ipv4(v4("10.0.0.254"), v4("10.0.1.1"), ICMP, &msg));
    let (rv, out, d) = dp.run_counted(&frame);
    assert_eq!(
        (rv, &out),
        (XDP_PASS, &frame),
        "ICMP about an unknown NAT flow"
    );
    assert_eq!(d.get("icmp_untracked"), Some(&1));
    let frame = dp.frame(&ipv4(
        v4(CLIENT4),
        v4("10.0.1.1"),
        ICMP,
        &icmp4(8, 0, [0; 4], b"ping"),
    ));
    let (rv, out) = dp.run(&frame);
    assert_eq!((rv, &out), (XDP_PASS, &frame), "ICMP echo to a VIP");
}

fn conntrack(dp: &Dp, nat4: (u16, u32)) {
    let (nat_port, bid) = nat4;
    let other = 1 - bid;
    let (vip, client, cport) = (ip("10.0.1.1"), ip(CLIENT4), 40006u16);
    let frame = dp.frame(&ip_l4(client, vip, TCP, cport, 80, b"again"));

    // The ring now sends everything to the other backend: the established flow stays.
    dp.set_ring(0, &[other]);
    let (rv, out) = dp.run(&frame);
    let o = ip_of(&out);
    assert_eq!(rv, XDP_TX);
    assert_eq!(
        (o.dst, o.sport()),
        (backend(bid).0, nat_port),
        "established flow keeps its backend"
    );
    // A SYN on the same tuple is a new connection (the client reused its port): it is
    // scheduled by the ring, not by the stale entry, which it removes; conntrack follows
    // the new connection once its handshake completes.
    let key = RawFlowKey::new(client, cport, vip, 80, TCP).to_bytes();
    let (rv, out, d) = dp.syn(client, cport, vip, 80);
    assert_eq!(rv, XDP_TX);
    assert_eq!(d.get("ct_miss"), Some(&1), "a SYN skips conntrack: {d:?}");
    assert_eq!(ip_of(&out).dst, backend(other).0, "a SYN follows the ring");
    assert!(ip_of(&out).checksums_ok());
    assert!(
        dp.maps[&MapId::Ct].lookup(&key).unwrap().is_none(),
        "a SYN leaves no conntrack entry, and removes the tuple's old one"
    );
    let out = dp.handshake(client, cport, vip, 80).unwrap();
    assert_eq!(ip_of(&out).dst, backend(other).0);
    let port_on_other = ip_of(&out).sport();
    let ct = RawCt::from_bytes(&dp.maps[&MapId::Ct].lookup(&key).unwrap().unwrap()).unwrap();
    assert_eq!(
        ct.backend_id, other,
        "conntrack follows the completed handshake"
    );
    // Put the flow back on its backend for the checks below.
    dp.set_ring(0, &[bid]);
    let out = dp.handshake(client, cport, vip, 80).unwrap();
    assert_eq!(ip_of(&out).dst, backend(bid).0);
    dp.set_ring(0, &[other]);
    let out = dp.handshake(client, cport + 1000, vip, 80).unwrap();
    assert_eq!(
        ip_of(&out).dst,
        backend(other).0,
        "a new flow follows the ring"
    );

    // Conntrack entry gone: rescheduled by Maglev (ring restored), NAT port reused.
    dp.set_ring(0, &[0, 1]);
    let key = RawFlowKey::new(client, cport, vip, 80, TCP).to_bytes();
    assert!(dp.maps[&MapId::Ct].delete(&key).unwrap());
    let (rv, out, d) = dp.run_counted(&frame);
    let o = ip_of(&out);
    assert_eq!(rv, XDP_TX);
    assert_eq!(d.get("ct_miss"), Some(&1));
    assert_eq!(
        d.get("ct_resumed"),
        Some(&1),
        "a live flow without conntrack is counted: {d:?}"
    );
    assert_eq!(
        (o.dst, o.sport()),
        (backend(bid).0, nat_port),
        "same backend and NAT port"
    );

    // Backend removed (all-zero entry): its TCP flows end. A packet of one is never given
    // a new port: this tuple's earlier connection to the other backend (above) still has
    // its NAT entry there, so it resumes that one (whose backend answers with a RST)...
    dp.set_ring(0, &[other]);
    let bk = &dp.maps[&MapId::Backends];
    bk.update(&bid.to_ne_bytes(), &[0u8; 20], BPF_ANY).unwrap();
    let (rv, out, d) = dp.run_counted(&frame);
    assert_eq!((rv, d.get("ct_resumed")), (XDP_TX, Some(&1)), "{d:?}");
    assert_eq!(
        (ip_of(&out).dst, ip_of(&out).sport()),
        (backend(other).0, port_on_other)
    );
    // ... and a tuple that never had a connection there is dropped.
    let lone = dp.handshake(client, cport + 3000, vip, 80).unwrap();
    assert_eq!(ip_of(&lone).dst, backend(other).0);
    dp.set_ring(0, &[bid]);
    bk.update(&other.to_ne_bytes(), &[0u8; 20], BPF_ANY)
        .unwrap();
    let (a, p, _) = backend(bid);
    bk.update(
        &bid.to_ne_bytes(),
        &oxlb::datapath::abi::RawBackend::new(a, p).to_bytes(),
        BPF_ANY,
    )
    .unwrap();
    let lone_ack = dp.frame(&ip_l4(client, vip, TCP, cport + 3000, 80, b"x"));
    let (rv, _, d) = dp.run_counted(&lone_ack);
    assert_eq!(
        (rv, d.get("drop_no_flow")),
        (XDP_DROP, Some(&1)),
        "flow of a removed backend: {d:?}"
    );
    let (a, p, _) = backend(other);
    bk.update(
        &other.to_ne_bytes(),
        &oxlb::datapath::abi::RawBackend::new(a, p).to_bytes(),
        BPF_ANY,
    )
    .unwrap();
    dp.set_ring(0, &[other]);
    bk.update(&bid.to_ne_bytes(), &[0u8; 20], BPF_ANY).unwrap();
    // A new connection of that client goes to the ring's backend.
    let out = dp.handshake(client, cport + 2000, vip, 80).unwrap();
    assert_eq!(ip_of(&out).dst, backend(other).0);
    let (a, p, _) = backend(bid);
    bk.update(
        &bid.to_ne_bytes(),
        &oxlb::datapath::abi::RawBackend::new(a, p).to_bytes(),
        BPF_ANY,
    )
    .unwrap();
    dp.set_ring(0, &[0, 1]);

    // NAT port collision: a second client whose first probe is the same port on the same
    // backend gets the next port.
    let h1 = flow_hash(client, 50000, vip, 80, TCP);
    let (start, be) = ((h1 >> 7) % u32::from(NAT_COUNT), (h1 % TS) % 2);
    let found = (101u8..250)
        .flat_map(|host| (1024u16..=65535).map(move |p| (host, p)))
        .find(|&(host, p)| {
            let h = flow_hash(ip(&format!("10.0.0.{host}")), p, vip, 80, TCP);
            (h >> 7) % u32::from(NAT_COUNT) == start && (h % TS) % 2 == be
        })
        .expect("a colliding client");
    let c2 = ip(&format!("10.0.0.{}", found.0));
    let (rv1, o1, _) = dp.syn(client, 50000, vip, 80);
    let (rv2, o2, _) = dp.syn(c2, found.1, vip, 80);
    assert_eq!((rv1, rv2), (XDP_TX, XDP_TX));
    let p1 = ip_of(&o1).sport();
    let p2 = ip_of(&o2).sport();
    assert_eq!(p1, NAT_MIN + start as u16);
    assert_eq!(
        p2,
        NAT_MIN + ((start + 1) % u32::from(NAT_COUNT)) as u16,
        "next port on collision"
    );
}

#[test]
fn malformed_frames_pass_untouched() {
    if !require_kernel("malformed_frames_pass_untouched") {
        return;
    }
    let ns = topology();
    ns.run(|ns_name| {
        let dp = Dp::load(ns_name);
        let base = dp.frame(&ip_l4(
            ip(CLIENT4),
            ip("10.0.1.1"),
            TCP,
            40100,
            80,
            &[b'x'; 20],
        ));
        let tcp_seg = tcp(ip(CLIENT4), ip("10.0.1.1"), 1, 80, 2, b"");
        let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("bare Ethernet header", base[..14].to_vec(), "truncated"),
            ("truncated IPv4 header", base[..26].to_vec(), "truncated"),
            (
                "truncated TCP header",
                dp.frame(&ipv4(v4(CLIENT4), v4("10.0.1.1"), TCP, b"abcd")),
                "truncated",
            ),
        ];
        let mut x = base.clone();
        x[14] = 0x44;
        cases.push(("IPv4 IHL 4", x, "bad_ihl"));
        let mut x = base.clone();
        x[16..18].copy_from_slice(&2000u16.to_be_bytes());
        cases.push(("IPv4 tot_len past the frame", x, "truncated"));
        cases.push((
            "IPv4 first fragment",
            dp.frame(&ipv4_opts(
                v4(CLIENT4),
                v4("10.0.1.1"),
                TCP,
                &[],
                0x2000,
                &tcp_seg,
            )),
            "fragment",
        ));
        cases.push((
            "IPv4 later fragment",
            dp.frame(&ipv4_opts(
                v4(CLIENT4),
                v4("10.0.1.1"),
                TCP,
                &[],
                100,
                &[b'y'; 16],
            )),
            "fragment",
        ));
        let mut seg = tcp_seg.clone();
        seg[12] = 0x30;
        cases.push((
            "TCP doff 3",
            dp.frame(&ipv4(v4(CLIENT4), v4("10.0.1.1"), TCP, &seg)),
            "truncated",
        ));
        let seg6 = tcp(ip(CLIENT6), ip("fd00:1::1"), 1, 80, 2, b"");
        let mut hbh = vec![TCP, 0, 1, 4, 0, 0, 0, 0];
        hbh.extend_from_slice(&seg6);
        cases.push((
            "IPv6 hop-by-hop",
            dp.frame(&ipv6(v6(CLIENT6), v6("fd00:1::1"), 0, &hbh)),
            "ipv6_ext",
        ));
        let mut frag = vec![TCP, 0, 0, 0, 0, 0, 0, 1];
        frag.extend_from_slice(&seg6);
        cases.push((
            "IPv6 fragment header",
            dp.frame(&ipv6(v6(CLIENT6), v6("fd00:1::1"), 44, &frag)),
            "fragment",
        ));
        let mut x = dp.frame(&ipv6(v6(CLIENT6), v6("fd00:1::1"), TCP, &seg6));
        x[18..20].copy_from_slice(&500u16.to_be_bytes());
        cases.push(("IPv6 payload length past the frame", x, "truncated"));
        let v6pkt = ipv6(v6(CLIENT6), v6("fd00:1::1"), TCP, &seg6);
        cases.push((
            "IPv6 packet under the IPv4 ethertype",
            eth(dp.lb0.1, mac(PEER_MAC), ETH_IP, &v6pkt),
            "bad_ihl",
        ));
        let quoted = ip_l4(ip("10.0.1.1"), ip(CLIENT4), TCP, 80, 40006, b"");
        let msg = icmp4(3, 4, [0; 4], &quoted[..22]);
        let mut x = dp.frame(&ipv4(v4("10.0.0.254"), v4("10.0.1.1"), ICMP, &msg));
        x.extend_from_slice(&quoted[22..28]);
        x.extend_from_slice(&[0; 10]);
        cases.push((
            "ICMP quote cut short, rest is frame padding",
            x,
            "truncated",
        ));
        for (name, frame, reason) in &cases {
            let (rv, out, d) = dp.run_counted(frame);
            assert_eq!(rv, XDP_PASS, "{name}: verdict");
            assert_eq!(&out, frame, "{name}: untouched");
            assert!(
                d.get(*reason).copied().unwrap_or(0) >= 1,
                "{name}: {reason} in {d:?}"
            );
        }

        // IPv4 options: counted and handled, options kept.
        let seg = tcp(ip(CLIENT4), ip("10.0.1.1"), 40200, 80, 2, b"opts");
        let frame = dp.frame(&ipv4_opts(
            v4(CLIENT4),
            v4("10.0.1.1"),
            TCP,
            &[1, 1, 1, 0],
            0x4000,
            &seg,
        ));
        let (rv, out, d) = dp.run_counted(&frame);
        assert_eq!(rv, XDP_TX, "IPv4 options: NAT");
        assert_eq!(d.get("ip_options"), Some(&1));
        assert_eq!(out[14] & 0xf, 6);
        assert_eq!(&out[34..38], &frame[34..38], "options kept");
        assert!(ip_of(&out).checksums_ok(), "IPv4 options: checksums");

        // Larger than the egress MTU: passed to the kernel untouched.
        common::sh(&["ip", "-n", ns_name, "link", "set", "lb0", "mtu", "1280"]);
        let frame = dp.frame(&ip_l4(
            ip(CLIENT4),
            ip("10.0.2.1"),
            TCP,
            4444,
            443,
            &[b'm'; 1300],
        ));
        let (rv, out, d) = dp.run_counted(&frame);
        common::sh(&["ip", "-n", ns_name, "link", "set", "lb0", "mtu", "1500"]);
        assert_eq!((rv, &out), (XDP_PASS, &frame), "over the MTU");
        assert_eq!(d.get("fib_frag_needed"), Some(&1));

        fuzz(&dp, 400);
    });
}

/// Mutated frames: the verdict is always one of DROP/PASS/TX/REDIRECT and a PASS never
/// changes the frame.
fn fuzz(dp: &Dp, n: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let mut rnd = move |m: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % m as u64) as usize
    };
    let quoted = ip_l4(ip("10.0.1.1"), ip(CLIENT4), TCP, 80, 40006, b"");
    let mut vlan = vec![0x00, 0x05, 0x08, 0x00];
    vlan.extend_from_slice(&ip_l4(ip(CLIENT4), ip("10.0.2.1"), TCP, 7, 443, b""));
    let seeds = [
        dp.frame(&ip_l4(
            ip(CLIENT4),
            ip("10.0.1.1"),
            TCP,
            40300,
            80,
            &[b'f'; 12],
        )),
        dp.frame(&ip_l4(
            ip(CLIENT4),
            ip("10.0.1.1"),
            UDP,
            40300,
            53,
            &[b'f'; 12],
        )),
        dp.frame(&ip_l4(
            ip(CLIENT6),
            ip("fd00:1::1"),
            UDP,
            40300,
            53,
            &[b'f'; 12],
        )),
        dp.frame(&ipv4(
            v4("10.0.0.254"),
            v4("10.0.1.1"),
            ICMP,
            &icmp4(3, 4, [0; 4], &quoted[..28]),
        )),
        eth(dp.lb0.1, mac(PEER_MAC), ETH_VLAN, &vlan),
    ];
    for _ in 0..n {
        let mut f = seeds[rnd(seeds.len())].clone();
        for _ in 0..1 + rnd(4) {
            match rnd(10) {
                0..=4 => {
                    let pos = 12 + rnd(f.len().min(80) - 12);
                    f[pos] = rnd(256) as u8;
                }
                5..=7 => {
                    let keep = 14 + rnd(f.len() - 13);
                    f.truncate(keep);
                }
                _ => {
                    for _ in 0..1 + rnd(19) {
                        f.push(rnd(256) as u8);
                    }
                }
            }
        }
        let (rv, out) = dp.run(&f);
        assert!(
            [XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT].contains(&rv),
            "verdict {rv} for {f:02x?}"
        );
        if rv == XDP_PASS {
            assert_eq!(out, f, "PASS changed the frame");
        }
    }
}

/// The independent checksum check itself: accepts built packets, rejects any flipped byte.
#[test]
fn checksum_check_rejects_corruption() {
    for (src, dst) in [(CLIENT4, "10.0.1.1"), (CLIENT6, "fd00:1::1")] {
        for proto in [TCP, UDP] {
            let pkt = ip_l4(ip(src), ip(dst), proto, 1234, 80, b"some payload bytes");
            assert!(Ip::parse(&pkt).checksums_ok());
            let hl = Ip::parse(&pkt).hl;
            for i in (if src.contains(':') { 8 } else { 0 })..pkt.len() {
                let mut bad = pkt.clone();
                bad[i] ^= 0x10;
                // Length/version fields change the parse itself; skip them.
                if (hl == 20 && (i < 4 || i == 9))
                    || (hl == 40 && i < 8)
                    || i == hl + 4
                    || i == hl + 5
                {
                    continue;
                }
                assert!(
                    !Ip::parse(&bad).checksums_ok(),
                    "{src} proto {proto}: byte {i} flipped"
                );
            }
        }
    }
}

/// Sets the neighbour entry of `addr` on lb0 to `mac`.
fn set_neigh(dp: &Dp, addr: IpAddr, mac: &str) {
    common::sh(&[
        "ip",
        "-n",
        &dp.ns,
        "neigh",
        "replace",
        &addr.to_string(),
        "lladdr",
        mac,
        "dev",
        "lb0",
        "nud",
        "permanent",
    ]);
}

/// Makes the next hop cached in the map entry `key` of `map` (a RawCt or RawNat value)
/// stale, as if its TTL had passed.
fn expire_hop(dp: &Dp, map: MapId, key: &[u8]) {
    let m = &dp.maps[&map];
    let mut v = m.lookup(key).unwrap().expect("entry");
    // The hop's at_ns: the last field of RawCt, before `seen` and `closing` in RawNat.
    let at = if map == MapId::Nat { 64 } else { v.len() - 8 };
    assert_ne!(
        u64::from_ne_bytes(v[at..at + 8].try_into().unwrap()),
        0,
        "a hop is cached"
    );
    v[at..at + 8].copy_from_slice(&1u64.to_ne_bytes());
    m.update(key, &v, BPF_ANY).unwrap();
}

fn next_hop_cache(dp: &Dp) {
    let (vip, client, cport) = (ip("10.0.1.1"), ip(CLIENT4), 40006u16);
    let frame = dp.frame(&ip_l4(client, vip, TCP, cport, 80, b"hop"));
    let key = RawFlowKey::new(client, cport, vip, 80, TCP).to_bytes();
    let (rv, out) = dp.run(&frame);
    let ct = RawCt::from_bytes(&dp.maps[&MapId::Ct].lookup(&key).unwrap().unwrap()).unwrap();
    let (bid, nat_port) = (ct.backend_id, u16::from_be_bytes(ct.nat_port));
    let (baddr, bport, bmac) = backend(bid);
    assert_eq!((rv, &out[..6]), (XDP_TX, &bmac[..]));
    assert_eq!(
        (ct.hop.dmac, ct.hop.ifindex),
        (bmac, dp.lb0.0),
        "hop cached in conntrack"
    );

    // The backend's MAC changes: established packets keep the cached hop until it is stale.
    let moved = "02:00:00:00:0a:0a";
    set_neigh(dp, baddr, moved);
    let (_, out) = dp.run(&frame);
    assert_eq!(&out[..6], &bmac, "cached hop used within its TTL");
    expire_hop(dp, MapId::Ct, &key);
    let (rv, out) = dp.run(&frame);
    assert_eq!(
        (rv, &out[..6]),
        (XDP_TX, &mac(moved)[..]),
        "stale hop looked up again"
    );
    assert!(ip_of(&out).checksums_ok());

    // Replies: the hop towards the client is cached in the NAT entry the same way.
    let lb = ip(LB4);
    let reply = eth(
        dp.lb0.1,
        mac(moved),
        ethertype(&out[14..]),
        &ip_l4(baddr, lb, TCP, bport, nat_port, b"reply"),
    );
    let nat_key = RawFlowKey::new(baddr, bport, lb, nat_port, TCP).to_bytes();
    let (rv, rout) = dp.run(&reply);
    assert_eq!((rv, &rout[..6]), (XDP_TX, &mac(CLIENT_MAC)[..]));
    let n = RawNat::from_bytes(&dp.maps[&MapId::Nat].lookup(&nat_key).unwrap().unwrap()).unwrap();
    assert_eq!(n.hop.dmac, mac(CLIENT_MAC), "hop cached in the NAT entry");
    let client_moved = "02:00:00:00:0b:0b";
    set_neigh(dp, client, client_moved);
    let (_, rout) = dp.run(&reply);
    assert_eq!(
        &rout[..6],
        &mac(CLIENT_MAC),
        "cached reply hop used within its TTL"
    );
    expire_hop(dp, MapId::Nat, &nat_key);
    let (rv, rout) = dp.run(&reply);
    assert_eq!((rv, &rout[..6]), (XDP_TX, &mac(client_moved)[..]));
    assert!(ip_of(&rout).checksums_ok());

    set_neigh(dp, baddr, BACKENDS[bid as usize].3.unwrap());
    set_neigh(dp, client, CLIENT_MAC);
    expire_hop(dp, MapId::Ct, &key);
    expire_hop(dp, MapId::Nat, &nat_key);
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

/// Pins the calling thread to one CPU: the backend next-hop cache is per CPU.
fn pin_to_one_cpu() {
    let cpus = common::cpu::allowed_cpus();
    common::cpu::pin_to_cpu(*cpus.first().expect("an allowed CPU"));
}

/// New flows take the next hop towards their backend from the per-CPU backend cache
/// (`oxlb_be_hop`) instead of a FIB lookup each: a neighbour whose MAC changes reaches new
/// flows once the cached hop is older than its TTL (1 s).
#[test]
fn new_flows_share_the_backend_next_hop() {
    if !require_kernel("new_flows_share_the_backend_next_hop") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        pin_to_one_cpu();
        let dp = tiny_nat(name, 20000);
        let (vip, client) = (ip("10.0.1.1"), ip(CLIENT4));
        let (baddr, _, bmac) = backend(0);
        let syn = |cport: u16| {
            let t = tcp(client, vip, cport, 80, SYN, b"");
            let (rv, out) = dp.run(&dp.frame(&ipv4(v4(CLIENT4), v4("10.0.1.1"), TCP, &t)));
            assert_eq!(rv, XDP_TX, "SYN from port {cport}");
            assert_eq!(ip_of(&out).dst, baddr);
            out[..6].to_vec()
        };
        let looked_up = std::time::Instant::now();
        assert_eq!(syn(42000), bmac, "first new flow: looked up");
        let moved = "02:00:00:00:0c:0c";
        set_neigh(&dp, baddr, moved);
        let next = syn(42001);
        // (Under an emulated CPU, `ip neigh` may take the whole TTL: then either MAC is right.)
        if looked_up.elapsed() < std::time::Duration::from_millis(900) {
            assert_eq!(next, bmac, "next new flow: the backend's cached hop");
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(
            syn(42002),
            mac(moved),
            "a new flow after the TTL looks the hop up again"
        );
        set_neigh(&dp, baddr, BACKENDS[0].3.unwrap());
    });
}

/// A datapath whose NAT range has 8 ports from `nat_port_min` (the probe count: every new
/// flow sees every port), VIP 0 (10.0.1.1:80/tcp) sending everything to backend 0.
fn tiny_nat(name: &str, nat_port_min: u16) -> Dp {
    tiny_nat_with(name, nat_port_min, oxlb::datapath::SynCookies::Off)
}

/// As [`tiny_nat`], with SYN cookies set to `cookies` (the tests of the half-open table
/// itself turn them off: a flood would otherwise move to cookies).
fn tiny_nat_with(name: &str, nat_port_min: u16, cookies: oxlb::datapath::SynCookies) -> Dp {
    let layout = Layout {
        nat_port_min,
        nat_port_count: 8,
        syn_cookies: cookies,
        ..layout()
    };
    let dp = Dp::load_with(name, layout);
    dp.set_ring(0, &[0]);
    dp
}

/// NAT ports of a tiny range (8 = the datapath's probe count, so every new flow sees every
/// port) are given to new flows only once their flow is stale: idle, closed by the client
/// or a RST, or past the backend's TIME_WAIT; never while the flow is active.
#[test]
fn nat_ports_are_reclaimed_from_stale_flows_only() {
    if !require_kernel("nat_ports_are_reclaimed_from_stale_flows_only") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = tiny_nat(name, 20000);
        let (vip, client, lb) = (ip("10.0.1.1"), ip(CLIENT4), ip(LB4));
        let (baddr, bport, bmac) = backend(0);
        dp.set_ring(1, &[0]);
        let seg = |cport: u16, flags: u8| {
            let t = tcp(client, vip, cport, 80, flags, b"");
            dp.frame(&ipv4(v4(CLIENT4), v4("10.0.1.1"), TCP, &t))
        };
        let reply = |port: u16, flags: u8| {
            let t = tcp(baddr, lb, bport, port, flags, b"");
            eth(
                dp.lb0.1,
                bmac,
                0x0800,
                &ipv4(v4("10.0.0.10"), v4(LB4), TCP, &t),
            )
        };
        let nat_key =
            |port: u16, proto: u8| RawFlowKey::new(baddr, bport, lb, port, proto).to_bytes();
        let nat = |port: u16, proto: u8| {
            let v = dp.maps[&MapId::Nat]
                .lookup(&nat_key(port, proto))
                .unwrap()
                .expect("NAT entry");
            RawNat::from_bytes(&v).unwrap()
        };
        // Moves the flow's last packet `secs` seconds into the past.
        let age = |port: u16, proto: u8, secs: u64| {
            let m = &dp.maps[&MapId::Nat];
            let key = nat_key(port, proto);
            let mut v = m.lookup(&key).unwrap().expect("NAT entry");
            let seen = u32::from_ne_bytes(v[72..76].try_into().unwrap());
            let ticks = ((secs * 1_000_000_000) >> NAT_TICK_SHIFT) as u32 + 2;
            v[72..76].copy_from_slice(&seen.wrapping_sub(ticks).to_ne_bytes());
            m.update(&key, &v, BPF_ANY).unwrap();
        };
        let new_flow = |cport: u16| -> Result<u16, BTreeMap<String, u64>> {
            let out = dp.handshake(client, cport, vip, 80).inspect_err(|d| {
                assert_eq!(d.get("drop_nat_ports"), Some(&1), "{d:?}");
            })?;
            let o = ip_of(&out);
            assert!(o.checksums_ok());
            assert_eq!(o.dst, baddr);
            Ok(o.sport())
        };

        // Eight flows take the eight ports; the ninth finds none.
        let ports: Vec<u16> = (0..8)
            .map(|i| new_flow(41000 + i).expect("a free port"))
            .collect();
        let flow = |i: usize| (41000 + i as u16, ports[i]);
        let mut sorted = ports.clone();
        sorted.sort();
        assert_eq!(sorted, (20000..20008).collect::<Vec<_>>());
        assert!(new_flow(41100).is_err(), "every port is taken");
        for &p in &ports {
            assert_eq!(nat(p, TCP).closing, NAT_OPEN);
        }

        // Flow 0: the client closes first. Fresh, its port stays; 5 s later it is reclaimed,
        // and the old flow's conntrack entry goes with it.
        let (c0, p0) = flow(0);
        assert_eq!(dp.run(&seg(c0, ACK | FIN)).0, XDP_TX);
        assert_eq!(nat(p0, TCP).closing, NAT_CLOSED);
        assert!(
            new_flow(41100).is_err(),
            "a just-closed flow keeps its port"
        );
        age(p0, TCP, 6);
        let before = dp.reasons();
        assert_eq!(new_flow(41100), Ok(p0), "the closed flow's port is reused");
        assert_eq!(
            dp.reasons()["nat_port_reused"],
            before["nat_port_reused"] + 1
        );
        let n = nat(p0, TCP);
        assert_eq!(n.client, RawFlowKey::new(client, 41100, vip, 80, TCP));
        assert_eq!(n.closing, NAT_OPEN);
        let old_ct = RawFlowKey::new(client, c0, vip, 80, TCP).to_bytes();
        assert!(
            dp.maps[&MapId::Ct].lookup(&old_ct).unwrap().is_none(),
            "old flow forgotten"
        );
        let (rv, _, d) = dp.run_counted(&seg(c0, ACK));
        assert_eq!(
            (rv, d.get("ct_miss")),
            (XDP_DROP, Some(&1)),
            "the old flow is not sent on its former port: {d:?}"
        );

        // Flow 1: the backend closes first, then the client: the backend holds TIME_WAIT,
        // so the port waits 60 s, not 5.
        let (c1, p1) = flow(1);
        assert_eq!(dp.run(&reply(p1, ACK | FIN)).0, XDP_TX);
        assert_eq!(nat(p1, TCP).closing, NAT_TIME_WAIT);
        assert_eq!(dp.run(&seg(c1, ACK | FIN)).0, XDP_TX);
        assert_eq!(
            nat(p1, TCP).closing,
            NAT_TIME_WAIT,
            "the backend closed first"
        );
        age(p1, TCP, 10);
        assert!(new_flow(41101).is_err(), "TIME_WAIT not over");
        age(p1, TCP, 55);
        assert_eq!(
            new_flow(41101),
            Ok(p1),
            "reused after the backend's TIME_WAIT"
        );

        // Flow 2: reset by the backend: reusable after the closed timeout.
        let (_, p2) = flow(2);
        assert_eq!(dp.run(&reply(p2, RST)).0, XDP_TX);
        assert_eq!(nat(p2, TCP).closing, NAT_CLOSED);
        age(p2, TCP, 6);
        assert_eq!(new_flow(41102), Ok(p2), "reused after a RST");

        // Flow 3: open and quiet. 10 minutes is not enough (15 min idle timeout), 16 is.
        let (_, p3) = flow(3);
        age(p3, TCP, 600);
        assert!(
            new_flow(41103).is_err(),
            "an open flow quiet for 10 min keeps its port"
        );
        age(p3, TCP, 400);
        assert_eq!(new_flow(41103), Ok(p3), "reused after 15 min idle");

        // Flows 4 and 5: quiet for 20 min, then a reply (4) or a forward packet once its
        // cached hop is stale (5) shows they are alive: their ports stay.
        let (c4, p4) = flow(4);
        let (c5, p5) = flow(5);
        for p in [p4, p5] {
            age(p, TCP, 1200);
        }
        assert_eq!(dp.run(&reply(p4, ACK)).0, XDP_TX);
        let ct5 = RawFlowKey::new(client, c5, vip, 80, TCP).to_bytes();
        expire_hop(&dp, MapId::Ct, &ct5);
        assert_eq!(dp.run(&seg(c5, ACK)).0, XDP_TX);
        assert!(new_flow(41104).is_err(), "active flows keep their ports");
        for (c, p) in [(c4, p4), (c5, p5)] {
            let (rv, out) = dp.run(&seg(c, ACK));
            assert_eq!(
                (rv, ip_of(&out).sport()),
                (XDP_TX, p),
                "flow {c} still on its port"
            );
        }

        // Flow 6: closed by the client, then the client reopens the same tuple (SYN): it
        // gets its own port back, open again.
        let (c6, p6) = flow(6);
        assert_eq!(dp.run(&seg(c6, ACK | FIN)).0, XDP_TX);
        assert_eq!(nat(p6, TCP).closing, NAT_CLOSED);
        assert_eq!(new_flow(c6), Ok(p6), "a reopened tuple keeps its port");
        assert_eq!(nat(p6, TCP).closing, NAT_OPEN);

        // UDP (VIP 53/udp, same backend): its own ports, 30 s idle timeout.
        let useg = |cport: u16| {
            let u = udp(client, vip, cport, 53, b"q");
            dp.frame(&ipv4(v4(CLIENT4), v4("10.0.1.1"), UDP, &u))
        };
        let uports: Vec<u16> = (0..8)
            .map(|i| {
                let (rv, out) = dp.run(&useg(42000 + i));
                assert_eq!(rv, XDP_TX);
                ip_of(&out).sport()
            })
            .collect();
        assert_eq!(dp.run(&useg(42100)).0, XDP_DROP, "every UDP port is taken");
        age(uports[3], UDP, 20);
        assert_eq!(dp.run(&useg(42100)).0, XDP_DROP, "20 s quiet is not enough");
        age(uports[3], UDP, 15);
        let (rv, out) = dp.run(&useg(42100));
        assert_eq!(
            (rv, ip_of(&out).sport()),
            (XDP_TX, uports[3]),
            "reused after 30 s"
        );
        assert!(ip_of(&out).checksums_ok());
    });
}

/// Without conntrack every packet is scheduled by the Maglev ring: same backend, same NAT
/// port, no conntrack entries; the reverse entry still follows the flow's close.
#[test]
fn stateless_maglev_without_conntrack() {
    if !require_kernel("stateless_maglev_without_conntrack") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let layout = Layout {
            conntrack: false,
            ..layout()
        };
        let dp = Dp::load_with(name, layout);
        let (vip, client) = (ip("10.0.1.1"), ip(CLIENT4));
        let seg = |flags: u8| {
            let t = tcp(client, vip, 40500, 80, flags, b"x");
            dp.frame(&ipv4(v4(CLIENT4), v4("10.0.1.1"), TCP, &t))
        };
        let h = flow_hash(client, 40500, vip, 80, TCP);
        let out = dp.handshake(client, 40500, vip, 80).unwrap();
        let o = ip_of(&out);
        let (baddr, bport, _) = backend(ring_pick(VIPS[0].6, h));
        assert_eq!((o.dst, o.sport()), (baddr, nat_port_of(h)));
        assert!(o.checksums_ok());
        let (rv2, out2, d) = dp.run_counted(&seg(ACK | FIN));
        assert_eq!(
            (rv2, d.get("ct_miss")),
            (XDP_TX, Some(&1)),
            "scheduled again: {d:?}"
        );
        let o2 = ip_of(&out2);
        assert_eq!(
            (o2.dst, o2.sport()),
            (baddr, nat_port_of(h)),
            "same backend and port"
        );
        assert_eq!(
            dp.maps[&MapId::Ct].keys().count(),
            0,
            "no conntrack entries"
        );
        assert_eq!(
            dp.maps[&MapId::Nat].keys().count(),
            1,
            "one NAT reverse entry"
        );
        let key = RawFlowKey::new(baddr, bport, ip(LB4), nat_port_of(h), TCP).to_bytes();
        let n = RawNat::from_bytes(&dp.maps[&MapId::Nat].lookup(&key).unwrap().unwrap()).unwrap();
        assert_eq!(n.closing, NAT_CLOSED, "the client's FIN is recorded");
    });
}

/// Packets of a tracked flow find their VIP through its id slot (`oxlb_vip_ids`), not the
/// VIP hash; a slot that was emptied or now holds another VIP stops the flow.
#[test]
fn tracked_flows_find_their_vip_by_id() {
    if !require_kernel("tracked_flows_find_their_vip_by_id") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = Dp::load(name);
        let (vip, client) = (ip("10.0.1.1"), ip(CLIENT4));
        let ack = |cport: u16| dp.frame(&ip_l4(client, vip, TCP, cport, 80, b"k"));
        let out = dp.handshake(client, 40700, vip, 80).expect("new flow");
        let backend_of = ip_of(&out).dst;

        // Without its hash entry the VIP takes no new flow, but the tracked one goes on.
        let vip_key = oxlb::datapath::abi::RawVipKey::new(vip, 80, TCP).to_bytes();
        let vip_value = dp.maps[&MapId::Vips].lookup(&vip_key).unwrap().unwrap();
        assert!(dp.maps[&MapId::Vips].delete(&vip_key).unwrap());
        let (rv, _, d) = dp.run_counted(&ack(40701));
        assert_eq!((rv, d.get("pass_not_vip")), (XDP_PASS, Some(&1)), "{d:?}");
        let (rv, out, d) = dp.run_counted(&ack(40700));
        assert_eq!((rv, d.get("ct_hit")), (XDP_TX, Some(&1)), "{d:?}");
        assert_eq!(ip_of(&out).dst, backend_of);

        // Its id slot now holds another VIP (an id reused): the flow no longer matches.
        let slots = &dp.maps[&MapId::VipIds];
        let id = 0u32.to_ne_bytes();
        let own = slots.lookup(&id).unwrap().unwrap();
        let mut other = own.clone();
        other[..4].copy_from_slice(&[10, 0, 9, 9]);
        slots.update(&id, &other, BPF_ANY).unwrap();
        let (rv, _, d) = dp.run_counted(&ack(40700));
        assert_eq!((rv, d.get("pass_not_vip")), (XDP_PASS, Some(&1)), "{d:?}");

        // An empty slot (VIP removed): the same.
        slots.update(&id, &[0u8; 44], BPF_ANY).unwrap();
        assert_eq!(dp.run(&ack(40700)).0, XDP_PASS);

        // VIP back: the flow is tracked again, same backend.
        slots.update(&id, &own, BPF_ANY).unwrap();
        dp.maps[&MapId::Vips]
            .update(&vip_key, &vip_value, BPF_ANY)
            .unwrap();
        let (rv, out, d) = dp.run_counted(&ack(40700));
        assert_eq!((rv, d.get("ct_hit")), (XDP_TX, Some(&1)), "{d:?}");
        assert_eq!(ip_of(&out).dst, backend_of);
        assert!(ip_of(&out).checksums_ok());
    });
}

/// SYN-flood resistance: a SYN opens only a half-open flow (`oxlb_syn`); conntrack and
/// the NAT map take a flow once the client's ACK acknowledges the backend's SYN-ACK. A
/// flood of spoofed SYNs churns half-open flows among themselves and never touches an
/// established flow; a legitimate handshake in the middle of it completes.
#[test]
fn syn_flood_never_evicts_established_flows() {
    if !require_kernel("syn_flood_never_evicts_established_flows") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = tiny_nat(name, 21000);
        let (vip, client, lb) = (ip("10.0.1.1"), ip(CLIENT4), ip(LB4));
        let (baddr, bport, _) = backend(0);
        let count = |id: MapId| dp.maps[&id].keys().count();

        // Two established flows.
        let est: Vec<u16> = [43000u16, 43001]
            .iter()
            .map(|&c| ip_of(&dp.handshake(client, c, vip, 80).unwrap()).sport())
            .collect();
        assert_eq!((count(MapId::Ct), count(MapId::Nat)), (2, 2));

        // Six spoofed SYNs take the six free ports as half-open flows only.
        // Flood sources: the client's address (it has a neighbour entry, so answers are
        // sent) with ports of its own.
        let spoofed = |_: u16| client;
        let mut flood_out = Vec::new();
        for i in 0..6u16 {
            let (rv, out, d) = dp.syn(spoofed(i), 30000 + i, vip, 80);
            assert_eq!((rv, d.get("syn_half_open")), (XDP_TX, Some(&1)), "{d:?}");
            flood_out.push(out);
        }
        assert_eq!((count(MapId::Ct), count(MapId::Nat)), (2, 2), "no state");
        assert_eq!(count(MapId::Syn), 6);
        // The backend answers one of them: its SYN-ACK goes to the spoofed address.
        let (rv, back) = dp.run(&dp.answer(&flood_out[0], SYN | ACK, (9000, 1001)));
        assert_eq!((rv, ip_of(&back).dst), (XDP_TX, spoofed(0)));

        // Fifty more: every one is forwarded by taking the oldest half-open port; the
        // established flows keep their ports.
        for i in 6..56u16 {
            let (rv, out, d) = dp.syn(spoofed(i), 30000 + i, vip, 80);
            assert_eq!((rv, d.get("syn_replaced")), (XDP_TX, Some(&1)), "{d:?}");
            assert!(
                !est.contains(&ip_of(&out).sport()),
                "established port taken"
            );
        }
        assert_eq!((count(MapId::Ct), count(MapId::Nat)), (2, 2));
        for (i, &c) in [43000u16, 43001].iter().enumerate() {
            let (rv, out, d) = dp.run_counted(&dp.frame(&ip_l4(client, vip, TCP, c, 80, b"k")));
            assert_eq!((rv, d.get("ct_hit")), (XDP_TX, Some(&1)), "{d:?}");
            assert_eq!(ip_of(&out).sport(), est[i]);
            let back = dp.answer(&out, ACK, (7001, 1001));
            let (rv, r) = dp.run(&back);
            assert_eq!((rv, ip_of(&r).dst, ip_of(&r).dport()), (XDP_TX, client, c));
        }

        // A legitimate client amid the flood: its SYN takes the oldest half-open port, one
        // more flood SYN takes another (the legitimate one is the youngest), and its
        // handshake completes.
        let (rv, out, _) = dp.syn(client, 43002, vip, 80);
        assert_eq!(rv, XDP_TX);
        let (rv, _, d) = dp.syn(spoofed(99), 30099, vip, 80);
        assert_eq!((rv, d.get("syn_replaced")), (XDP_TX, Some(&1)), "{d:?}");
        let (rv, back) = dp.run(&dp.answer(&out, SYN | ACK, (5000, 1001)));
        assert_eq!((rv, ip_of(&back).dst), (XDP_TX, client));
        // A blind ACK with a wrong acknowledgement number does not complete it...
        let wrong = ip_tcp(client, vip, 43002, 80, ACK, (1001, 4000), b"");
        let (rv, _, d) = dp.run_counted(&dp.frame(&wrong));
        assert_eq!((rv, d.get("drop_no_flow")), (XDP_DROP, Some(&1)), "{d:?}");
        // ... the right one does.
        let right = ip_tcp(client, vip, 43002, 80, ACK, (1001, 5001), b"GET");
        let (rv, fwd, d) = dp.run_counted(&dp.frame(&right));
        assert_eq!((rv, d.get("syn_promoted")), (XDP_TX, Some(&1)), "{d:?}");
        assert_eq!(ip_of(&fwd).sport(), ip_of(&out).sport());
        assert!(ip_of(&fwd).checksums_ok());
        assert_eq!(count(MapId::Nat), 3);

        // An ACK for a half-open flow whose SYN-ACK never came is dropped too.
        let (_, o, _) = dp.syn(client, 43003, vip, 80);
        let early = ip_tcp(client, vip, 43003, 80, ACK, (1001, 1), b"");
        let (rv, _, d) = dp.run_counted(&dp.frame(&early));
        assert_eq!((rv, d.get("drop_no_flow")), (XDP_DROP, Some(&1)), "{d:?}");
        // The client's RST of it is forwarded and ends it.
        let rst = ip_tcp(client, vip, 43003, 80, RST, (1001, 0), b"");
        let (rv, r) = dp.run(&dp.frame(&rst));
        assert_eq!((rv, ip_of(&r).sport()), (XDP_TX, ip_of(&o).sport()));
        let key = RawFlowKey::new(baddr, bport, lb, ip_of(&o).sport(), TCP).to_bytes();
        assert!(dp.maps[&MapId::Syn].lookup(&key).unwrap().is_none());

        // A half-open flow past nat_tcp_syn_s gives its port before any younger one. First
        // the one free port (left by the RST) is taken, then one entry is aged.
        let (rv, _, d) = dp.syn(spoofed(76), 30076, vip, 80);
        assert_eq!((rv, d.get("syn_replaced")), (XDP_TX, None), "{d:?}");
        let syn_map = &dp.maps[&MapId::Syn];
        assert_eq!(
            syn_map.keys().count(),
            5,
            "5 ports half-open, 3 established"
        );
        let k = syn_map.keys().next().unwrap().unwrap();
        let mut v = syn_map.lookup(&k).unwrap().unwrap();
        let at = u64::from_ne_bytes(v[48..56].try_into().unwrap());
        v[48..56].copy_from_slice(&at.saturating_sub(10_000_000_000).to_ne_bytes());
        syn_map.update(&k, &v, BPF_ANY).unwrap();
        let (rv, out, d) = dp.syn(spoofed(77), 30077, vip, 80);
        assert_eq!((rv, d.get("syn_replaced")), (XDP_TX, None), "{d:?}");
        let port = u16::from_be_bytes(k[34..36].try_into().unwrap());
        assert_eq!(ip_of(&out).sport(), port, "the dead half-open flow's port");

        // A packet to a NAT port without any entry is counted and passed to the host.
        let stray = ip_tcp(baddr, lb, bport, 21007, ACK, (1, 1), b"");
        let f = eth(dp.lb0.1, backend(0).2, 0x0800, &stray);
        let before = dp.reasons();
        let _ = dp.run(&f);
        let after = dp.reasons();
        let moved =
            |r: &str| after.get(r).copied().unwrap_or(0) - before.get(r).copied().unwrap_or(0);
        assert!(moved("nat_reply") + moved("nat_reply_miss") == 1);
    });
}

/// The new-flow guard: above `guard_new_flows` per VIP and CPU, new flows are still
/// scheduled by Maglev but leave no conntrack entry (DSR), and are counted.
#[test]
fn new_flow_guard_skips_conntrack_inserts() {
    if !require_kernel("new_flow_guard_skips_conntrack_inserts") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dsr = ip("10.0.2.1");
        let client = ip(CLIENT4);
        for guard in [0u32, 1] {
            let dp = Dp::load_with(
                name,
                Layout {
                    guard_new_flows: guard,
                    ..layout()
                },
            );
            let (rv, out, d) = dp.syn(client, 44000, dsr, 443);
            assert_eq!(rv, XDP_TX);
            assert_eq!(&out[..6], &backend(2).2, "Maglev's backend");
            let ct = dp.maps[&MapId::Ct].keys().count();
            let per_cpu = dp.maps[&MapId::VipGuard]
                .lookup(&2u32.to_ne_bytes())
                .unwrap()
                .unwrap();
            let guarded: u64 = per_cpu
                .chunks(RawGuard::SIZE)
                .filter_map(RawGuard::from_bytes)
                .map(|g| g.guarded)
                .sum();
            if guard == 0 {
                assert_eq!((ct, d.get("guarded"), guarded), (1, None, 0), "{d:?}");
            } else {
                assert_eq!((ct, d.get("guarded"), guarded), (0, Some(&1), 1), "{d:?}");
            }
            // The flow's next packet is forwarded all the same (Maglev).
            let ack = dp.frame(&ip_l4(client, dsr, TCP, 44000, 443, b"x"));
            let (rv, out2) = dp.run(&ack);
            assert_eq!((rv, &out2[..6]), (XDP_TX, &backend(2).2[..]));
        }
    });
}

/// Conntrack pressure: more live NAT flows than `conntrack_size` evict entries of live flows,
/// and the daemon's pressure sampler turns the counters into a warning that names the knob.
#[test]
fn conntrack_eviction_of_live_flows_is_warned_about() {
    if !require_kernel("conntrack_eviction_of_live_flows_is_warned_about") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = Dp::load_with(
            name,
            Layout {
                ct_entries: 64,
                ..layout()
            },
        );
        let (vip, client) = (ip("10.0.1.1"), ip(CLIENT4));
        let mut pressure = oxlb::daemon::pressure::Pressure::default();
        let quiet = pressure.sample(&dp.maps, &plan(), 64).unwrap();
        assert!(quiet.is_empty(), "first sample is the baseline: {quiet:?}");
        assert!(pressure.sample(&dp.maps, &plan(), 64).unwrap().is_empty());
        for cport in 20000..20400u16 {
            dp.handshake(client, cport, vip, 80).unwrap();
        }
        let mut lost = 0;
        for cport in 20000..20100u16 {
            let (rv, _) = dp.run(&dp.frame(&ip_l4(client, vip, TCP, cport, 80, b"k")));
            lost += usize::from(rv != XDP_TX);
        }
        let d = dp.reasons();
        let lines = pressure.sample(&dp.maps, &plan(), 64).unwrap();
        assert!(
            d.get("ct_resumed").copied().unwrap_or(0) + d.get("drop_no_flow").copied().unwrap_or(0)
                > 0,
            "400 flows in a 64-entry conntrack lose entries: {d:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("conntrack_size = 64")),
            "warning names the knob: {lines:?} ({lost} of 100 early flows dropped)"
        );
    });
}
