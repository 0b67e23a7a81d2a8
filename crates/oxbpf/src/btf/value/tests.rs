//! Values decoded with the BTF of `testdata/typed_values.bpf.o` (every kind a map value uses)
//! and of hand-built malformed BTF; truncated and random input never panics.

use super::*;
use crate::btf::raw::Kind;
use crate::btf::tests::Builder;

fn fixture_btf(name: &str) -> Btf {
    use object::{Object, ObjectSection};
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap();
    let f = object::File::parse(raw.as_slice()).unwrap();
    Btf::parse(f.section_by_name(".BTF").unwrap().data().unwrap()).unwrap()
}

fn id_of(btf: &Btf, name: &str, kind: Kind) -> u32 {
    btf.iter()
        .find(|(_, t)| t.name() == name && t.kind() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind:?} {name}"))
        .0
}

/// `struct task_val` as `fill` writes it for pid 42 (little-endian layout).
fn task_val_bytes() -> Vec<u8> {
    let mut b = vec![0u8; 88];
    b[0..8].copy_from_slice(&1000u64.to_le_bytes());
    b[8..12].copy_from_slice(&1i32.to_le_bytes());
    let flags: u32 = 1 | (5 << 1) | (0xabc << 4) | (0xd << 16);
    b[12..16].copy_from_slice(&flags.to_le_bytes());
    b[16..20].copy_from_slice(&0x0100_007fu32.to_le_bytes());
    for (i, t) in [-40i16, 0, 85].iter().enumerate() {
        b[20 + 2 * i..22 + 2 * i].copy_from_slice(&t.to_le_bytes());
    }
    b[26] = 1;
    b[27..29].copy_from_slice(b"ok");
    b[31..35].copy_from_slice(&[1, 2, 0xff, 0]);
    b[40..48].copy_from_slice(&0xdead_beefu64.to_le_bytes());
    b[48..52].copy_from_slice(&[1, 0, 2, 0]);
    b[52..56].copy_from_slice(&0x0002_0001u32.to_le_bytes());
    b[56..62].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
    b[64..68].copy_from_slice(&77u32.to_le_bytes());
    b[72..80].copy_from_slice(&(1u64 << 32).to_le_bytes());
    b[80] = 17;
    b
}

const TASK_VAL_C: &str = "{ .count = 1000, .state = ST_RUN, \
    .flags = { .ro = 0x1, .level = 0x5, .code = 0xabc, .neg = 0xd }, \
    .addr = { .v4 = 16777343, .bytes = { 127, 0, 0, 1 } }, .temps = { -40, 0, 85 }, \
    .alive = true, .tag = \"ok\", .raw = { 1, 2, -1, 0 }, .ptr = 0xdeadbeef, \
    .pair = { .lo = 1, .hi = 2 }, .as_u32 = 131073, .halves = { 1, 2 }, \
    .grid = { { 1, 2, 3 }, { 4, 5, 6 } }, .chained = 77, .wide = W_HUGE, .tail = 0x11 }";

#[cfg(target_endian = "little")]
#[test]
fn every_member_kind_prints_as_c() {
    let btf = fixture_btf("typed_values.bpf.o");
    let id = id_of(&btf, "task_val", Kind::Struct);
    let v = decode(&btf, id, &task_val_bytes()).unwrap();
    assert_eq!(v.to_c(), TASK_VAL_C);
    // Pretty: the top level breaks (too long for 60 columns), short members stay on a line.
    let p = v.to_c_pretty(60);
    assert!(
        p.starts_with("{\n  .count = 1000,\n  .state = ST_RUN,\n"),
        "{p}"
    );
    assert!(p.contains("\n  .pair = { .lo = 1, .hi = 2 },\n"), "{p}");
    assert!(p.ends_with("  .tail = 0x11,\n}"), "{p}");
}

#[cfg(target_endian = "little")]
#[test]
fn every_member_kind_prints_as_json() {
    let btf = fixture_btf("typed_values.bpf.o");
    let id = id_of(&btf, "task_val", Kind::Struct);
    let v = decode(&btf, id, &task_val_bytes()).unwrap();
    let got: serde_json::Value = serde_json::from_str(&v.to_json()).unwrap();
    let want = serde_json::json!({
        "count": 1000, "state": "ST_RUN",
        "flags": {"ro": 1, "level": 5, "code": 0xabc, "neg": 0xd},
        "addr": {"v4": 16777343, "bytes": [127, 0, 0, 1]}, "temps": [-40, 0, 85],
        "alive": true, "tag": "ok", "raw": [1, 2, -1, 0], "ptr": 0xdeadbeefu64,
        "pair": {"lo": 1, "hi": 2}, "as_u32": 131073, "halves": [1, 2],
        "grid": [[1, 2, 3], [4, 5, 6]], "chained": 77, "wide": "W_HUGE", "tail": 17,
    });
    assert_eq!(got, want);
}

#[cfg(target_endian = "little")]
#[test]
fn enums_without_a_name_and_typedef_keys() {
    let btf = fixture_btf("typed_values.bpf.o");
    let state = id_of(&btf, "state", Kind::Enum);
    let v = decode(&btf, state, &5i32.to_le_bytes()).unwrap();
    assert_eq!(
        v,
        Value::Enum {
            name: None,
            value: 5
        }
    );
    assert_eq!(v.to_c(), "5");
    let dead = decode(&btf, state, &(-2i32).to_le_bytes()).unwrap();
    assert_eq!(dead.to_c(), "ST_DEAD");
    assert_eq!(dead.to_json(), "\"ST_DEAD\"");
    let key = id_of(&btf, "task_key_t", Kind::Typedef);
    let mut b = vec![0u8; 20];
    b[0] = 42;
    b[4..8].copy_from_slice(b"bash");
    assert_eq!(
        decode(&btf, key, &b).unwrap().to_c(),
        "{ .pid = 42, .comm = \"bash\" }"
    );
    // No NUL inside the array: not a string.
    b[4..20].copy_from_slice(b"sixteen_chars_xx");
    assert!(decode(&btf, key, &b)
        .unwrap()
        .to_c()
        .contains(".comm = { 115, 105,"));
}

