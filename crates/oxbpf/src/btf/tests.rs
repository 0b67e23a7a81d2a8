//! Unit tests on hand-built BTF blobs.

use super::raw::{make_info, Kind};
use super::*;
use std::sync::Arc;

/// Assembles BTF blobs: types as 32-bit words, strings deduplicated.
#[derive(Default)]
pub(crate) struct Builder {
    words: Vec<u32>,
    strs: Vec<u8>,
    base_str_len: u32,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Builder {
            strs: vec![0],
            ..Default::default()
        }
    }
    fn split(base: &Btf) -> Self {
        Builder {
            base_str_len: base.strings_end(),
            ..Default::default()
        }
    }
    fn s(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.base_str_len + self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }
    pub(crate) fn t(
        &mut self,
        name: &str,
        kind: Kind,
        vlen: u32,
        kflag: bool,
        st: u32,
        extra: &[u32],
    ) {
        let n = self.s(name);
        self.words
            .extend_from_slice(&[n, make_info(kind, vlen, kflag), st]);
        self.words.extend_from_slice(extra);
    }
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let types: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for w in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            self.strs.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(&self.strs);
        out
    }
}

/// One type of every kind. Ids: see the comments.
fn all_kinds() -> Vec<u8> {
    let mut b = Builder::new();
    b.t("int", Kind::Int, 0, false, 4, &[(1 << 24) | 32]); // 1
    b.t("", Kind::Ptr, 0, false, 4, &[]); // 2 -> 4
    b.t("", Kind::Array, 0, false, 0, &[1, 1, 3]); // 3 int[3]
    let (a, c) = (b.s("a"), b.s("c"));
    b.t(
        "s",
        Kind::Struct,
        2,
        true,
        16,
        &[a, 1, 0, c, 1, (3 << 24) | 64],
    ); // 4
    let x = b.s("x");
    b.t("u", Kind::Union, 1, false, 4, &[x, 1, 0]); // 5
    let (e1, e2) = (b.s("E1"), b.s("E2"));
    b.t("e", Kind::Enum, 2, true, 4, &[e1, 1, e2, (-2i32) as u32]); // 6
    b.t("fw", Kind::Fwd, 0, true, 0, &[]); // 7
    b.t("myint", Kind::Typedef, 0, false, 1, &[]); // 8
    b.t("", Kind::Volatile, 0, false, 8, &[]); // 9
    b.t("", Kind::Const, 0, false, 9, &[]); // 10
    b.t("", Kind::Restrict, 0, false, 2, &[]); // 11
    b.t("f", Kind::Func, 1, false, 13, &[]); // 12 global
    let p = b.s("p");
    b.t("", Kind::FuncProto, 2, false, 1, &[p, 1, 0, 0]); // 13 int(int p, ...)
    b.t("v", Kind::Var, 0, false, 3, &[1]); // 14
    b.t(".data", Kind::Datasec, 1, false, 0, &[14, 0, 12]); // 15
    b.t("double", Kind::Float, 0, false, 8, &[]); // 16
    b.t("tag", Kind::DeclTag, 0, false, 4, &[1]); // 17
    b.t("user", Kind::TypeTag, 0, false, 1, &[]); // 18
    let big = b.s("BIG");
    b.t("e64", Kind::Enum64, 1, false, 8, &[big, 0x2, 0x1]); // 19
    b.t("s", Kind::Typedef, 0, false, 4, &[]); // 20: same name as 4
    b.bytes()
}

fn exercise(btf: &Btf) {
    // Every accessor on every id (and a few past the end) must return, not panic.
    for id in 0..btf.types_len() + 3 {
        let _ = btf.kind(id);
        let _ = btf.name_of(id);
        let _ = btf.resolve_size(id);
        let _ = btf.resolve_align(id);
        let _ = btf.skip_mods_and_typedefs(id);
        if let Ok(t) = btf.type_by_id(id) {
            let _ = (t.name(), t.size(), t.ref_type(), t.kind());
            match t {
                Type::Struct(c) | Type::Union(c) => {
                    c.members().for_each(|m| drop(btf.type_by_id(m.type_id)))
                }
                Type::Enum(e) | Type::Enum64(e) => e.values().for_each(drop),
                Type::FuncProto(p) => {
                    p.params().for_each(drop);
                    let _ = p.is_variadic();
                }
                Type::Datasec(d) => d.vars().for_each(drop),
                _ => {}
            }
        }
    }
    for name in ["int", "s", "", "nope", "E1"] {
        let _ = btf.find_by_name(name);
    }
    let _ = Btf::parse(&btf.to_bytes());
}

