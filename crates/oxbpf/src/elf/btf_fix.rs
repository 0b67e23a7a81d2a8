//! Object-BTF fix-ups the compiler cannot do: DATASEC sizes and variable offsets from the ELF
//! section sizes and symbol values, variables sorted by offset, the `.kconfig` layout; and
//! extern kinds, global-variable types from the DATASECs.

use super::reader::ElfObject;
use super::ElfError;
use crate::btf::{Btf, Kind, Type, VarLinkage};
use crate::spec::{ExternKind, ExternSpec, VariableSpec};
use object::elf;
use std::collections::BTreeMap;

/// Extern-backing DATASECs, laid out by [`layout_kconfig`] / resolved at load instead.
const KCONFIG: &str = ".kconfig";
const KSYMS: &str = ".ksyms";

fn datasec_ids(btf: &Btf) -> Vec<u32> {
    btf.ids_of_kind(Kind::Datasec).collect()
}

/// Sets each DATASEC's size and variable offsets from the ELF file where the compiler left
/// the size 0, then sorts the variables by offset (the kernel requires it).
pub(super) fn fixup_datasecs(btf: &mut Btf, obj: &ElfObject<'_>) -> Result<(), ElfError> {
    for id in datasec_ids(btf) {
        let Type::Datasec(ds) = btf.type_by_id(id)? else {
            continue;
        };
        let name = ds.name.to_string();
        if name == KCONFIG || name == KSYMS {
            continue;
        }
        let Some(sec) = obj.section_by_name(&name) else {
            continue;
        };
        if ds.size != 0 {
            sort_datasec(btf, id)?;
            continue;
        }
        let sec_size = u32::try_from(sec.size)
            .map_err(|_| ElfError::Format(format!("section '{name}' is too large")))?;
        let mut fixes = Vec::new();
        for (i, vsi) in ds.vars().enumerate() {
            let Type::Var(var) = btf.type_by_id(vsi.type_id)? else {
                return Err(ElfError::Format(format!(
                    "DATASEC '{name}' entry {i} is not a VAR"
                )));
            };
            if var.linkage == VarLinkage::Extern {
                continue;
            }
            let sym = obj.symbols.iter().find(|s| {
                s.section() == Some(sec.index) && s.name == var.name && s.kind != elf::STT_SECTION
            });
            match sym {
                Some(s) if s.value.saturating_add(u64::from(vsi.size)) <= sec.size => {
                    fixes.push((i, s.value as u32, vsi.size));
                }
                Some(s) => {
                    return Err(ElfError::Format(format!(
                        "variable '{}' at {}+{} lies outside section '{name}' ({} bytes)",
                        var.name, s.value, vsi.size, sec.size
                    )))
                }
                // Static variables the compiler already placed keep their offsets.
                None if var.linkage == VarLinkage::Static => {}
                None => {
                    return Err(ElfError::Format(format!(
                        "no ELF symbol for variable '{}' of DATASEC '{name}'",
                        var.name
                    )))
                }
            }
        }
        btf.set_datasec_size(id, sec_size)?;
        for (i, off, size) in fixes {
            btf.set_datasec_var(id, i, off, size)?;
        }
        sort_datasec(btf, id)?;
    }
    Ok(())
}

/// Reorders a DATASEC's `btf_var_secinfo` entries by offset.
fn sort_datasec(btf: &mut Btf, id: u32) -> Result<(), ElfError> {
    let raw = btf.raw_type(id)?;
    if raw.len() < 12 || (raw.len() - 12) % 12 != 0 {
        return Err(ElfError::Format(format!(
            "DATASEC [{id}] record has a bad length"
        )));
    }
    let mut entries: Vec<[u8; 12]> = raw[12..]
        .chunks_exact(12)
        .map(|c| c.try_into().expect("12 bytes"))
        .collect();
    let off = |e: &[u8; 12]| u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
    if entries.windows(2).all(|w| off(&w[0]) <= off(&w[1])) {
        return Ok(());
    }
    entries.sort_by_key(off);
    let mut rec = raw[..12].to_vec();
    for e in entries {
        rec.extend_from_slice(&e);
    }
    btf.replace_type(id, &rec)?;
    Ok(())
}

