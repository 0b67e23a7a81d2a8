//! Unit tests: ABI against `bpf/oxlb.h`, plan → entries, diffs.

use std::net::IpAddr;

use super::abi::*;
use super::*;
use crate::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};

const HEADER: &str = include_str!("../../bpf/oxlb.h");

/// `#define NAME value` / `NAME = value,` → value.
fn c_const(name: &str) -> u64 {
    for line in HEADER.lines() {
        let t = line.trim();
        let rest = t
            .strip_prefix(&format!("#define {name} "))
            .or_else(|| t.strip_prefix(&format!("{name} = ")));
        if let Some(r) = rest {
            let tok = r
                .split(|c: char| c == ',' || c.is_whitespace())
                .next()
                .unwrap();
            let tok = tok.trim_end_matches('u');
            return match tok.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).unwrap(),
                None => tok.parse().unwrap(),
            };
        }
    }
    panic!("{name} not in oxlb.h")
}

/// The hand-kept mirror `$raw` has the size of the generated (compiled object's BTF) type
/// `$gen`, and each named field sits at the generated field's offset.
macro_rules! same_layout {
    ($raw:ty, $gen:ty, [$($f:ident),+ $(,)?]) => {{
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<$raw>(), size_of::<$gen>(), "size of {}", stringify!($raw));
        $(assert_eq!(
            offset_of!($raw, $f),
            offset_of!($gen, $f),
            "{}.{}",
            stringify!($raw),
            stringify!($f)
        );)+
    }};
}

#[test]
fn mirrors_match_the_compiled_object() {
    use super::skel::oxlb as gen;
    same_layout!(RawVipKey, gen::oxlb_vip_key, [addr, port, proto, family]);
    same_layout!(
        RawVip,
        gen::oxlb_vip,
        [id, mode, snat_family, _pad, snat_addr]
    );
    same_layout!(RawVipSlot, gen::oxlb_vip_slot, [key, vip]);
    same_layout!(RawBackend, gen::oxlb_backend, [addr, port, family, flags]);
    same_layout!(
        RawFlowKey,
        gen::oxlb_flow_key,
        [src, dst, sport, dport, proto, family, _pad]
    );
    same_layout!(
        RawCt,
        gen::oxlb_ct,
        [backend_id, vip_id, nat_port, mode, _pad, seq_delta, hop]
    );
    same_layout!(
        RawNat,
        gen::oxlb_nat,
        [client, vip_id, backend_id, hop, seen, closing, _pad, seq_delta, _pad2]
    );
    same_layout!(
        RawSyn,
        gen::oxlb_syn,
        [
            client, vip_id, backend_id, at_ns, server_isn, synack, proxied, window, client_isn,
            _pad
        ]
    );
    same_layout!(
        RawEncapConfig,
        gen::oxlb_encap_config,
        [src4, mask4, src6, mask6, gue_port, _pad]
    );
    // The defaults compiled into the object are Layout::default's.
    let ro = *gen::open().expect("open the embedded object").rodata();
    assert_eq!(
        { ro.oxlb_cfg },
        Layout::default().config(),
        "object defaults"
    );
    // to_bytes agrees with the sizes.
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    assert_eq!(RawVipKey::new(ip, 1, 6).to_bytes().len(), RawVipKey::SIZE);
    assert_eq!(RawBackend::new(ip, 1).to_bytes().len(), RawBackend::SIZE);
    assert_eq!(
        RawFlowKey::new(ip, 1, ip, 2, 6).to_bytes().len(),
        RawFlowKey::SIZE
    );
    assert_eq!(Layout::default().config().to_bytes().len(), RawConfig::SIZE);
}

