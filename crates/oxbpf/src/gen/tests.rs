//! Generator tests on the committed fixtures (the generated code is compiled, and driven on
//! the kernel, by the oxbpf-skel-tests crate).

use super::*;
use crate::spec::{CollectionSpec, MapSource, MapSpec, MapType};

fn testdata(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn opts(name: &str) -> SkelOptions {
    SkelOptions::new(name, ObjectRef::OutDir(format!("{name}.bpf.o")))
}

#[test]
fn default_names() {
    assert_eq!(name_from_path(Path::new("/x/xdp.bpf.o")), "xdp");
    assert_eq!(name_from_path(Path::new("my-prog.o")), "my_prog");
    assert_eq!(name_from_path(Path::new("")), "skel");
}

#[test]
fn globals_maps_and_programs() {
    let s = skeleton(&testdata("ringbuf.bpf.o"), &opts("rb")).expect("generate");
    assert!(s.contains("pub mod rb {"));
    assert!(s.contains(r#"include_bytes!(concat!(env!("OUT_DIR"), "/rb.bpf.o"))"#));
    assert!(s.contains("pub nr_records: __u32,"), "rodata struct field");
    assert!(s.contains("pub fn rodata_mut(&mut self) -> &mut Rodata"));
    assert!(
        !s.contains("RodataView"),
        ".rodata is not written after load"
    );
    assert!(s.contains("pub fn events(&self) -> Result<::oxbpf::map::RingBuf<"));
    assert!(
        s.contains("::oxbpf::map::Array<&'a ::oxbpf::map::Map, __u64>"),
        "stats"
    );
    assert!(
        s.contains("pub fn perf_events(&self) -> Result<&'a ::oxbpf::map::Map"),
        "untyped"
    );
    assert!(s.contains(r#"rt::program(self.0, "ringbuf_emit")"#));
}

#[test]
fn enum64_and_typed_globals() {
    let s = skeleton(&testdata("btf_kinds.bpf.o"), &opts("k")).expect("generate");
    assert!(s.contains("pub struct big(pub u64);"), "{s}");
    assert!(s.contains("pub fn name(self) -> Option<&'static str>"));
    assert!(
        s.contains("pub fn set_sample(&self, v: tagged)"),
        "live .data accessor"
    );
}

#[test]
fn objects_without_btf_get_byte_typed_maps() {
    let mut spec = CollectionSpec::default();
    spec.maps.insert(
        "legacy".into(),
        MapSpec {
            name: "legacy".into(),
            map_type: MapType::HASH,
            key_size: 4,
            value_size: 12,
            max_entries: 8,
            source: MapSource::Legacy,
            ..Default::default()
        },
    );
    let s = skel::generate(&spec, &opts("nobtf")).expect("generate");
    assert!(
        s.contains("HashMap<&'a ::oxbpf::map::Map, [u8; 4], [u8; 12]>"),
        "{s}"
    );
    assert!(!s.contains("pub struct Bss"));
}

#[test]
fn unknown_extra_type_is_an_error() {
    let mut o = opts("x");
    o.types = vec!["no_such".into()];
    let e = skeleton(&testdata("global_data.bpf.o"), &o).expect_err("no such type");
    assert!(
        matches!(e, GenError::NoSuchType(ref n) if n == "no_such"),
        "{e}"
    );
}

/// The file range of section `name` in an ELF object.
fn section_range(obj: &[u8], name: &str) -> std::ops::Range<usize> {
    use object::{Object, ObjectSection};
    let f = object::File::parse(obj).expect("ELF");
    let s = f.section_by_name(name).expect("section");
    let (off, len) = s.file_range().expect("in file");
    off as usize..(off + len) as usize
}

#[test]
fn corrupted_btf_never_panics() {
    for f in [
        "global_data.bpf.o",
        "btf_kinds.bpf.o",
        "maps.bpf.o",
        "cold/runqlat.bpf.o",
    ] {
        let orig = testdata(f);
        let btf = section_range(&orig, ".BTF");
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..1500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = orig.clone();
            let i = btf.start + (x % btf.len() as u64) as usize;
            b[i] ^= ((x >> 32) as u8) | 1;
            let _ = skeleton(&b, &opts("fuzz"));
        }
    }
}
