//! The VIP filter (`oxlb_vipfilter`, `bpf/vipfilter.h`) of the XDP datapath on crafted
//! frames through `BPF_PROG_RUN`: traffic that is not ours passes on the filter alone, the
//! datapath and the Rust mirror (`oxlb::datapath::vipfilter`) agree on every address, and
//! the daemon's map writer keeps the filter in step as VIPs come and go, also when two
//! addresses share a filter slot.
//!
//! Every test runs on a thread inside a network namespace it creates (`lb0`/`lb1` with
//! addresses and permanent neighbour entries, see tests/common/xdp.rs).

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use common::frames::*;
use common::xdp::{self, CLIENT4, CLIENT6, LB4, PEER_MAC, XDP_PASS, XDP_TX};
use common::{require_kernel, Netns};
use oxbpf::map::{Map, BPF_ANY};
use oxbpf::prog::Program;
use oxlb::daemon::kernel;
use oxlb::datapath::abi::{addr_bytes, RawVipKey};
use oxlb::datapath::vipfilter::{self, VipFilter, WORDS};
use oxlb::datapath::{self, Layout, MapId, PlanEntries};
use oxlb::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};

const TS: u32 = 13;
/// A destination port inside the default NAT port range (16384..32768).
const NAT_PORT: u16 = 20000;

/// id, address, port, MAC of its neighbour entry on lb0.
const BACKENDS: [(u32, &str, u16, &str); 3] = [
    (0, "10.0.0.10", 8080, "02:00:00:00:00:10"),
    (1, "10.0.0.12", 0, "02:00:00:00:00:12"),
    (2, "fd00::12", 0, "02:00:00:00:01:12"),
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn layout() -> Layout {
    Layout {
        max_vips: 512,
        max_backends: 8,
        table_size: TS,
        ct_entries: 1024,
        ..Layout::default()
    }
}

/// A VIP of one backend.
fn vip(id: u32, addr: &str, port: u16, proto: Proto, mode: Mode, backend: u32) -> VipPlan {
    let (_, baddr, bport, _) = BACKENDS[backend as usize];
    VipPlan {
        id,
        addr: ip(addr),
        port,
        proto,
        mode,
        snat_addr: (mode == Mode::Nat).then(|| ip(LB4)),
        backends: vec![BackendPlan {
            id: backend,
            addr: ip(baddr),
            port: bport,
            weight: 1,
            healthy: true,
        }],
        table: vec![backend; TS as usize],
    }
}

/// VIP A: NAT 10.0.1.1:80 (SNAT LB4); VIP B: DSR 10.0.2.1, any port.
fn base() -> Vec<VipPlan> {
    vec![
        vip(0, "10.0.1.1", 80, Proto::Tcp, Mode::Nat, 0),
        vip(1, "10.0.2.1", 0, Proto::Tcp, Mode::Dsr, 1),
    ]
}

fn plan(vips: Vec<VipPlan>) -> Plan {
    Plan {
        table_size: TS,
        vips,
    }
}

fn topology() -> Netns {
    let ns = xdp::lb_netns("oxlbvf", "02:00:00:00:00:64");
    for (_, addr, _, m) in BACKENDS {
        xdp::neigh(&ns, addr, m, "lb0");
    }
    ns
}

/// The datapath loaded with a plan, from inside the namespace.
struct Dp {
    prog: Program,
    maps: BTreeMap<MapId, Map>,
    lb0: (u32, [u8; 6]),
}

impl Dp {
    fn load(ns: &str, p: &Plan) -> Dp {
        let (prog, maps, _) = xdp::load(&layout(), p);
        Dp {
            prog,
            maps,
            lb0: common::link_of(ns, "lb0"),
        }
    }

    /// A TCP ACK or UDP datagram from the client (of dst's family) to dst:dport, arriving
    /// on lb0: (verdict, output, counters that moved).
    fn send(&self, dst: IpAddr, proto: u8, dport: u16) -> (u32, Vec<u8>, BTreeMap<String, u64>) {
        let src = ip(if dst.is_ipv4() { CLIENT4 } else { CLIENT6 });
        let pkt = ip_l4(src, dst, proto, 40000, dport, b"vf");
        let frame = eth(self.lb0.1, mac(PEER_MAC), ethertype(&pkt), &pkt);
        xdp::run_counted(&self.prog, &self.maps, &frame, self.lb0.0)
    }

    /// True when a packet passed on the filter alone: XDP_PASS counted as pass_not_vip and
    /// nothing else.
    fn passed_not_ours(&self, dst: IpAddr, proto: u8, dport: u16) -> bool {
        let (rv, _, d) = self.send(dst, proto, dport);
        rv == XDP_PASS && d == BTreeMap::from([("pass_not_vip".to_string(), 1)])
    }

    /// The filter as the datapath reads it (the one element of `.bss.vipfilter`).
    fn filter(&self) -> VipFilter {
        let v = self.maps[&MapId::VipFilter]
            .lookup(&0u32.to_ne_bytes())
            .unwrap()
            .unwrap();
        VipFilter::from_bytes(&v).unwrap()
    }

    /// Writes the whole filter.
    fn set_filter(&self, f: &VipFilter) {
        self.maps[&MapId::VipFilter]
            .update(&0u32.to_ne_bytes(), &f.to_bytes(), BPF_ANY)
            .unwrap();
    }

    fn word(&self, i: u32) -> u64 {
        self.filter().word(i)
    }

    /// Rewrites word `i` of the filter.
    fn set_word(&self, i: u32, w: u64) {
        let f = self.filter();
        let words = (0..WORDS).map(|j| if j == i { w } else { f.word(j) });
        self.set_filter(&VipFilter::from_words(words.collect()).unwrap());
    }

    /// Applies the map writes from `prev` to `next`, as the daemon does.
    fn apply(&self, prev: &PlanEntries, next: &PlanEntries) {
        let ops = datapath::diff(Some(prev), next).unwrap();
        kernel::apply(&self.maps, &ops).unwrap();
    }
}

fn entries(p: &Plan) -> PlanEntries<'_> {
    datapath::entries(p, &layout()).unwrap()
}

