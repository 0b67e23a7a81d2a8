//! Relocation values: what a spec (local or target) yields for each relocation kind.

use super::spec::Spec;
use super::CoreKind;
use crate::btf::{Btf, Type};

/// The value of one side (local = original, target = new) of a relocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side {
    /// The value.
    pub val: u64,
    /// For `FieldByteOffset` on a non-bitfield: the field's size (load/store width).
    pub field_sz: u32,
    /// ... and its type (modifiers and typedefs skipped).
    pub type_id: u32,
    /// Whether the instruction's current value must equal the local value.
    pub validate: bool,
}

/// Why a side could not be computed.
#[derive(Debug, Clone)]
pub enum CalcErr {
    /// The instruction must be poisoned (field missing in the target, ...).
    Poison(String),
    /// The relocation cannot be applied at all.
    Fail(String),
}

/// Computes the value of `kind` for `spec` (`None`: no target candidate matched).
pub fn side(kind: CoreKind, spec: Option<&Spec<'_>>) -> Result<Side, CalcErr> {
    let mut s = Side {
        validate: true,
        ..Default::default()
    };
    if kind.is_field() {
        if kind == CoreKind::FieldExists {
            s.val = spec.is_some() as u64;
            return Ok(s);
        }
        let spec = spec.ok_or_else(|| CalcErr::Poison("field not found in target".into()))?;
        field(kind, spec, &mut s)?;
    } else if kind.is_type() {
        let Some(spec) = spec else { return Ok(s) };
        match kind {
            CoreKind::TypeIdLocal | CoreKind::TypeIdTarget => {
                s.val = spec.root_id as u64;
                s.validate = false;
            }
            CoreKind::TypeExists | CoreKind::TypeMatches => s.val = 1,
            CoreKind::TypeSize => {
                s.val = spec
                    .btf
                    .resolve_size(spec.root_id)
                    .map_err(|e| CalcErr::Fail(format!("type size: {e}")))?
                    as u64
            }
            _ => unreachable!("type-based kinds only"),
        }
    } else {
        match (kind, spec) {
            (CoreKind::EnumvalExists, sp) => s.val = sp.is_some() as u64,
            (_, None) => return Err(CalcErr::Poison("enumerator not found in target".into())),
            (_, Some(sp)) => {
                let a = sp.acc[0];
                let e = match sp.btf.type_by_id(a.type_id) {
                    Ok(Type::Enum(e) | Type::Enum64(e)) => e,
                    _ => return Err(CalcErr::Fail("enumerator type vanished".into())),
                };
                let v = e
                    .values()
                    .nth(a.idx as usize)
                    .ok_or_else(|| CalcErr::Fail("enumerator index out of range".into()))?;
                // 32-bit enumerators are stored as s32 and sign-extended, like libbpf.
                s.val = if e.is_64() {
                    v.value
                } else {
                    v.value as u32 as i32 as i64 as u64
                };
            }
        }
    }
    Ok(s)
}

fn size_of(btf: &Btf, id: u32) -> Result<u32, CalcErr> {
    btf.resolve_size(id)
        .map_err(|e| CalcErr::Fail(format!("field size: {e}")))
}

fn field(kind: CoreKind, spec: &Spec<'_>, s: &mut Side) -> Result<(), CalcErr> {
    let btf = spec.btf;
    let acc = *spec.acc.last().expect("field specs have a root accessor");
    if acc.name.is_none() {
        // The root or an array element.
        match kind {
            CoreKind::FieldByteOffset => {
                s.val = spec.bit_offset / 8;
                s.field_sz = size_of(btf, acc.type_id)?;
                s.type_id = acc.type_id;
            }
            CoreKind::FieldByteSize => s.val = size_of(btf, acc.type_id)? as u64,
            _ => {
                return Err(CalcErr::Fail(format!(
                    "{kind} relocation cannot be applied to an array element"
                )))
            }
        }
        return Ok(());
    }
    let m = btf
        .type_by_id(acc.type_id)
        .ok()
        .and_then(|t| t.as_composite().and_then(|c| c.member(acc.idx as usize)))
        .ok_or_else(|| CalcErr::Fail("member vanished".into()))?;
    let field_type = btf
        .skip_mods_and_typedefs(m.type_id)
        .map_err(|e| CalcErr::Fail(e.to_string()))?;
    let mt = btf
        .type_by_id(field_type)
        .map_err(|e| CalcErr::Fail(e.to_string()))?;
    let bit_off = spec.bit_offset;
    let mut bit_sz = m.bitfield_size as u64;
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        let mut sz = mt
            .size()
            .ok_or_else(|| CalcErr::Fail("bitfield of a type without size".into()))?
            as u64;
        if sz == 0 {
            return Err(CalcErr::Fail("bitfield of a zero-sized type".into()));
        }
        let mut off = bit_off / 8 / sz * sz;
        while bit_off + bit_sz - off * 8 > sz * 8 {
            if sz >= 8 {
                return Err(CalcErr::Fail(format!(
                    "bitfield at bit offset {bit_off} ({bit_sz} bits) cannot be read with one 64-bit load"
                )));
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        (byte_off, byte_sz) = (off, sz);
    } else {
        byte_sz = size_of(btf, field_type)? as u64;
        byte_off = bit_off / 8;
        bit_sz = byte_sz * 8;
    }
    s.validate = !bitfield;
    s.val = match kind {
        CoreKind::FieldByteOffset => {
            if !bitfield {
                s.field_sz = byte_sz as u32;
                s.type_id = field_type;
            }
            byte_off
        }
        CoreKind::FieldByteSize => byte_sz,
        CoreKind::FieldSigned => {
            s.validate = true;
            match mt {
                Type::Enum(e) | Type::Enum64(e) => e.signed as u64,
                Type::Int(i) => i.is_signed() as u64,
                _ => 0,
            }
        }
        CoreKind::FieldLshiftU64 => 64u64.wrapping_sub(bit_off + bit_sz - byte_off * 8),
        CoreKind::FieldRshiftU64 => {
            s.validate = true;
            64 - bit_sz
        }
        _ => unreachable!("field kinds only"),
    };
    Ok(())
}
