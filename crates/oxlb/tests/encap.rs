//! Encapsulated DSR (`ipip`, `gue`) and the backend's `decap` program on crafted frames through
//! `BPF_PROG_RUN`, loaded with oxbpf.
//!
//! The LB side runs in a namespace with veths `lb0` (MTU 1500, the client and backends 10.0.0.10,
//! fd00::10) and `lb1` (MTU 1280, backends 10.0.5.20, fd00:5::20), permanent neighbours, so
//! `bpf_fib_lookup` gives real answers. Every output is checked field by field; outer IPv4
//! header, outer UDP (over IPv6), ICMP and ICMPv6 checksums are recomputed from scratch
//! (tests/common/frames.rs), and the inner packet must come out byte for byte. Each
//! encapsulated frame is then fed to `decap.bpf.o`, which must give back the original frame.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::frames::*;
use common::xdp::{self, CLIENT4, CLIENT6, PEER_MAC, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX};
use common::{require_kernel, Netns};
use oxbpf::map::Map;
use oxbpf::prog::Program;
use oxlb::datapath::abi::RawFlowKey;
use oxlb::datapath::{Encap, Layout, MapId, Prefix};
use oxlb::decap::abi::DecapReason;
use oxlb::decap::Decap;
use oxlb::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};

const TS: u32 = 251;
const GUE_PORT: u16 = 6080;
const IPIP: u8 = 4;
const IPV6_IN: u8 = 41;

/// id, address, MAC, behind lb1 (MTU 1280).
const BACKENDS: [(u32, &str, &str, bool); 4] = [
    (0, "10.0.0.10", "02:00:00:00:00:10", false),
    (1, "fd00::10", "02:00:00:00:01:10", false),
    (2, "10.0.5.20", "02:00:00:00:05:20", true),
    (3, "fd00:5::20", "02:00:00:00:05:21", true),
];

