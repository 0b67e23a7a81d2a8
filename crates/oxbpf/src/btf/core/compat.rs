//! Type compatibility as CO-RE defines it: loose "compatible" (field and type relocations)
//! and the stricter "matches" (`bpf_core_type_matches`).

use super::names::{essential_len, kinds_compat};
use crate::btf::{Btf, BtfError, Kind, Type};

/// Recursion limit for both relations.
const MAX_DEPTH: u32 = 32;

fn loop_err(id: u32) -> BtfError {
    BtfError::LoopDetected { id }
}

/// True for INT types that carry a bit offset (deprecated bitfield encoding).
fn int_offset(t: &Type) -> u8 {
    match t {
        Type::Int(i) => i.bit_offset,
        _ => 0,
    }
}

/// Compatibility of a local field's type with a target field's type (member matching).
pub fn fields_are_compat(
    local: &Btf,
    mut lid: u32,
    targ: &Btf,
    mut tid: u32,
) -> Result<bool, BtfError> {
    for _ in 0..MAX_DEPTH {
        lid = local.skip_mods_and_typedefs(lid)?;
        tid = targ.skip_mods_and_typedefs(tid)?;
        let lt = local.type_by_id(lid)?;
        let tt = targ.type_by_id(tid)?;
        if lt.as_composite().is_some() && tt.as_composite().is_some() {
            return Ok(true);
        }
        if !kinds_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        return Ok(match lt {
            Type::Ptr(_) | Type::Float(_) => true,
            Type::Fwd(_) | Type::Enum(_) | Type::Enum64(_) => {
                let (ln, tn) = (lt.name(), tt.name());
                let (ll, tl) = (essential_len(ln), essential_len(tn));
                ll == 0 || tl == 0 || (ll == tl && ln.as_bytes()[..ll] == tn.as_bytes()[..tl])
            }
            Type::Int(_) => int_offset(&lt) == 0 && int_offset(&tt) == 0,
            Type::Array(la) => {
                let Type::Array(ta) = tt else {
                    return Ok(false);
                };
                lid = la.elem_type;
                tid = ta.elem_type;
                continue;
            }
            _ => false,
        });
    }
    Err(loop_err(lid))
}

/// Compatibility of a local type with a candidate (type-based relocations and candidates of
/// `bpf_core_type_exists`): same kind after modifiers and typedefs; pointers, arrays and
/// function prototypes compared recursively; structs, unions, enums and forwards by kind only.
pub fn types_are_compat(local: &Btf, lid: u32, targ: &Btf, tid: u32) -> Result<bool, BtfError> {
    types_are_compat_lvl(local, lid, targ, tid, MAX_DEPTH)
}

