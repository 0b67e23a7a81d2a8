//! A map's entries printed by their BTF types (`oxbpf map dump`, `oxbpf run --map-out`):
//! keys and values decoded with `oxbpf::btf::value` when the map has BTF, as hex otherwise
//! (except array indexes, and the inner map / program ids map-in-maps and program arrays
//! return, as numbers); per-CPU values one per possible CPU.

use anyhow::{bail, Context};
use oxbpf::btf::value::{self, Field, Value};
use oxbpf::btf::{dump::type_name, Btf};
use oxbpf::map::Map;
use oxbpf::spec::MapType;
use serde_json::{json, Value as Json};
use std::fmt::Write;

/// Text wider than this breaks a value over several lines.
const WIDTH: usize = 100;

/// A map's key and value types from its BTF (type id 0: none).
pub struct MapTypes {
    /// The map's BTF, read back from the kernel.
    pub btf: Btf,
    /// Key type id.
    pub key: u32,
    /// Value type id.
    pub value: u32,
}

impl MapTypes {
    /// The map's BTF types, `None` when it was created without BTF.
    pub fn of(map: &Map) -> anyhow::Result<Option<MapTypes>> {
        let info = map.info()?;
        if info.btf_id == 0 || (info.btf_key_type_id == 0 && info.btf_value_type_id == 0) {
            return Ok(None);
        }
        let btf = Btf::from_kernel_id(info.btf_id)
            .with_context(|| format!("read the BTF of map {:?}", map.name()))?;
        Ok(Some(MapTypes {
            btf,
            key: info.btf_key_type_id,
            value: info.btf_value_type_id,
        }))
    }

    /// C spelling of type `id` (`"-"` for none, `section .data` for a DATASEC).
    pub fn name(&self, id: u32) -> String {
        match self.btf.type_by_id(id) {
            _ if id == 0 => "-".into(),
            Ok(oxbpf::btf::Type::Datasec(d)) => format!("section {}", d.name),
            _ => type_name(&self.btf, id),
        }
    }
}

/// One entry: the key, and the value (per-CPU maps: one per possible CPU).
pub struct Entry {
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes as the kernel returned them.
    pub value: Vec<u8>,
}

/// Why a map type cannot be listed entry by entry, if it cannot.
fn not_dumpable(t: MapType) -> Option<&'static str> {
    Some(match t {
        MapType::RINGBUF | MapType::USER_RINGBUF => {
            "a ring buffer holds records to consume, not entries by key; read it with a RingBuf reader (oxbpf::map::RingBuf)"
        }
        MapType::PERF_EVENT_ARRAY => {
            "a perf event array holds perf buffer fds, not values; read records with oxbpf::map::PerfEventArray"
        }
        MapType::QUEUE | MapType::STACK => {
            "a queue or stack has no keys, and reading it pops its elements"
        }
        MapType::BLOOM_FILTER => "a bloom filter can only be asked whether it holds a value",
        MapType::ARENA => "an arena is memory to mmap, not entries",
        MapType::XSKMAP => "its values are AF_XDP sockets, which user space cannot read back",
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => "local storage is keyed by an fd of the object it belongs to",
        MapType::STRUCT_OPS => "a struct_ops map holds one kernel object",
        _ => return None,
    })
}

/// Every entry of `map` (keys in the kernel's iteration order).
pub fn entries(map: &Map) -> anyhow::Result<Vec<Entry>> {
    if let Some(why) = not_dumpable(map.map_type()) {
        bail!(
            "map {:?} ({}) cannot be dumped: {why}",
            map.name(),
            map.map_type()
        );
    }
    let mut out = Vec::new();
    for key in map.keys() {
        let key = key.with_context(|| format!("list the keys of map {:?}", map.name()))?;
        // A key deleted between listing and lookup is skipped.
        if let Some(value) = map.lookup(&key)? {
            out.push(Entry { key, value });
        }
    }
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Decoded key and values (one per CPU for per-CPU maps), or why not.
struct Decoded {
    key: Option<Value>,
    values: Option<Vec<Value>>,
    error: Option<String>,
}

fn decode(map: &Map, types: Option<&MapTypes>, e: &Entry) -> Decoded {
    let mut d = Decoded {
        key: None,
        values: None,
        error: None,
    };
    let mut errs = Vec::new();
    match types.filter(|t| t.key != 0) {
        Some(t) => match value::decode(&t.btf, t.key, &e.key) {
            Ok(v) => d.key = Some(v),
            Err(err) => errs.push(format!("key: {err}")),
        },
        // Arrays without a key type (global data has only a value type): the index.
        None => d.key = array_index(map, &e.key).map(|i| Value::Uint(i.into())),
    }
    match types.filter(|t| t.value != 0) {
        Some(t) => {
            let vals = if map.map_type().is_per_cpu() {
                value::decode_per_cpu(&t.btf, t.value, &e.value, map.value_size())
            } else {
                value::decode(&t.btf, t.value, &e.value).map(|v| vec![v])
            };
            match vals {
                Ok(v) => d.values = Some(v),
                Err(err) => errs.push(format!("value: {err}")),
            }
        }
        None => d.values = object_id(map, &e.value).map(|v| vec![v]),
    }
    if !errs.is_empty() {
        d.error = Some(errs.join("; "));
    }
    d
}

/// The index of an array-like map's 4-byte key.
fn array_index(map: &Map, key: &[u8]) -> Option<u32> {
    let indexed = matches!(
        map.map_type(),
        MapType::ARRAY
            | MapType::PERCPU_ARRAY
            | MapType::PROG_ARRAY
            | MapType::ARRAY_OF_MAPS
            | MapType::CGROUP_ARRAY
            | MapType::DEVMAP
            | MapType::CPUMAP
    );
    let b: [u8; 4] = key.try_into().ok()?;
    indexed.then(|| u32::from_ne_bytes(b))
}

/// What user space reads from a map-in-map or program array: the inner map's or program's
/// id, as `{ .map_id = N }` / `{ .prog_id = N }`.
fn object_id(map: &Map, value: &[u8]) -> Option<Value> {
    let name = match map.map_type() {
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS => "map_id",
        MapType::PROG_ARRAY => "prog_id",
        _ => return None,
    };
    let b: [u8; 4] = value.try_into().ok()?;
    Some(Value::Struct(vec![Field {
        name: name.into(),
        value: Value::Uint(u32::from_ne_bytes(b).into()),
    }]))
}

/// Raw per-CPU slots of `value` (value size rounded up to 8 bytes each).
fn cpu_slots<'a>(map: &Map, value: &'a [u8]) -> Vec<&'a [u8]> {
    let size = map.value_size() as usize;
    let slot = size.max(1).div_ceil(8) * 8;
    value
        .chunks(slot)
        .map(|c| &c[..size.min(c.len())])
        .collect()
}

