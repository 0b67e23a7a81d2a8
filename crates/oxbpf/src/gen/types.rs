//! Rust spellings of BTF types and the collection of the types a skeleton needs (their
//! definitions are written by `defs.rs`): `#[repr(C)]` structs with explicit padding fields,
//! bitfields and unions as accessor methods over their bytes, enums as transparent integer
//! newtypes with associated constants (a Rust `enum` would make unknown values from the
//! kernel undefined behaviour), typedefs as aliases. Every definition gets compile-time
//! layout assertions (size, alignment, field offsets) taken from BTF. A type whose layout
//! cannot be expressed field by field becomes opaque bytes of the right size and alignment.

use super::ident::ident;
use super::GenError;
use crate::btf::{Btf, Composite, Int, Type};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Nesting bound for array/typedef chains (malformed BTF can loop).
const MAX_DEPTH: u32 = 64;

/// Collects the types a skeleton needs and writes their definitions.
pub(crate) struct TypeGen<'b> {
    pub(super) btf: &'b Btf,
    names: HashMap<u32, String>,
    taken: HashSet<String>,
    pending: Vec<u32>,
    /// Type definitions written so far.
    pub(crate) out: String,
    /// Layout assertions written so far.
    pub(crate) asserts: String,
}

/// A bitfield: member name, type, bit offset from the struct start, width.
pub(super) struct Bits {
    pub(super) name: String,
    pub(super) ty: BitTy,
    pub(super) bit_off: u32,
    pub(super) bits: u32,
}

/// How a bitfield's value is presented.
pub(super) struct BitTy {
    pub(super) rust: String,
    pub(super) signed: bool,
    /// The enum newtype wrapping the integer, if the member is an enum.
    pub(super) wrap: Option<String>,
}

impl<'b> TypeGen<'b> {
    /// A generator over `btf`.
    pub(crate) fn new(btf: &'b Btf) -> Self {
        TypeGen {
            btf,
            names: HashMap::new(),
            taken: HashSet::new(),
            pending: Vec::new(),
            out: String::new(),
            asserts: String::new(),
        }
    }

