//! SYN cookies and the SYN proxy of NAT VIPs (`bpf/syncookie.h`): the LB answers a SYN with a
//! cookie, turns the client's ACK into the SYN to a backend, answers the backend's SYN-ACK,
//! and shifts sequence numbers on every later packet. Cookies are made and checked by the
//! kernel's own helpers; every frame is checked field by field with its checksums.

use super::*;
use oxlb::datapath::abi::RawSyn;
use oxlb::datapath::SynCookies;

const RST: u8 = 0x04;

/// A TCP segment's (seq, ack, flags, header length, MSS option if any).
fn tcp_fields(ip: &Ip) -> (u32, u32, u8, usize, Option<u16>) {
    let t = ip.l4();
    let u32_at = |o: usize| u32::from_be_bytes(t[o..o + 4].try_into().unwrap());
    let hl = usize::from(t[12] >> 4) * 4;
    let mss = (hl >= 24 && t[20] == 2 && t[21] == 4).then(|| u16::from_be_bytes([t[22], t[23]]));
    (u32_at(4), u32_at(8), t[13], hl, mss)
}

/// A SYN as Linux sends it: MSS, SACK permitted, timestamps, window scale (40-byte header).
fn linux_syn(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0xa0, SYN, 0xfa, 0xf0, 0, 0, 0, 0]);
    t.extend_from_slice(&[
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ]);
    let c = l4_checksum(src, dst, TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ip_wrap(src, dst, TCP, &t)
}

fn count(dp: &Dp, id: MapId) -> usize {
    dp.maps[&id].keys().count()
}

/// Every value of a hash map.
fn values(dp: &Dp, id: MapId) -> Vec<Vec<u8>> {
    let m = &dp.maps[&id];
    m.keys()
        .filter_map(|k| m.lookup(&k.unwrap()).unwrap())
        .collect()
}

