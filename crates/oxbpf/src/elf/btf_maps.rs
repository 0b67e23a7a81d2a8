//! BTF-defined maps: each VAR of the `.maps` DATASEC is a struct whose members encode the
//! definition (`__uint(name, N)` = pointer to `int[N]`, `__type(name, T)` = pointer to `T`,
//! `__array(values, T)` = flexible array of pointers to `T`), and whose `values` slots are
//! initialised by `.rel.maps` relocations.

use super::reader::ElfObject;
use super::ElfError;
use crate::btf::{Btf, Type};
use crate::spec::{MapInit, MapSource, MapSpec, MapType, Pinning};
use object::elf;

/// `LIBBPF_PIN_BY_NAME`.
const PIN_BY_NAME: u32 = 1;
/// `R_BPF_64_ABS64`: a 64-bit address in data (the `values` slots).
const R_BPF_64_ABS64: u32 = 2;

/// One BTF-defined map with its place in the `.maps` section.
#[derive(Debug, Clone)]
pub(super) struct BtfMap {
    pub spec: MapSpec,
    /// Byte offset of the variable in `.maps`.
    pub offset: u64,
    /// Size of the variable.
    pub size: u64,
    /// Byte offset of the `values` member inside the variable, if declared.
    pub values_offset: Option<u64>,
}