#[test]
fn decodes_every_kind() {
    let raw = all_kinds();
    let btf = Btf::parse(&raw).unwrap();
    assert_eq!(btf.types_len(), 21);
    let kinds: Vec<Kind> = (1..20).map(|id| btf.kind(id).unwrap()).collect();
    assert_eq!(
        kinds,
        (1..20)
            .map(|k| Kind::from_raw(k).unwrap())
            .collect::<Vec<_>>()
    );
    match btf.type_by_id(1).unwrap() {
        Type::Int(i) => assert_eq!(
            (i.name, i.size, i.bits, i.is_signed()),
            ("int", 4, 32, true)
        ),
        t => panic!("{t:?}"),
    }
    let Type::Struct(s) = btf.type_by_id(4).unwrap() else {
        panic!()
    };
    let m: Vec<_> = s.members().collect();
    assert_eq!(
        (m[0].name, m[0].bit_offset, m[0].bitfield_size),
        ("a", 0, 0)
    );
    assert_eq!(
        (m[1].name, m[1].bit_offset, m[1].bitfield_size),
        ("c", 64, 3)
    );
    let Type::Enum(e) = btf.type_by_id(6).unwrap() else {
        panic!()
    };
    let v: Vec<_> = e.values().map(|v| (v.name, v.value as i64)).collect();
    assert_eq!(v, [("E1", 1), ("E2", -2)]);
    let Type::Enum64(e) = btf.type_by_id(19).unwrap() else {
        panic!()
    };
    assert_eq!(e.values().next().unwrap().value, 0x1_0000_0002);
    let Type::Func(f) = btf.type_by_id(12).unwrap() else {
        panic!()
    };
    assert_eq!((f.name, f.proto, f.linkage), ("f", 13, FuncLinkage::Global));
    let Type::FuncProto(p) = btf.type_by_id(13).unwrap() else {
        panic!()
    };
    assert!(p.is_variadic());
    assert_eq!(p.params().next().unwrap().name, "p");
    let Type::Datasec(d) = btf.type_by_id(15).unwrap() else {
        panic!()
    };
    assert_eq!(
        d.vars().next().unwrap(),
        VarSecinfo {
            type_id: 14,
            offset: 0,
            size: 12
        }
    );
    let Type::DeclTag(t) = btf.type_by_id(17).unwrap() else {
        panic!()
    };
    assert_eq!((t.name, t.type_id, t.component_idx), ("tag", 4, 1));
    let Type::Fwd(f) = btf.type_by_id(7).unwrap() else {
        panic!()
    };
    assert!(f.is_union);
    assert!(matches!(btf.type_by_id(0).unwrap(), Type::Void));
    exercise(&btf);
}

#[test]
fn sizes_and_mods() {
    let btf = Btf::parse(&all_kinds()).unwrap();
    assert_eq!(btf.resolve_size(3).unwrap(), 12); // int[3]
    assert_eq!(btf.resolve_size(10).unwrap(), 4); // const volatile myint
    assert_eq!(btf.resolve_size(14).unwrap(), 12); // var of int[3]
    assert_eq!(btf.resolve_size(2).unwrap(), 8);
    assert_eq!(btf.resolve_size(19).unwrap(), 8);
    assert!(matches!(btf.resolve_size(12), Err(BtfError::NoSize { .. })));
    assert!(matches!(btf.resolve_size(0), Err(BtfError::NoSize { .. })));
    assert!(matches!(
        btf.resolve_size(99),
        Err(BtfError::TypeIdOutOfRange { .. })
    ));
    assert_eq!(btf.skip_mods_and_typedefs(10).unwrap(), 1);
    assert_eq!(btf.skip_mods(10).unwrap(), 8);
    assert_eq!(btf.resolve_align(4).unwrap(), 4);
}

#[test]
fn reference_loops_are_errors() {
    let mut b = Builder::new();
    b.t("a", Kind::Typedef, 0, false, 2, &[]);
    b.t("b", Kind::Const, 0, false, 1, &[]);
    let btf = Btf::parse(&b.bytes()).unwrap();
    assert!(matches!(
        btf.resolve_size(1),
        Err(BtfError::LoopDetected { id: 1 })
    ));
    assert!(matches!(
        btf.skip_mods_and_typedefs(1),
        Err(BtfError::LoopDetected { .. })
    ));
}

