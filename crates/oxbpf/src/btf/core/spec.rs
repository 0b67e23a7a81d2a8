//! Access specs: the parsed access string of a relocation, on the local side and as matched
//! against one target candidate.
//!
//! A spec keeps the raw indices (`"0:1:2"`) and the "high-level" accessors: one per array
//! index and one per *named* member (anonymous struct/union members are walked through but
//! get no accessor, so local and target may nest anonymous members differently).

use super::compat::fields_are_compat;
use super::names::essential_len;
use super::CoreKind;
use crate::btf::{Btf, BtfError, Type};

/// Deepest access string accepted (libbpf's limit).
pub const MAX_SPEC_LEN: usize = 64;

/// One high-level accessor.
#[derive(Debug, Clone, Copy)]
pub struct Acc<'a> {
    /// For a member: the struct/union (modifiers and typedefs skipped). For an array index
    /// (and the root): the element type.
    pub type_id: u32,
    /// Member, element or enumerator index.
    pub idx: u32,
    /// Member or enumerator name; `None` for array indices and the root.
    pub name: Option<&'a str>,
}

/// A parsed or matched access spec.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The BTF it refers to.
    pub btf: &'a Btf,
    /// Root type id (as in the relocation / the candidate).
    pub root_id: u32,
    /// Raw indices.
    pub raw: Vec<u32>,
    /// High-level accessors.
    pub acc: Vec<Acc<'a>>,
    /// Bit offset of the accessed field from the root pointer.
    pub bit_offset: u64,
}

/// Why a spec could not be parsed or matched (turned into `CoreError` by the caller).
pub type SpecErr = String;

fn btf_err(e: BtfError) -> SpecErr {
    e.to_string()
}

/// Parses the access string `access` of a relocation of `kind` rooted at `root_id`.
pub fn parse<'a>(
    btf: &'a Btf,
    root_id: u32,
    access: &str,
    kind: CoreKind,
) -> Result<Spec<'a>, SpecErr> {
    let raw = access
        .split(':')
        .map(|s| s.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| format!("access string {access:?} is not colon-separated numbers"))?;
    if raw.is_empty() || raw.len() > MAX_SPEC_LEN {
        return Err(format!("access string {access:?} has bad length"));
    }
    let mut spec = Spec {
        btf,
        root_id,
        raw: raw.clone(),
        acc: Vec::new(),
        bit_offset: 0,
    };
    if kind.is_type() {
        if access != "0" {
            return Err(format!(
                "type-based relocation needs access string \"0\", got {access:?}"
            ));
        }
        return Ok(spec);
    }
    let mut id = btf.skip_mods_and_typedefs(root_id).map_err(btf_err)?;
    let t = btf.type_by_id(id).map_err(btf_err)?;
    let idx = raw[0];
    if kind.is_enumval() {
        let e = match t {
            Type::Enum(e) | Type::Enum64(e) => e,
            _ => return Err(format!("enumerator relocation on non-enum type [{id}]")),
        };
        let v = match (raw.len(), e.values().nth(idx as usize)) {
            (1, Some(v)) => v,
            _ => return Err(format!("bad enumerator access {access:?} on [{id}]")),
        };
        spec.acc.push(Acc {
            type_id: id,
            idx,
            name: Some(v.name),
        });
        return Ok(spec);
    }
    spec.acc.push(Acc {
        type_id: id,
        idx,
        name: None,
    });
    let sz = btf.resolve_size(id).map_err(btf_err)?;
    spec.bit_offset = idx as u64 * sz as u64 * 8;
    for &idx in &raw[1..] {
        id = btf.skip_mods_and_typedefs(id).map_err(btf_err)?;
        match btf.type_by_id(id).map_err(btf_err)? {
            Type::Struct(c) | Type::Union(c) => {
                let m = c
                    .member(idx as usize)
                    .ok_or_else(|| format!("member index {idx} out of range in [{id}]"))?;
                spec.bit_offset += m.bit_offset as u64;
                if m.name_off != 0 {
                    if m.name.is_empty() {
                        return Err(format!("member {idx} of [{id}] has an empty name"));
                    }
                    spec.acc.push(Acc {
                        type_id: id,
                        idx,
                        name: Some(m.name),
                    });
                }
                id = m.type_id;
            }
            Type::Array(a) => {
                let elem = btf.skip_mods_and_typedefs(a.elem_type).map_err(btf_err)?;
                let flex = is_flex_arr(btf, spec.acc.last(), a.nelems);
                if !flex && idx >= a.nelems {
                    return Err(format!(
                        "array index {idx} out of bounds ({} elements)",
                        a.nelems
                    ));
                }
                spec.acc.push(Acc {
                    type_id: elem,
                    idx,
                    name: None,
                });
                let sz = btf.resolve_size(elem).map_err(btf_err)?;
                spec.bit_offset += idx as u64 * sz as u64 * 8;
                id = elem;
            }
            t => {
                return Err(format!(
                    "access {access:?} walks into type [{id}] of kind {}, which has no members",
                    t.kind().map_or("void", |k| k.name())
                ))
            }
        }
    }
    Ok(spec)
}