/// id, address, port, protocol, mode, backend.
const VIPS: [(u32, &str, u16, Proto, Mode, u32); 10] = [
    (0, "10.0.1.1", 80, Proto::Tcp, Mode::Ipip, 0),
    (1, "10.0.1.2", 80, Proto::Tcp, Mode::Ipip, 1),
    (2, "fd00:1::1", 80, Proto::Tcp, Mode::Ipip, 1),
    (3, "fd00:1::2", 80, Proto::Tcp, Mode::Ipip, 0),
    (4, "10.0.1.3", 53, Proto::Udp, Mode::Gue, 0),
    (5, "10.0.1.4", 53, Proto::Udp, Mode::Gue, 1),
    (6, "fd00:1::3", 80, Proto::Tcp, Mode::Gue, 1),
    (7, "fd00:1::4", 80, Proto::Tcp, Mode::Gue, 0),
    (8, "10.0.2.1", 80, Proto::Tcp, Mode::Ipip, 2),
    (9, "fd00:2::1", 80, Proto::Tcp, Mode::Gue, 3),
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn encap() -> Encap {
    Encap {
        source4: Some(Prefix::parse("10.200.0.0/24").unwrap()),
        source6: Some(Prefix::parse("fd00:200::/112").unwrap()),
        gue_port: GUE_PORT,
    }
}

fn layout() -> Layout {
    Layout {
        max_vips: 16,
        max_backends: 16,
        table_size: TS,
        ct_entries: 4096,
        encap: encap(),
        ..Layout::default()
    }
}

fn plan() -> Plan {
    let vips = VIPS
        .iter()
        .map(|&(id, addr, port, proto, mode, b)| VipPlan {
            id,
            addr: ip(addr),
            port,
            proto,
            mode,
            snat_addr: None,
            backends: vec![BackendPlan {
                id: b,
                addr: ip(BACKENDS[b as usize].1),
                port: 0,
                weight: 1,
                healthy: true,
            }],
            table: vec![b; TS as usize],
        })
        .collect();
    Plan {
        table_size: TS,
        vips,
    }
}

fn topology() -> Netns {
    let ns = xdp::lb_netns("oxlbenc", PEER_MAC);
    ns.ip(&["link", "set", "lb1", "mtu", "1280"]);
    ns.ip(&["addr", "add", "fd00:5::1/64", "dev", "lb1", "nodad"]);
    for (_, addr, m, behind_lb1) in BACKENDS {
        xdp::neigh(&ns, addr, m, if behind_lb1 { "lb1" } else { "lb0" });
    }
    ns
}

struct Dp {
    prog: Program,
    maps: BTreeMap<MapId, Map>,
    lb0: (u32, [u8; 6]),
}

impl Dp {
    fn load(ns: &str) -> Dp {
        let (prog, maps, _) = xdp::load(&layout(), &plan());
        Dp {
            prog,
            maps,
            lb0: common::link_of(ns, "lb0"),
        }
    }

    /// Runs one frame arriving on lb0: (verdict, output frame, reasons that moved).
    fn run(&self, frame: &[u8]) -> (u32, Vec<u8>, BTreeMap<String, u64>) {
        xdp::run_counted(&self.prog, &self.maps, frame, self.lb0.0)
    }

    fn frame(&self, ip_packet: &[u8]) -> Vec<u8> {
        eth(self.lb0.1, mac(PEER_MAC), ethertype(ip_packet), ip_packet)
    }
}

fn client_of(vip: IpAddr) -> IpAddr {
    if vip.is_ipv4() {
        ip(CLIENT4)
    } else {
        ip(CLIENT6)
    }
}

/// A TCP (flags) or UDP packet from the client to VIP `id`, `pad` payload bytes.
fn to_vip(id: usize, sport: u16, flags: u8, pad: usize) -> (Vec<u8>, u32) {
    let (_, addr, port, proto, _, _) = VIPS[id];
    let (vip, client) = (ip(addr), client_of(ip(addr)));
    let payload = vec![0x5a; pad];
    let seg = match proto {
        Proto::Tcp => tcp(client, vip, sport, port, flags, &payload),
        Proto::Udp => udp(client, vip, sport, port, &payload),
    };
    let pkt = match (client, vip) {
        (IpAddr::V4(c), IpAddr::V4(v)) => ipv4(c, v, proto.number(), &seg),
        (IpAddr::V6(c), IpAddr::V6(v)) => ipv6(c, v, proto.number(), &seg),
        _ => unreachable!(),
    };
    let hash =
        RawFlowKey::new(client, sport, vip, port, proto.number()).hash(Layout::default().hash_seed);
    (pkt, hash)
}

/// Checks an encapsulated frame of `inner` (flow hash `hash`) towards backend `b` in `mode`
/// and returns the frame's L2 length.
fn check_encap(name: &str, out: &[u8], inner: &[u8], hash: u32, b: usize, mode: Mode, l2: usize) {
    let (_, baddr, bmac, _) = BACKENDS[b];
    let baddr = ip(baddr);
    assert_eq!(out[..6], mac(bmac), "{name}: dst MAC");
    let o = Ip::parse(&out[l2..]);
    let ov = if o.v6 { 40 } else { 20 } + if mode == Mode::Gue { 8 } else { 0 };
    assert_eq!(out.len(), l2 + inner.len() + ov, "{name}: frame length");
    assert_eq!(
        u16::from_be_bytes([out[l2 - 2], out[l2 - 1]]),
        if baddr.is_ipv4() { ETH_IP } else { ETH_IP6 },
        "{name}: outer ethertype"
    );
    assert_eq!(o.dst, baddr, "{name}: outer dst");
    assert_eq!(
        Some(o.src),
        encap().outer_source(baddr, hash),
        "{name}: outer src from the flow hash"
    );
    assert_eq!(o.bytes.len(), inner.len() + ov, "{name}: outer length");
    assert!(o.header_ok(), "{name}: outer IPv4 header checksum");
    let (ttl, tos) = if o.v6 {
        (o.bytes[7], (o.bytes[0] << 4) | (o.bytes[1] >> 4))
    } else {
        assert_eq!(o.bytes[6] & 0x40, 0x40, "{name}: DF");
        (o.bytes[8], o.bytes[1])
    };
    assert_eq!(ttl, 64, "{name}: outer TTL");
    let inner_tos = if inner[0] >> 4 == 6 {
        (inner[0] << 4) | (inner[1] >> 4)
    } else {
        inner[1]
    };
    assert_eq!(tos, inner_tos, "{name}: TOS copied");
    let body = match mode {
        Mode::Gue => {
            assert_eq!(o.proto, UDP, "{name}: outer protocol");
            assert_eq!(o.dport(), GUE_PORT, "{name}: GUE port");
            assert_eq!(
                o.sport(),
                0xc000 | (hash >> 18) as u16,
                "{name}: UDP source"
            );
            let u = o.l4();
            assert_eq!(
                usize::from(u16::from_be_bytes([u[4], u[5]])),
                inner.len() + 8,
                "{name}: UDP length"
            );
            let csum = u16::from_be_bytes([u[6], u[7]]);
            if o.v6 {
                assert_ne!(csum, 0, "{name}: UDP over IPv6 has a checksum");
                assert!(o.l4_ok(), "{name}: outer UDP checksum (RFC 8200)");
            } else {
                assert_eq!(csum, 0, "{name}: UDP over IPv4 without checksum");
            }
            &u[8..]
        }
        _ => {
            let want = if inner[0] >> 4 == 6 { IPV6_IN } else { IPIP };
            assert_eq!(o.proto, want, "{name}: outer protocol");
            o.l4()
        }
    };
    assert_eq!(body, inner, "{name}: inner packet unchanged");
}

#[test]
fn encapsulation_paths_and_the_decap_round_trip() {
    if !require_kernel("encapsulation_paths_and_the_decap_round_trip") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = Dp::load(name);
        let decap = Decap::load(GUE_PORT).unwrap();
        for (_, a, _, _) in BACKENDS {
            decap.add_address(ip(a)).unwrap();
        }
        for (id, what) in [
            (0, "ipip 4in4"),
            (1, "ipip 4in6"),
            (2, "ipip 6in6"),
            (3, "ipip 6in4"),
            (4, "gue v4 outer, UDP inside"),
            (5, "gue v6 outer, UDP/IPv4 inside"),
            (6, "gue v6 outer, TCP/IPv6 inside"),
            (7, "gue v4 outer, IPv6 inside"),
        ] {
            let (_, _, _, _, mode, b) = VIPS[id];
            // A new flow (SYN), then an established packet with a payload.
            for (flags, pad, ct) in [(0x02, 0, "ct_miss"), (0x10, 300, "ct_hit")] {
                let (pkt, hash) = to_vip(id, 40000 + id as u16, flags, pad);
                let frame = dp.frame(&pkt);
                let (rv, out, moved) = dp.run(&frame);
                assert_eq!(rv, XDP_TX, "{what}: verdict ({moved:?})");
                if VIPS[id].3 == Proto::Tcp {
                    assert_eq!(moved.get(ct), Some(&1), "{what}: {ct} ({moved:?})");
                }
                assert_eq!(out[6..12], dp.lb0.1, "{what}: src MAC");
                check_encap(what, &out, &pkt, hash, b as usize, mode, 14);
                // The backend strips it back to the original frame.
                let (drv, dout) = xdp::run(&decap.program, &out, 0);
                assert_eq!(drv, XDP_PASS, "{what}: decap verdict");
                assert_eq!(dout[..12], out[..12], "{what}: decap keeps the MACs");
                assert_eq!(
                    &dout[12..],
                    &frame[12..],
                    "{what}: decap gives the inner frame"
                );
            }
        }
        let c: BTreeMap<_, _> = decap.counters().unwrap().into_iter().collect();
        assert_eq!((c[&DecapReason::Ipip], c[&DecapReason::Gue]), (8, 8));

        // UDP over IPv4 without a checksum inside GUE over IPv6: outer checksum 0 (RFC 6935).
        let (mut pkt, hash) = to_vip(5, 41000, 0, 20);
        pkt[26..28].copy_from_slice(&[0, 0]);
        let (rv, out, _) = dp.run(&dp.frame(&pkt));
        assert_eq!(rv, XDP_TX);
        assert_eq!(out[14 + 40 + 6..14 + 40 + 8], [0, 0], "zero-checksum inner");
        assert_eq!(&out[14 + 48..], &pkt[..], "inner unchanged");
        let _ = hash;

        // A VLAN-tagged frame keeps its tag outside the new header.
        let (pkt, hash) = to_vip(0, 42000, 0x02, 0);
        let mut tagged = dp.lb0.1.to_vec();
        tagged.extend_from_slice(&mac(PEER_MAC));
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a, 0x08, 0x00]);
        tagged.extend_from_slice(&pkt);
        let (rv, out, _) = dp.run(&tagged);
        assert_eq!(rv, XDP_TX, "vlan");
        assert_eq!(out[12..16], [0x81, 0x00, 0x00, 0x2a], "vlan tag kept");
        check_encap("vlan", &out, &pkt, hash, 0, Mode::Ipip, 18);

        // ICMP too-big from a router about a backend's reply: wrapped to that backend.
        let (reply, _) = to_vip(5, 43000, 0, 8);
        let quoted = {
            let r = Ip::parse(&reply);
            let (IpAddr::V4(c), IpAddr::V4(v)) = (r.src, r.dst) else {
                unreachable!()
            };
            let seg = udp(v.into(), c.into(), 53, 43000, &[0; 8]);
            ipv4(v, c, UDP, &seg)
        };
        let router: Ipv4Addr = "10.0.0.254".parse().unwrap();
        let vip5: Ipv4Addr = "10.0.1.4".parse().unwrap();
        let icmp = ipv4(
            router,
            vip5,
            ICMP,
            &icmp4(3, 4, [0, 0, 0x05, 0x00], &quoted[..28]),
        );
        let (rv, out, moved) = dp.run(&dp.frame(&icmp));
        assert_eq!(rv, XDP_TX, "icmp to gue backend ({moved:?})");
        assert_eq!(moved.get("icmp_forwarded"), Some(&1));
        let o = Ip::parse(&out[14..]);
        assert_eq!(o.dst, ip("fd00::10"));
        assert!(o.l4_ok(), "outer UDP checksum over an ICMP inner packet");
        assert_eq!(&o.l4()[8..], &icmp[..], "ICMP inner unchanged");
    });
}

