//! ELF object → [`CollectionSpec`], with no kernel access: the same bytes give the same spec on
//! any machine.
//!
//! The `object` crate parses and bounds-checks the ELF tables; everything BPF-specific is here:
//! program sections ([`sections`]), bpf-to-bpf linking, relocations to maps, global data and
//! externs, legacy and BTF-defined maps, and `.BTF.ext` records re-based onto linked programs.
//! That part is written by hand: the only crate doing it (`aya-obj`) produces aya's own object
//! model, not a spec this library can edit and load.
//!
//! Notes: section names keep a leading `?` (libbpf's "not autoloaded" marker; see
//! [`sections::classify`]); data-section maps are named by section (`.rodata`), the loader picks
//! kernel names; `BPF_F_MMAPABLE` is left to the loader (it depends on kernel support).

mod btf_fix;
mod btf_maps;
mod code;
mod data;
mod ext;
mod file;
mod link;
mod reader;
pub mod sections;
mod summary;

pub use data::BPF_F_RDONLY_PROG;
pub use file::{read_bounded, MAX_OBJECT_SIZE};
pub use summary::{relocation_summary, RelocationCounts};

use crate::btf::{Btf, BtfError, BtfExt, Kind};
use crate::spec::{
    CollectionSpec, ExternKind, ExternSpec, MapInit, MapSource, MapSpec, MapType, ProgramSpec,
    ProgramType,
};
use code::{CodeSection, ExternUse, Targets};
use reader::ElfObject;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Errors from reading an ELF object.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is not a regular file (a device, FIFO, directory...).
    #[error("{path} is {kind}, not a regular file")]
    NotRegularFile {
        /// The path.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than the bound it is read with.
    #[error("{path} is {size} bytes, over the {limit}-byte limit for this input")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The bound ([`MAX_OBJECT_SIZE`] for objects).
        limit: u64,
    },
    /// The ELF structure is malformed (truncated, offsets out of range, ...).
    #[error("malformed ELF object: {0}")]
    Format(String),
    /// The object is not for the BPF target.
    #[error(
        "not a BPF object (e_machine {machine}, expected 247); compile with `clang -target bpf`"
    )]
    NotBpf {
        /// `e_machine` found.
        machine: u16,
    },
    /// A valid ELF feature this reader does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A relocation could not be resolved.
    #[error("relocation at {section}+{offset:#x}: {reason}")]
    Relocation {
        /// Section the relocated instruction is in.
        section: String,
        /// Byte offset of the instruction.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A program could not be built (bad call target, ...).
    #[error("program '{name}': {reason}")]
    Program {
        /// Program name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A map definition is invalid.
    #[error("map '{name}': {reason}")]
    Map {
        /// Map name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The object's BTF or BTF.ext is invalid.
    #[error("object BTF: {0}")]
    Btf(#[from] BtfError),
}

/// Reads a BPF ELF object from memory.
pub fn load_collection_spec(data: &[u8]) -> Result<CollectionSpec, ElfError> {
    // The ELF reader needs 8-byte aligned headers; bytes from `include_bytes!` or a sub-slice
    // need not be, so copy those into an aligned buffer first.
    if data.as_ptr() as usize % 8 != 0 {
        let mut words = vec![0u64; data.len().div_ceil(8)];
        let aligned = &mut bytemuck_bytes(&mut words)[..data.len()];
        aligned.copy_from_slice(data);
        let obj = ElfObject::parse(aligned)?;
        return build(&obj);
    }
    let obj = ElfObject::parse(data)?;
    build(&obj)
}

/// The bytes of a `u64` buffer (always 8-byte aligned).
fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: u64 has no padding and any byte pattern is a valid u8; the length is exact.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) }
}

/// Reads a BPF ELF object from a regular file of at most [`MAX_OBJECT_SIZE`] bytes.
pub fn load_collection_spec_from_file(path: impl AsRef<Path>) -> Result<CollectionSpec, ElfError> {
    load_collection_spec(&read_bounded(path.as_ref(), MAX_OBJECT_SIZE)?)
}