#[test]
fn find_by_name_scan_and_index_agree() {
    let btf = Btf::parse(&all_kinds()).unwrap();
    let q = |b: &Btf| {
        (
            b.find_by_name("s"),
            b.find_by_name("int"),
            b.find_by_name("E1"), // an enumerator, not a type
            b.find_by_name(""),
            b.find_by_name_kind("s", Kind::Typedef),
            b.find_by_name_kind("s", Kind::Union),
        )
    };
    let scanned = q(&btf);
    assert_eq!(
        scanned,
        (vec![4, 20], vec![1], vec![], vec![], Some(20), None)
    );
    btf.build_name_index();
    assert_eq!(q(&btf), scanned);
    // The index is dropped by edits and rebuilt with the new names.
    let mut btf = btf;
    let id = btf.add_int("s", 2, 0).unwrap();
    assert_eq!(btf.find_by_name("s"), vec![4, 20, id]);
    assert_eq!(btf.find_by_name("s"), vec![4, 20, id]);
}

#[test]
fn big_endian_is_converted() {
    let le = all_kinds();
    let mut be = le.clone();
    be[0..2].copy_from_slice(&[0xeb, 0x9f]);
    for w in be[4..24].chunks_exact_mut(4) {
        w.reverse();
    }
    let tlen = u32::from_le_bytes(le[12..16].try_into().unwrap()) as usize;
    for w in be[24..24 + tlen].chunks_exact_mut(4) {
        w.reverse();
    }
    let btf = Btf::parse(&be).unwrap();
    assert!(btf.was_big_endian());
    assert_eq!(btf.to_bytes(), le);
}

#[test]
fn round_trip_is_byte_equal() {
    let raw = all_kinds();
    assert_eq!(Btf::parse(&raw).unwrap().to_bytes(), raw);
}

#[test]
fn truncation_and_junk_never_panic() {
    let raw = all_kinds();
    for n in 0..raw.len() {
        let r = Btf::parse(&raw[..n]);
        assert!(r.is_err(), "truncated to {n} bytes parsed");
    }
    // Overwrite every byte with a few values; whatever parses must be safe to query.
    for i in 0..raw.len() {
        for v in [0x00, 0x01, 0x7f, 0x80, 0xff, raw[i] ^ 0x10] {
            let mut bad = raw.clone();
            bad[i] = v;
            if let Ok(btf) = Btf::parse(&bad) {
                exercise(&btf);
            }
        }
    }
}

#[test]
fn malformed_inputs_have_precise_errors() {
    let raw = all_kinds();
    let mut bad = raw.clone();
    bad[0] = 0;
    assert!(matches!(Btf::parse(&bad), Err(BtfError::BadMagic { .. })));
    let mut bad = raw.clone();
    bad[2] = 2;
    assert!(matches!(
        Btf::parse(&bad),
        Err(BtfError::UnsupportedVersion { version: 2 })
    ));

    let mut b = Builder::new();
    b.t("p", Kind::Ptr, 0, false, 7, &[]);
    assert!(matches!(
        Btf::parse(&b.bytes()),
        Err(BtfError::BadTypeId {
            id: 1,
            refers_to: 7,
            types_len: 2
        })
    ));
    let mut b = Builder::new();
    b.words
        .extend_from_slice(&[9999, make_info(Kind::Ptr, 0, false), 0]);
    assert!(matches!(
        Btf::parse(&b.bytes()),
        Err(BtfError::BadNameOffset {
            id: 1,
            offset: 9999,
            ..
        })
    ));
    let mut b = Builder::new();
    b.words.extend_from_slice(&[0, 25 << 24, 0]);
    assert!(matches!(
        Btf::parse(&b.bytes()),
        Err(BtfError::UnknownKind { id: 1, kind: 25 })
    ));
    let mut b = Builder::new();
    b.t("i", Kind::Int, 3, false, 4, &[32]);
    assert!(matches!(
        Btf::parse(&b.bytes()),
        Err(BtfError::BadVlen { id: 1, vlen: 3, .. })
    ));
    let mut b = Builder::new();
    b.t("s", Kind::Struct, 5, false, 4, &[0, 0, 0]);
    assert!(matches!(
        Btf::parse(&b.bytes()),
        Err(BtfError::TruncatedType { id: 1, .. })
    ));
    let mut b = Builder::new();
    b.strs = b"\0abc".to_vec();
    assert!(matches!(
        Btf::parse(&b.bytes()),
        Err(BtfError::BadStrings { .. })
    ));
    let msg = BtfError::BadMagic { magic: 1 }.to_string();
    assert!(msg.contains("0xeb9f"), "{msg}");
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base = Arc::new(Btf::parse(&all_kinds()).unwrap());
    let mut b = Builder::split(&base);
    let int_name = 1; // "int" in the base string section
    b.words
        .extend_from_slice(&[int_name, make_info(Kind::Typedef, 0, false), 1]); // 21
    b.t("mod_s", Kind::Struct, 1, false, 8, &[0, 21, 0]); // 22 (member name "")
    b.t("", Kind::Ptr, 0, false, 4, &[]); // 23 -> base struct s
    let split = Btf::parse_split(&b.bytes(), base.clone()).unwrap();
    assert_eq!(split.start_id(), 21);
    assert_eq!(split.types_len(), 24);
    assert_eq!(split.name_of(21).unwrap(), "int");
    assert_eq!(split.name_of(22).unwrap(), "mod_s");
    assert_eq!(split.name_of(4).unwrap(), "s");
    assert_eq!(split.find_by_name("int"), vec![1, 21]);
    assert_eq!(split.find_by_name_kind("mod_s", Kind::Struct), Some(22));
    assert_eq!(split.resolve_size(22).unwrap(), 8);
    split.build_name_index();
    assert_eq!(split.find_by_name("int"), vec![1, 21]);
    assert_eq!(split.to_bytes(), b.bytes());
    // A split blob referring past its own types is rejected.
    let mut b = Builder::split(&base);
    b.t("", Kind::Ptr, 0, false, 30, &[]);
    assert!(matches!(
        Btf::parse_split(&b.bytes(), base.clone()),
        Err(BtfError::BadTypeId {
            id: 21,
            refers_to: 30,
            ..
        })
    ));
    // Base types cannot be edited through the split BTF.
    let mut split = split;
    assert!(split.set_datasec_size(15, 4).is_err());
    exercise(&split);
}