/// Checks an ICMP too-big answer to `pkt` (sent to `vip`) carrying `mtu`.
fn check_too_big(name: &str, dp: &Dp, out: &[u8], pkt: &[u8], mtu: u32) {
    assert_eq!(out[..6], mac(PEER_MAC), "{name}: back to the sender");
    assert_eq!(out[6..12], dp.lb0.1, "{name}: from lb0");
    let a = Ip::parse(&out[14..]);
    let orig = Ip::parse(pkt);
    assert_eq!(
        (a.src, a.dst),
        (orig.dst, orig.src),
        "{name}: VIP -> client"
    );
    assert!(a.checksums_ok(), "{name}: IPv4 header and ICMP checksums");
    let m = a.l4();
    if a.v6 {
        assert_eq!(
            (a.proto, m[0], m[1]),
            (ICMP6, 2, 0),
            "{name}: packet too big"
        );
        assert_eq!(
            u32::from_be_bytes([m[4], m[5], m[6], m[7]]),
            mtu,
            "{name}: MTU"
        );
    } else {
        assert_eq!((a.proto, m[0], m[1]), (ICMP, 3, 4), "{name}: frag needed");
        assert_eq!(
            u32::from(u16::from_be_bytes([m[6], m[7]])),
            mtu,
            "{name}: MTU"
        );
    }
    assert_eq!(
        &m[8..],
        &pkt[..512],
        "{name}: quotes the packet's first 512 bytes"
    );
}