#[test]
fn per_cpu_values_are_one_per_slot() {
    let btf = fixture_btf("typed_values.bpf.o");
    let id = id_of(&btf, "pcpu_val", Kind::Struct);
    let mut data = vec![0u8; 32];
    data[0] = 3;
    data[8] = 1;
    data[16] = 9;
    let v = decode_per_cpu(&btf, id, &data, 16).unwrap();
    let c: Vec<String> = v.iter().map(Value::to_c).collect();
    assert_eq!(
        c,
        [
            "{ .packets = 3, .st = ST_RUN }",
            "{ .packets = 9, .st = ST_IDLE }"
        ]
    );
    assert!(matches!(
        decode_per_cpu(&btf, id, &data[..20], 16),
        Err(ValueError::Short { .. })
    ));
    // A 12-byte value sits in 16-byte slots.
    let u32_id = id_of(&btf, "unsigned int", Kind::Int);
    let v = decode_per_cpu(
        &btf,
        u32_id,
        &[7, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0],
        4,
    );
    assert_eq!(v.unwrap(), [Value::Uint(7), Value::Uint(8)]);
}

/// Every type of several fixtures, on every truncation of a patterned buffer: a short buffer
/// is `Short`, a whole one decodes; nothing panics.
#[test]
fn truncated_and_patterned_input_never_panics() {
    for obj in [
        "typed_values.bpf.o",
        "btf_kinds.bpf.o",
        "maps.bpf.o",
        "core/layouts.bpf.o",
    ] {
        let btf = fixture_btf(obj);
        for (id, _) in btf.iter() {
            let Ok(size) = btf.resolve_size(id) else {
                assert!(matches!(decode(&btf, id, &[1, 2, 3]), Ok(Value::Bytes(_))));
                continue;
            };
            let size = size as usize;
            if size == 0 && btf.kind(id).ok() == Some(Kind::Datasec) {
                // An object's DATASEC sizes are 0 until the loader fills them in.
                continue;
            }
            if size > 4096 {
                continue;
            }
            let full: Vec<u8> = (0..size).map(|i| (i * 37 + 11) as u8).collect();
            for cut in 0..size {
                match decode(&btf, id, &full[..cut]) {
                    Err(ValueError::Short { .. }) => {}
                    other => panic!("{obj} [{id}] cut at {cut}/{size}: {other:?}"),
                }
            }
            let v = decode(&btf, id, &full).unwrap_or_else(|e| panic!("{obj} [{id}]: {e}"));
            let _ = (v.to_c(), v.to_c_pretty(40));
            serde_json::from_str::<serde_json::Value>(&v.to_json())
                .unwrap_or_else(|e| panic!("{obj} [{id}]: {e}: {}", v.to_json()));
        }
    }
}

/// A struct whose member lies past its end, an array of 2^32-1 empty structs and a struct
/// that contains itself: errors, not panics or hangs.
#[test]
fn malformed_btf_is_an_error() {
    let mut b = Builder::new();
    b.t("u32", Kind::Int, 0, false, 4, &[32]); // [1]
    b.t("far", Kind::Struct, 1, false, 4, &[0, 1, 64 * 8]); // [2] member at byte 64
    b.t("empty", Kind::Struct, 0, false, 0, &[]); // [3]
    b.t("", Kind::Array, 0, false, 0, &[3, 1, u32::MAX]); // [4]
    let n = 5; // [5] contains itself by value, [6] a typedef of it
    b.t("selfish", Kind::Struct, 1, false, 4, &[0, 6, 0]);
    b.t("selfish_t", Kind::Typedef, 0, false, n, &[]);
    let btf = Btf::parse(&b.bytes()).unwrap();
    assert!(matches!(
        decode(&btf, 2, &[0; 4]),
        Err(ValueError::Short { .. })
    ));
    assert!(matches!(
        decode(&btf, 4, &[]),
        Err(ValueError::TooLarge { .. })
    ));
    assert!(matches!(
        decode(&btf, 5, &[0; 4]),
        Err(ValueError::TooDeep { .. })
    ));
}

#[test]
fn scalars_render_in_both_forms() {
    let cases = [
        (
            Value::Uint(u128::MAX),
            "340282366920938463463374607431768211455",
            "\"0xffffffffffffffffffffffffffffffff\"",
        ),
        (Value::Int(-5), "-5", "-5"),
        (Value::Float(0.5), "0.5", "0.5"),
        (Value::Float(f64::NAN), "NaN", "\"NaN\""),
        (Value::Bytes(vec![0xab, 1]), "<bytes ab 01>", "\"ab01\""),
        (Value::Str("q\"\\".into()), "\"q\\\"\\\\\"", "\"q\\\"\\\\\""),
        (Value::Struct(vec![]), "{}", "{}"),
    ];
    for (v, c, j) in cases {
        assert_eq!(v.to_c(), c);
        assert_eq!(v.to_json(), j);
    }
}