fn types_are_compat_lvl(
    local: &Btf,
    mut lid: u32,
    targ: &Btf,
    mut tid: u32,
    level: u32,
) -> Result<bool, BtfError> {
    if !kinds_compat(kind_of(local, lid)?, kind_of(targ, tid)?) {
        return Ok(false);
    }
    for _ in 0..MAX_DEPTH {
        lid = local.skip_mods_and_typedefs(lid)?;
        tid = targ.skip_mods_and_typedefs(tid)?;
        let lt = local.type_by_id(lid)?;
        let tt = targ.type_by_id(tid)?;
        if !kinds_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        match (lt, tt) {
            (Type::Void, _)
            | (Type::Struct(_), _)
            | (Type::Union(_), _)
            | (Type::Enum(_), _)
            | (Type::Enum64(_), _)
            | (Type::Fwd(_), _) => return Ok(true),
            (Type::Int(_), _) => return Ok(int_offset(&lt) == 0 && int_offset(&tt) == 0),
            (Type::Ptr(l), Type::Ptr(t)) => {
                lid = l.type_id;
                tid = t.type_id;
            }
            (Type::Array(l), Type::Array(t)) => {
                lid = l.elem_type;
                tid = t.elem_type;
            }
            (Type::FuncProto(lp), Type::FuncProto(tp)) => {
                if lp.vlen() != tp.vlen() {
                    return Ok(false);
                }
                for (a, b) in lp.params().zip(tp.params()) {
                    if level == 0 {
                        return Err(loop_err(lid));
                    }
                    let a = local.skip_mods_and_typedefs(a.type_id)?;
                    let b = targ.skip_mods_and_typedefs(b.type_id)?;
                    if !types_are_compat_lvl(local, a, targ, b, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = lp.ret;
                tid = tp.ret;
            }
            _ => return Ok(false),
        }
    }
    Err(loop_err(lid))
}

fn kind_of(btf: &Btf, id: u32) -> Result<Option<Kind>, BtfError> {
    Ok(btf.type_by_id(id)?.kind())
}

/// Names equal up to flavors; an anonymous target matches only an anonymous local.
fn names_match(ln: &str, tn: &str) -> bool {
    if tn.is_empty() {
        return ln.is_empty();
    }
    let (ll, tl) = (essential_len(ln), essential_len(tn));
    ll == tl && ln.as_bytes()[..ll] == tn.as_bytes()[..tl]
}

/// `bpf_core_type_matches`: a stricter relation (see libbpf's documentation of
/// `bpf_core_type_matches`): ints by size and signedness, enums by enumerator names and size,
/// composites member by member (by name, recursively), arrays by length, pointers by pointee
/// (struct/union behind a pointer may match a forward declaration).
pub fn types_match(local: &Btf, lid: u32, targ: &Btf, tid: u32) -> Result<bool, BtfError> {
    types_match_lvl(local, lid, targ, tid, false, MAX_DEPTH)
}

fn types_match_lvl(
    local: &Btf,
    mut lid: u32,
    targ: &Btf,
    mut tid: u32,
    mut behind_ptr: bool,
    level: u32,
) -> Result<bool, BtfError> {
    if level == 0 {
        return Err(loop_err(lid));
    }
    for _ in 0..MAX_DEPTH {
        lid = local.skip_mods_and_typedefs(lid)?;
        tid = targ.skip_mods_and_typedefs(tid)?;
        let lt = local.type_by_id(lid)?;
        let tt = targ.type_by_id(tid)?;
        if !names_match(lt.name(), tt.name()) {
            return Ok(false);
        }
        let (lk, tk) = (lt.kind(), tt.kind());
        match lt {
            Type::Void => return Ok(tk.is_none()),
            Type::Fwd(lf) => {
                return Ok(match tt {
                    Type::Fwd(tf) => lf.is_union == tf.is_union,
                    Type::Struct(_) if behind_ptr => !lf.is_union,
                    Type::Union(_) if behind_ptr => lf.is_union,
                    _ => false,
                })
            }
            Type::Enum(le) | Type::Enum64(le) => {
                let (Type::Enum(te) | Type::Enum64(te)) = tt else {
                    return Ok(false);
                };
                if le.size != te.size || le.vlen() > te.vlen() {
                    return Ok(false);
                }
                let all = le
                    .values()
                    .all(|lv| te.values().any(|tv| names_match(lv.name, tv.name)));
                return Ok(all);
            }
            Type::Struct(lc) | Type::Union(lc) => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    let Type::Fwd(tf) = tt else { return Ok(false) };
                    return Ok((lk == Some(Kind::Union)) == tf.is_union);
                }
                if lk != tk {
                    return Ok(false);
                }
                let tc = tt.as_composite().copied();
                let Some(tc) = tc else { return Ok(false) };
                if lc.vlen() > tc.vlen() {
                    return Ok(false);
                }
                for lm in lc.members() {
                    let mut matched = false;
                    for tm in tc.members() {
                        if !names_match(lm.name, tm.name) {
                            continue;
                        }
                        if types_match_lvl(
                            local,
                            lm.type_id,
                            targ,
                            tm.type_id,
                            behind_ptr,
                            level - 1,
                        )? {
                            matched = true;
                            break;
                        }
                    }
                    if !matched {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            Type::Int(li) => {
                let Type::Int(ti) = tt else { return Ok(false) };
                return Ok(li.size == ti.size && li.is_signed() == ti.is_signed());
            }
            Type::Ptr(l) => {
                let Type::Ptr(t) = tt else { return Ok(false) };
                behind_ptr = true;
                lid = l.type_id;
                tid = t.type_id;
            }
            Type::Array(l) => {
                let Type::Array(t) = tt else { return Ok(false) };
                if l.nelems != t.nelems {
                    return Ok(false);
                }
                lid = l.elem_type;
                tid = t.elem_type;
            }
            Type::FuncProto(lp) => {
                let Type::FuncProto(tp) = tt else {
                    return Ok(false);
                };
                if lp.vlen() != tp.vlen() {
                    return Ok(false);
                }
                for (a, b) in lp.params().zip(tp.params()) {
                    if !types_match_lvl(local, a.type_id, targ, b.type_id, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = lp.ret;
                tid = tp.ret;
            }
            _ => return Ok(false),
        }
    }
    Err(loop_err(lid))
}