#[test]
fn too_big_once_encapsulated_answers_the_client() {
    if !require_kernel("too_big_once_encapsulated_answers_the_client") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = Dp::load(name);
        // IPv4 with DF to a backend behind lb1 (MTU 1280): 1280 - 20 of IPIP.
        let (pkt, _) = to_vip(8, 44000, 0x10, 1300 - 40);
        let (rv, out, moved) = dp.run(&dp.frame(&pkt));
        assert_eq!(rv, XDP_TX, "{moved:?}");
        assert_eq!(moved.get("encap_too_big"), Some(&1));
        check_too_big("ipip v4 fib", &dp, &out, &pkt, 1260);
        // The same size fits unencapsulated-size wise only below the MTU: 1240 passes.
        let (pkt, hash) = to_vip(8, 44001, 0x10, 1240 - 40);
        let (rv, out, _) = dp.run(&dp.frame(&pkt));
        assert_eq!(rv, XDP_REDIRECT, "fits after encapsulation");
        check_encap("ipip 1240 via lb1", &out, &pkt, hash, 2, Mode::Ipip, 14);
        // IPv4 without DF: no ICMP, dropped and counted.
        let (mut pkt, _) = to_vip(8, 44002, 0x10, 1300 - 40);
        pkt[6] = 0;
        pkt[10..12].copy_from_slice(&[0, 0]);
        let c = !ones_sum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        let (rv, _, moved) = dp.run(&dp.frame(&pkt));
        assert_eq!(rv, XDP_DROP);
        assert_eq!(moved.get("encap_too_big_drop"), Some(&1));
        // IPv6 in GUE over IPv6: 1280 - 48.
        let (pkt, _) = to_vip(9, 44003, 0x10, 1300 - 60);
        let (rv, out, moved) = dp.run(&dp.frame(&pkt));
        assert_eq!(rv, XDP_TX, "{moved:?}");
        check_too_big("gue v6 fib", &dp, &out, &pkt, 1232);
        // A cached next hop (established flow through lb0, MTU 1500): bpf_check_mtu finds it.
        let (syn, _) = to_vip(0, 44004, 0x02, 0);
        assert_eq!(dp.run(&dp.frame(&syn)).0, XDP_TX);
        let (big, _) = to_vip(0, 44004, 0x10, 1490 - 40);
        let (rv, out, moved) = dp.run(&dp.frame(&big));
        assert_eq!(rv, XDP_TX, "{moved:?}");
        assert_eq!(moved.get("ct_hit"), Some(&1), "{moved:?}");
        check_too_big("ipip v4 cached hop", &dp, &out, &big, 1480);
        let (fits, hash) = to_vip(0, 44004, 0x10, 1480 - 40);
        let (rv, out, _) = dp.run(&dp.frame(&fits));
        assert_eq!(rv, XDP_TX);
        check_encap("ipip 1480 cached", &out, &fits, hash, 0, Mode::Ipip, 14);
        // The IPv6 answer from a cached hop: 6in6 over lb0, 1500 - 40.
        let (syn, _) = to_vip(2, 44005, 0x02, 0);
        assert_eq!(dp.run(&dp.frame(&syn)).0, XDP_TX);
        let (big, _) = to_vip(2, 44005, 0x10, 1500 - 60);
        let (rv, out, _) = dp.run(&dp.frame(&big));
        assert_eq!(rv, XDP_TX);
        check_too_big("ipip v6 cached hop", &dp, &out, &big, 1460);
    });
}