/// True if an array with `nelems` right after accessor `prev` is a flexible array member:
/// zero elements and the last member of its struct.
fn is_flex_arr(btf: &Btf, prev: Option<&Acc>, nelems: u32) -> bool {
    let Some(prev) = prev else { return false };
    if prev.name.is_none() || nelems > 0 {
        return false;
    }
    match btf.type_by_id(prev.type_id) {
        Ok(t) => t
            .as_composite()
            .is_some_and(|c| prev.idx as usize + 1 == c.vlen()),
        Err(_) => false,
    }
}

/// Matches `local` against target type `targ_id` in `targ`: `Ok(None)` if it does not match.
pub fn match_spec<'a>(
    local: &Spec<'_>,
    kind: CoreKind,
    targ: &'a Btf,
    targ_id: u32,
) -> Result<Option<Spec<'a>>, SpecErr> {
    let mut ts = Spec {
        btf: targ,
        root_id: targ_id,
        raw: Vec::new(),
        acc: Vec::new(),
        bit_offset: 0,
    };
    if kind.is_type() {
        let ok = if kind == CoreKind::TypeMatches {
            super::compat::types_match(local.btf, local.root_id, targ, targ_id)
        } else {
            super::compat::types_are_compat(local.btf, local.root_id, targ, targ_id)
        }
        .map_err(btf_err)?;
        return Ok(ok.then_some(ts));
    }
    if kind.is_enumval() {
        let lacc = local.acc[0];
        let lname = lacc.name.unwrap_or("");
        let llen = essential_len(lname);
        let id = targ.skip_mods_and_typedefs(targ_id).map_err(btf_err)?;
        let e = match targ.type_by_id(id).map_err(btf_err)? {
            Type::Enum(e) | Type::Enum64(e) => e,
            _ => return Ok(None),
        };
        for (i, v) in e.values().enumerate() {
            if essential_len(v.name) == llen
                && v.name.as_bytes()[..llen] == lname.as_bytes()[..llen]
            {
                ts.acc.push(Acc {
                    type_id: id,
                    idx: i as u32,
                    name: Some(v.name),
                });
                ts.raw.push(i as u32);
                return Ok(Some(ts));
            }
        }
        return Ok(None);
    }
    let mut id = targ_id;
    for (i, lacc) in local.acc.iter().enumerate() {
        id = targ.skip_mods_and_typedefs(id).map_err(btf_err)?;
        if lacc.name.is_some() {
            match match_member(local.btf, lacc, targ, id, &mut ts)? {
                Some(next) => id = next,
                None => return Ok(None),
            }
            continue;
        }
        if i > 0 {
            let Type::Array(a) = targ.type_by_id(id).map_err(btf_err)? else {
                return Ok(None);
            };
            let flex = is_flex_arr(targ, ts.acc.last(), a.nelems);
            if !flex && lacc.idx >= a.nelems {
                return Ok(None);
            }
            id = targ.skip_mods_and_typedefs(a.elem_type).map_err(btf_err)?;
        }
        if ts.raw.len() == MAX_SPEC_LEN {
            return Err("struct/union/array nesting too deep".into());
        }
        ts.acc.push(Acc {
            type_id: id,
            idx: lacc.idx,
            name: None,
        });
        ts.raw.push(lacc.idx);
        let sz = targ.resolve_size(id).map_err(btf_err)?;
        ts.bit_offset += lacc.idx as u64 * sz as u64 * 8;
    }
    Ok(Some(ts))
}

