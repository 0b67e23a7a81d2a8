//! `oxbpf probe`: what this kernel supports, decided by probing.

use crate::output::Output;
use oxbpf::asm::{helper_name, MAX_HELPER_ID};
use oxbpf::features::{self, FeatureError};
use oxbpf::spec::{MapType, ProgramType};
use serde_json::{json, Map, Value};
use std::fmt::Write;
use std::process::ExitCode;

/// Arguments of `oxbpf probe`.
#[derive(clap::Args)]
pub struct Args {
    /// Skip the helper matrix (thousands of loads).
    #[arg(long)]
    pub no_helpers: bool,
}

fn answer(r: Result<bool, FeatureError>) -> Value {
    match r {
        Ok(b) => Value::Bool(b),
        Err(e) => Value::String(format!("error: {e}")),
    }
}

/// Every program type and map type probed: (name, answer).
fn types<T: Copy + std::fmt::Display>(
    all: &[T],
    f: impl Fn(T) -> Result<bool, FeatureError>,
) -> Map<String, Value> {
    all.iter()
        .skip(1)
        .map(|&t| (t.to_string(), answer(f(t))))
        .collect()
}

/// Runs `oxbpf probe`.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let start = std::time::Instant::now();
    let progs = types(ProgramType::ALL, features::have_program_type);
    let maps = types(MapType::ALL, features::have_map_type);
    let mut helpers = Map::new();
    if !args.no_helpers {
        for &t in &ProgramType::ALL[1..] {
            if !matches!(features::have_program_type(t), Ok(true))
                || !features::helpers_probeable(t)
            {
                continue;
            }
            let names: Vec<Value> = (1..=MAX_HELPER_ID)
                .filter(|&id| matches!(features::have_helper(t, id), Ok(true)))
                .map(|id| {
                    Value::String(helper_name(id).map_or(format!("#{id}"), |n| n.to_string()))
                })
                .collect();
            helpers.insert(t.to_string(), Value::Array(names));
        }
    }
    let v = features::kernel_version();
    let misc = json!({
        "bounded_loops": answer(features::have_bounded_loops()),
        "isa_v2": answer(features::have_isa(2)),
        "isa_v3": answer(features::have_isa(3)),
        "isa_v4": answer(features::have_isa(4)),
        "large_insns": answer(features::have_large_insns()),
        "bpf_cookie": answer(features::have_bpf_cookie()),
        "xdp_link": answer(oxbpf::link::xdp_link_supported().map_err(|e| FeatureError::Probe {
            feature: format!("XDP bpf_link: {e}"),
            source: oxbpf::sys::SysError::new(oxbpf::sys::Cmd::LinkCreate, e.errno().unwrap_or(0)),
        })),
    });
    let value = json!({
        "kernel": {"release": oxbpf::btf::kernel::release(), "version": v.to_string(), "version_code": v.code()},
        "program_types": progs, "map_types": maps, "helpers": helpers, "misc": misc,
        "probe_ms": start.elapsed().as_millis() as u64,
    });
    out.emit(&value, || text(&value));
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "kernel {} (version {})",
        v["kernel"]["release"], v["kernel"]["version"]
    );
    for section in ["program_types", "map_types", "misc"] {
        let _ = writeln!(s, "\n{section}:");
        for (k, a) in v[section].as_object().into_iter().flatten() {
            let a = match a {
                Value::Bool(true) => "yes".to_string(),
                Value::Bool(false) => "no".to_string(),
                other => other.to_string(),
            };
            let _ = writeln!(s, "  {k:<28} {a}");
        }
    }
    for (t, list) in v["helpers"].as_object().into_iter().flatten() {
        let n = list.as_array().map_or(0, Vec::len);
        let _ = writeln!(s, "\nhelpers for {t} ({n}):");
        for h in list.as_array().into_iter().flatten() {
            let _ = writeln!(s, "  {}", h.as_str().unwrap_or(""));
        }
    }
    s
}