/// One connection through the SYN proxy, checked at every step; `linux`: the SYN carries
/// Linux's options (else none, like hping3's).
fn proxied_flow(dp: &Dp, client: IpAddr, cport: u16, vip: IpAddr, linux: bool) {
    let (mss_opt, isn) = (if vip.is_ipv6() { 1440 } else { 1460 }, 1_000_000u32);
    // The VIP's ring: backends 0 and 1 (IPv4), 4 and 5 (IPv6); Maglev picks one.
    let ring = if vip.is_ipv6() { [4, 5] } else { [0, 1] };
    let lb = if vip.is_ipv6() { ip(LB6) } else { ip(LB4) };
    let syn = match linux {
        true => linux_syn(client, vip, cport, 80, isn),
        false => ip_tcp(client, vip, cport, 80, SYN, (isn, 0), b""),
    };
    let state = |dp: &Dp| {
        (
            count(dp, MapId::Syn),
            count(dp, MapId::Nat),
            count(dp, MapId::Ct),
        )
    };
    let before = state(dp);

    // 1. The SYN is answered by the LB: a cookie SYN-ACK, no state.
    let (rv, out, d) = dp.run_counted(&dp.frame(&syn));
    assert_eq!((rv, d.get("cookie_sent")), (XDP_TX, Some(&1)), "{d:?}");
    let o = ip_of(&out);
    assert_eq!(
        (o.src, o.dst, o.sport(), o.dport()),
        (vip, client, 80, cport)
    );
    assert!(o.checksums_ok(), "SYN-ACK checksums");
    assert_eq!(
        (&out[..6], &out[6..12]),
        (&mac(PEER_MAC)[..], &dp.lb0.1[..])
    );
    let (cookie, ack, flags, hl, mss) = tcp_fields(&o);
    assert_eq!(
        (ack, flags, hl, mss),
        (isn + 1, SYN | ACK, 24, Some(mss_opt))
    );
    assert_eq!(o.bytes.len(), o.hl + 24, "no payload, no padding");
    assert_eq!(state(dp), before, "a cookie costs no state");

    // 2. An ACK with a wrong cookie is dropped (a cookie's low bits only pick one of four
    // MSS values: a blind guess must still hit its 24-bit hash).
    let bad = ip_tcp(
        client,
        vip,
        cport,
        80,
        ACK,
        (isn + 1, cookie.wrapping_add(1 << 20)),
        b"",
    );
    let (rv, _, d) = dp.run_counted(&dp.frame(&bad));
    assert_eq!((rv, d.get("drop_no_flow")), (XDP_DROP, Some(&1)), "{d:?}");
    assert_eq!(state(dp), before);

    // 3. The right one becomes the SYN to the backend, NATed.
    let ack = ip_tcp(
        client,
        vip,
        cport,
        80,
        ACK,
        (isn + 1, cookie.wrapping_add(1)),
        b"",
    );
    let (rv, fwd, d) = dp.run_counted(&dp.frame(&ack));
    assert_eq!((rv, d.get("cookie_ok")), (XDP_TX, Some(&1)), "{d:?}");
    let f = ip_of(&fwd);
    let (baddr, bport, bmac) = ring
        .iter()
        .map(|&id| backend(id))
        .find(|b| b.0 == f.dst)
        .expect("one of the VIP's backends");
    assert_eq!((f.src, f.dport()), (lb, bport));
    assert_eq!(&fwd[..6], &bmac[..], "the backend's MAC");
    assert!(f.checksums_ok(), "SYN checksums");
    let (seq, ack_no, flags, hl, mss) = tcp_fields(&f);
    assert_eq!(
        (seq, ack_no, flags, hl, mss),
        (isn, 0, SYN, 24, Some(mss_opt))
    );
    let nat_port = f.sport();
    assert!((NAT_MIN..NAT_MIN + NAT_COUNT).contains(&nat_port));
    assert_eq!(
        state(dp),
        (before.0 + 1, before.1, before.2),
        "one half-open flow"
    );

    // 4. The client's data before the backend answered becomes the SYN again (the first may
    // have been lost; the data is dropped and resent by the client).
    let early = ip_tcp(
        client,
        vip,
        cport,
        80,
        ACK,
        (isn + 1, cookie.wrapping_add(1)),
        b"GET",
    );
    let (rv, again, d) = dp.run_counted(&dp.frame(&early));
    assert_eq!((rv, d.get("cookie_ok")), (XDP_TX, Some(&1)), "{d:?}");
    assert_eq!(again, fwd, "the same SYN");
    assert_eq!(
        state(dp),
        (before.0 + 1, before.1, before.2),
        "still one half-open flow"
    );

    // 4b. A backend still holding an older connection on this NAT port answers the SYN with
    // a bare ACK, or a SYN-ACK of another ISN: the LB resets that stale state.
    for (flags, ack_no) in [(ACK, 555u32), (SYN | ACK, 556)] {
        let (rv, rst, d) = dp.run_counted(&dp.answer(&fwd, flags, (9, ack_no)));
        assert_eq!((rv, d.get("stale_reset")), (XDP_TX, Some(&1)), "{d:?}");
        let r = ip_of(&rst);
        assert_eq!(
            (r.src, r.dst, r.sport(), r.dport()),
            (lb, baddr, nat_port, bport)
        );
        assert!(r.checksums_ok(), "RST checksums");
        let (seq, _, flags, hl, _) = tcp_fields(&r);
        assert_eq!((seq, flags, hl), (ack_no, RST, 20));
    }
    assert_eq!(
        state(dp),
        (before.0 + 1, before.1, before.2),
        "still half-open"
    );

    // 5. The backend's SYN-ACK is answered by the LB: the flow is established.
    let bisn = 7_000_000u32;
    let (rv, back, d) = dp.run_counted(&dp.answer(&fwd, SYN | ACK, (bisn, isn + 1)));
    assert_eq!((rv, d.get("cookie_proxied")), (XDP_TX, Some(&1)), "{d:?}");
    let b = ip_of(&back);
    assert_eq!(
        (b.src, b.dst, b.sport(), b.dport()),
        (lb, baddr, nat_port, bport)
    );
    assert!(b.checksums_ok(), "ACK checksums");
    assert_eq!(&back[..6], &bmac[..], "back to the backend");
    let (seq, ack_no, flags, hl, _) = tcp_fields(&b);
    assert_eq!((seq, ack_no, flags, hl), (isn + 1, bisn + 1, ACK, 20));
    assert_eq!(state(dp), (before.0, before.1 + 1, before.2 + 1));
    let delta = bisn.wrapping_sub(cookie);
    let nat = values(dp, MapId::Nat)
        .iter()
        .filter_map(|v| RawNat::from_bytes(v))
        .find(|n| n.client.sport == cport.to_be_bytes())
        .expect("NAT entry");
    assert_eq!(nat.seq_delta, delta);

    // 6. The client's data: its acknowledgement number moves into the backend's numbering.
    let data = ip_tcp(
        client,
        vip,
        cport,
        80,
        ACK,
        (isn + 1, cookie.wrapping_add(1)),
        b"GET",
    );
    let (rv, fwd2, d) = dp.run_counted(&dp.frame(&data));
    assert_eq!((rv, d.get("ct_hit")), (XDP_TX, Some(&1)), "{d:?}");
    let f2 = ip_of(&fwd2);
    assert_eq!((f2.sport(), f2.dport()), (nat_port, bport));
    let t = tcp_fields(&f2);
    assert_eq!((t.0, t.1), (isn + 1, bisn + 1));
    assert!(f2.checksums_ok(), "data checksums");
    assert_eq!(&f2.l4()[20..], b"GET");

    // 7. The backend's answer: its sequence number moves into the cookie's numbering.
    let (rv, r, d) = dp.run_counted(&dp.answer(&fwd2, ACK, (bisn + 1, isn + 4)));
    assert_eq!((rv, d.get("nat_reply")), (XDP_TX, Some(&1)), "{d:?}");
    let r = ip_of(&r);
    assert_eq!(
        (r.src, r.dst, r.sport(), r.dport()),
        (vip, client, 80, cport)
    );
    let t = tcp_fields(&r);
    assert_eq!((t.0, t.1), (cookie.wrapping_add(1), isn + 4));
    assert!(r.checksums_ok(), "reply checksums");
}

