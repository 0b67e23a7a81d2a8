//! Rust definitions of BTF types: `#[repr(C)]` structs with explicit padding fields,
//! bitfields and unions as accessor methods over their bytes, enums as transparent integer
//! newtypes with associated constants (a Rust `enum` would make unknown values from the
//! kernel undefined behaviour), typedefs as aliases. Every definition gets compile-time
//! layout assertions (size, alignment, field offsets) taken from BTF. A type whose layout
//! cannot be expressed field by field becomes opaque bytes of the right size and alignment.

use super::ident::ident;
use super::GenError;
use crate::btf::{Btf, Composite, Enum, Int, Type};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Nesting bound for array/typedef chains (malformed BTF can loop).
const MAX_DEPTH: u32 = 64;

/// Collects the types a skeleton needs and writes their definitions.
pub(crate) struct TypeGen<'b> {
    btf: &'b Btf,
    names: HashMap<u32, String>,
    taken: HashSet<String>,
    pending: Vec<u32>,
    /// Type definitions written so far.
    pub(crate) out: String,
    /// Layout assertions written so far.
    pub(crate) asserts: String,
}

/// One field of a struct being laid out.
struct Field {
    name: String,
    ty: String,
    off: u32,
    align: u32,
    /// Padding and bitfield storage: not asserted by name in docs.
    hidden: bool,
}

/// A bitfield: member name, type, bit offset from the struct start, width.
struct Bits {
    name: String,
    ty: BitTy,
    bit_off: u32,
    bits: u32,
}

