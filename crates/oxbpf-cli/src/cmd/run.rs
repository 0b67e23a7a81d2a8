//! `oxbpf run OBJ PROGRAM`: BPF_PROG_RUN one program on given data and context.

use super::{map_values, run_plan};
use crate::output::Output;
use anyhow::{bail, Context};
use oxbpf::collection::Collection;
use oxbpf::map::Map;
use oxbpf::spec::{CollectionSpec, MapInit};
use serde_json::{json, Map as JsonMap, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `oxbpf run`.
#[derive(clap::Args)]
pub struct Args {
    /// The BPF ELF object.
    pub object: PathBuf,
    /// The program to run.
    pub program: String,
    /// Packet data (raw bytes) to run on.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Context (raw bytes): `struct xdp_md`, `struct __sk_buff`, `struct bpf_flow_keys`,
    /// `struct bpf_sk_lookup` (required), a raw tracepoint's u64 arguments, a syscall
    /// program's argument struct (printed back after the run).
    #[arg(long, value_name = "FILE")]
    pub ctx: Option<PathBuf>,
    /// Run the program N times; the reported duration is the kernel's per-run mean. Packet,
    /// flow dissector and sk_lookup programs only (the others run exactly once).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Run a raw tracepoint program on this CPU (`BPF_F_TEST_RUN_ON_CPU`).
    #[arg(long, value_name = "N")]
    pub cpu: Option<u32>,
    /// Set map NAME's value at key 0 from a file of hex digits (whitespace ignored) before the run;
    /// for global data sections (`.data`, `.rodata`, `.bss`...) this happens before load.
    #[arg(long = "map-in", value_name = "NAME=HEXFILE")]
    pub map_in: Vec<String>,
    /// Print map NAME's contents after the run (repeatable): typed by its BTF as `oxbpf map
    /// dump` prints them; JSON has the raw hex under `maps` and the typed entries under
    /// `maps_typed`.
    #[arg(long = "map-out", value_name = "NAME")]
    pub map_out: Vec<String>,
    /// Kernel BTF for CO-RE: a BTF file or a BTFHub-style directory (see `oxbpf load --btf`).
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,
}

/// Runs `oxbpf run`.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut spec = super::read_spec(&args.object)?;
    if !spec.programs.contains_key(&args.program) {
        bail!(
            "no program {:?} in {} (see `oxbpf inspect`)",
            args.program,
            args.object.display()
        );
    }
    let (prog_type, attach_type) = {
        let p = &spec.programs[&args.program];
        (p.prog_type, p.expected_attach_type)
    };
    let kind = run_plan::kind(prog_type, attach_type);
    let rules = run_plan::rules(prog_type, attach_type)?;
    let data = read_opt(args.data.as_deref())?;
    let ctx = read_opt(args.ctx.as_deref())?;
    let asked = run_plan::Asked {
        data: &data,
        data_given: args.data.is_some(),
        ctx: &ctx,
        ctx_given: args.ctx.is_some(),
        repeat: args.repeat,
        cpu: args.cpu,
    };
    let opts = run_plan::options(&rules, &kind, &asked)?;
    let mut after_load = Vec::new();
    for item in &args.map_in {
        let (name, file) = item
            .split_once('=')
            .with_context(|| format!("--map-in {item:?}: expected NAME=HEXFILE"))?;
        let bytes = read_hex(Path::new(file))?;
        if !preset_data(&mut spec, name, &bytes)? {
            after_load.push((name.to_string(), bytes));
        }
    }
    let mut report =
        Collection::load_report(&spec, &super::load::options(&[], None, args.btf.as_ref()))
            .context("load")?;
    if let Some(e) = report.failed.remove(&args.program) {
        return Err(e).with_context(|| format!("load program {:?}", args.program));
    }
    let coll = report.collection;
    for (name, bytes) in &after_load {
        let map = coll
            .map(name)
            .with_context(|| format!("--map-in: no map {name:?}"))?;
        map.update(&0u32.to_ne_bytes(), bytes, 0)
            .with_context(|| format!("--map-in: write map {name:?}"))?;
    }
    let prog = coll.program(&args.program).expect("loaded above");
    // fentry/fexit/fmod_ret run only while attached (on the kernel's bpf_fentry_test* calls).
    let _link = match (rules.needs_attach, attach_type) {
        (true, Some(at)) => Some(
            oxbpf::link::attach_btf_tracing(prog.fd(), at, 0, Default::default())
                .with_context(|| format!("attach program {:?} for the run", args.program))?,
        ),
        _ => None,
    };
    let res = prog.test_run(&opts).map_err(|e| {
        if e.errno() == Some(libc::E2BIG) && !ctx.is_empty() {
            return anyhow::anyhow!(
                "run program {:?}: {}",
                args.program,
                super::ctx_size::explain(prog.prog_type(), ctx.len())
            );
        }
        let hint = run_plan::hint(&rules, e.errno());
        anyhow::Error::new(e).context(format!("run program {:?}{hint}", args.program))
    })?;
    let mut maps = JsonMap::new();
    let mut typed = JsonMap::new();
    let mut typed_text = String::new();
    for name in &args.map_out {
        let map = coll
            .map(name)
            .with_context(|| format!("--map-out: no map {name:?}"))?;
        maps.insert(
            name.clone(),
            dump_map(map).with_context(|| format!("--map-out: read map {name:?}"))?,
        );
        let d = map_values::dump(map).with_context(|| format!("--map-out: read map {name:?}"))?;
        typed.insert(name.clone(), Value::Array(d.json));
        typed_text += &format!("map {name}:\n{}", d.text);
    }
    let value = json!({
        "retval": res.retval,
        "duration_ns": res.duration.as_nanos() as u64,
        "data_out_hex": hex(&res.data_out),
        "ctx_out_hex": hex(&res.ctx_out),
        "maps": maps,
        "maps_typed": typed,
    });
    out.emit(&value, || {
        let mut s = format!(
            "retval: {}\nduration: {} ns (mean of {} run(s))\ndata out: {} bytes\n",
            res.retval,
            res.duration.as_nanos(),
            opts.repeat.max(1),
            res.data_out.len()
        );
        if !res.ctx_out.is_empty() {
            s += &format!("ctx out: {}\n", hex(&res.ctx_out));
        }
        s + &typed_text
    });
    Ok(ExitCode::SUCCESS)
}