/// Finds the member named like `lacc`'s in composite `targ_id`, looking through anonymous
/// members; pushes the raw indices and accessor, returns the member's type.
fn match_member<'a>(
    local: &Btf,
    lacc: &Acc,
    targ: &'a Btf,
    targ_id: u32,
    ts: &mut Spec<'a>,
) -> Result<Option<u32>, SpecErr> {
    let lname = lacc.name.unwrap_or("");
    let lmember_type = local
        .type_by_id(lacc.type_id)
        .ok()
        .and_then(|t| t.as_composite().and_then(|c| c.member(lacc.idx as usize)))
        .map(|m| m.type_id)
        .ok_or_else(|| {
            format!(
                "local accessor [{}] #{} is not a member",
                lacc.type_id, lacc.idx
            )
        })?;
    let targ_id = targ.skip_mods_and_typedefs(targ_id).map_err(btf_err)?;
    let t = targ.type_by_id(targ_id).map_err(btf_err)?;
    let Some(c) = t.as_composite() else {
        return Ok(None);
    };
    for (i, m) in c.members().enumerate() {
        if ts.raw.len() == MAX_SPEC_LEN {
            return Err("struct/union/array nesting too deep".into());
        }
        ts.bit_offset += m.bit_offset as u64;
        ts.raw.push(i as u32);
        if m.name.is_empty() {
            if let Some(next) = match_member(local, lacc, targ, m.type_id, ts)? {
                return Ok(Some(next));
            }
        } else if m.name == lname {
            ts.acc.push(Acc {
                type_id: targ_id,
                idx: i as u32,
                name: Some(m.name),
            });
            if fields_are_compat(local, lmember_type, targ, m.type_id).map_err(btf_err)? {
                return Ok(Some(m.type_id));
            }
            ts.acc.pop();
            ts.bit_offset -= m.bit_offset as u64;
            ts.raw.pop();
            return Ok(None);
        }
        ts.bit_offset -= m.bit_offset as u64;
        ts.raw.pop();
    }
    Ok(None)
}

/// `struct foo.a.b[2] (0:1:0:2)`: a readable form of a spec for messages.
pub fn describe(spec: &Spec<'_>, kind: CoreKind) -> String {
    let btf = spec.btf;
    let root = type_label(btf, spec.root_id);
    let raw: Vec<String> = spec.raw.iter().map(u32::to_string).collect();
    let raw = raw.join(":");
    if kind.is_type() {
        return format!("{root} ({raw})");
    }
    if kind.is_enumval() {
        let name = spec.acc.first().and_then(|a| a.name).unwrap_or("?");
        return format!("{root}::{name} ({raw})");
    }
    let mut s = root;
    if spec.raw.first().is_some_and(|&i| i != 0) {
        s.push_str(&format!("[{}]", spec.raw[0]));
    }
    for a in spec.acc.iter().skip(1) {
        match a.name {
            Some(n) => {
                s.push('.');
                s.push_str(n);
            }
            None => s.push_str(&format!("[{}]", a.idx)),
        }
    }
    format!("{s} ({raw})")
}

/// `struct foo`, `enum bar`, `typedef baz`, `int`, `[12] anonymous struct`...
pub fn type_label(btf: &Btf, id: u32) -> String {
    match btf.type_by_id(id) {
        Ok(Type::Void) => "void".into(),
        Ok(t @ (Type::Int(_) | Type::Float(_))) => t.name().to_string(),
        Ok(t) => {
            let kind = match t.kind() {
                Some(crate::btf::Kind::Struct) => "struct",
                Some(crate::btf::Kind::Union) => "union",
                Some(crate::btf::Kind::Enum) | Some(crate::btf::Kind::Enum64) => "enum",
                Some(crate::btf::Kind::Typedef) => "typedef",
                Some(crate::btf::Kind::Fwd) => "fwd",
                Some(k) => return label_other(k.name(), t.name(), id),
                None => "void",
            };
            if t.name().is_empty() {
                format!("anonymous {kind} [{id}]")
            } else {
                format!("{kind} {}", t.name())
            }
        }
        Err(_) => format!("[{id}]"),
    }
}

fn label_other(kind: &str, name: &str, id: u32) -> String {
    let kind = kind.to_lowercase();
    if name.is_empty() {
        format!("anonymous {kind} [{id}]")
    } else {
        format!("{kind} {name}")
    }
}
