//! `oxbpf inspect OBJ`: what an object contains, without touching the kernel.

use crate::output::Output;
use oxbpf::spec::{CollectionSpec, MapSpec, Pinning, ProgramSpec, RelocTarget};
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `oxbpf inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The BPF ELF object.
    pub object: PathBuf,
}

/// Runs `oxbpf inspect`.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let spec = super::read_spec(&args.object)?;
    out.emit(&to_json(&spec), || to_text(&spec));
    Ok(ExitCode::SUCCESS)
}

/// Relocation counts of one program: maps, global data, externs.
fn reloc_counts(p: &ProgramSpec) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for r in &p.relocations {
        match r.target {
            RelocTarget::Map(_) => c.0 += 1,
            RelocTarget::MapValue { .. } => c.1 += 1,
            RelocTarget::Extern(_) => c.2 += 1,
        }
    }
    c
}

fn program_json(p: &ProgramSpec) -> Value {
    let (maps, data, externs) = reloc_counts(p);
    json!({
        "name": p.name,
        "section": p.section,
        "type": p.prog_type.to_string(),
        "attach_type": p.expected_attach_type.map(|a| a.to_string()),
        "attach_to": p.attach_to,
        "instructions": p.instructions.len(),
        "flags": p.flags,
        "relocations": { "map": maps, "data": data, "extern": externs, "core": p.core_relos.len() },
        "func_info": p.func_info.len(),
        "line_info": p.line_info.len(),
    })
}

fn pinning_name(p: Pinning) -> &'static str {
    match p {
        Pinning::None => "none",
        Pinning::ByName => "by_name",
    }
}

fn map_json(m: &MapSpec) -> Value {
    json!({
        "name": m.name,
        "type": m.map_type.to_string(),
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "flags": m.flags,
        "pinning": pinning_name(m.pinning),
        "source": format!("{:?}", m.source).to_lowercase(),
        "inner": m.inner.as_ref().map(|i| map_json(i)),
    })
}

/// The JSON form of `oxbpf inspect`.
pub fn to_json(spec: &CollectionSpec) -> Value {
    json!({
        "license": spec.license,
        "kernel_version": spec.kernel_version,
        "btf": spec.btf.is_some(),
        "programs": spec.programs.values().map(program_json).collect::<Vec<_>>(),
        "maps": spec.maps.values().map(map_json).collect::<Vec<_>>(),
        "variables": spec.variables.values().map(|v| json!({
            "name": v.name, "map": v.map, "offset": v.offset, "size": v.size,
        })).collect::<Vec<_>>(),
        "externs": spec.externs.values().map(|e| json!({
            "name": e.name, "kind": format!("{:?}", e.kind).to_lowercase(), "weak": e.weak,
        })).collect::<Vec<_>>(),
    })
}

fn to_text(spec: &CollectionSpec) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "license: {:?}  kernel version: {:#x}  BTF: {}",
        spec.license,
        spec.kernel_version,
        if spec.btf.is_some() { "yes" } else { "no" }
    );
    let _ = writeln!(s, "\nprograms ({}):", spec.programs.len());
    let _ = writeln!(
        s,
        "  {:<24} {:<28} {:<16} {:<22} {:>6}  relocs(map/data/extern/core)",
        "NAME", "SECTION", "TYPE", "ATTACH TYPE", "INSNS"
    );
    for p in spec.programs.values() {
        let (m, d, e) = reloc_counts(p);
        let attach = p
            .expected_attach_type
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "  {:<24} {:<28} {:<16} {:<22} {:>6}  {m}/{d}/{e}/{}",
            p.name,
            p.section,
            p.prog_type.to_string(),
            attach,
            p.instructions.len(),
            p.core_relos.len()
        );
    }
    let _ = writeln!(s, "\nmaps ({}):", spec.maps.len());
    let _ = writeln!(
        s,
        "  {:<24} {:<18} {:>5} {:>7} {:>11} {:>8}  PINNING",
        "NAME", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS"
    );
    for m in spec.maps.values() {
        let _ = writeln!(
            s,
            "  {:<24} {:<18} {:>5} {:>7} {:>11} {:>#8x}  {}",
            m.name,
            m.map_type.to_string(),
            m.key_size,
            m.value_size,
            m.max_entries,
            m.flags,
            pinning_name(m.pinning)
        );
    }
    if !spec.variables.is_empty() {
        let _ = writeln!(s, "\nglobal variables ({}):", spec.variables.len());
        for v in spec.variables.values() {
            let _ = writeln!(
                s,
                "  {:<32} {:<20} size {}",
                v.name,
                format!("{}+{}", v.map, v.offset),
                v.size
            );
        }
    }
    if !spec.externs.is_empty() {
        let _ = writeln!(s, "\nexterns ({}):", spec.externs.len());
        for e in spec.externs.values() {
            let weak = if e.weak { " (weak)" } else { "" };
            let _ = writeln!(s, "  {:<32} {:?}{weak}", e.name, e.kind);
        }
    }
    s
}