fn not_ours(f: &VipFilter, addr: IpAddr, proto: u8, nat_port: bool) -> bool {
    let (a, fam) = addr_bytes(addr);
    f.not_ours(&a, fam, proto, nat_port)
}

/// One datapath (two VIPs) for two checks: traffic not ours passes on the filter alone,
/// then the datapath and the Rust mirror agree on random filter words.
#[test]
fn traffic_not_ours_passes_on_the_filter_alone() {
    if !require_kernel("traffic_not_ours_passes_on_the_filter_alone") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let p = plan(base());
        let dp = Dp::load(name, &p);
        filter_first(&dp, &p);
        mirror_agrees(&dp);
    });
}

/// Non-VIP traffic passes as pass_not_vip only; VIP traffic works; a VIP written into
/// `oxlb_vips` behind the filter's back is not seen until its lane opens.
fn filter_first(dp: &Dp, p: &Plan) {
    let f = dp.filter();
    assert_eq!(f, VipFilter::of(&entries(p).vips), "map = plan's filter");

    // ssh to the LB: passed untouched, counted as pass_not_vip only.
    assert!(not_ours(&f, ip(LB4), TCP, false));
    let (rv, out, d) = dp.send(ip(LB4), TCP, 22);
    assert_eq!(rv, XDP_PASS);
    assert_eq!(ip_of(&out).dport(), 22, "untouched");
    assert_eq!(d, BTreeMap::from([("pass_not_vip".to_string(), 1)]));
    // A NAT-range port of an address that is neither VIP nor SNAT address: no NAT
    // lookup (no nat_reply_miss); of the SNAT address: the NAT lookups run as before.
    let other = ip("10.0.0.200");
    assert!(not_ours(&f, other, TCP, true));
    assert!(dp.passed_not_ours(other, TCP, NAT_PORT));
    assert!(!not_ours(&f, ip(LB4), TCP, true));
    let (rv, _, d) = dp.send(ip(LB4), TCP, NAT_PORT);
    assert_eq!(rv, XDP_PASS);
    assert_eq!(
        (d.get("nat_reply_miss"), d.get("pass_not_vip")),
        (Some(&1), Some(&1)),
        "{d:?}"
    );

    // The VIPs work: NAT (a SYN) and DSR on any port.
    let src = ip(CLIENT4);
    let syn = ip_tcp(src, ip("10.0.1.1"), 40001, 80, 0x02, (1000, 0), b"");
    let frame = eth(dp.lb0.1, mac(PEER_MAC), ETH_IP, &syn);
    assert_eq!(xdp::run(&dp.prog, &frame, dp.lb0.0).0, XDP_TX, "NAT VIP");
    let (rv, out, _) = dp.send(ip("10.0.2.1"), TCP, 12345);
    assert_eq!(
        (rv, &out[..6]),
        (XDP_TX, &mac(BACKENDS[1].3)[..]),
        "DSR VIP"
    );

    // The filter decides before any VIP lookup: a VIP written into oxlb_vips behind
    // the filter's back is not seen until its lane is opened.
    let hidden = ip("10.0.9.9");
    let b = RawVipKey::new(ip("10.0.2.1"), 0, TCP).to_bytes();
    let b_value = dp.maps[&MapId::Vips].lookup(&b).unwrap().unwrap();
    let key = RawVipKey::new(hidden, 0, TCP).to_bytes();
    dp.maps[&MapId::Vips]
        .update(&key, &b_value, BPF_ANY)
        .unwrap();
    assert!(dp.passed_not_ours(hidden, TCP, 80), "hidden by the filter");
    let (a, fam) = addr_bytes(hidden);
    let (w, bit) = vipfilter::slot(&a, fam, TCP, false);
    let old = dp.word(w);
    assert_eq!(old >> bit & 1, 1, "lane closed");
    dp.set_word(w, old & !(1 << bit));
    let (rv, out, _) = dp.send(hidden, TCP, 80);
    assert_eq!(
        (rv, &out[..6]),
        (XDP_TX, &mac(BACKENDS[1].3)[..]),
        "lane open"
    );
    dp.set_word(w, old);
    assert!(dp.passed_not_ours(hidden, TCP, 80), "closed again");
}

