//! Dumping BTF as a C header (`vmlinux.h` style) or as JSON Lines.
//!
//! The C dump is valid C for clang's BPF target and reproduces every struct's layout
//! exactly: all enums come first (they depend on nothing), then forward declarations of
//! every named struct and union (so pointers never need ordering), then typedefs and struct
//! and union definitions, each after what it needs complete (by-value members, array
//! elements, typedef targets). Anonymous structs and unions are written inline; anonymous
//! enums once at top level, with members of such a type declared as an integer of the same
//! size (an anonymous enum used twice inline would redefine its constants). Gaps between
//! members (alignment attributes in the kernel source) become unnamed bitfields, structs
//! whose members are not naturally aligned get `__attribute__((packed))`, enums whose size is
//! not 4 get a `mode` attribute. Duplicate names get a `___N` suffix. The record types are
//! wrapped in `#pragma clang attribute push(__attribute__((preserve_access_index)))` as
//! bpftool does, so programs including the header get CO-RE field accesses.
//!
//! Written by hand: no crate prints BTF as C (bpftool and libbpf's `btf_dump` are C).

use super::{Btf, BtfError, Type};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Nesting limit for declarators and dependency walks (malformed BTF can loop).
const MAX_DEPTH: u32 = 128;

/// A short C spelling of type `id` (`struct task_struct *`, `int (*)(void *)`), for messages.
pub fn type_name(btf: &Btf, id: u32) -> String {
    let d = CDumper::bare(btf);
    d.decl(id, "", 0, 0)
        .unwrap_or_else(|_| format!("<type [{id}]>"))
}

/// The whole BTF as a compilable C header.
pub fn to_c(btf: &Btf) -> Result<String, BtfError> {
    let mut d = CDumper::new(btf);
    d.run()?;
    Ok(d.out)
}