#[test]
fn constants_and_reasons_match_header() {
    assert_eq!(u64::from(AF_INET), c_const("OXLB_AF_INET"));
    assert_eq!(u64::from(AF_INET6), c_const("OXLB_AF_INET6"));
    assert_eq!(u64::from(MODE_NAT), c_const("OXLB_MODE_NAT"));
    assert_eq!(u64::from(MODE_DSR), c_const("OXLB_MODE_DSR"));
    assert_eq!(u64::from(BACKEND_VALID), c_const("OXLB_BACKEND_VALID"));
    assert_eq!(u64::from(NO_BACKEND), c_const("OXLB_NO_BACKEND"));
    assert_eq!(u64::from(Reason::COUNT), c_const("OXLB_R_MAX"));
    for r in Reason::ALL {
        let c_name = format!("OXLB_R_{}", r.name().to_uppercase());
        assert_eq!(u64::from(r as u32), c_const(&c_name), "{c_name}");
    }
    let d = Layout::default();
    let t = d.nat_timeouts;
    for (rust, c_name) in [
        (d.max_vips, "OXLB_DEFAULT_MAX_VIPS"),
        (d.table_size, "OXLB_DEFAULT_TABLE_SIZE"),
        (d.max_backends, "OXLB_DEFAULT_MAX_BACKENDS"),
        (d.ct_entries, "OXLB_DEFAULT_CT_ENTRIES"),
        (d.nat_port_min.into(), "OXLB_DEFAULT_NAT_PORT_MIN"),
        (d.nat_port_count.into(), "OXLB_DEFAULT_NAT_PORT_COUNT"),
        (t.tcp_idle, "OXLB_DEFAULT_NAT_TCP_IDLE_S"),
        (t.tcp_closed, "OXLB_DEFAULT_NAT_TCP_CLOSED_S"),
        (t.tcp_time_wait, "OXLB_DEFAULT_NAT_TCP_TIME_WAIT_S"),
        (t.udp_idle, "OXLB_DEFAULT_NAT_UDP_IDLE_S"),
    ] {
        assert_eq!(u64::from(rust), c_const(c_name), "{c_name}");
    }
    assert_eq!(u64::from(NAT_TICK_SHIFT), c_const("OXLB_NAT_TICK_SHIFT"));
    assert_eq!(u64::from(NAT_OPEN), c_const("OXLB_NAT_OPEN"));
    assert_eq!(u64::from(NAT_CLOSED), c_const("OXLB_NAT_CLOSED"));
    assert_eq!(u64::from(NAT_TIME_WAIT), c_const("OXLB_NAT_TIME_WAIT"));
    // The seed initialiser of oxlb_cfg (bpf/maps.h).
    let src = include_str!("../../bpf/maps.h");
    assert!(src.contains(&format!(".hash_seed = {:#x}", d.hash_seed)));
}

#[test]
fn encodings_are_byte_exact() {
    let k = RawVipKey::new("10.0.1.1".parse().unwrap(), 80, 6);
    let mut want = vec![10, 0, 1, 1];
    want.extend([0; 12]);
    want.extend([0, 80, 6, AF_INET]);
    assert_eq!(k.to_bytes(), want);

    let v = RawVip {
        id: 7,
        mode: MODE_NAT,
        snat_family: AF_INET,
        _pad: 0,
        snat_addr: addr_bytes("10.0.0.1".parse().unwrap()).0,
    };
    let b = v.to_bytes();
    assert_eq!(&b[..4], &7u32.to_ne_bytes());
    assert_eq!(&b[4..8], &[MODE_NAT, AF_INET, 0, 0]);
    assert_eq!(&b[8..12], &[10, 0, 0, 1]);

    let be = RawBackend::new("fd00::10".parse().unwrap(), 8053).to_bytes();
    assert_eq!(be[0..2], [0xfd, 0]);
    assert_eq!(be[15], 0x10);
    assert_eq!(be[16..20], [0x1f, 0x75, AF_INET6, BACKEND_VALID]);

    let fk = RawFlowKey::new(
        "10.0.0.100".parse().unwrap(),
        40006,
        "10.0.1.1".parse().unwrap(),
        80,
        6,
    );
    assert_eq!(RawFlowKey::from_bytes(&fk.to_bytes()), Some(fk));
    assert_eq!(RawFlowKey::from_bytes(&[0; 39]), None);

    let mut nat = fk.to_bytes();
    nat.extend(3u32.to_ne_bytes());
    nat.extend(9u32.to_ne_bytes());
    let mut hop = vec![2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb];
    hop.extend(7u32.to_ne_bytes());
    hop.extend(123_456_789u64.to_ne_bytes());
    let want_hop = RawHop {
        dmac: [2, 0, 0, 0, 0, 0xaa],
        smac: [2, 0, 0, 0, 0, 0xbb],
        ifindex: 7,
        at_ns: 123_456_789,
    };
    nat.extend(&hop);
    nat.extend(0x0102_0304u32.to_ne_bytes());
    nat.extend([NAT_TIME_WAIT, 0, 0, 0]);
    nat.extend(0xdead_beefu32.to_ne_bytes());
    nat.extend([0; 4]);
    let n = RawNat::from_bytes(&nat).unwrap();
    assert_eq!(
        (
            n.client,
            n.vip_id,
            n.backend_id,
            n.hop,
            n.seen,
            n.closing,
            n.seq_delta
        ),
        (fk, 3, 9, want_hop, 0x0102_0304, NAT_TIME_WAIT, 0xdead_beef)
    );
    assert_eq!(RawNat::from_bytes(&nat[..48]), None);

    let mut ct = 5u32.to_ne_bytes().to_vec();
    ct.extend(2u32.to_ne_bytes());
    ct.extend([0x40, 0x01, MODE_NAT, 0]);
    ct.extend(77u32.to_ne_bytes());
    ct.extend(&hop);
    let c = RawCt::from_bytes(&ct).unwrap();
    assert_eq!(
        (
            c.backend_id,
            c.vip_id,
            u16::from_be_bytes(c.nat_port),
            c.mode,
            c.seq_delta,
            c.hop
        ),
        (5, 2, 0x4001, MODE_NAT, 77, want_hop)
    );
    assert_eq!(RawCt::from_bytes(&ct[..12]), None);

    let cpu: Vec<u8> = (1u64..=5).flat_map(|x| x.to_ne_bytes()).collect();
    let s = RawStats::from_bytes(&cpu).unwrap();
    let sum = RawStats::sum([&s, &s]);
    assert_eq!(
        (
            sum.packets,
            sum.bytes,
            sum.new_flows,
            sum.reply_packets,
            sum.reply_bytes
        ),
        (2, 4, 6, 8, 10)
    );
    assert_eq!(RawStats::from_bytes(&cpu[..39]), None);

    let cfg = Layout::default().config().to_bytes();
    assert_eq!(&cfg[..4], &4099u32.to_ne_bytes());
    assert_eq!(cfg[16], 1);
}