/// Sets extern kinds and BTF ids from the `.kconfig` / `.ksyms` DATASECs.
pub(super) fn classify_externs(
    btf: &Btf,
    externs: &mut BTreeMap<String, ExternSpec>,
) -> Result<(), ElfError> {
    for id in datasec_ids(btf) {
        let Type::Datasec(ds) = btf.type_by_id(id)? else {
            continue;
        };
        let kconfig = match ds.name {
            KCONFIG => true,
            KSYMS => false,
            _ => continue,
        };
        for vsi in ds.vars() {
            let t = btf.type_by_id(vsi.type_id)?;
            let Some(ext) = externs.get_mut(t.name()) else {
                continue;
            };
            ext.type_id = Some(vsi.type_id);
            ext.kind = match (kconfig, t) {
                (true, _) => ExternKind::Kconfig,
                (false, Type::Func(_)) => ExternKind::Kfunc,
                (false, _) => ExternKind::Ksym,
            };
        }
    }
    Ok(())
}

/// Lays out the kconfig externs in the `.kconfig` map value (alignment descending, then size,
/// then name), records offsets in the externs and in the BTF DATASEC; returns the value size.
pub(super) fn layout_kconfig(
    btf: &mut Btf,
    externs: &mut BTreeMap<String, ExternSpec>,
) -> Result<u32, ElfError> {
    let mut items = Vec::new();
    for e in externs.values().filter(|e| e.kind == ExternKind::Kconfig) {
        let Some(var) = e.type_id else {
            return Err(ElfError::Unsupported(format!(
                "kconfig extern '{}' without BTF type information (compile with -g)",
                e.name
            )));
        };
        let ty = btf.type_by_id(var)?.ref_type().unwrap_or(0);
        let size = btf.resolve_size(ty)?;
        let align = btf.resolve_align(ty)?.max(1);
        items.push((align, size, e.name.clone()));
    }
    items.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let too_big = || ElfError::Unsupported("kconfig externs larger than 4 GiB".into());
    let mut off = 0u32;
    for (align, size, name) in &items {
        let start = off
            .div_ceil(*align)
            .checked_mul(*align)
            .ok_or_else(too_big)?;
        let e = externs.get_mut(name).expect("collected above");
        e.offset = start;
        e.size = *size;
        off = start.checked_add(*size).ok_or_else(too_big)?;
    }
    let total = off.div_ceil(8).checked_mul(8).ok_or_else(too_big)?;
    if total > super::data::MAX_VALUE_SIZE {
        return Err(ElfError::Unsupported(format!(
            "kconfig externs need {total} bytes, more than a map value can hold (corrupt BTF?)"
        )));
    }
    if let Some(id) = btf.find_by_name_kind(KCONFIG, Kind::Datasec) {
        let Type::Datasec(ds) = btf.type_by_id(id)? else {
            return Ok(total);
        };
        let mut fixes = Vec::new();
        for (i, vsi) in ds.vars().enumerate() {
            let name = btf.type_by_id(vsi.type_id)?.name();
            if let Some(e) = externs.get(name) {
                fixes.push((i, e.offset, e.size));
            }
        }
        btf.set_datasec_size(id, total)?;
        for (i, off, size) in fixes {
            btf.set_datasec_var(id, i, off, size)?;
        }
        sort_datasec(btf, id)?;
    }
    Ok(total)
}

/// Fills variables' BTF type ids from the data DATASECs (adding static variables the symbol
/// table did not name).
pub(super) fn variable_types(
    btf: &Btf,
    data_maps: &BTreeMap<String, u64>,
    vars: &mut BTreeMap<String, VariableSpec>,
) -> Result<(), ElfError> {
    for id in datasec_ids(btf) {
        let Type::Datasec(ds) = btf.type_by_id(id)? else {
            continue;
        };
        if !data_maps.contains_key(ds.name) {
            continue;
        }
        for vsi in ds.vars() {
            let Type::Var(var) = btf.type_by_id(vsi.type_id)? else {
                continue;
            };
            match vars.get_mut(var.name) {
                Some(v) if v.map == ds.name => v.type_id = Some(var.type_id),
                Some(_) => {}
                None => {
                    vars.insert(
                        var.name.to_string(),
                        VariableSpec {
                            name: var.name.to_string(),
                            map: ds.name.to_string(),
                            offset: vsi.offset,
                            size: vsi.size,
                            type_id: Some(var.type_id),
                        },
                    );
                }
            }
        }
    }
    Ok(())
}
