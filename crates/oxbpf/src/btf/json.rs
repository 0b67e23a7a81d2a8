//! BTF types as JSON objects, written straight into a string (no intermediate
//! `serde_json::Value` trees: a struct with 200 members cost 200 small maps per dump).

use super::value::push_str;
use super::{Type, VarLinkage};
use std::fmt::Write;

/// One JSON object under construction; keys are written in call order.
struct Obj<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut String) -> Self {
        out.push('{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(self.out, k);
        self.out.push(':');
        self.out
    }
    fn num(&mut self, k: &str, v: impl std::fmt::Display) -> &mut Self {
        let o = self.key(k);
        let _ = write!(o, "{v}");
        self
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let o = self.key(k);
        push_str(o, v);
        self
    }
    /// `"k": [ {...}, ... ]`, each element written by `f`.
    fn list<T>(&mut self, k: &str, items: impl Iterator<Item = T>, f: impl Fn(&mut Obj, T)) {
        let o = self.key(k);
        o.push('[');
        for (i, it) in items.enumerate() {
            if i > 0 {
                o.push(',');
            }
            let mut e = Obj::open(o);
            f(&mut e, it);
            e.out.push('}');
        }
        o.push(']');
    }
    fn close(self) {
        self.out.push('}');
    }
}

/// Appends type `id` as one JSON object (`id`, `kind`, `name`, then the kind's fields).
pub fn write_type(out: &mut String, id: u32, t: &Type) {
    let mut o = Obj::open(out);
    o.num("id", id)
        .str("kind", t.kind().map_or("VOID", |k| k.name()))
        .str("name", t.name());
    match t {
        Type::Int(i) => {
            let enc = match (i.is_bool(), i.is_char(), i.is_signed()) {
                (true, _, _) => "BOOL",
                (_, true, _) => "CHAR",
                (_, _, true) => "SIGNED",
                _ => "(none)",
            };
            o.num("size", i.size)
                .num("bits_offset", i.bit_offset)
                .num("nr_bits", i.bits)
                .str("encoding", enc);
        }
        Type::Ptr(r)
        | Type::Typedef(r)
        | Type::Volatile(r)
        | Type::Const(r)
        | Type::Restrict(r)
        | Type::TypeTag(r) => {
            o.num("type_id", r.type_id);
        }
        Type::Array(a) => {
            o.num("type_id", a.elem_type)
                .num("index_type_id", a.index_type)
                .num("nr_elems", a.nelems);
        }
        Type::Struct(c) | Type::Union(c) => {
            o.num("size", c.size).num("vlen", c.vlen());
            o.list("members", c.members(), |e, m| {
                e.str("name", m.name)
                    .num("type_id", m.type_id)
                    .num("bits_offset", m.bit_offset)
                    .num("bitfield_size", m.bitfield_size);
            });
        }
        Type::Enum(en) | Type::Enum64(en) => {
            let signed = en.signed;
            o.num("size", en.size)
                .num("vlen", en.vlen())
                .str("encoding", if signed { "SIGNED" } else { "UNSIGNED" });
            o.list("values", en.values(), |e, x| {
                e.str("name", x.name);
                if signed {
                    e.num("val", x.value as i64);
                } else {
                    e.num("val", x.value);
                }
            });
        }
        Type::Fwd(f) => {
            o.str("fwd_kind", if f.is_union { "union" } else { "struct" });
        }
        Type::Func(f) => {
            let l = match f.linkage.raw() {
                0 => "static",
                1 => "global",
                2 => "extern",
                _ => "unknown",
            };
            o.num("type_id", f.proto).str("linkage", l);
        }
        Type::FuncProto(p) => {
            o.num("ret_type_id", p.ret).num("vlen", p.vlen());
            o.list("params", p.params(), |e, x| {
                e.str("name", x.name).num("type_id", x.type_id);
            });
        }
        Type::Var(x) => {
            let l = match x.linkage {
                VarLinkage::Static => "static",
                VarLinkage::Global => "global",
                VarLinkage::Extern => "extern",
                VarLinkage::Unknown(_) => "unknown",
            };
            o.num("type_id", x.type_id).str("linkage", l);
        }
        Type::Datasec(d) => {
            o.num("size", d.size).num("vlen", d.vlen());
            o.list("vars", d.vars(), |e, x| {
                e.num("type_id", x.type_id)
                    .num("offset", x.offset)
                    .num("size", x.size);
            });
        }
        Type::Float(f) => {
            o.num("size", f.size);
        }
        Type::DeclTag(d) => {
            o.num("type_id", d.type_id)
                .num("component_idx", d.component_idx);
        }
        Type::Void => {}
    }
    o.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in [
            "plain",
            "q\"b\\",
            "nl\ntab\tcr\r",
            "\u{1}\u{8}\u{c}\u{1f}x",
            "é✓",
            "",
        ] {
            let mut out = String::new();
            push_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    /// The previous `serde_json::Value` construction, kept as the oracle for the writer.
    fn oracle(id: u32, t: &Type) -> serde_json::Value {
        use serde_json::json;
        let kind = t.kind().map_or("VOID", |k| k.name());
        let mut v = json!({ "id": id, "kind": kind, "name": t.name() });
        let extra = match t {
            Type::Int(i) => json!({"size": i.size, "bits_offset": i.bit_offset, "nr_bits": i.bits,
                "encoding": match (i.is_bool(), i.is_char(), i.is_signed()) {
                    (true, _, _) => "BOOL", (_, true, _) => "CHAR", (_, _, true) => "SIGNED", _ => "(none)" }}),
            Type::Ptr(r)
            | Type::Typedef(r)
            | Type::Volatile(r)
            | Type::Const(r)
            | Type::Restrict(r)
            | Type::TypeTag(r) => json!({"type_id": r.type_id}),
            Type::Array(a) => {
                json!({"type_id": a.elem_type, "index_type_id": a.index_type, "nr_elems": a.nelems})
            }
            Type::Struct(c) | Type::Union(c) => json!({"size": c.size, "vlen": c.vlen(),
                "members": c.members().map(|m| json!({"name": m.name, "type_id": m.type_id,
                    "bits_offset": m.bit_offset, "bitfield_size": m.bitfield_size})).collect::<Vec<_>>()}),
            Type::Enum(e) | Type::Enum64(e) => json!({"size": e.size, "vlen": e.vlen(),
                "encoding": if e.signed { "SIGNED" } else { "UNSIGNED" },
                "values": e.values().map(|x| if e.signed {
                    json!({"name": x.name, "val": x.value as i64}) } else {
                    json!({"name": x.name, "val": x.value}) }).collect::<Vec<_>>()}),
            Type::Fwd(f) => json!({"fwd_kind": if f.is_union { "union" } else { "struct" }}),
            Type::Func(f) => json!({"type_id": f.proto, "linkage": match f.linkage.raw() {
                0 => "static", 1 => "global", 2 => "extern", _ => "unknown" }}),
            Type::FuncProto(p) => json!({"ret_type_id": p.ret, "vlen": p.vlen(),
                "params": p.params().map(|x| json!({"name": x.name, "type_id": x.type_id})).collect::<Vec<_>>()}),
            Type::Var(x) => json!({"type_id": x.type_id, "linkage": match x.linkage {
                VarLinkage::Static => "static", VarLinkage::Global => "global",
                VarLinkage::Extern => "extern", VarLinkage::Unknown(_) => "unknown" }}),
            Type::Datasec(d) => json!({"size": d.size, "vlen": d.vlen(),
                "vars": d.vars().map(|x| json!({"type_id": x.type_id, "offset": x.offset, "size": x.size})).collect::<Vec<_>>()}),
            Type::Float(f) => json!({"size": f.size}),
            Type::DeclTag(d) => json!({"type_id": d.type_id, "component_idx": d.component_idx}),
            Type::Void => json!({}),
        };
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    }

    /// Every type of objects using every kind (and signed enums, bitfields) reads back as
    /// the same JSON value the `Value`-building dumper produced.
    #[test]
    fn every_type_matches_the_value_oracle() {
        use object::{Object, ObjectSection};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/");
        let mut kinds = std::collections::HashSet::new();
        for obj in [
            "btf_kinds.bpf.o",
            "maps.bpf.o",
            "core/layouts.bpf.o",
            "tracing.bpf.o",
        ] {
            let raw = std::fs::read(format!("{dir}{obj}")).unwrap();
            let f = object::File::parse(raw.as_slice()).unwrap();
            let data = f.section_by_name(".BTF").unwrap().data().unwrap();
            let btf = super::super::Btf::parse(data).unwrap();
            for (id, t) in btf.iter() {
                let mut s = String::new();
                write_type(&mut s, id, &t);
                let got: serde_json::Value = serde_json::from_str(&s).unwrap();
                assert_eq!(got, oracle(id, &t), "{obj} type {id}: {s}");
                kinds.insert(t.kind().map(|k| k.name()));
            }
        }
        assert!(kinds.len() >= 15, "kinds covered: {kinds:?}");
    }
}
