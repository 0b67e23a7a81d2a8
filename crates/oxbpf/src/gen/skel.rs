//! The skeleton's items around the generated types: the embedded object, which global
//! sections and maps it exposes, the `Maps`/`Progs` accessors, and the module's assembly
//! (section structs and stages are in `stages.rs`).

use super::ident::{ident, section_fn, section_type};
use super::stages::{section_items, stages, Section};
use super::types::TypeGen;
use super::{GenError, ObjectRef, SkelOptions};
use crate::btf::{Btf, Kind, Type};
use crate::spec::{CollectionSpec, MapSource, MapSpec, MapType};
use std::collections::HashSet;
use std::fmt::Write;

/// Items of the skeleton itself, kept from BTF type names.
const RESERVED: &[&str] = &[
    "OBJECT", "NAME", "OpenSkel", "Skel", "Maps", "Progs", "open", "rt",
];

/// The skeleton source for `spec`.
pub(super) fn generate(spec: &CollectionSpec, opts: &SkelOptions) -> Result<String, GenError> {
    let empty;
    let btf: &Btf = match spec.btf.as_deref() {
        Some(b) => b,
        None => {
            empty = empty_btf()?;
            &empty
        }
    };
    let mut tg = TypeGen::new(btf);
    for r in RESERVED {
        tg.reserve(r);
    }
    let sections = sections(spec, btf, &mut tg)?;
    let mut maps = String::new();
    let mut fns = HashSet::new();
    for m in spec
        .maps
        .values()
        .filter(|m| m.source != MapSource::Data && m.source != MapSource::Kconfig)
    {
        map_accessor(&mut maps, &mut tg, m, &mut fns)?;
    }
    for t in &opts.types {
        let id = [
            Kind::Struct,
            Kind::Union,
            Kind::Enum,
            Kind::Enum64,
            Kind::Typedef,
        ]
        .iter()
        .find_map(|k| btf.find_by_name_kind(t, *k))
        .ok_or_else(|| GenError::NoSuchType(t.clone()))?;
        tg.rust_type(id, t)?;
    }
    tg.finish()?;
    let mut progs = String::new();
    let mut pfns = HashSet::new();
    for p in spec.programs.values() {
        let f = unique_fn(&mut pfns, &p.name);
        let _ = writeln!(
            progs,
            "    /// Program `{}` (section `{}`, {}).\n    pub fn {f}(&self) -> Result<&'a {K}::prog::Program, rt::SkelError> {{\n        rt::program(self.0, {:?})\n    }}",
            p.name, p.section, p.prog_type, p.name, K = KRATE
        );
    }
    Ok(assemble(opts, &tg, &sections, &maps, &progs))
}

/// The crate path generated code names.
pub(super) const KRATE: &str = "::oxbpf";

fn unique_fn(seen: &mut HashSet<String>, name: &str) -> String {
    let mut f = ident(name);
    let mut n = 2;
    while !seen.insert(f.clone()) || RESERVED.contains(&f.as_str()) {
        f = format!("{}_{n}", ident(name).trim_start_matches("r#"));
        n += 1;
    }
    f
}