#[test]
fn flow_hash_matches_the_datapath() {
    // Values confirmed against the kernel: tests/packets.rs predicts backend choice and NAT
    // port of real BPF_PROG_RUN results with this hash.
    let v4 = RawFlowKey::new(
        "10.0.0.100".parse().unwrap(),
        40006,
        "10.0.1.1".parse().unwrap(),
        80,
        6,
    );
    assert_eq!(v4.hash(0x6f78_6c62), 0x0842_c81d);
    let v6 = RawFlowKey::new(
        "fd00::100".parse().unwrap(),
        40017,
        "fd00:1::1".parse().unwrap(),
        53,
        17,
    );
    assert_eq!(v6.hash(0x6f78_6c62), 0x5746_0c56);
    assert_ne!(v4.hash(1), v4.hash(2));
}

// ---- plans ----------------------------------------------------------------------

const TS: u32 = 7;

fn layout() -> Layout {
    Layout {
        max_vips: 16,
        max_backends: 64,
        table_size: TS,
        ..Layout::default()
    }
}

fn backend(id: u32, addr: &str) -> BackendPlan {
    BackendPlan {
        id,
        addr: addr.parse().unwrap(),
        port: 8080,
        weight: 1,
        healthy: true,
    }
}

fn vip(id: u32, addr: &str, mode: Mode, backends: Vec<BackendPlan>) -> VipPlan {
    let table = if backends.is_empty() {
        Vec::new()
    } else {
        (0..TS as usize)
            .map(|i| backends[i % backends.len()].id)
            .collect()
    };
    VipPlan {
        id,
        addr: addr.parse().unwrap(),
        port: 80,
        proto: Proto::Tcp,
        mode,
        snat_addr: (mode == Mode::Nat).then(|| {
            if addr.contains(':') {
                "fd00::1"
            } else {
                "10.0.0.1"
            }
            .parse()
            .unwrap()
        }),
        backends,
        table,
    }
}

fn plan(vips: Vec<VipPlan>) -> Plan {
    Plan {
        table_size: TS,
        vips,
    }
}