fn build(obj: &ElfObject<'_>) -> Result<CollectionSpec, ElfError> {
    let mut spec = CollectionSpec::default();
    if let Some(sec) = obj.section_by_name("license") {
        let end = sec
            .data
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(sec.data.len());
        spec.license = String::from_utf8_lossy(&sec.data[..end]).into_owned();
    }
    if let Some(sec) = obj.section_by_name("version") {
        let b: [u8; 4] = sec.data.try_into().map_err(|_| {
            ElfError::Format(format!(
                "'version' section is {} bytes, expected 4",
                sec.data.len()
            ))
        })?;
        spec.kernel_version = u32::from_le_bytes(b);
    }

    let mut btf = match obj.section_by_name(".BTF") {
        Some(sec) => Some(Btf::parse(sec.data)?),
        None => None,
    };
    if let Some(btf) = btf.as_mut() {
        btf_fix::fixup_datasecs(btf, obj)?;
    }
    let btf_ext = match (obj.section_by_name(".BTF.ext"), btf.as_ref()) {
        (Some(sec), Some(btf)) => Some(BtfExt::parse(sec.data, btf)?),
        _ => None,
    };

    let mut targets = Targets::default();
    collect_maps(obj, btf.as_ref(), &mut spec, &mut targets)?;

    let mut code: BTreeMap<usize, CodeSection> = BTreeMap::new();
    let mut uses: BTreeMap<String, ExternUse> = BTreeMap::new();
    for sec in obj.sections.iter().filter(|s| s.is_exec()) {
        if sec.data.is_empty() {
            check_empty_code(obj, sec)?;
            continue;
        }
        let mut c = code::decode_section(obj, sec)?;
        code::resolve_relocations(obj, &mut c, &targets, &mut uses)?;
        code.insert(sec.index, c);
    }
    collect_externs(obj, &uses, &mut spec);
    if let Some(btf) = btf.as_mut() {
        btf_fix::classify_externs(btf, &mut spec.externs)?;
        let data_maps = targets
            .data
            .values()
            .map(|(n, s)| (n.clone(), *s))
            .collect();
        btf_fix::variable_types(btf, &data_maps, &mut spec.variables)?;
        if spec.externs.values().any(|e| e.kind == ExternKind::Kconfig) {
            let size = btf_fix::layout_kconfig(btf, &mut spec.externs)?;
            insert_map(&mut spec, kconfig_map(size))?;
        }
    } else if let Some(e) = spec
        .externs
        .values()
        .find(|e| e.kind == ExternKind::Kconfig)
    {
        return Err(ElfError::Unsupported(format!(
            "kconfig extern '{}' needs the object's BTF (compile with -g)",
            e.name
        )));
    }
    build_programs(&code, btf_ext.as_ref(), &mut spec)?;
    spec.btf = btf.map(Arc::new);
    Ok(spec)
}

/// An empty code section is fine (clang emits an empty `.text`) unless something points into
/// it: relocations or function symbols mean its contents were lost (e.g. a truncated or
/// tampered `sh_size`), and loading "no programs" from it would hide that.
fn check_empty_code(obj: &ElfObject<'_>, sec: &reader::Section<'_>) -> Result<(), ElfError> {
    let rels = obj.rels.get(&sec.index).map_or(0, Vec::len);
    let funcs = obj
        .symbols_in(sec.index)
        .iter()
        .filter(|s| s.kind == object::elf::STT_FUNC)
        .count();
    if rels == 0 && funcs == 0 {
        return Ok(());
    }
    Err(ElfError::Format(format!(
        "code section '{}' is empty (size {}) but has {rels} relocation(s) and {funcs} \
         function symbol(s): its instructions are missing (truncated or corrupted object?)",
        sec.name, sec.size
    )))
}