/// SplitMix64: the filter words and addresses of the differential test.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The datapath and the Rust mirror agree on every (address, protocol, NAT-range port):
/// random filter words, and a VIP (port 0) at every address written behind the filter's
/// back, so a packet passes as pass_not_vip exactly when the mirror says "not ours".
fn mirror_agrees(dp: &Dp) {
    let mut seed = 0x6f78_6c62;
    let words: Vec<u64> = (0..WORDS).map(|_| splitmix(&mut seed)).collect();
    let f = VipFilter::from_words(words).unwrap();
    dp.set_filter(&f);
    let b = RawVipKey::new(ip("10.0.2.1"), 0, TCP).to_bytes();
    let b_value = dp.maps[&MapId::Vips].lookup(&b).unwrap().unwrap();
    let mut addrs = Vec::new();
    for i in 0..120u64 {
        let r = splitmix(&mut seed);
        addrs.push(if i % 2 == 0 {
            IpAddr::from(Ipv4Addr::from(0x0ac8_0000 | (r as u32 & 0xffff)))
        } else {
            IpAddr::from(((0xfd00_0077u128 << 96) | u128::from(r)).to_be_bytes())
        });
    }
    let (mut passed, mut full) = (0, 0);
    for addr in &addrs {
        for proto in [TCP, UDP] {
            let key = RawVipKey::new(*addr, 0, proto).to_bytes();
            dp.maps[&MapId::Vips]
                .update(&key, &b_value, BPF_ANY)
                .unwrap();
            for (dport, nat) in [(80, false), (NAT_PORT, true)] {
                let expect = not_ours(&f, *addr, proto, nat);
                let (rv, _, d) = dp.send(*addr, proto, dport);
                let got = d.get("pass_not_vip") == Some(&1);
                assert_eq!(
                    got, expect,
                    "{addr} proto {proto} port {dport}: verdict {rv}, counters {d:?}"
                );
                if got {
                    assert_eq!(d.len(), 1, "{addr}: {d:?}");
                    passed += 1;
                } else {
                    full += 1;
                }
            }
        }
    }
    // Random words: both outcomes occur many times.
    assert!(
        passed > 50 && full > 50,
        "passed {passed}, full path {full}"
    );
}