fn base() -> Plan {
    plan(vec![
        vip(
            0,
            "10.0.1.1",
            Mode::Nat,
            vec![backend(0, "10.0.0.10"), backend(1, "10.0.0.11")],
        ),
        vip(1, "fd00:1::1", Mode::Dsr, vec![backend(2, "fd00::12")]),
    ])
}

#[test]
fn entries_of_a_plan() {
    let p = base();
    let e = entries(&p, &layout()).unwrap();
    assert_eq!(e.map_entries(MapId::Vips).count(), 2);
    assert_eq!(e.map_entries(MapId::Backends).count(), 3);
    let ring: Vec<_> = e.map_entries(MapId::Ring).collect();
    assert_eq!(ring.len(), 2 * TS as usize);
    // Row 1 starts at index TS and holds backend 2 everywhere.
    let (k, v) = &ring[TS as usize];
    assert_eq!(
        (k.as_slice(), v.as_slice()),
        (&TS.to_ne_bytes()[..], &2u32.to_ne_bytes()[..])
    );
    assert_eq!(e.map_entries(MapId::Ct).count(), 0);
    let dsr = e.vips[&RawVipKey::new("fd00:1::1".parse().unwrap(), 80, 6)];
    assert_eq!((dsr.id, dsr.mode, dsr.snat_family), (1, MODE_DSR, 0));

    // A VIP without usable backends: every slot NO_BACKEND.
    let p = plan(vec![vip(3, "10.0.9.9", Mode::Dsr, vec![])]);
    let e = entries(&p, &layout()).unwrap();
    assert!(e
        .map_entries(MapId::Ring)
        .all(|(_, v)| v == NO_BACKEND.to_ne_bytes()));
}

#[test]
fn invalid_plans_are_typed_errors() {
    let l = layout();
    let check = |p: Plan, want: DatapathError| assert_eq!(entries(&p, &l).unwrap_err(), want);

    let mut p = base();
    p.table_size = 11;
    check(
        p,
        DatapathError::TableSizeMismatch {
            plan: 11,
            layout: TS,
        },
    );

    let mut p = base();
    p.vips[1].id = 16;
    check(p, DatapathError::VipIdOutOfRange { vip: 16, max: 16 });

    let mut p = base();
    p.vips[1].id = 0;
    check(p, DatapathError::DuplicateVipId(0));

    let mut p = base();
    p.vips[1].addr = "10.0.1.1".parse().unwrap();
    p.vips[1].backends[0].addr = "10.0.0.12".parse().unwrap();
    check(
        p,
        DatapathError::DuplicateVip {
            vip: 1,
            addr: "10.0.1.1".parse().unwrap(),
            port: 80,
        },
    );

    let mut p = base();
    p.vips[0].snat_addr = None;
    check(p, DatapathError::MissingSnat { vip: 0 });

    let mut p = base();
    p.vips[0].snat_addr = Some("fd00::1".parse().unwrap());
    check(
        p,
        DatapathError::FamilyMismatch {
            vip: 0,
            what: "snat_addr",
        },
    );

    let mut p = base();
    p.vips[0].backends[1].addr = "fd00::5".parse().unwrap();
    check(
        p,
        DatapathError::FamilyMismatch {
            vip: 0,
            what: "backend address",
        },
    );

    let mut p = base();
    p.vips[0].backends[1].id = 64;
    check(
        p,
        DatapathError::BackendIdOutOfRange {
            backend: 64,
            max: 64,
        },
    );

    let mut p = base();
    p.vips[1].backends[0].id = 0;
    p.vips[1].table = vec![0; TS as usize];
    check(p, DatapathError::BackendConflict { backend: 0 });

    let mut p = base();
    p.vips[0].table.pop();
    check(
        p,
        DatapathError::TableLength {
            vip: 0,
            len: TS as usize - 1,
            table_size: TS,
        },
    );

    let mut p = base();
    p.vips[0].table[3] = 2;
    check(
        p,
        DatapathError::UnknownBackendInTable { vip: 0, backend: 2 },
    );

    let bad = Layout {
        nat_port_min: 60000,
        nat_port_count: 6000,
        ..layout()
    };
    assert!(matches!(
        entries(&base(), &bad),
        Err(DatapathError::BadLayout(_))
    ));
    let bad = Layout {
        table_size: 0,
        ..layout()
    };
    assert!(matches!(bad.validate(), Err(DatapathError::BadLayout(_))));
    let bad = Layout {
        max_vips: 1 << 20,
        table_size: 65537,
        ..layout()
    };
    assert!(matches!(bad.validate(), Err(DatapathError::BadLayout(_))));
}

