//! ELF reader against the committed fixtures in `testdata/elf`.

use oxbpf::elf::load_collection_spec_from_file;
use oxbpf::spec::CollectionSpec;

fn fixture(name: &str) -> CollectionSpec {
    let path = format!("{}/testdata/elf/{name}.bpf.o", env!("CARGO_MANIFEST_DIR"));
    load_collection_spec_from_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn dump() {
    for f in ["progs", "maps", "legacy", "globals", "externs"] {
        let s = fixture(f);
        eprintln!("== {f}");
        for p in s.programs.values() {
            eprintln!(
                "{} {} {:?} {:?} {:?} flags={} n={} relocs={:?}",
                p.name,
                p.section,
                p.prog_type,
                p.expected_attach_type,
                p.attach_to,
                p.flags,
                p.instructions.len(),
                p.relocations
            );
        }
        for m in s.maps.values() {
            eprintln!("{m:?}");
        }
        for v in s.variables.values() {
            eprintln!("{v:?}");
        }
        for v in s.externs.values() {
            eprintln!("{v:?}");
        }
    }
}