/// An IPv4 address (not `a`) whose TCP VIP lane is `a`'s.
fn sharing_slot(a: IpAddr) -> IpAddr {
    let (ab, af) = addr_bytes(a);
    let want = vipfilter::slot(&ab, af, TCP, false);
    (0x0a01_0000u32..0x0aff_ffff)
        .map(|x| IpAddr::from(Ipv4Addr::from(x)))
        .find(|y| {
            let (b, f) = addr_bytes(*y);
            *y != a && vipfilter::slot(&b, f, TCP, false) == want
        })
        .expect("an address in 10.1.0.0 - 10.255.255.255 shares the slot")
}

/// VIPs added and removed through the daemon's map writer: the filter follows (the map
/// equals the plan's filter after every change), a new VIP works at once, a removed one
/// passes as not ours, and a VIP whose slot another VIP shares keeps working when that
/// other VIP goes.
#[test]
fn vip_changes_update_the_filter() {
    if !require_kernel("vip_changes_update_the_filter") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let a = ip("10.0.1.1");
        let y = sharing_slot(a);
        let v6 = ip("fd00:3::1");
        let p1 = plan(base());
        let mut vips = base();
        vips.push(vip(2, &y.to_string(), 80, Proto::Tcp, Mode::Dsr, 1));
        vips.push(vip(3, "fd00:3::1", 443, Proto::Tcp, Mode::Dsr, 2));
        let p2 = plan(vips.clone());
        vips.remove(0); // A goes; Y shares its lane.
        let p3 = plan(vips);
        let p4 = plan(vec![vip(1, "10.0.2.1", 0, Proto::Tcp, Mode::Dsr, 1)]);
        let (e1, e2, e3, e4) = (entries(&p1), entries(&p2), entries(&p3), entries(&p4));

        let dp = Dp::load(name, &p1);
        // Y without a VIP takes the full path (its lane is A's) and passes.
        let (rv, _, d) = dp.send(y, TCP, 80);
        assert_eq!((rv, d.get("pass_not_vip")), (XDP_PASS, Some(&1)), "{d:?}");
        assert!(!not_ours(&dp.filter(), y, TCP, false), "lane shared with A");
        assert!(dp.passed_not_ours(v6, TCP, 443), "no IPv6 VIP yet");

        dp.apply(&e1, &e2);
        assert_eq!(dp.filter(), VipFilter::of(&e2.vips));
        let (rv, out, _) = dp.send(y, TCP, 80);
        assert_eq!((rv, &out[..6]), (XDP_TX, &mac(BACKENDS[1].3)[..]), "VIP Y");
        let (rv, out, _) = dp.send(v6, TCP, 443);
        assert_eq!(
            (rv, &out[..6]),
            (XDP_TX, &mac(BACKENDS[2].3)[..]),
            "IPv6 VIP"
        );

        dp.apply(&e2, &e3);
        assert_eq!(dp.filter(), VipFilter::of(&e3.vips));
        let (rv, out, _) = dp.send(y, TCP, 80);
        assert_eq!(
            (rv, &out[..6]),
            (XDP_TX, &mac(BACKENDS[1].3)[..]),
            "Y after A left"
        );
        let (rv, _, d) = dp.send(a, TCP, 80);
        assert_eq!((rv, d.get("pass_not_vip")), (XDP_PASS, Some(&1)), "A gone");

        dp.apply(&e3, &e4);
        let f = dp.filter();
        assert_eq!(f, VipFilter::of(&e4.vips));
        for (addr, port) in [(y, 80), (a, 80), (v6, 443)] {
            assert!(not_ours(&f, addr, TCP, false), "{addr} closed");
            assert!(dp.passed_not_ours(addr, TCP, port), "{addr} not ours");
        }
        let (rv, _, _) = dp.send(ip("10.0.2.1"), TCP, 80);
        assert_eq!(rv, XDP_TX, "the VIP that stayed");
    });
}