/// An IPIP frame to `dst` carrying `inner`.
fn ipip4(dst: Ipv4Addr, proto: u8, inner: &[u8]) -> Vec<u8> {
    let o = ipv4("10.200.0.7".parse().unwrap(), dst, proto, inner);
    eth(mac("02:00:00:00:00:10"), mac(PEER_MAC), ETH_IP, &o)
}

/// A GUE frame (IPv4 outer) to `dst` with UDP payload `body`.
fn gue4(dst: Ipv4Addr, port: u16, body: &[u8]) -> Vec<u8> {
    let src: Ipv4Addr = "10.200.0.7".parse().unwrap();
    let mut u = Vec::new();
    u.extend_from_slice(&50000u16.to_be_bytes());
    u.extend_from_slice(&port.to_be_bytes());
    u.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(body);
    eth(
        mac("02:00:00:00:00:10"),
        mac(PEER_MAC),
        ETH_IP,
        &ipv4(src, dst, UDP, &u),
    )
}

#[test]
fn decap_passes_or_drops_what_it_cannot_strip() {
    if !require_kernel("decap_passes_or_drops_what_it_cannot_strip") {
        return;
    }
    let decap = Decap::load(GUE_PORT).unwrap();
    let me: Ipv4Addr = "10.0.0.10".parse().unwrap();
    let me6: Ipv6Addr = "fd00::10".parse().unwrap();
    decap.add_address(me.into()).unwrap();
    decap.add_address(me6.into()).unwrap();
    let (c, v): (Ipv4Addr, Ipv4Addr) = ("10.0.0.100".parse().unwrap(), "10.0.1.1".parse().unwrap());
    let inner = ipv4(c, v, TCP, &tcp(c.into(), v.into(), 1234, 80, 0x10, b"hi"));
    let (c6, v6): (Ipv6Addr, Ipv6Addr) =
        ("fd00::100".parse().unwrap(), "fd00:1::1".parse().unwrap());
    let inner6 = ipv6(
        c6,
        v6,
        TCP,
        &tcp(c6.into(), v6.into(), 1234, 80, 0x10, b"hi"),
    );

    let counted = |frame: &[u8]| {
        let before: BTreeMap<_, _> = decap.counters().unwrap().into_iter().collect();
        let (rv, out) = xdp::run(&decap.program, frame, 0);
        let moved: Vec<DecapReason> = decap
            .counters()
            .unwrap()
            .into_iter()
            .filter(|(r, n)| before[r] != *n)
            .map(|(r, _)| r)
            .collect();
        assert_eq!(moved.len(), 1, "one reason per packet: {moved:?}");
        (rv, out, moved[0])
    };
    let untouched = |what: &str, frame: &[u8], want: DecapReason| {
        let (rv, out, r) = counted(frame);
        assert_eq!((rv, r), (XDP_PASS, want), "{what}");
        assert_eq!(out, frame, "{what}: passed untouched");
    };
    let dropped = |what: &str, frame: &[u8]| {
        let (rv, _, r) = counted(frame);
        assert_eq!((rv, r), (XDP_DROP, DecapReason::DropMalformed), "{what}");
    };
    let stripped = |what: &str, frame: &[u8], inner: &[u8], want: DecapReason| {
        let (rv, out, r) = counted(frame);
        assert_eq!((rv, r), (XDP_PASS, want), "{what}");
        assert_eq!(out[..12], frame[..12], "{what}: MACs");
        assert_eq!(
            u16::from_be_bytes([out[12], out[13]]),
            ethertype(inner),
            "{what}: ethertype of the inner packet"
        );
        assert_eq!(&out[14..], inner, "{what}: inner packet");
    };

    stripped("ipip", &ipip4(me, IPIP, &inner), &inner, DecapReason::Ipip);
    stripped(
        "6in4",
        &ipip4(me, IPV6_IN, &inner6),
        &inner6,
        DecapReason::Ipip,
    );
    let o6 = ipv6("fd00:200::7".parse().unwrap(), me6, IPIP, &inner);
    stripped(
        "4in6",
        &eth(mac("02:00:00:00:00:10"), mac(PEER_MAC), ETH_IP6, &o6),
        &inner,
        DecapReason::Ipip,
    );
    stripped(
        "gue v1",
        &gue4(me, GUE_PORT, &inner),
        &inner,
        DecapReason::Gue,
    );
    // GUE variant 0: header (hlen 1 word of optional fields), protocol 41.
    let mut v0 = vec![0x01, IPV6_IN, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    v0.extend_from_slice(&inner6);
    stripped(
        "gue v0",
        &gue4(me, GUE_PORT, &v0),
        &inner6,
        DecapReason::Gue,
    );
    // Trailing bytes after the inner packet (L2 padding) are left for the stack to trim.
    let mut padded = ipip4(me, IPIP, &inner);
    padded.extend_from_slice(&[0; 6]);
    let (rv, out, r) = counted(&padded);
    assert_eq!((rv, r), (XDP_PASS, DecapReason::Ipip));
    assert_eq!(&out[14..14 + inner.len()], &inner[..]);

    let arp = eth([0xff; 6], mac(PEER_MAC), ETH_ARP, &[0; 28]);
    untouched("arp", &arp, DecapReason::PassNotIp);
    untouched(
        "plain tcp",
        &eth(mac(PEER_MAC), mac(PEER_MAC), ETH_IP, &inner),
        DecapReason::PassNotEncap,
    );
    untouched(
        "other udp port",
        &gue4(me, 6081, &inner),
        DecapReason::PassNotEncap,
    );
    untouched(
        "not local",
        &ipip4("10.0.0.11".parse().unwrap(), IPIP, &inner),
        DecapReason::PassNotLocal,
    );
    let mut frag = ipip4(me, IPIP, &inner);
    frag[20] = 0x20; // MF
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = !ones_sum(&frag[14..34]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    untouched("outer fragment", &frag, DecapReason::PassOuter);
    let opts = ipv4_opts(
        "10.200.0.7".parse().unwrap(),
        me,
        IPIP,
        &[1, 1, 1, 1],
        0x4000,
        &inner,
    );
    untouched(
        "outer options",
        &eth(mac(PEER_MAC), mac(PEER_MAC), ETH_IP, &opts),
        DecapReason::PassOuter,
    );
    let whole = ipip4(me, IPIP, &inner);
    untouched(
        "outer runs past the frame",
        &whole[..whole.len() - 4],
        DecapReason::PassOuter,
    );
    let mut ctl = vec![0x20, 0, 0, 0];
    ctl.extend_from_slice(&inner);
    untouched(
        "gue control",
        &gue4(me, GUE_PORT, &ctl),
        DecapReason::PassOuter,
    );

    let mut bad = ipip4(me, IPIP, &inner);
    bad[24] ^= 0x55;
    dropped("bad outer checksum", &bad);
    dropped("4 announced, 6 inside", &ipip4(me, IPIP, &inner6));
    dropped("41 announced, 4 inside", &ipip4(me, IPV6_IN, &inner));
    dropped(
        "inner shorter than its header",
        &ipip4(me, IPIP, &inner[..18]),
    );
    let mut long = inner.clone();
    long[2..4].copy_from_slice(&((inner.len() + 8) as u16).to_be_bytes());
    dropped(
        "inner longer than the outer payload",
        &ipip4(me, IPIP, &long),
    );
    let mut v3 = vec![0xc0, 0, 0, 0];
    v3.extend_from_slice(&inner);
    dropped("gue variant 3", &gue4(me, GUE_PORT, &v3));
    let mut v1bad = inner.clone();
    v1bad[0] = 0x55;
    dropped("gue v1 with version 5", &gue4(me, GUE_PORT, &v1bad));
    let mut ulen = gue4(me, GUE_PORT, &inner);
    ulen[38..40].copy_from_slice(&2000u16.to_be_bytes());
    dropped("udp length past the outer payload", &ulen);
    let mut hlen = vec![0x1f, IPIP, 0, 0];
    hlen.extend_from_slice(&inner);
    dropped(
        "gue header longer than the datagram",
        &gue4(me, GUE_PORT, &hlen),
    );
}
