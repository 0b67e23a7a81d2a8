//! Maps that need no BTF: legacy `maps` definitions (`struct bpf_map_def`) and global data
//! sections (`.data`, `.rodata`, `.bss` and their `.name` variants), plus the variables in them.

use super::reader::{ElfObject, Section};
use super::ElfError;
use crate::spec::{MapInit, MapSource, MapSpec, MapType, VariableSpec};
use object::elf;

/// `BPF_F_RDONLY_PROG`: programs may only read the map.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// The kind of a global-data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataKind {
    /// `.data`, `.data.*`.
    Data,
    /// `.rodata`, `.rodata.*`.
    Rodata,
    /// `.bss`, `.bss.*`.
    Bss,
}

fn has_prefix(name: &str, base: &str) -> bool {
    name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'))
}

/// Classifies a section as global data, if it is one.
pub(super) fn data_kind(sec: &Section<'_>) -> Option<DataKind> {
    if sec.is_exec() || sec.size == 0 {
        return None;
    }
    match sec.sh_type {
        elf::SHT_PROGBITS if has_prefix(sec.name, ".data") => Some(DataKind::Data),
        elf::SHT_PROGBITS if has_prefix(sec.name, ".rodata") => Some(DataKind::Rodata),
        elf::SHT_NOBITS if has_prefix(sec.name, ".bss") => Some(DataKind::Bss),
        _ => None,
    }
}

/// Largest map value a section may ask for. The kernel caps array values at `KMALLOC_MAX_SIZE`
/// (a few MiB); anything far above that is a corrupt object, and must not make us allocate it.
pub(super) const MAX_VALUE_SIZE: u32 = 64 << 20;

/// The array map holding a global-data section (one value, key 0).
pub(super) fn data_map(sec: &Section<'_>, kind: DataKind) -> Result<MapSpec, ElfError> {
    let size = u32::try_from(sec.size)
        .ok()
        .filter(|&s| s <= MAX_VALUE_SIZE)
        .ok_or_else(|| ElfError::Map {
            name: sec.name.to_string(),
            reason: format!(
                "data section of {} bytes does not fit a map value (at most {MAX_VALUE_SIZE} bytes)",
                sec.size
            ),
        })?;
    let bytes = match kind {
        DataKind::Bss => vec![0; size as usize],
        _ => sec.data.to_vec(),
    };
    let rodata = kind == DataKind::Rodata;
    Ok(MapSpec {
        name: sec.name.to_string(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: size,
        max_entries: 1,
        flags: if rodata { BPF_F_RDONLY_PROG } else { 0 },
        init: MapInit::Data(bytes),
        freeze: rodata,
        source: MapSource::Data,
        ..MapSpec::default()
    })
}

/// Named object symbols of a data section, as variables.
pub(super) fn variables(obj: &ElfObject<'_>, sec: &Section<'_>) -> Vec<VariableSpec> {
    obj.symbols_in(sec.index)
        .into_iter()
        .filter(|s| {
            matches!(s.kind, elf::STT_OBJECT | elf::STT_NOTYPE)
                && !s.name.is_empty()
                && !s.name.starts_with(".L")
                && s.value <= sec.size
                && s.value.saturating_add(s.size) <= sec.size
        })
        .map(|s| VariableSpec {
            name: s.name.to_string(),
            map: sec.name.to_string(),
            offset: s.value as u32,
            size: s.size as u32,
            type_id: None,
        })
        .collect()
}

/// Size of `struct bpf_map_def` (type, key_size, value_size, max_entries, map_flags).
const MAP_DEF_SIZE: usize = 20;

/// Legacy map definitions of the `maps` section, with each map's offset in it.
pub(super) fn legacy_maps(
    obj: &ElfObject<'_>,
    sec: &Section<'_>,
) -> Result<Vec<(u64, MapSpec)>, ElfError> {
    let syms: Vec<_> = obj
        .symbols_in(sec.index)
        .into_iter()
        .filter(|s| !s.name.is_empty() && s.kind != elf::STT_SECTION)
        .collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    if sec.sh_type == elf::SHT_NOBITS {
        return Err(ElfError::Map {
            name: syms[0].name.to_string(),
            reason: "legacy 'maps' section has no contents (all definitions zero)".into(),
        });
    }
    let entry = sec.data.len() / syms.len();
    if entry < MAP_DEF_SIZE || sec.data.len() % syms.len() != 0 {
        return Err(ElfError::Map {
            name: syms[0].name.to_string(),
            reason: format!(
                "legacy 'maps' section of {} bytes does not divide into {} definitions of at least {MAP_DEF_SIZE} bytes",
                sec.data.len(),
                syms.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(syms.len());
    for s in syms {
        let off = s.value as usize;
        let def = sec
            .data
            .get(off..off.saturating_add(MAP_DEF_SIZE))
            .ok_or_else(|| ElfError::Map {
                name: s.name.to_string(),
                reason: format!("definition at offset {off} runs past the 'maps' section"),
            })?;
        let u = |i: usize| {
            u32::from_le_bytes([def[i * 4], def[i * 4 + 1], def[i * 4 + 2], def[i * 4 + 3]])
        };
        out.push((
            s.value,
            MapSpec {
                name: s.name.to_string(),
                map_type: MapType(u(0)),
                key_size: u(1),
                value_size: u(2),
                max_entries: u(3),
                flags: u(4),
                source: MapSource::Legacy,
                ..MapSpec::default()
            },
        ));
    }
    Ok(out)
}