/// (map, change-or-delete) sequence of a diff, for order checks.
fn shape(ops: &[MapOp]) -> Vec<(MapId, &'static str)> {
    ops.iter()
        .map(|op| match op {
            MapOp::Update { map, change, .. } | MapOp::UpdateRun { map, change, .. } => (
                *map,
                match change {
                    Change::New => "new",
                    Change::Changed => "changed",
                    Change::Removed => "removed",
                },
            ),
            MapOp::Delete { map, .. } => (*map, "delete"),
            MapOp::ResetPerCpu { map, .. } => (*map, "reset"),
        })
        .collect()
}

#[test]
fn diff_from_nothing_writes_everything_in_order() {
    let p = base();
    let e = entries(&p, &layout()).unwrap();
    let ops = diff(None, &e).unwrap();
    let s = shape(&ops);
    let pos = |m: MapId| s.iter().position(|x| x.0 == m).unwrap();
    let last = |m: MapId| s.iter().rposition(|x| x.0 == m).unwrap();
    assert!(
        last(MapId::Backends) < pos(MapId::Ring),
        "backends before ring: {s:?}"
    );
    assert!(
        last(MapId::Ring) < pos(MapId::Vips),
        "ring before vips: {s:?}"
    );
    let written: usize = ops
        .iter()
        .filter(|o| !matches!(o, MapOp::ResetPerCpu { .. }))
        .map(MapOp::len)
        .sum();
    // 3 backends, 2 VIPs and their 2 id slots, 2 ring rows, the VIP filter.
    assert_eq!(written, 3 + 2 + 2 + 2 * TS as usize + 1);
    assert_eq!(pos(MapId::VipFilter), 0, "VIP filter first: {s:?}");
    assert_eq!(last(MapId::VipFilter), 0, "written once: {s:?}");
    assert!(
        last(MapId::Ring) < pos(MapId::VipIds),
        "ring before id slots: {s:?}"
    );
    let slots: Vec<_> = ops
        .iter()
        .flat_map(|o| o.elements())
        .filter(|(m, _, _)| *m == MapId::VipIds)
        .map(|(_, k, v)| (k, v.unwrap()))
        .collect();
    let want: Vec<_> = e.map_entries(MapId::VipIds).collect();
    assert_eq!(slots, want);
    for (k, v) in &want {
        let id = u32::from_ne_bytes(k[..4].try_into().unwrap());
        let (vk, vv) = e.vips.iter().find(|(_, v)| v.id == id).unwrap();
        assert_eq!(v[..20], vk.to_bytes()[..], "slot {id} holds its VIP's key");
        assert_eq!(v[20..], vv.to_bytes()[..], "and its value");
    }
    assert_eq!(s.iter().filter(|x| x.1 == "reset").count(), 3 + 2);
    // Expanded ring elements equal the full listing.
    let mut ring: Vec<_> = ops
        .iter()
        .filter(|o| {
            matches!(
                o,
                MapOp::UpdateRun {
                    map: MapId::Ring,
                    ..
                }
            )
        })
        .flat_map(|o| o.elements())
        .map(|(_, k, v)| (k, v.unwrap()))
        .collect();
    ring.sort();
    let mut want: Vec<_> = e.map_entries(MapId::Ring).collect();
    want.sort();
    assert_eq!(ring, want);
}

#[test]
fn diff_of_equal_plans_is_empty() {
    let (a, b) = (base(), base());
    let (ea, eb) = (
        entries(&a, &layout()).unwrap(),
        entries(&b, &layout()).unwrap(),
    );
    assert_eq!(diff(Some(&ea), &eb).unwrap(), vec![]);
}