/// `syn_cookies = "always"`: IPv4 and IPv6 connections through the SYN proxy, with and
/// without TCP options in the SYN.
#[test]
fn syn_cookies_proxy_the_handshake() {
    if !require_kernel("syn_cookies_proxy_the_handshake") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = Dp::load_with(
            name,
            Layout {
                syn_cookies: SynCookies::Always,
                ..layout()
            },
        );
        let (c4, c6) = (ip(CLIENT4), ip(CLIENT6));
        proxied_flow(&dp, c4, 45000, ip("10.0.1.1"), false);
        proxied_flow(&dp, c4, 45001, ip("10.0.1.1"), true);
        proxied_flow(&dp, c6, 45002, ip("fd00:1::1"), false);
        proxied_flow(&dp, c6, 45003, ip("fd00:1::1"), true);

        // A RST without a flow is dropped, never taken for a cookie.
        let rst = ip_tcp(c4, ip("10.0.1.1"), 45004, 80, RST | ACK, (1, 1), b"");
        let (rv, _, d) = dp.run_counted(&dp.frame(&rst));
        assert_eq!(
            (rv, d.get("drop_no_flow"), d.get("cookie_ok")),
            (XDP_DROP, Some(&1), None)
        );
        // DSR VIPs never get cookies: their backends answer the client themselves.
        let (rv, _, d) = dp.syn(c4, 45005, ip("10.0.2.1"), 443);
        assert_eq!((rv, d.get("cookie_sent")), (XDP_TX, None), "{d:?}");
    });
}