/// One JSON object per type (JSON Lines), in id order (feature `json`).
#[cfg(feature = "json")]
pub fn to_json_lines(btf: &Btf, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut line = String::new();
    for (id, t) in btf.iter() {
        line.clear();
        super::json::write_type(&mut line, id, &t);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// A type as a JSON object (`id`, `kind`, `name` and the kind's fields), as text (feature
/// `json`).
#[cfg(feature = "json")]
pub fn type_json(id: u32, t: &Type) -> String {
    let mut s = String::new();
    super::json::write_type(&mut s, id, t);
    s
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Emitting,
    Done,
}

struct CDumper<'a> {
    btf: &'a Btf,
    /// Emitted names of named structs, unions, enums, forwards and typedefs.
    names: HashMap<u32, String>,
    /// Emitted enumerator names, by (enum id, index), where renamed.
    enumerators: HashMap<(u32, usize), String>,
    state: HashMap<u32, State>,
    align: std::cell::RefCell<HashMap<u32, u32>>,
    out: String,
}

fn depth_err(id: u32) -> BtfError {
    BtfError::LoopDetected { id }
}

impl<'a> CDumper<'a> {
    fn new(btf: &'a Btf) -> Self {
        let mut d = Self::bare(btf);
        d.assign_names();
        d
    }

    /// A dumper using the types' own names (no duplicate renaming): for single declarations.
    fn bare(btf: &'a Btf) -> Self {
        CDumper {
            btf,
            names: HashMap::new(),
            enumerators: HashMap::new(),
            state: HashMap::new(),
            align: Default::default(),
            out: String::new(),
        }
    }

    /// Unique names: tags (struct/union/enum) share one namespace, typedefs and enumerators
    /// another; a forward takes the name of the first full definition of its tag.
    fn assign_names(&mut self) {
        let mut tags: HashMap<String, usize> = HashMap::new();
        let mut idents: HashMap<String, usize> = HashMap::new();
        let bump = |map: &mut HashMap<String, usize>, n: &str| {
            let c = map.entry(n.to_string()).or_insert(0);
            *c += 1;
            if *c == 1 {
                n.to_string()
            } else {
                format!("{n}___{c}")
            }
        };
        let mut fwds = Vec::new();
        for (id, t) in self.btf.iter() {
            match &t {
                Type::Struct(_) | Type::Union(_) | Type::Enum(_) | Type::Enum64(_)
                    if !t.name().is_empty() =>
                {
                    let n = bump(&mut tags, t.name());
                    self.names.insert(id, n);
                }
                Type::Fwd(_) => fwds.push((id, t.name().to_string())),
                Type::Typedef(r) => {
                    let n = bump(&mut idents, r.name);
                    self.names.insert(id, n);
                }
                _ => {}
            }
            if let Type::Enum(e) | Type::Enum64(e) = &t {
                for (i, v) in e.values().enumerate() {
                    let n = bump(&mut idents, v.name);
                    if n != v.name {
                        self.enumerators.insert((id, i), n);
                    }
                }
            }
        }
        for (id, n) in fwds {
            if !tags.contains_key(&n) {
                tags.insert(n.clone(), 1);
            }
            self.names.insert(id, n);
        }
    }

    fn name(&self, id: u32) -> &str {
        match self.names.get(&id) {
            Some(n) => n,
            None => self.btf.name_of(id).unwrap_or(""),
        }
    }

    fn run(&mut self) -> Result<(), BtfError> {
        self.out.push_str(
            "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
             #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
             #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
             #endif\n\n",
        );
        let btf = self.btf;
        for (id, t) in btf.iter() {
            if let Type::Enum(_) | Type::Enum64(_) = t {
                self.emit_enum(id, &t);
            }
        }
        let mut declared = HashSet::new();
        for (id, t) in btf.iter() {
            let kw = match &t {
                Type::Struct(_) if !t.name().is_empty() => "struct",
                Type::Union(_) if !t.name().is_empty() => "union",
                Type::Fwd(f) if f.is_union => "union",
                Type::Fwd(_) => "struct",
                _ => continue,
            };
            let n = self.name(id).to_string();
            if !n.is_empty() && declared.insert((kw, n.clone())) {
                let _ = writeln!(self.out, "{kw} {n};");
            }
        }
        self.out.push('\n');
        for (id, t) in btf.iter() {
            match &t {
                Type::Typedef(r) if is_builtin(r.name) => {}
                Type::Typedef(_) => self.ensure_typedef(id, 0)?,
                Type::Struct(_) | Type::Union(_) if !t.name().is_empty() => {
                    self.ensure_def(id, 0)?
                }
                _ => {}
            }
        }
        self.out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
             #endif /* __VMLINUX_H__ */\n",
        );
        Ok(())
    }

    fn emit_enum(&mut self, id: u32, t: &Type) {
        let (Type::Enum(e) | Type::Enum64(e)) = t else {
            return;
        };
        let mut s = match self.name(id) {
            "" => "enum {\n".to_string(),
            n => format!("enum {n} {{\n"),
        };
        for (i, v) in e.values().enumerate() {
            let name = self
                .enumerators
                .get(&(id, i))
                .map(String::as_str)
                .unwrap_or(v.name);
            let val = if e.signed || (!e.is_64() && (v.value as i64) < 0) {
                format!("{}", v.value as i64)
            } else if v.value > i64::MAX as u64 {
                format!("{}ULL", v.value)
            } else {
                format!("{}", v.value)
            };
            let _ = writeln!(s, "\t{name} = {val},");
        }
        if e.vlen() == 0 {
            // C needs at least one enumerator; keep the tag usable.
            let _ = writeln!(s, "\t__oxbpf_empty_enum_{id} = 0,");
        }
        s.push('}');
        s.push_str(enum_mode(e.size));
        s.push_str(";\n\n");
        self.out.push_str(&s);
    }

    fn ensure_typedef(&mut self, id: u32, depth: u32) -> Result<(), BtfError> {
        if self.state.contains_key(&id) || is_builtin(self.name(id)) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(depth_err(id));
        }
        self.state.insert(id, State::Emitting);
        let Type::Typedef(r) = self.btf.type_by_id(id)? else {
            return Ok(());
        };
        self.deps(r.type_id, false, depth + 1)?;
        let name = self.name(id).to_string();
        let d = self.decl(r.type_id, &name, 0, depth + 1)?;
        let _ = writeln!(self.out, "typedef {d};\n");
        self.state.insert(id, State::Done);
        Ok(())
    }

    fn ensure_def(&mut self, id: u32, depth: u32) -> Result<(), BtfError> {
        if self.state.contains_key(&id) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(depth_err(id));
        }
        self.state.insert(id, State::Emitting);
        let t = self.btf.type_by_id(id)?;
        if let Some(c) = t.as_composite() {
            for m in c.members() {
                self.deps(m.type_id, true, depth + 1)?;
            }
        }
        let body = self.composite(id, 0, depth + 1)?;
        let _ = writeln!(self.out, "{body};\n");
        self.state.insert(id, State::Done);
        Ok(())
    }

    /// Emits what a use of `id` needs first; `complete` when used by value.
    fn deps(&mut self, id: u32, complete: bool, depth: u32) -> Result<(), BtfError> {
        if depth > MAX_DEPTH {
            return Err(depth_err(id));
        }
        match self.btf.type_by_id(id)? {
            Type::Ptr(r) => self.deps(r.type_id, false, depth + 1),
            Type::Const(r) | Type::Volatile(r) | Type::Restrict(r) | Type::TypeTag(r) => {
                self.deps(r.type_id, complete, depth + 1)
            }
            // C rejects arrays of incomplete types anywhere, even behind pointers.
            Type::Array(a) => self.deps(a.elem_type, true, depth + 1),
            Type::FuncProto(p) => {
                self.deps(p.ret, false, depth + 1)?;
                for x in p.params() {
                    self.deps(x.type_id, false, depth + 1)?;
                }
                Ok(())
            }
            Type::Typedef(r) if is_builtin(r.name) => self.deps(r.type_id, complete, depth + 1),
            Type::Typedef(r) => {
                self.ensure_typedef(id, depth + 1)?;
                if complete {
                    self.deps(r.type_id, true, depth + 1)?;
                }
                Ok(())
            }
            t @ (Type::Struct(_) | Type::Union(_)) => {
                if !t.name().is_empty() {
                    if complete {
                        self.ensure_def(id, depth + 1)?;
                    }
                    return Ok(());
                }
                if let Some(c) = t.as_composite() {
                    for m in c.members() {
                        self.deps(m.type_id, true, depth + 1)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// C declaration of `inner` (a declarator, possibly empty) with type `id`.
    fn decl(&self, id: u32, inner: &str, indent: usize, depth: u32) -> Result<String, BtfError> {
        if depth > MAX_DEPTH {
            return Err(depth_err(id));
        }
        let join = |base: &str| {
            if inner.is_empty() {
                base.to_string()
            } else {
                format!("{base} {inner}")
            }
        };
        let btf = self.btf;
        Ok(match btf.type_by_id(id)? {
            Type::Void => join("void"),
            Type::Int(i) => join(i.name),
            Type::Float(f) => join(f.name),
            Type::Ptr(r) => {
                let s = format!("*{inner}");
                let target = btf.skip_mods(r.type_id).unwrap_or(r.type_id);
                let wrap = matches!(
                    btf.type_by_id(target),
                    Ok(Type::Array(_) | Type::FuncProto(_))
                );
                let s = if wrap { format!("({s})") } else { s };
                self.decl(r.type_id, &s, indent, depth + 1)?
            }
            t @ (Type::Const(_) | Type::Volatile(_) | Type::Restrict(_)) => {
                let q = match t {
                    Type::Const(_) => "const",
                    Type::Volatile(_) => "volatile",
                    _ => "restrict",
                };
                let r = t.ref_type().unwrap_or(0);
                if self.elem_has_qualifier(r, q) {
                    // `const` on an array whose elements are already const (clang emits both).
                    self.decl(r, inner, indent, depth + 1)?
                } else if matches!(btf.type_by_id(r), Ok(Type::Ptr(_))) {
                    self.decl(r, &format!("{q} {inner}"), indent, depth + 1)?
                } else {
                    format!("{q} {}", self.decl(r, inner, indent, depth + 1)?)
                }
            }
            Type::TypeTag(r) => self.decl(r.type_id, inner, indent, depth + 1)?,
            Type::Array(a) => self.decl(
                a.elem_type,
                &format!("{inner}[{}]", a.nelems),
                indent,
                depth + 1,
            )?,
            Type::FuncProto(p) => {
                let mut params = Vec::new();
                for x in p.params() {
                    if x.type_id == 0 && x.name_off == 0 {
                        params.push("...".to_string());
                    } else {
                        params.push(self.decl(x.type_id, "", indent, depth + 1)?);
                    }
                }
                if params.is_empty() {
                    params.push("void".into());
                }
                self.decl(
                    p.ret,
                    &format!("{inner}({})", params.join(", ")),
                    indent,
                    depth + 1,
                )?
            }
            // The target's own `__builtin_va_list` differs from the kernel's: spell it out.
            Type::Typedef(r) if is_builtin(r.name) => {
                self.decl(r.type_id, inner, indent, depth + 1)?
            }
            Type::Typedef(_) => join(self.name(id)),
            t @ (Type::Struct(_) | Type::Union(_)) => {
                let kw = if matches!(t, Type::Union(_)) {
                    "union"
                } else {
                    "struct"
                };
                if t.name().is_empty() {
                    join(&self.composite(id, indent, depth + 1)?)
                } else {
                    join(&format!("{kw} {}", self.name(id)))
                }
            }
            Type::Fwd(f) => {
                let kw = if f.is_union { "union" } else { "struct" };
                join(&format!("{kw} {}", self.name(id)))
            }
            Type::Enum(e) | Type::Enum64(e) => {
                if e.name.is_empty() {
                    join(int_of_size(e.size, e.signed))
                } else {
                    join(&format!("enum {}", self.name(id)))
                }
            }
            Type::Func(_) | Type::Var(_) | Type::Datasec(_) | Type::DeclTag(_) => join("void"),
        })
    }

    /// True when `id` is an array whose element type carries qualifier `q` directly.
    fn elem_has_qualifier(&self, mut id: u32, q: &str) -> bool {
        for _ in 0..MAX_DEPTH {
            match self.btf.type_by_id(id) {
                Ok(Type::Array(a)) => id = a.elem_type,
                Ok(Type::Const(_)) => return q == "const",
                Ok(Type::Volatile(_)) => return q == "volatile",
                _ => return false,
            }
        }
        false
    }

    /// Natural alignment as clang lays out what this dump emits (packed records: 1).
    fn align_of(&self, id: u32, depth: u32) -> Result<u32, BtfError> {
        if depth > MAX_DEPTH {
            return Err(depth_err(id));
        }
        let id = self.btf.skip_mods_and_typedefs(id)?;
        if let Some(a) = self.align.borrow().get(&id) {
            return Ok(*a);
        }
        let a = match self.btf.type_by_id(id)? {
            Type::Int(i) => i.size.clamp(1, 16),
            Type::Float(f) => f.size.clamp(1, 16),
            Type::Enum(e) | Type::Enum64(e) => e.size.clamp(1, 8),
            Type::Ptr(_) => 8,
            Type::Array(a) => self.align_of(a.elem_type, depth + 1)?,
            Type::Struct(c) | Type::Union(c) => {
                let (packed, max) = self.layout(id, &c, depth + 1)?;
                if packed {
                    1
                } else {
                    max
                }
            }
            _ => 1,
        };
        self.align.borrow_mut().insert(id, a);
        Ok(a)
    }

    /// `(packed, max member alignment)` of a struct or union.
    fn layout(
        &self,
        _id: u32,
        c: &super::Composite<'_>,
        depth: u32,
    ) -> Result<(bool, u32), BtfError> {
        let mut max = 1;
        let mut packed = false;
        for m in c.members() {
            let a = self.align_of(m.type_id, depth + 1)?;
            max = max.max(a);
            let bf = self.bitfield(&m)?;
            if bf == 0 {
                if u64::from(m.bit_offset) % (8 * u64::from(a)) != 0 {
                    packed = true;
                }
            } else {
                let unit = u64::from(self.btf.resolve_size(m.type_id).unwrap_or(1).max(1)) * 8;
                let (off, bf) = (u64::from(m.bit_offset), u64::from(bf));
                if off / unit != (off + bf - 1) / unit {
                    packed = true;
                }
            }
        }
        if c.size % max != 0 {
            packed = true;
        }
        Ok((packed, max))
    }

    /// Bitfield width of a member (kind_flag encoding, else an INT with fewer bits).
    fn bitfield(&self, m: &super::Member<'_>) -> Result<u32, BtfError> {
        if m.bitfield_size != 0 {
            return Ok(m.bitfield_size);
        }
        let t = self.btf.skip_mods_and_typedefs(m.type_id)?;
        Ok(match self.btf.type_by_id(t)? {
            Type::Int(i) if u64::from(i.bits) != u64::from(i.size) * 8 => u32::from(i.bits),
            _ => 0,
        })
    }

    /// `struct name { ... } [attrs]` (or anonymous), members indented by `indent + 1`.
    fn composite(&self, id: u32, indent: usize, depth: u32) -> Result<String, BtfError> {
        let probe = self;
        let t = self.btf.type_by_id(id)?;
        let is_union = matches!(t, Type::Union(_));
        let Some(c) = t.as_composite() else {
            return Ok("void".into());
        };
        let (packed, max) = probe.layout(id, c, depth)?;
        let kw = if is_union { "union" } else { "struct" };
        let mut s = match self.name(id) {
            "" => format!("{kw} {{\n"),
            n => format!("{kw} {n} {{\n"),
        };
        let tabs = "\t".repeat(indent + 1);
        let mut cur = 0u64;
        for m in c.members() {
            let bf = u64::from(probe.bitfield(&m)?);
            let size_bits = u64::from(self.btf.resolve_size(m.type_id).unwrap_or(0)) * 8;
            let off = u64::from(m.bit_offset);
            if !is_union && off > cur {
                let natural = if bf > 0 {
                    cur
                } else {
                    let a = if packed {
                        1
                    } else {
                        u64::from(probe.align_of(m.type_id, depth)?)
                    };
                    cur.div_ceil(a * 8) * a * 8
                };
                if off != natural || bf > 0 && off != cur {
                    pad(&mut s, &tabs, cur, off);
                }
            }
            let d = self.decl(m.type_id, m.name, indent + 1, depth + 1)?;
            if bf > 0 {
                let _ = writeln!(s, "{tabs}{d}: {bf};");
            } else {
                let _ = writeln!(s, "{tabs}{d};");
            }
            if !is_union {
                cur = off + if bf > 0 { bf } else { size_bits };
            }
        }
        let a = u64::from(if packed { 1 } else { max });
        let total = u64::from(c.size) * 8;
        if !is_union {
            let natural_end = cur.div_ceil(a * 8) * a * 8;
            if total > natural_end {
                pad(&mut s, &tabs, cur, total);
            }
        }
        s.push_str(&"\t".repeat(indent));
        s.push('}');
        if packed {
            s.push_str(" __attribute__((packed))");
        }
        Ok(s)
    }
}

/// Gaps of this many bytes or more become one named `char` array instead of bitfields.
const PAD_ARRAY_BYTES: u64 = 64;

/// Unnamed bitfields covering bits `from..to` (a named `char __pad_<offset>[n]` array for the
/// whole bytes of a large gap, so output stays proportional to the member count).
fn pad(s: &mut String, tabs: &str, from: u64, to: u64) {
    let mut p = from;
    if to - from >= PAD_ARRAY_BYTES * 8 {
        if p % 8 != 0 {
            let k = 8 - p % 8;
            let _ = writeln!(s, "{tabs}char: {k};");
            p += k;
        }
        let bytes = (to - p) / 8;
        let _ = writeln!(s, "{tabs}char __pad_{}[{bytes}];", p / 8);
        p += bytes * 8;
    }
    while p < to {
        if p % 8 != 0 {
            let k = (8 - p % 8).min(to - p);
            let _ = writeln!(s, "{tabs}char: {k};");
            p += k;
            continue;
        }
        let (ty, u) = [("long", 64), ("int", 32), ("short", 16), ("char", 8)]
            .into_iter()
            .find(|&(_, u)| p % u == 0 && to - p >= u)
            .unwrap_or(("char", (to - p).min(8)));
        let _ = writeln!(s, "{tabs}{ty}: {u};");
        p += u;
    }
}

/// Compiler built-in names (`__builtin_va_list`): never redefined, written as what they
/// stand for in the dumped kernel.
fn is_builtin(name: &str) -> bool {
    name.starts_with("__builtin_")
}

fn enum_mode(size: u32) -> &'static str {
    match size {
        1 => " __attribute__((mode(byte)))",
        2 => " __attribute__((mode(HI)))",
        8 => " __attribute__((mode(DI)))",
        _ => "",
    }
}

fn int_of_size(size: u32, signed: bool) -> &'static str {
    match (size, signed) {
        (1, true) => "signed char",
        (1, false) => "unsigned char",
        (2, true) => "short",
        (2, false) => "unsigned short",
        (8, true) => "long long",
        (8, false) => "unsigned long long",
        (_, true) => "int",
        (_, false) => "unsigned int",
    }
}