/// Labels of the per-CPU slots: the possible CPUs' numbers (indexes if unreadable).
fn cpu_ids(n: usize) -> Vec<u32> {
    match oxbpf::map::possible_cpus() {
        Ok(ids) if ids.len() == n => ids,
        _ => (0..n as u32).collect(),
    }
}

fn typed_json(v: &Value) -> Json {
    serde_json::from_str(&v.to_json()).expect("the value formatter writes valid JSON")
}

/// One entry as JSON: `{"key", "value"}`, per-CPU `{"key", "values": [{"cpu", "value"}]}`;
/// typed when the map has BTF, hex strings otherwise (plus `"error"` if decoding failed).
pub fn entry_json(map: &Map, types: Option<&MapTypes>, e: &Entry) -> Json {
    let d = decode(map, types, e);
    let key = d
        .key
        .as_ref()
        .map(typed_json)
        .unwrap_or_else(|| Json::String(hex(&e.key)));
    let mut obj = json!({ "key": key });
    if map.map_type().is_per_cpu() {
        let raw = cpu_slots(map, &e.value);
        let ids = cpu_ids(raw.len());
        let vals: Vec<Json> = raw
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let v = d.values.as_ref().and_then(|v| v.get(i)).map(typed_json);
                json!({ "cpu": ids[i], "value": v.unwrap_or_else(|| Json::String(hex(r))) })
            })
            .collect();
        obj["values"] = Json::Array(vals);
    } else {
        let v = d.values.as_ref().and_then(|v| v.first()).map(typed_json);
        obj["value"] = v.unwrap_or_else(|| Json::String(hex(&e.value)));
    }
    if let Some(err) = d.error {
        obj["error"] = Json::String(err);
    }
    obj
}

/// One entry as C-like text: `[KEY] = VALUE`, per-CPU maps one `cpu N: VALUE` line per CPU.
pub fn entry_text(map: &Map, types: Option<&MapTypes>, e: &Entry) -> String {
    let d = decode(map, types, e);
    let key = d
        .key
        .as_ref()
        .map(Value::to_c)
        .unwrap_or_else(|| hex(&e.key));
    let mut s = format!("[{key}] =");
    if map.map_type().is_per_cpu() {
        let raw = cpu_slots(map, &e.value);
        let ids = cpu_ids(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let v = d.values.as_ref().and_then(|v| v.get(i));
            let text = v.map(|v| v.to_c_pretty(WIDTH)).unwrap_or_else(|| hex(r));
            let _ = write!(s, "\n  cpu {}: {}", ids[i], text.replace('\n', "\n  "));
        }
    } else {
        let v = d.values.as_ref().and_then(|v| v.first());
        let text = v
            .map(|v| v.to_c_pretty(WIDTH))
            .unwrap_or_else(|| hex(&e.value));
        let _ = write!(s, " {text}");
    }
    if let Some(err) = d.error {
        let _ = write!(s, "\n  (printed as hex: {err})");
    }
    s.push('\n');
    s
}

/// A whole map printed: its BTF types, the entries as JSON, the entries as text.
pub struct Dump {
    /// The map's key/value types, if it has BTF.
    pub types: Option<MapTypes>,
    /// One JSON object per entry (see [`entry_json`]).
    pub json: Vec<Json>,
    /// The entries as text (see [`entry_text`]), then `N entries`.
    pub text: String,
}

/// Reads and prints every entry of `map`.
pub fn dump(map: &Map) -> anyhow::Result<Dump> {
    let list = entries(map)?;
    // Entries without types beat no entries: unreadable BTF degrades to hex, said on stderr.
    let types = MapTypes::of(map).unwrap_or_else(|e| {
        eprintln!("warning: {e:#}; printing keys and values as hex");
        None
    });
    let json = list
        .iter()
        .map(|e| entry_json(map, types.as_ref(), e))
        .collect();
    let mut text = String::new();
    for e in &list {
        text += &entry_text(map, types.as_ref(), e);
    }
    let n = list.len();
    let _ = writeln!(text, "{n} entr{}", if n == 1 { "y" } else { "ies" });
    Ok(Dump { types, json, text })
}
