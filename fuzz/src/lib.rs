//! Fuzz entry points shared by the cargo-fuzz targets (`fuzz_targets/*.rs`, nightly) and the
//! stable in-process harness (`cargo xtask fuzz`). Each takes arbitrary bytes and must never
//! panic, loop forever or allocate without bound: bad input is a typed error.

use oxbpf::btf::{dump, value, Btf, BtfExt};
use oxbpf::collection::check::{check, CheckTarget};
use std::sync::Arc;

/// Parses `data` as BTF and exercises every query on every type, both dumpers, and the
/// value formatter on whole and truncated patterned values of the first types.
pub fn btf_parse(data: &[u8]) {
    let Ok(btf) = Btf::parse(data) else {
        return;
    };
    exercise_btf(&btf);
}

fn exercise_btf(btf: &Btf) {
    let mut names = Vec::new();
    for (id, t) in btf.iter() {
        let _ = btf.resolve_size(id);
        let _ = btf.resolve_align(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = dump::type_name(btf, id);
        if id < 64 {
            exercise_value(btf, id);
        }
        if names.len() < 8 && !t.name().is_empty() {
            names.push(t.name().to_string());
        }
    }
    for n in &names {
        let _ = btf.find_by_name(n);
    }
    let _ = dump::to_c(btf);
    let _ = dump::to_json_lines(btf, &mut std::io::sink());
    let _ = btf.to_bytes();
}

/// Decodes a patterned value of type `id` (at most 4 KiB), whole and cut short, and prints it.
fn exercise_value(btf: &Btf, id: u32) {
    let size = btf.resolve_size(id).map_or(16, |s| s.min(4096)) as usize;
    let bytes: Vec<u8> = (0..size).map(|i| (i * 37 + 11) as u8).collect();
    for data in [&bytes[..], &bytes[..size / 2]] {
        if let Ok(v) = value::decode(btf, id, data) {
            let _ = (v.to_c(), v.to_c_pretty(40), v.to_json());
        }
    }
}

/// `[u16 LE n][n bytes of BTF][.BTF.ext bytes]`: parses the BTF, then the `.BTF.ext` on it.
pub fn btf_ext(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    if rest.len() < n {
        return;
    }
    let (b, ext) = rest.split_at(n);
    let Ok(btf) = Btf::parse(b) else {
        return;
    };
    let _ = BtfExt::parse(ext, &btf);
}

/// Reads `data` as a BPF ELF object and runs the offline check (CO-RE against its own BTF).
pub fn elf_spec(data: &[u8]) {
    let Ok(spec) = oxbpf::elf::load_collection_spec(data) else {
        return;
    };
    for p in spec.programs.values() {
        for i in &p.instructions {
            let _ = i.to_bytes();
        }
    }
    if let Some(btf) = spec.btf.clone() {
        let target = CheckTarget {
            vmlinux: Arc::clone(&btf),
            modules: Vec::new(),
            kallsyms: None,
        };
        for p in check(&spec, &target) {
            let _ = (p.errors(), p.warnings());
        }
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// The targets by name.
pub const TARGETS: [(&str, Target); 3] = [
    ("btf_parse", btf_parse),
    ("btf_ext", btf_ext),
    ("elf_spec", elf_spec),
];