#[test]
fn edits_and_appends() {
    let mut btf = Btf::parse(&all_kinds()).unwrap();
    btf.set_datasec_size(15, 12).unwrap();
    btf.set_datasec_var(15, 0, 0, 12).unwrap();
    assert!(matches!(
        btf.set_datasec_var(15, 1, 0, 4),
        Err(BtfError::IndexOutOfRange {
            index: 1,
            vlen: 1,
            ..
        })
    ));
    assert!(matches!(
        btf.set_datasec_size(4, 1),
        Err(BtfError::WrongKind { .. })
    ));
    let Type::Datasec(d) = btf.type_by_id(15).unwrap() else {
        panic!()
    };
    assert_eq!(d.size, 12);
    btf.set_func_linkage(12, FuncLinkage::Static).unwrap();
    assert!(
        matches!(btf.type_by_id(12).unwrap(), Type::Func(f) if f.linkage == FuncLinkage::Static)
    );
    assert_eq!(btf.add_string("int"), 1);
    let off = btf.add_string("brand_new");
    assert_eq!(btf.str_at(off).unwrap(), "brand_new");
    assert_eq!(btf.add_string("brand_new"), off);
    let id = btf.add_int("u8", 1, 0).unwrap();
    assert_eq!(id, 21);
    assert_eq!(btf.resolve_size(id).unwrap(), 1);
    assert!(btf.replace_type(1, &[0; 12]).is_err()); // wrong size
    assert!(btf.push_type(&[0, 0, 0, 0]).is_err());
    let again = Btf::parse(&btf.to_bytes()).unwrap();
    assert_eq!(again.to_bytes(), btf.to_bytes());
    assert_eq!(again.name_of(21).unwrap(), "u8");
}

