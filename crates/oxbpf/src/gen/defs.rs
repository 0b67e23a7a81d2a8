//! Definitions of the collected types: structs laid out field by field with explicit
//! padding and bitfield storage, unions as bytes with member accessors, opaque fallbacks,
//! enums as integer newtypes; each with its layout assertions.

use super::ident::ident;
use super::types::{int_name, Bits, TypeGen};
use super::GenError;
use crate::btf::{Composite, Enum, Type};
use std::collections::HashSet;
use std::fmt::Write;

/// One field of a struct being laid out.
struct Field {
    name: String,
    ty: String,
    off: u32,
    align: u32,
    /// Padding and bitfield storage: not asserted by name in docs.
    hidden: bool,
}

impl TypeGen<'_> {
    pub(super) fn def_struct(
        &mut self,
        name: &str,
        id: u32,
        c: &Composite,
    ) -> Result<(), GenError> {
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
        // Bit offsets are bpfel's: the accessors are wrong on a big-endian host.
        let _ = writeln!(
            self.asserts,
            "const _: () = assert!(cfg!(target_endian = \"little\"), \"{name}: bitfield offsets are little-endian\");"
        );
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

    pub(super) fn def_opaque(
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

    pub(super) fn def_union(&mut self, name: &str, id: u32, c: &Composite) -> Result<(), GenError> {
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

    pub(super) fn def_enum(&mut self, name: &str, e: &Enum) {
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