#[test]
fn diff_writes_only_changed_slots_and_entries() {
    let a = base();
    let mut b = base();
    b.vips[0].table[2] = 0; // was 0 (2 % 2) -> unchanged
    b.vips[0].table[3] = 0; // was 1
    b.vips[0].table[4] = 1; // was 0
    b.vips[0].backends[1].port = 9090; // backend 1 changed
    let (ea, eb) = (
        entries(&a, &layout()).unwrap(),
        entries(&b, &layout()).unwrap(),
    );
    let ops = diff(Some(&ea), &eb).unwrap();
    assert_eq!(
        ops,
        vec![
            MapOp::Update {
                map: MapId::Backends,
                change: Change::Changed,
                key: 1u32.to_ne_bytes().to_vec(),
                value: RawBackend::new("10.0.0.11".parse().unwrap(), 9090).to_bytes(),
            },
            MapOp::UpdateRun {
                map: MapId::Ring,
                change: Change::Changed,
                first_key: 3,
                value_size: 4,
                values: [0u32.to_ne_bytes(), 1u32.to_ne_bytes()].concat(),
            },
        ]
    );
}

#[test]
fn diff_removes_vips_first_and_clears_unused_rows_and_backends() {
    let a = base();
    let mut b = base();
    b.vips.remove(1);
    // A new VIP reusing no id: id 5.
    b.vips
        .push(vip(5, "10.0.5.5", Mode::Dsr, vec![backend(9, "10.0.0.99")]));
    let (ea, eb) = (
        entries(&a, &layout()).unwrap(),
        entries(&b, &layout()).unwrap(),
    );
    let ops = diff(Some(&ea), &eb).unwrap();
    let s = shape(&ops);
    assert_eq!(
        s,
        vec![
            (MapId::VipFilter, "changed"),
            (MapId::Vips, "delete"),
            (MapId::VipIds, "removed"),
            (MapId::BackendStats, "reset"),
            (MapId::Backends, "new"),
            (MapId::Ring, "new"),
            (MapId::VipStats, "reset"),
            (MapId::VipIds, "new"),
            (MapId::Vips, "new"),
            (MapId::Ring, "removed"),
            (MapId::Backends, "removed"),
            (MapId::VipFilter, "removed"),
        ]
    );
    match &ops[2] {
        MapOp::Update { key, value, .. } => {
            assert_eq!(key, &1u32.to_ne_bytes(), "slot of the removed VIP 1");
            assert_eq!(value, &RawVipSlot::empty_bytes());
        }
        other => panic!("{other:?}"),
    }
    match &ops[9] {
        MapOp::UpdateRun {
            first_key, values, ..
        } => {
            assert_eq!(*first_key, TS); // row of VIP 1
            assert_eq!(values, &NO_BACKEND.to_ne_bytes().repeat(TS as usize));
        }
        other => panic!("{other:?}"),
    }
    match &ops[10] {
        MapOp::Update { key, value, .. } => {
            assert_eq!(key, &2u32.to_ne_bytes());
            assert_eq!(value, &vec![0u8; RawBackend::SIZE]);
        }
        other => panic!("{other:?}"),
    }
    // Layout changes cannot be diffed.
    let other = Layout {
        max_vips: 32,
        ..layout()
    };
    let ec = entries(&b, &other).unwrap();
    assert_eq!(diff(Some(&ea), &ec), Err(DatapathError::LayoutChanged));
}

#[test]
fn layout_sizes_every_map() {
    let l = Layout {
        max_vips: 10_000,
        table_size: 4099,
        max_backends: 100_000,
        ct_entries: 1 << 20,
        ..Layout::default()
    };
    l.validate().unwrap();
    assert_eq!(l.max_entries(MapId::Ring), 40_990_000);
    assert_eq!(l.max_entries(MapId::Vips), 10_000);
    assert_eq!(l.max_entries(MapId::BackendStats), 100_000);
    assert_eq!(l.max_entries(MapId::Nat), 1 << 20);
    assert_eq!(l.max_entries(MapId::Reasons), Reason::COUNT);
    assert_eq!(l.ring_index(2, 5), 2 * 4099 + 5);
    let names: std::collections::BTreeSet<_> = MapId::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names.len(), MapId::ALL.len());
    let src = [
        include_str!("../../bpf/maps.h"),
        include_str!("../../bpf/vipfilter.h"),
    ]
    .concat();
    for m in MapId::ALL {
        assert!(
            src.contains(&format!("}} {} SEC(\".maps\")", m.name()))
                || src.contains(&format!("SEC(\"{}\")", m.name())),
            "{} not in bpf/maps.h or bpf/vipfilter.h",
            m.name()
        );
    }
    assert!(MapId::Ring.is_array() && !MapId::Vips.is_array() && !MapId::Ct.is_array());
}