#[test]
fn sanitize_rewrites_like_libbpf() {
    let mut btf = Btf::parse(&all_kinds()).unwrap();
    let all = MissingFeatures {
        func: false,
        func_global: true,
        datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    };
    let changed = btf.sanitize(&all).unwrap();
    assert_eq!(changed, 8); // func, var, datasec, float, decl_tag, type_tag, enum (signed), enum64
    assert_eq!(btf.kind(14).unwrap(), Kind::Int);
    let Type::Struct(s) = btf.type_by_id(15).unwrap() else {
        panic!()
    };
    assert_eq!(s.name, "_data");
    let m = s.members().next().unwrap();
    assert_eq!((m.name, m.type_id, m.bit_offset), ("v", 14, 0));
    assert_eq!(btf.kind(16).unwrap(), Kind::Struct);
    assert_eq!(btf.resolve_size(16).unwrap(), 8);
    assert_eq!(btf.kind(17).unwrap(), Kind::Int);
    assert_eq!(btf.kind(18).unwrap(), Kind::Const);
    let Type::Union(u) = btf.type_by_id(19).unwrap() else {
        panic!()
    };
    let ph = u.members().next().unwrap().type_id;
    assert_eq!(btf.name_of(ph).unwrap(), "enum64_placeholder");
    assert_eq!(u.size, 8);
    assert!(matches!(btf.type_by_id(6).unwrap(), Type::Enum(e) if !e.signed));
    assert!(
        matches!(btf.type_by_id(12).unwrap(), Type::Func(f) if f.linkage == FuncLinkage::Static)
    );

    let mut btf = Btf::parse(&all_kinds()).unwrap();
    let nofunc = MissingFeatures {
        func: true,
        ..Default::default()
    };
    assert_eq!(btf.sanitize(&nofunc).unwrap(), 2);
    assert_eq!(btf.kind(12).unwrap(), Kind::Typedef);
    assert_eq!(btf.kind(13).unwrap(), Kind::Enum);
    Btf::parse(&btf.to_bytes()).unwrap();
    assert_eq!(btf.sanitize(&MissingFeatures::default()).unwrap(), 0);
}

/// A `.BTF.ext` with one func_info, two line_info and one CO-RE record in section "xdp".
fn ext_blob(btf_sec_name_off: u32) -> Vec<u8> {
    let mut w: Vec<u32> = Vec::new();
    let fi = [8, btf_sec_name_off, 1, 0, 12];
    let li = [
        16,
        btf_sec_name_off,
        2,
        0,
        1,
        1,
        (7 << 10) | 3,
        8,
        1,
        1,
        8 << 10,
    ];
    let cr = [16, btf_sec_name_off, 1, 16, 4, 1, 0];
    let (fl, ll, cl) = (
        fi.len() as u32 * 4,
        li.len() as u32 * 4,
        cr.len() as u32 * 4,
    );
    let mut hdr = vec![0u8; 8];
    hdr[0..2].copy_from_slice(&[0x9f, 0xeb]);
    hdr[2] = 1;
    hdr[4..8].copy_from_slice(&32u32.to_le_bytes());
    w.extend_from_slice(&[0, fl, fl, ll, fl + ll, cl]);
    w.extend_from_slice(&fi);
    w.extend_from_slice(&li);
    w.extend_from_slice(&cr);
    hdr.extend(w.iter().flat_map(|x| x.to_le_bytes()));
    hdr
}

#[test]
fn btf_ext_parses_and_rejects_junk() {
    let mut b = Builder::new();
    b.t("int", Kind::Int, 0, false, 4, &[32]);
    let xdp = b.s("xdp");
    let btf = Btf::parse(&b.bytes()).unwrap();
    let raw = ext_blob(xdp);
    let ext = BtfExt::parse(&raw, &btf).unwrap();
    assert_eq!(ext.func_info["xdp"], vec![spec_fi(0, 12)]);
    assert_eq!(ext.line_info["xdp"].len(), 2);
    assert_eq!(ext.line_info["xdp"][0].line(), 7);
    assert_eq!(ext.line_info["xdp"][0].column(), 3);
    assert_eq!(ext.line_info["xdp"][1].insn_off, 8); // bytes, as in the file
    assert_eq!(ext.core_relos["xdp"][0].insn_off, 16);
    assert_eq!(ext.core_relos["xdp"][0].access_str_off, 1);
    assert_eq!(
        (
            ext.func_info_rec_size,
            ext.line_info_rec_size,
            ext.core_relo_rec_size
        ),
        (8, 16, 16)
    );
    for n in 0..raw.len() {
        let _ = BtfExt::parse(&raw[..n], &btf);
    }
    for i in 0..raw.len() {
        for v in [0u8, 0xff, 0x7f] {
            let mut bad = raw.clone();
            bad[i] = v;
            let _ = BtfExt::parse(&bad, &btf);
        }
    }
    assert!(BtfExt::parse(&ext_blob(999), &btf).is_err());
}

fn spec_fi(insn_off: u32, type_id: u32) -> crate::spec::FuncInfo {
    crate::spec::FuncInfo { insn_off, type_id }
}

#[test]
fn btf_is_clone_debug_send_sync() {
    fn check<T: Clone + std::fmt::Debug + Send + Sync>() {}
    check::<Btf>();
    check::<BtfExt>();
    let btf = Btf::parse(&all_kinds()).unwrap();
    let dbg = format!("{btf:?}");
    assert!(dbg.contains("types_len: 21"), "{dbg}");
}