/// Replaces the initial contents of a global-data map in the spec; false if `name` is not one.
fn preset_data(spec: &mut CollectionSpec, name: &str, bytes: &[u8]) -> anyhow::Result<bool> {
    let Some(m) = spec.maps.get_mut(name) else {
        return Ok(false);
    };
    let MapInit::Data(data) = &mut m.init else {
        return Ok(false);
    };
    if bytes.len() != data.len() {
        bail!(
            "--map-in {name}: section is {} bytes, file has {}",
            data.len(),
            bytes.len()
        );
    }
    data.copy_from_slice(bytes);
    Ok(true)
}

/// The largest `--data`/`--ctx` file read: far above any packet or context the kernel takes.
const MAX_INPUT: u64 = 16 << 20;

fn read_opt(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match path {
        Some(p) => Ok(oxbpf::elf::read_bounded(p, MAX_INPUT)?),
        None => Ok(Vec::new()),
    }
}

/// Parses a file of hex digits; whitespace, newlines and `0x` prefixes are ignored.
fn read_hex(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let digits: String = text
        .split_whitespace()
        .map(|w| w.trim_start_matches("0x"))
        .collect();
    if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{}: expected an even number of hex digits", path.display());
    }
    Ok((0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("checked hex"))
        .collect())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Arrays with one entry print as the hex of key 0; other maps as `{key_hex: value_hex}`.
fn dump_map(map: &Map) -> anyhow::Result<Value> {
    if map.max_entries() == 1 && map.key_size() == 4 {
        let v = map.lookup(&0u32.to_ne_bytes())?.unwrap_or_default();
        return Ok(Value::String(hex(&v)));
    }
    let mut obj = JsonMap::new();
    for key in map.keys() {
        let key = key?;
        if let Some(v) = map.lookup(&key)? {
            obj.insert(hex(&key), Value::String(hex(&v)));
        }
    }
    Ok(Value::Object(obj))
}