/// How a bitfield's value is presented.
struct BitTy {
    rust: String,
    signed: bool,
    /// The enum newtype wrapping the integer, if the member is an enum.
    wrap: Option<String>,
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
    fn has_float(&self, id: u32, depth: u32) -> bool {
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

    fn align_of(&self, id: u32) -> u32 {
        self.btf.resolve_align(id).unwrap_or(1).max(1)
    }

    fn bit_ty(&mut self, type_id: u32, hint: &str) -> Result<BitTy, GenError> {
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
    fn bitfield(
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

    fn def_struct(&mut self, name: &str, id: u32, c: &Composite) -> Result<(), GenError> {
        let bad = |reason: String| GenError::Unsupported { id, reason };
        let mut fields: Vec<Field> = Vec::new();
        let mut bits: Vec<Bits> = Vec::new();
        let mut group: Option<(u32, u32, Vec<Bits>)> = None; // (start byte, end bit, members)
        let mut cursor = 0u32;
        let mut members: Vec<_> = c.members().enumerate().collect();
        members.sort_by_key(|(_, m)| m.bit_offset);
        for (i, m) in members {
            let mname = if m.name.is_empty() {
                format!("__anon{i}")
            } else {
                m.name.to_string()
            };
            if let Some((width, bit_off)) = self.bitfield(c, &m)? {
                if m.name.is_empty() {
                    continue; // unnamed bitfield: padding
                }
                if width == 0 || width > 64 {
                    return Err(bad(format!("bitfield {mname} is {width} bits wide")));
                }
                let ty = self.bit_ty(m.type_id, &format!("{name}__{mname}"))?;
                let g =
                    group.get_or_insert_with(|| ((bit_off / 8).max(cursor), bit_off, Vec::new()));
                if u64::from(bit_off) < u64::from(g.0) * 8 {
                    return Err(bad(format!(
                        "bitfield {mname} overlaps the previous member"
                    )));
                }
                g.1 = g.1.max(bit_off.saturating_add(width));
                g.2.push(Bits {
                    name: mname,
                    ty,
                    bit_off,
                    bits: width,
                });
                continue;
            }
            close_group(&mut group, &mut fields, &mut bits, &mut cursor);
            if m.bit_offset % 8 != 0 {
                return Err(bad(format!("member {mname} is not byte-aligned")));
            }
            let off = m.bit_offset / 8;
            if off < cursor {
                return Err(bad(format!("member {mname} overlaps the previous member")));
            }
            pad(&mut fields, &mut cursor, off);
            let ty = self.rust_type(m.type_id, &format!("{name}__{mname}"))?;
            let size = self.btf.resolve_size(m.type_id)?;
            fields.push(Field {
                name: ident(&mname),
                ty,
                off,
                align: self.align_of(m.type_id),
                hidden: false,
            });
            cursor = off.saturating_add(size);
        }
        close_group(&mut group, &mut fields, &mut bits, &mut cursor);
        if cursor > c.size {
            return Err(bad(format!(
                "members end at {cursor}, past the size {}",
                c.size
            )));
        }
        pad(&mut fields, &mut cursor, c.size);
        let align = self.align_of(id);
        let natural = fields.iter().map(|f| f.align).max().unwrap_or(1);
        let misaligned = fields.iter().any(|f| f.off % f.align != 0);
        let repr = if misaligned || (natural > align) {
            if align != 1 {
                return Err(bad("members are not naturally aligned".into()));
            }
            "C, packed".to_string()
        } else if align > natural {
            format!("C, align({align})")
        } else {
            "C".to_string()
        };
        let _ = writeln!(
            self.out,
            "/// `struct {}` ({} bytes, BTF id {id}).\n#[repr({repr})]\n#[derive(Clone, Copy, Debug, PartialEq{})]\npub struct {name} {{",
            if c.name.is_empty() { "<anon>" } else { c.name },
            c.size,
            if self.has_float(id, 0) { "" } else { ", Eq, Hash" },
        );
        for f in &fields {
            let vis = if f.hidden { "pub(crate)" } else { "pub" };
            let _ = writeln!(self.out, "    {vis} {}: {},", f.name, f.ty);
        }
        self.out.push_str("}\n\n");
        self.common_impls(name, c.size, align);
        for f in &fields {
            let _ = writeln!(
                self.asserts,
                "const _: () = assert!(::core::mem::offset_of!({name}, {}) == {});",
                f.name, f.off
            );
        }
        self.bit_accessors(name, &bits, c.size);
        Ok(())
    }

    /// Getter/setter pairs for bitfields (bit offsets from the start of the `size`-byte type).
    fn bit_accessors(&mut self, name: &str, bits: &[Bits], size: u32) {
        if bits.is_empty() {
            return;
        }
        let _ = writeln!(self.out, "impl {name} {{");
        for b in bits {
            let get = ident(&b.name);
            let set = ident(&format!("set_{}", b.name));
            let raw = format!("rt::bits_get(&self._bytes(), {}, {})", b.bit_off, b.bits);
            let val = if b.ty.signed {
                format!(
                    "((({raw} << {sh}) as i64) >> {sh}) as {}",
                    b.ty.rust,
                    sh = 64 - b.bits
                )
            } else {
                format!("{raw} as {}", b.ty.rust)
            };
            let (ret, val, arg) = match &b.ty.wrap {
                Some(w) => (w.clone(), format!("{w}({val})"), "v.0"),
                None => (b.ty.rust.clone(), val, "v"),
            };
            let _ = writeln!(
                self.out,
                "    /// Bitfield `{}` ({} bits at bit {}).\n    pub fn {get}(&self) -> {ret} {{ {val} }}\n    /// Sets bitfield `{}`.\n    pub fn {set}(&mut self, v: {ret}) {{ let mut b = self._bytes(); rt::bits_set(&mut b, {}, {}, {arg} as u64); *self = rt::read_pod(&b, 0); }}",
                b.name, b.bits, b.bit_off, b.name, b.bit_off, b.bits
            );
        }
        let _ = writeln!(
            self.out,
            "    fn _bytes(&self) -> [u8; {size}] {{ let mut b = [0u8; {size}]; rt::write_pod(&mut b, 0, self); b }}\n}}\n"
        );
    }

    /// Pod, Default and the size/alignment assertions.
    fn common_impls(&mut self, name: &str, size: u32, align: u32) {
        let _ = writeln!(
            self.out,
            "// SAFETY: repr(C) of Pod fields with every padding byte an explicit field.\nunsafe impl rt::Pod for {name} {{}}\nimpl Default for {name} {{\n    fn default() -> Self {{\n        // SAFETY: Pod: all-zero bytes are a valid value.\n        unsafe {{ ::core::mem::zeroed() }}\n    }}\n}}\n"
        );
        let _ = writeln!(
            self.asserts,
            "const _: () = assert!(::core::mem::size_of::<{name}>() == {size});\nconst _: () = assert!(::core::mem::align_of::<{name}>() == {align});"
        );
    }

    fn def_opaque(
        &mut self,
        name: &str,
        id: u32,
        what: &str,
        size: u32,
        why: &GenError,
    ) -> Result<(), GenError> {
        let align = self.align_of(id);
        let align = if size % align == 0 { align } else { 1 };
        let _ = writeln!(
            self.out,
            "/// `{what}` ({size} bytes, BTF id {id}) as opaque bytes: {why}.\n#[repr(C, align({align}))]\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub struct {name} {{\n    pub bytes: [u8; {size}],\n}}\n"
        );
        self.common_impls(name, size, align);
        Ok(())
    }

    fn def_union(&mut self, name: &str, id: u32, c: &Composite) -> Result<(), GenError> {
        let label = format!(
            "union {}",
            if c.name.is_empty() { "<anon>" } else { c.name }
        );
        let align = self.align_of(id);
        let align = if c.size % align == 0 { align } else { 1 };
        let _ = writeln!(
            self.out,
            "/// `{label}` ({} bytes, BTF id {id}): its bytes, members through accessors.\n#[repr(C, align({align}))]\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub struct {name} {{\n    pub bytes: [u8; {}],\n}}\n",
            c.size, c.size
        );
        self.common_impls(name, c.size, align);
        let mut acc = String::new();
        let mut seen = HashSet::new();
        let mut bits = Vec::new();
        for (i, m) in c.members().enumerate() {
            let mname = if m.name.is_empty() {
                format!("__anon{i}")
            } else {
                m.name.to_string()
            };
            let hint = format!("{name}__{mname}");
            if let Some((width, bit_off)) = self.bitfield(c, &m)? {
                if !m.name.is_empty() && (1..=64).contains(&width) {
                    let ty = self.bit_ty(m.type_id, &hint)?;
                    bits.push(Bits {
                        name: mname,
                        ty,
                        bit_off,
                        bits: width,
                    });
                }
                continue;
            }
            let Ok(ty) = self.rust_type(m.type_id, &hint) else {
                continue;
            };
            let off = m.bit_offset / 8;
            member_accessors(&mut acc, &mut seen, &mname, &ty, off);
            if m.name.is_empty() {
                self.flatten(&mut acc, &mut seen, m.type_id, off, &hint)?;
            }
        }
        if !acc.is_empty() {
            let _ = writeln!(self.out, "impl {name} {{\n{acc}}}\n");
        }
        self.bit_accessors(name, &bits, c.size);
        Ok(())
    }

    /// Accessors for the named members of an anonymous struct inside a union, as C lets
    /// code name them directly (`u.lo` for `union { struct { u16 lo, hi; }; }`).
    fn flatten(
        &mut self,
        acc: &mut String,
        seen: &mut HashSet<String>,
        id: u32,
        base: u32,
        hint: &str,
    ) -> Result<(), GenError> {
        let rid = self.btf.skip_mods_and_typedefs(id)?;
        let Type::Struct(inner) = self.btf.type_by_id(rid)? else {
            return Ok(());
        };
        for m in inner.members() {
            if m.name.is_empty() || m.bit_offset % 8 != 0 || self.bitfield(&inner, &m)?.is_some() {
                continue;
            }
            if let Ok(ty) = self.rust_type(m.type_id, &format!("{hint}__{}", m.name)) {
                member_accessors(
                    acc,
                    seen,
                    m.name,
                    &ty,
                    base.saturating_add(m.bit_offset / 8),
                );
            }
        }
        Ok(())
    }

    fn def_enum(&mut self, name: &str, e: &Enum) {
        let int = int_name(e.size, e.signed);
        let int = if int.starts_with('[') {
            "u32".to_string()
        } else {
            int
        };
        let _ = writeln!(
            self.out,
            "/// `enum {}` ({} bytes): the raw value, with the enumerators as constants.\n#[repr(transparent)]\n#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub struct {name}(pub {int});\n\n// SAFETY: transparent over an integer.\nunsafe impl rt::Pod for {name} {{}}\n",
            if e.name.is_empty() { "<anon>" } else { e.name },
            e.size
        );
        let mut consts = String::new();
        let mut arms = String::new();
        let mut seen = HashSet::new();
        for v in e.values() {
            let c = ident(v.name);
            if !seen.insert(c.clone()) {
                continue;
            }
            let lit = if e.signed {
                format!("{}_i64", v.value as i64)
            } else {
                format!("{}_u64", v.value)
            };
            let _ = writeln!(
                consts,
                "    /// `{}`.\n    pub const {c}: {name} = {name}({lit} as {int});",
                v.name
            );
            let _ = writeln!(arms, "            {lit} => Some({:?}),", v.name);
        }
        let cast = if e.signed { "i64" } else { "u64" };
        let _ = writeln!(
            self.out,
            "#[allow(unreachable_patterns)]\nimpl {name} {{\n{consts}    /// The enumerator's C name, if the value has one.\n    pub fn name(self) -> Option<&'static str> {{\n        match self.0 as {cast} {{\n{arms}            _ => None,\n        }}\n    }}\n}}\n"
        );
        let _ = writeln!(
            self.asserts,
            "const _: () = assert!(::core::mem::size_of::<{name}>() == {});",
            e.size
        );
    }
}

/// A getter and a setter for a union member of type `ty` at byte `off`.
/// Names already used in `seen` are skipped (a flattened member named like another).
fn member_accessors(acc: &mut String, seen: &mut HashSet<String>, name: &str, ty: &str, off: u32) {
    if !seen.insert(name.to_string()) {
        return;
    }
    let _ = writeln!(
        acc,
        "    /// Member `{name}`.\n    pub fn {}(&self) -> {ty} {{ rt::read_pod(&self.bytes, {off}) }}\n    /// Sets member `{name}` (the other bytes are kept).\n    pub fn {}(&mut self, v: {ty}) {{ rt::write_pod(&mut self.bytes, {off}, &v) }}",
        ident(name),
        ident(&format!("set_{name}"))
    );
}

/// Starts a padding field up to `to` if the cursor is short of it.
fn pad(fields: &mut Vec<Field>, cursor: &mut u32, to: u32) {
    if to > *cursor {
        fields.push(Field {
            name: format!("_pad{}", *cursor),
            ty: format!("[u8; {}]", to - *cursor),
            off: *cursor,
            align: 1,
            hidden: true,
        });
        *cursor = to;
    }
}

/// Ends a run of bitfields: one byte-array storage field covering them.
fn close_group(
    group: &mut Option<(u32, u32, Vec<Bits>)>,
    fields: &mut Vec<Field>,
    bits: &mut Vec<Bits>,
    cursor: &mut u32,
) {
    let Some((start, end_bit, members)) = group.take() else {
        return;
    };
    pad(fields, cursor, start);
    let end = end_bit.div_ceil(8);
    fields.push(Field {
        name: format!("_bitfield{start}"),
        ty: format!("[u8; {}]", end - start),
        off: start,
        align: 1,
        hidden: true,
    });
    *cursor = end;
    bits.extend(members);
}

fn int_type(i: &Int) -> String {
    if i.is_bool() {
        return "u8".into();
    }
    int_name(i.size, i.is_signed())
}

fn int_name(size: u32, signed: bool) -> String {
    let bits = match size {
        1 | 2 | 4 | 8 | 16 => size * 8,
        n => return format!("[u8; {n}]"),
    };
    format!("{}{bits}", if signed { 'i' } else { 'u' })
}