fn map_err(name: &str, reason: impl Into<String>) -> ElfError {
    ElfError::Map {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// Parses every map of the `.maps` DATASEC (section index `sec`).
pub(super) fn parse_btf_maps(
    obj: &ElfObject<'_>,
    btf: &Btf,
    sec: usize,
) -> Result<Vec<BtfMap>, ElfError> {
    let Some(ds_id) = btf.find_by_name_kind(".maps", crate::btf::Kind::Datasec) else {
        return Err(map_err(
            ".maps",
            "the object has a '.maps' section but its BTF has no '.maps' DATASEC (compile with -g)",
        ));
    };
    let Type::Datasec(ds) = btf.type_by_id(ds_id)? else {
        return Err(map_err(".maps", "DATASEC lookup returned another kind"));
    };
    let mut out = Vec::new();
    for vsi in ds.vars() {
        let Type::Var(var) = btf.type_by_id(vsi.type_id)? else {
            return Err(map_err(
                ".maps",
                format!("DATASEC entry [{}] is not a VAR", vsi.type_id),
            ));
        };
        let name = var.name;
        let sym = obj
            .symbols
            .iter()
            .find(|s| s.section() == Some(sec) && s.name == name && s.kind != elf::STT_SECTION)
            .ok_or_else(|| map_err(name, "no ELF symbol for this '.maps' variable"))?;
        let def_id = btf.skip_mods_and_typedefs(var.type_id)?;
        let (spec, values_offset) = parse_def(btf, name, def_id, false)?;
        out.push(BtfMap {
            spec,
            offset: sym.value,
            size: sym.size.max(u64::from(vsi.size)),
            values_offset,
        });
    }
    Ok(out)
}

/// The N of a `__uint(name, N)` member: PTR → ARRAY[N].
fn field_int(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ElfError> {
    let bad = || {
        map_err(
            map,
            format!("field '{field}' is not __uint(name, N) (pointer to an array)"),
        )
    };
    let Type::Ptr(p) = btf.type_by_id(btf.skip_mods_and_typedefs(type_id)?)? else {
        return Err(bad());
    };
    let Type::Array(a) = btf.type_by_id(p.type_id)? else {
        return Err(bad());
    };
    Ok(a.nelems)
}

/// `__uint` or `__ulong` (an ENUM/ENUM64 with one value).
fn field_long(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u64, ElfError> {
    match btf.type_by_id(btf.skip_mods_and_typedefs(type_id)?)? {
        Type::Ptr(_) => field_int(btf, map, field, type_id).map(u64::from),
        Type::Enum(e) | Type::Enum64(e) if e.vlen() == 1 => {
            Ok(e.values().next().map_or(0, |v| v.value))
        }
        _ => Err(map_err(
            map,
            format!("field '{field}' is neither __uint nor __ulong"),
        )),
    }
}

/// The T of a `__type(name, T)` member: PTR → T.
fn field_type(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ElfError> {
    match btf.type_by_id(btf.skip_mods_and_typedefs(type_id)?)? {
        Type::Ptr(p) => Ok(p.type_id),
        _ => Err(map_err(
            map,
            format!("field '{field}' is not __type(name, T) (a pointer)"),
        )),
    }
}

fn set_size(map: &str, what: &str, slot: &mut Option<u32>, size: u32) -> Result<(), ElfError> {
    match *slot {
        Some(s) if s != size => Err(map_err(
            map,
            format!("{what} {s} conflicts with the {what} of its type ({size})"),
        )),
        _ => {
            *slot = Some(size);
            Ok(())
        }
    }
}

/// Parses one map definition struct. `inner` is set while parsing a `values` element.
fn parse_def(
    btf: &Btf,
    name: &str,
    def_id: u32,
    inner: bool,
) -> Result<(MapSpec, Option<u64>), ElfError> {
    let ty = btf.type_by_id(def_id)?;
    let Some(def) = ty.as_composite().filter(|_| matches!(ty, Type::Struct(_))) else {
        return Err(map_err(name, "a BTF map definition must be a struct"));
    };
    let mut spec = MapSpec {
        name: name.to_string(),
        source: MapSource::Btf,
        ..MapSpec::default()
    };
    let (mut key_size, mut value_size) = (None, None);
    let mut values: Option<(u64, u32)> = None;
    let vlen = def.vlen();
    for (i, m) in def.members().enumerate() {
        let f = m.name;
        match f {
            "type" => spec.map_type = MapType(field_int(btf, name, f, m.type_id)?),
            "max_entries" => spec.max_entries = field_int(btf, name, f, m.type_id)?,
            "map_flags" => spec.flags = field_int(btf, name, f, m.type_id)?,
            "numa_node" => spec.numa_node = Some(field_int(btf, name, f, m.type_id)?),
            "key_size" => set_size(
                name,
                "key size",
                &mut key_size,
                field_int(btf, name, f, m.type_id)?,
            )?,
            "value_size" => set_size(
                name,
                "value size",
                &mut value_size,
                field_int(btf, name, f, m.type_id)?,
            )?,
            "map_extra" => spec.map_extra = field_long(btf, name, f, m.type_id)?,
            "pinning" => {
                spec.pinning = match field_int(btf, name, f, m.type_id)? {
                    0 => Pinning::None,
                    PIN_BY_NAME => Pinning::ByName,
                    v => {
                        return Err(map_err(
                            name,
                            format!("unknown pinning {v} (0 = none, 1 = by name)"),
                        ))
                    }
                }
            }
            "key" => {
                let t = field_type(btf, name, f, m.type_id)?;
                set_size(name, "key size", &mut key_size, btf.resolve_size(t)?)?;
                spec.key_type_id = Some(t);
            }
            "value" => {
                let t = field_type(btf, name, f, m.type_id)?;
                set_size(name, "value size", &mut value_size, btf.resolve_size(t)?)?;
                spec.value_type_id = Some(t);
            }
            "values" => {
                if inner {
                    return Err(map_err(
                        name,
                        "an inner map definition cannot itself have 'values'",
                    ));
                }
                if i + 1 != vlen {
                    return Err(map_err(name, "'values' must be the last member"));
                }
                let Type::Array(a) = btf.type_by_id(btf.skip_mods_and_typedefs(m.type_id)?)? else {
                    return Err(map_err(name, "'values' is not __array(values, T)"));
                };
                if a.nelems != 0 {
                    return Err(map_err(name, "'values' must be a flexible array (__array)"));
                }
                let Type::Ptr(p) = btf.type_by_id(btf.skip_mods_and_typedefs(a.elem_type)?)? else {
                    return Err(map_err(name, "'values' elements must be pointers"));
                };
                values = Some((
                    u64::from(m.bit_offset / 8),
                    btf.skip_mods_and_typedefs(p.type_id)?,
                ));
            }
            other => {
                return Err(map_err(
                    name,
                    format!("unknown map definition field '{other}'"),
                ))
            }
        }
    }
    if let Some((_, elem)) = values {
        let elem_ty = btf.type_by_id(elem)?;
        if spec.map_type.is_map_in_map() {
            let (inner_spec, _) = parse_def(btf, &format!("{name}.inner"), elem, true)?;
            spec.inner = Some(Box::new(inner_spec));
        } else if spec.map_type == MapType::PROG_ARRAY {
            if !matches!(elem_ty, Type::FuncProto(_)) {
                return Err(map_err(
                    name,
                    "prog array 'values' must point to a function prototype",
                ));
            }
        } else {
            return Err(map_err(
                name,
                format!(
                    "'values' is only for map-in-map and prog arrays, not {}",
                    spec.map_type
                ),
            ));
        }
        set_size(name, "value size", &mut value_size, 4)?;
    }
    spec.key_size = key_size.unwrap_or(0);
    spec.value_size = value_size.unwrap_or(0);
    Ok((spec, values.map(|(off, _)| off)))
}

/// Fills `MapInit::Slots` of map-in-map and prog-array maps from the `.rel.maps` relocations.
pub(super) fn apply_slot_relocations(
    obj: &ElfObject<'_>,
    sec: usize,
    maps: &mut [BtfMap],
) -> Result<(), ElfError> {
    let Some(rels) = obj.rels.get(&sec) else {
        return Ok(());
    };
    for rel in rels {
        if rel.r_type == 0 {
            continue;
        }
        let err = |reason: String| ElfError::Relocation {
            section: ".maps".into(),
            offset: rel.offset,
            reason,
        };
        if rel.r_type != R_BPF_64_ABS64 {
            return Err(err(format!(
                "unsupported relocation type {} in .maps",
                rel.r_type
            )));
        }
        let sym = &obj.symbols[rel.sym];
        let map = maps
            .iter_mut()
            .find(|m| rel.offset >= m.offset && rel.offset < m.offset.saturating_add(m.size.max(1)))
            .ok_or_else(|| err(format!("'{}' is referenced from outside any map", sym.name)))?;
        let name = map.spec.name.clone();
        let values_off = map.values_offset.ok_or_else(|| {
            err(format!(
                "map '{name}' has an initial value for '{}' but no 'values' member",
                sym.name
            ))
        })?;
        let rel_in = rel.offset - map.offset;
        if rel_in < values_off || (rel_in - values_off) % 8 != 0 {
            return Err(err(format!(
                "reference to '{}' is not a 'values' slot of '{name}'",
                sym.name
            )));
        }
        let slot = (rel_in - values_off) / 8;
        if slot >= u64::from(map.spec.max_entries) {
            return Err(err(format!(
                "slot {slot} of '{name}' is past max_entries {}",
                map.spec.max_entries
            )));
        }
        let is_prog = map.spec.map_type == MapType::PROG_ARRAY;
        let target_sec = sym.section().and_then(|i| obj.sections.get(i));
        let ok = match target_sec {
            Some(s) if is_prog => s.is_exec() && sym.kind == elf::STT_FUNC,
            Some(s) => s.index == sec && sym.kind != elf::STT_SECTION,
            None => false,
        };
        if !ok || sym.name.is_empty() {
            return Err(err(format!(
                "slot {slot} of '{name}' must name a {}, found '{}'",
                if is_prog { "program" } else { "map in .maps" },
                sym.name
            )));
        }
        if !matches!(map.spec.init, MapInit::Slots(_)) {
            map.spec.init = MapInit::Slots(Vec::new());
        }
        if let MapInit::Slots(slots) = &mut map.spec.init {
            if slots.iter().any(|(s, _)| u64::from(*s) == slot) {
                return Err(err(format!("slot {slot} of '{name}' is initialised twice")));
            }
            slots.push((slot as u32, sym.name.to_string()));
            slots.sort();
        }
    }
    Ok(())
}