/// A BTF with no types, for objects built without `-g`.
fn empty_btf() -> Result<Btf, GenError> {
    let mut raw = Vec::new();
    raw.extend_from_slice(&0xeb9fu16.to_le_bytes());
    raw.extend_from_slice(&[1, 0]);
    for v in [24u32, 0, 0, 0, 1] {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    raw.push(0);
    Ok(Btf::parse(&raw)?)
}

/// The global sections with BTF (a DATASEC) and at least one variable.
fn sections(spec: &CollectionSpec, btf: &Btf, tg: &mut TypeGen) -> Result<Vec<Section>, GenError> {
    let mut out = Vec::new();
    for m in spec.maps.values().filter(|m| m.source == MapSource::Data) {
        let Some(Type::Datasec(ds)) = m.value_type_id.and_then(|id| btf.type_by_id(id).ok()) else {
            continue;
        };
        let ty = tg.unique(&section_type(&m.name), 0);
        let mut vars = Vec::new();
        for v in ds.vars() {
            let Ok(Type::Var(var)) = btf.type_by_id(v.type_id) else {
                continue;
            };
            if var.name.is_empty() {
                continue;
            }
            let rust = match tg.rust_type(var.type_id, &format!("{ty}__{}", var.name)) {
                Ok(t) if btf.resolve_size(var.type_id).ok() == Some(v.size) => t,
                _ => format!("[u8; {}]", v.size),
            };
            vars.push((var.name.to_string(), rust, v.offset, v.size));
        }
        vars.sort_by_key(|v| v.2);
        if vars.is_empty() || m.value_size == 0 {
            continue;
        }
        out.push(Section {
            map: m.name.clone(),
            func: section_fn(&m.name),
            ty,
            rodata: m.freeze,
            size: m.value_size,
            vars,
        });
    }
    Ok(out)
}

/// The Rust type of a map key or value: the BTF type when its size matches, else bytes.
fn kv_type(tg: &mut TypeGen, btf_id: Option<u32>, size: u32, hint: &str) -> String {
    btf_id
        .and_then(|id| {
            let t = tg.rust_type(id, hint).ok()?;
            (tg_size(tg, id) == Some(size)).then_some(t)
        })
        .unwrap_or_else(|| format!("[u8; {size}]"))
}

fn tg_size(tg: &TypeGen, id: u32) -> Option<u32> {
    tg.btf().resolve_size(id).ok()
}

/// The data part of an LPM key (after the `u32` prefix length): the key struct's second
/// member when it is exactly that, else bytes.
fn lpm_data(tg: &mut TypeGen, m: &MapSpec) -> String {
    let want = m.key_size.saturating_sub(4);
    let member = m.key_type_id.and_then(|id| {
        let rid = tg.btf().skip_mods_and_typedefs(id).ok()?;
        let Ok(Type::Struct(c)) = tg.btf().type_by_id(rid) else {
            return None;
        };
        let ms: Vec<_> = c.members().collect();
        (ms.len() == 2 && ms[1].bit_offset == 32 && ms[1].bitfield_size == 0).then(|| ms[1].type_id)
    });
    kv_type(tg, member, want, &format!("{}_data", m.name))
}

fn map_accessor(
    out: &mut String,
    tg: &mut TypeGen,
    m: &MapSpec,
    fns: &mut HashSet<String>,
) -> Result<(), GenError> {
    let f = unique_fn(fns, &m.name);
    let key = || format!("{}_key", m.name);
    let val = || format!("{}_value", m.name);
    let t = m.map_type;
    let (view, ctor) = if t == MapType::HASH
        || t == MapType::LRU_HASH
        || t == MapType::PERCPU_HASH
        || t == MapType::LRU_PERCPU_HASH
    {
        let k = kv_type(tg, m.key_type_id, m.key_size, &key());
        let v = kv_type(tg, m.value_type_id, m.value_size, &val());
        let family = if t == MapType::HASH || t == MapType::LRU_HASH {
            "HashMap"
        } else {
            "PerCpuHashMap"
        };
        (
            format!("{KRATE}::map::{family}<&'a {KRATE}::map::Map, {k}, {v}>"),
            format!("{KRATE}::map::{family}::new"),
        )
    } else if (t == MapType::ARRAY || t == MapType::PERCPU_ARRAY) && m.key_size == 4 {
        let v = kv_type(tg, m.value_type_id, m.value_size, &val());
        let family = if t == MapType::ARRAY {
            "Array"
        } else {
            "PerCpuArray"
        };
        (
            format!("{KRATE}::map::{family}<&'a {KRATE}::map::Map, {v}>"),
            format!("{KRATE}::map::{family}::new"),
        )
    } else if t == MapType::LPM_TRIE && m.key_size > 4 {
        let k = lpm_data(tg, m);
        let v = kv_type(tg, m.value_type_id, m.value_size, &val());
        (
            format!("{KRATE}::map::LpmTrie<&'a {KRATE}::map::Map, {k}, {v}>"),
            format!("{KRATE}::map::LpmTrie::new"),
        )
    } else if t == MapType::RINGBUF {
        (
            format!("{KRATE}::map::RingBuf<&'a {KRATE}::map::Map>"),
            format!("{KRATE}::map::RingBuf::new"),
        )
    } else {
        let _ = writeln!(
            out,
            "    /// Map `{}` ({t}, key {} bytes, value {} bytes): the untyped handle.\n    pub fn {f}(&self) -> Result<&'a {KRATE}::map::Map, rt::SkelError> {{\n        rt::map(self.0, {:?})\n    }}",
            m.name, m.key_size, m.value_size, m.name
        );
        return Ok(());
    };
    let _ = writeln!(
        out,
        "    /// Map `{}` ({t}, max_entries {}) as a typed view.\n    pub fn {f}(&self) -> Result<{view}, rt::SkelError> {{\n        Ok({ctor}(rt::map(self.0, {:?})?)?)\n    }}",
        m.name, m.max_entries, m.name
    );
    Ok(())
}

fn assemble(
    opts: &SkelOptions,
    tg: &TypeGen,
    sections: &[Section],
    maps: &str,
    progs: &str,
) -> String {
    let module = ident(&opts.name);
    let include = match &opts.object {
        ObjectRef::Path(p) => format!("include_bytes!({:?})", p.to_string_lossy()),
        ObjectRef::OutDir(f) => format!(
            "include_bytes!(concat!(env!(\"OUT_DIR\"), {:?}))",
            format!("/{f}")
        ),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// Generated by `oxbpf gen skeleton`: do not edit, regenerate from the object instead.\n\n/// Skeleton of the BPF object `{name}`: types from its BTF, open → load stages, typed maps,\n/// programs and global variables.\n#[allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, unused_imports, unused_mut, unused_parens, clippy::all, clippy::pedantic, missing_docs)]\npub mod {module} {{\n    use {KRATE}::skel as rt;\n\n    /// The skeleton's name.\n    pub const NAME: &str = {name:?};\n\n    /// The object file, embedded.\n    pub static OBJECT: &rt::Aligned<[u8]> = &rt::Aligned(*{include});\n",
        name = opts.name
    );
    for line in tg.out.lines() {
        let _ = writeln!(s, "    {line}");
    }
    for sec in sections {
        section_items(&mut s, sec);
    }
    let _ = writeln!(s, "    // Layout assertions from BTF.");
    for line in tg.asserts.lines() {
        let _ = writeln!(s, "    {line}");
    }
    stages(&mut s, sections);
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let (maps, progs) = (indent(maps), indent(progs));
    let _ = writeln!(
        s,
        "\n    /// The loaded maps, as typed views over the skeleton's collection.\n    #[derive(Clone, Copy)]\n    pub struct Maps<'a>(&'a {KRATE}::collection::Collection);\n\n    impl<'a> Maps<'a> {{\n{maps}    }}\n\n    /// The loaded programs.\n    #[derive(Clone, Copy)]\n    pub struct Progs<'a>(&'a {KRATE}::collection::Collection);\n\n    impl<'a> Progs<'a> {{\n{progs}    }}\n}}"
    );
    s
}