/// `syn_cookies = "flood"` (the default): half-open flows while the new-flow guard is off,
/// cookies once it engages; `"off"`: never.
#[test]
fn syn_cookies_engage_with_the_new_flow_guard() {
    if !require_kernel("syn_cookies_engage_with_the_new_flow_guard") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let vip = ip("10.0.1.1");
        for (mode, guard, want) in [
            (SynCookies::Flood, 0, "syn_half_open"),
            (SynCookies::Flood, 1, "cookie_sent"),
            (SynCookies::Off, 1, "syn_half_open"),
        ] {
            let dp = Dp::load_with(
                name,
                Layout {
                    syn_cookies: mode,
                    guard_new_flows: guard,
                    ..layout()
                },
            );
            // Guard 1 flow/s: the first SYN of the window passes, the rest are guarded.
            let _ = dp.syn(ip(CLIENT4), 46000, vip, 80);
            let (rv, _, d) = dp.syn(ip(CLIENT4), 46001, vip, 80);
            assert_eq!(
                (rv, d.get(want)),
                (XDP_TX, Some(&1)),
                "{mode:?} guard {guard}: {d:?}"
            );
            let proxied = values(&dp, MapId::Syn)
                .iter()
                .filter_map(|v| RawSyn::from_bytes(v))
                .filter(|s| s.proxied == 1)
                .count();
            assert_eq!(proxied, 0, "a SYN alone never opens a proxied flow");
        }
    });
}

/// `syn_cookies = "flood"` on a tiny NAT port range: once every port a SYN probes is held by a
/// live half-open flow, SYNs get cookies instead of taking a port; established flows keep
/// theirs, and a legitimate client amid the flood completes its handshake through the proxy.
#[test]
fn syn_cookies_take_over_when_half_open_ports_run_out() {
    if !require_kernel("syn_cookies_take_over_when_half_open_ports_run_out") {
        return;
    }
    let ns = topology();
    ns.run(|name| {
        let dp = tiny_nat_with(name, 22000, SynCookies::Flood);
        let (vip, client) = (ip("10.0.1.1"), ip(CLIENT4));
        let est = ip_of(&dp.handshake(client, 47000, vip, 80).unwrap()).sport();
        // Seven SYNs take the seven free ports as half-open flows.
        for i in 0..7u16 {
            let (rv, _, d) = dp.syn(client, 31000 + i, vip, 80);
            assert_eq!((rv, d.get("syn_half_open")), (XDP_TX, Some(&1)), "{d:?}");
        }
        // Every later SYN is answered with a cookie: no port, no state; the daemon's
        // pressure sampler says so.
        let mut pressure = oxlb::daemon::pressure::Pressure::default();
        assert!(pressure.sample(&dp.maps, &plan(), 64).unwrap().is_empty());
        let state = (count(&dp, MapId::Syn), count(&dp, MapId::Nat));
        for i in 7..40u16 {
            let (rv, _, d) = dp.syn(client, 31000 + i, vip, 80);
            assert_eq!(
                (rv, d.get("cookie_sent"), d.get("syn_replaced")),
                (XDP_TX, Some(&1), None),
                "{d:?}"
            );
        }
        assert_eq!((count(&dp, MapId::Syn), count(&dp, MapId::Nat)), state);
        let warned = pressure.sample(&dp.maps, &plan(), 64).unwrap();
        assert!(
            warned
                .iter()
                .any(|l| l.contains("33 SYNs to NAT VIPs answered with SYN cookies")),
            "{warned:?}"
        );
        // The established flow still has its port.
        let (rv, out, d) = dp.run_counted(&dp.frame(&ip_l4(client, vip, TCP, 47000, 80, b"k")));
        assert_eq!(
            (rv, d.get("ct_hit"), ip_of(&out).sport()),
            (XDP_TX, Some(&1), est)
        );
        // A legitimate client's SYN gets a cookie too; its ACK finds every port half-open, so
        // its flow takes the oldest one, and the backend's handshake is completed by the LB.
        let (_, synack, _) = dp.syn(client, 47001, vip, 80);
        let cookie = tcp_fields(&ip_of(&synack)).0;
        let ack = ip_tcp(
            client,
            vip,
            47001,
            80,
            ACK,
            (1001, cookie.wrapping_add(1)),
            b"",
        );
        let (rv, fwd, d) = dp.run_counted(&dp.frame(&ack));
        assert_eq!((rv, d.get("cookie_ok")), (XDP_TX, Some(&1)), "{d:?}");
        assert_ne!(ip_of(&fwd).sport(), est);
        let (rv, _, d) = dp.run_counted(&dp.answer(&fwd, SYN | ACK, (9000, 1001)));
        assert_eq!((rv, d.get("cookie_proxied")), (XDP_TX, Some(&1)), "{d:?}");
    });
}
