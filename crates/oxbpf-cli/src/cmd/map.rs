//! `oxbpf map dump|show`: a map's entries with typed keys and values, or its description.
//!
//! A map is chosen by `--pinned PATH`, `--id N`, or `OBJ NAME`. `OBJ NAME` creates the
//! object's maps (no programs) as `oxbpf load` would, with their initial contents (global
//! data, map-in-map slots), and shows map NAME: a map pinned by name (`LIBBPF_PIN_BY_NAME`)
//! that already exists under `--pin-path` is reused, so its live contents show; pins the
//! command itself created are removed and the other maps are freed when it exits.

use super::map_values::{self, MapTypes};
use crate::output::Output;
use anyhow::{anyhow, bail, Context};
use oxbpf::collection::Collection;
use oxbpf::map::Map;
use serde_json::{json, Value as Json};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `oxbpf map` subcommands.
#[derive(clap::Subcommand)]
pub enum MapCmd {
    /// Print every entry, keys and values typed by the map's BTF (hex without BTF).
    Dump(Target),
    /// Describe one map (type, sizes, BTF key/value types), or every map in the kernel.
    Show(Target),
}

/// Which map: exactly one of `--pinned`, `--id` or `OBJ NAME` (none for `show`: all maps).
#[derive(clap::Args)]
pub struct Target {
    /// A map pinned on bpffs.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["id", "object"])]
    pub pinned: Option<PathBuf>,
    /// A map by kernel id.
    #[arg(long, value_name = "N", conflicts_with = "object")]
    pub id: Option<u32>,
    /// A BPF ELF object whose maps are created (see NAME).
    #[arg(value_name = "OBJ", requires = "name")]
    pub object: Option<PathBuf>,
    /// The map of OBJ to show, as `oxbpf inspect` names it (`.data` for global data).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// With OBJ: the bpffs directory of maps pinned by name (default /sys/fs/bpf).
    #[arg(long, value_name = "DIR", requires = "object")]
    pub pin_path: Option<PathBuf>,
}

/// A map and what keeps it alive (the collection it came from, for `OBJ NAME`).
struct Opened {
    map: Map,
    _coll: Option<Collection>,
}

fn open(t: &Target) -> anyhow::Result<Option<Opened>> {
    let map = if let Some(p) = &t.pinned {
        if std::fs::symlink_metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            bail!(
                "no map pinned at {}: the path does not exist (see `ls {}`)",
                p.display(),
                p.parent().map_or(".".into(), |d| d.display().to_string())
            );
        }
        Map::from_pin(p)?
    } else if let Some(id) = t.id {
        Map::from_id(id).map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "open map id {id} (see `oxbpf map show` for the ids in use)"
            ))
        })?
    } else if let (Some(obj), Some(name)) = (&t.object, &t.name) {
        return from_object(obj, name, t.pin_path.as_ref()).map(Some);
    } else {
        return Ok(None);
    };
    Ok(Some(Opened { map, _coll: None }))
}

fn from_object(
    obj: &std::path::Path,
    name: &str,
    pin_path: Option<&PathBuf>,
) -> anyhow::Result<Opened> {
    let spec = super::read_spec(obj)?;
    if !spec.maps.contains_key(name) {
        let names: Vec<&str> = spec.maps.keys().map(String::as_str).collect();
        bail!(
            "no map {name:?} in {}; its maps: {}",
            obj.display(),
            names.join(", ")
        );
    }
    let mut opts = super::load::options(&[], pin_path, None);
    opts.programs = Some(Default::default());
    let mut coll = Collection::load(&spec, &opts)
        .with_context(|| format!("create the maps of {}", obj.display()))?;
    coll.remove_created_pins()
        .context("remove the pins this command created")?;
    let map = coll.take_map(name).expect("the spec has this map");
    Ok(Opened {
        map,
        _coll: Some(coll),
    })
}

/// Runs `oxbpf map ...`.
pub fn run(cmd: MapCmd, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        MapCmd::Dump(t) => {
            let o = open(&t)?
                .ok_or_else(|| anyhow!("which map? give --pinned PATH, --id N or OBJ NAME"))?;
            dump(&o.map, out)
        }
        MapCmd::Show(t) => match open(&t)? {
            Some(o) => {
                let (v, text) = describe(&o.map)?;
                out.emit(&v, || text + "\n");
                Ok(ExitCode::SUCCESS)
            }
            None => show_all(out),
        },
    }
}

fn dump(map: &Map, out: &Output) -> anyhow::Result<ExitCode> {
    let d = map_values::dump(map)?;
    let (info, head) = describe_with(map, d.types.as_ref())?;
    let v = json!({ "map": info, "entries": d.json });
    out.emit(&v, || format!("{head}\n{}", d.text));
    Ok(ExitCode::SUCCESS)
}

fn describe(map: &Map) -> anyhow::Result<(Json, String)> {
    let types = MapTypes::of(map)?;
    describe_with(map, types.as_ref())
}

/// The map as JSON and as one text line.
fn describe_with(map: &Map, types: Option<&MapTypes>) -> anyhow::Result<(Json, String)> {
    let info = map.info()?;
    let mut v = json!({
        "id": map.id(),
        "name": map.name(),
        "type": map.map_type().to_string(),
        "key_size": map.key_size(),
        "value_size": map.value_size(),
        "max_entries": map.max_entries(),
        "flags": map.flags(),
        "btf_id": info.btf_id,
    });
    let mut text = format!(
        "{}: {}  name {}  key {}B  value {}B  max_entries {}  flags {:#x}",
        map.id(),
        map.map_type(),
        map.name(),
        map.key_size(),
        map.value_size(),
        map.max_entries(),
        map.flags()
    );
    match types {
        Some(t) => {
            let (k, val) = (t.name(t.key), t.name(t.value));
            let _ = write!(text, "\n\tbtf_id {}  key {k}  value {val}", info.btf_id);
            v["key_type"] = json!(k);
            v["value_type"] = json!(val);
        }
        None => {
            text.push_str("\n\tno BTF key/value types: printed as hex (indexes and ids as numbers)")
        }
    }
    Ok((v, text))
}

fn show_all(out: &Output) -> anyhow::Result<ExitCode> {
    let ids = Map::loaded_ids().context("list the kernel's maps")?;
    let mut list = Vec::new();
    let mut text = String::new();
    for id in ids {
        // A map freed between listing and opening is skipped.
        let Ok(map) = Map::from_id(id) else { continue };
        let (v, t) = match describe(&map) {
            Ok(d) => d,
            Err(_) => continue,
        };
        list.push(v);
        text += &t;
        text.push('\n');
    }
    out.emit(&Json::Array(list), || text);
    Ok(ExitCode::SUCCESS)
}