    /// The BTF types come from.
    pub(crate) fn btf(&self) -> &'b Btf {
        self.btf
    }

    /// Keeps `name` from being given to a BTF type (the skeleton's own items).
    pub(crate) fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }

    /// A fresh type name based on `base`.
    pub(crate) fn unique(&mut self, base: &str, id: u32) -> String {
        let mut name = base.to_string();
        if self.taken.contains(&name) {
            name = format!("{}_{id}", base.trim_start_matches("r#"));
        }
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{}_{id}_{n}", base.trim_start_matches("r#"));
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The Rust spelling of type `id`, queueing named types for definition; `hint` names
    /// an anonymous struct, union or enum.
    pub(crate) fn rust_type(&mut self, id: u32, hint: &str) -> Result<String, GenError> {
        self.rust_type_depth(id, hint, 0)
    }

    fn rust_type_depth(&mut self, id: u32, hint: &str, depth: u32) -> Result<String, GenError> {
        if depth > MAX_DEPTH {
            return Err(GenError::Btf(crate::btf::BtfError::LoopDetected { id }));
        }
        let id = self.btf.skip_mods(id)?;
        if let Some(n) = self.names.get(&id) {
            return Ok(n.clone());
        }
        Ok(match self.btf.type_by_id(id)? {
            Type::Int(i) => int_type(&i),
            Type::Ptr(_) => "u64".into(),
            Type::Float(f) => match f.size {
                4 => "f32".into(),
                8 => "f64".into(),
                n => format!("[u8; {n}]"),
            },
            Type::Array(a) => {
                let elem = self.rust_type_depth(a.elem_type, hint, depth + 1)?;
                format!("[{elem}; {}]", a.nelems)
            }
            Type::Struct(c) | Type::Union(c) => self.named(id, c.name, hint),
            Type::Enum(e) | Type::Enum64(e) => self.named(id, e.name, hint),
            Type::Typedef(r) => {
                let target = self.rust_type_depth(r.type_id, r.name, depth + 1)?;
                let alias = ident(r.name);
                if alias == target || self.taken.contains(&alias) {
                    self.names.insert(id, target.clone());
                    return Ok(target);
                }
                self.taken.insert(alias.clone());
                self.names.insert(id, alias.clone());
                let _ = writeln!(
                    self.out,
                    "/// `typedef {}`.\npub type {alias} = {target};\n",
                    r.name
                );
                alias
            }
            t => {
                return Err(GenError::Unsupported {
                    id,
                    reason: format!(
                        "a {} cannot be held by value",
                        t.kind().map_or("void", |k| k.name())
                    ),
                })
            }
        })
    }

    fn named(&mut self, id: u32, cname: &str, hint: &str) -> String {
        let base = if cname.is_empty() {
            ident(hint)
        } else {
            ident(cname)
        };
        let name = self.unique(&base, id);
        self.names.insert(id, name.clone());
        self.pending.push(id);
        name
    }

    /// Writes the definition of every queued type (and of the types they need).
    pub(crate) fn finish(&mut self) -> Result<(), GenError> {
        while let Some(id) = self.pending.pop() {
            let name = self.names[&id].clone();
            match self.btf.type_by_id(id)? {
                Type::Struct(c) => {
                    if let Err(e) = self.def_struct(&name, id, &c) {
                        self.def_opaque(&name, id, &format!("struct {}", c.name), c.size, &e)?;
                    }
                }
                Type::Union(c) => self.def_union(&name, id, &c)?,
                Type::Enum(e) | Type::Enum64(e) => self.def_enum(&name, &e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a struct holds a float by value (then it gets no `Eq`/`Hash`); unions are
    /// bytes here, so never.
    pub(super) fn has_float(&self, id: u32, depth: u32) -> bool {
        let Ok(id) = self.btf.skip_mods_and_typedefs(id) else {
            return false;
        };
        match self.btf.type_by_id(id) {
            _ if depth > MAX_DEPTH => false,
            Ok(Type::Float(_)) => true,
            Ok(Type::Array(a)) => self.has_float(a.elem_type, depth + 1),
            Ok(Type::Struct(c)) => c.members().any(|m| self.has_float(m.type_id, depth + 1)),
            _ => false,
        }
    }

    pub(super) fn align_of(&self, id: u32) -> u32 {
        self.btf.resolve_align(id).unwrap_or(1).max(1)
    }

    pub(super) fn bit_ty(&mut self, type_id: u32, hint: &str) -> Result<BitTy, GenError> {
        let rid = self.btf.skip_mods_and_typedefs(type_id)?;
        Ok(match self.btf.type_by_id(rid)? {
            Type::Int(i) => BitTy {
                rust: int_type(&i),
                signed: i.is_signed(),
                wrap: None,
            },
            Type::Enum(e) | Type::Enum64(e) => BitTy {
                rust: int_name(e.size, e.signed),
                signed: e.signed,
                wrap: Some(self.rust_type(rid, hint)?),
            },
            _ => {
                return Err(GenError::Unsupported {
                    id: type_id,
                    reason: "bitfield of a non-integer type".into(),
                })
            }
        })
    }

    /// A member's bitfield width and bit offset, if it is one (kind_flag or INT encoding).
    pub(super) fn bitfield(
        &self,
        c: &Composite,
        m: &crate::btf::Member,
    ) -> Result<Option<(u32, u32)>, GenError> {
        if m.bitfield_size > 0 {
            return Ok(Some((m.bitfield_size, m.bit_offset)));
        }
        if !c.kflag {
            let rid = self.btf.skip_mods_and_typedefs(m.type_id)?;
            if let Type::Int(i) = self.btf.type_by_id(rid)? {
                if u64::from(i.bits) != u64::from(i.size) * 8 || i.bit_offset != 0 {
                    return Ok(Some((
                        u32::from(i.bits),
                        m.bit_offset.saturating_add(u32::from(i.bit_offset)),
                    )));
                }
            }
        }
        Ok(None)
    }
}

pub(super) fn int_type(i: &Int) -> String {
    if i.is_bool() {
        return "u8".into();
    }
    int_name(i.size, i.is_signed())
}

pub(super) fn int_name(size: u32, signed: bool) -> String {
    let bits = match size {
        1 | 2 | 4 | 8 | 16 => size * 8,
        n => return format!("[u8; {n}]"),
    };
    format!("{}{bits}", if signed { 'i' } else { 'u' })
}