/// The `.kconfig` map: one read-only value the loader fills from the kernel configuration.
fn kconfig_map(size: u32) -> MapSpec {
    MapSpec {
        name: ".kconfig".into(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: size.max(1),
        max_entries: 1,
        flags: BPF_F_RDONLY_PROG,
        init: MapInit::Data(vec![0; size.max(1) as usize]),
        freeze: true,
        source: MapSource::Kconfig,
        ..MapSpec::default()
    }
}

/// Legacy maps, BTF maps and global data sections.
fn collect_maps(
    obj: &ElfObject<'_>,
    btf: Option<&Btf>,
    spec: &mut CollectionSpec,
    targets: &mut Targets,
) -> Result<(), ElfError> {
    for sec in &obj.sections {
        if sec.name == ".maps" {
            let btf = btf.ok_or_else(|| ElfError::Map {
                name: ".maps".into(),
                reason: "BTF-defined maps need the object's BTF (compile with -g)".into(),
            })?;
            targets.map_sections.push(sec.index);
            let mut maps = btf_maps::parse_btf_maps(obj, btf, sec.index)?;
            btf_maps::apply_slot_relocations(obj, sec.index, &mut maps)?;
            for m in maps {
                targets
                    .maps
                    .insert((sec.index, m.offset), m.spec.name.clone());
                insert_map(spec, m.spec)?;
            }
        } else if sec.name == "maps" {
            targets.map_sections.push(sec.index);
            for (off, m) in data::legacy_maps(obj, sec)? {
                targets.maps.insert((sec.index, off), m.name.clone());
                insert_map(spec, m)?;
            }
        } else if let Some(kind) = data::data_kind(sec) {
            let mut m = data::data_map(sec, kind)?;
            // Like libbpf: the section's DATASEC describes the value (keyless array), so the
            // kernel and bpftool can show the variables.
            m.value_type_id = btf.and_then(|b| b.find_by_name_kind(&m.name, Kind::Datasec));
            targets.data.insert(sec.index, (m.name.clone(), sec.size));
            for v in data::variables(obj, sec) {
                spec.variables.entry(v.name.clone()).or_insert(v);
            }
            insert_map(spec, m)?;
        }
    }
    Ok(())
}

fn insert_map(spec: &mut CollectionSpec, m: MapSpec) -> Result<(), ElfError> {
    if spec.maps.contains_key(&m.name) {
        return Err(ElfError::Map {
            name: m.name,
            reason: "defined twice".into(),
        });
    }
    spec.maps.insert(m.name.clone(), m);
    Ok(())
}

/// Every undefined named symbol is an extern; its kind comes from how instructions use it.
fn collect_externs(
    obj: &ElfObject<'_>,
    uses: &BTreeMap<String, ExternUse>,
    spec: &mut CollectionSpec,
) {
    for sym in obj
        .symbols
        .iter()
        .filter(|s| s.is_undef() && !s.name.is_empty() && s.is_global())
    {
        let used = uses.get(sym.name).copied().unwrap_or_default();
        let kind = if used.called {
            ExternKind::Kfunc
        } else if sym.name.starts_with("CONFIG_") || sym.name.starts_with("LINUX_") {
            ExternKind::Kconfig
        } else {
            ExternKind::Ksym
        };
        spec.externs.insert(
            sym.name.to_string(),
            ExternSpec {
                name: sym.name.to_string(),
                kind,
                weak: sym.is_weak(),
                type_id: None,
                offset: 0,
                size: 0,
            },
        );
    }
}

/// One program per function of every executable section except `.text`.
fn build_programs(
    code: &BTreeMap<usize, CodeSection>,
    btf_ext: Option<&BtfExt>,
    spec: &mut CollectionSpec,
) -> Result<(), ElfError> {
    for c in code.values().filter(|c| c.name != ".text") {
        let class = sections::classify(&c.name);
        for f in &c.funcs {
            let linked = link::link(code, c.index, f.start, &f.name)?;
            let (prog_type, expected_attach_type, flags) = match &class {
                Some(s) => (s.def.prog_type, s.def.attach_type, s.def.prog_flags),
                None => (ProgramType::UNSPEC, None, 0),
            };
            let mut prog = ProgramSpec {
                name: f.name.clone(),
                section: c.name.clone(),
                prog_type,
                expected_attach_type,
                attach_to: class.as_ref().and_then(|s| s.attach_to).map(str::to_string),
                flags,
                instructions: linked.insns,
                relocations: linked.relocations,
                core_relos: Vec::new(),
                license: spec.license.clone(),
                kernel_version: spec.kernel_version,
                ..ProgramSpec::default()
            };
            if let Some(ext) = btf_ext {
                ext::attach(&mut prog, &linked.pieces, code, ext)?;
            }
            if spec.programs.insert(f.name.clone(), prog).is_some() {
                return Err(ElfError::Program {
                    name: f.name.clone(),
                    reason: "two programs have this name".into(),
                });
            }
        }
    }
    Ok(())
}
