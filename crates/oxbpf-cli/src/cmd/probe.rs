//! `oxbpf probe`: every kernel feature probe (program types, map types and flags, the
//! helper matrix, links, BTF kinds, misc), like `bpftool feature probe kernel`.

use crate::output::Output;
use oxbpf::asm::helper_name;
use oxbpf::features::{self, Answer, HelperRow, Report, ReportOptions};
use oxbpf::token::{self, Status};
use serde_json::{json, Map, Value};
use std::fmt::Write;
use std::process::ExitCode;

/// Arguments of `oxbpf probe`.
#[derive(clap::Args)]
pub struct Args {
    /// Also probe helpers whose probe logs a kernel warning (bpf_trace_printk,
    /// bpf_trace_vprintk, bpf_probe_write_user), as `bpftool feature probe full` does.
    #[arg(long)]
    pub full: bool,
    /// Threads for the helper matrix (default: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Runs `oxbpf probe`.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let report = features::probe_all(ReportOptions {
        full_helpers: args.full,
        threads: args.threads,
    });
    let mut value = to_json(&report);
    value["bpf_token"] = token_json();
    out.emit(&value, || {
        let mut text = to_text(&report);
        let first = text.find('\n').map_or(text.len(), |i| i + 1);
        text.insert_str(first, &format!("BPF token: {}\n", token::status()));
        text
    });
    Ok(ExitCode::SUCCESS)
}

/// Whether the process passed a BPF token to the kernel ([`oxbpf::token`]), as JSON.
pub(super) fn token_json() -> Value {
    match token::status() {
        Status::Used { path, calls } => {
            json!({"used": true, "path": path, "calls": calls})
        }
        Status::None { reason, requested } => {
            json!({"used": false, "reason": reason, "requested": requested})
        }
    }
}

/// "BPF token: ..." for commands whose text output stays short: said when a token was used
/// or asked for by a variable but not created; empty otherwise.
pub(super) fn token_line() -> String {
    match token::status() {
        st @ (Status::Used { .. }
        | Status::None {
            requested: true, ..
        }) => {
            format!("BPF token: {st}\n")
        }
        Status::None { .. } => String::new(),
    }
}

fn answer_json(a: &Answer) -> Value {
    match a {
        Ok(v) => Value::Bool(*v),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn section<'a, K: 'a>(
    items: impl IntoIterator<Item = (K, &'a Answer)>,
    key: impl Fn(K) -> String,
) -> Value {
    let mut m = Map::new();
    for (k, a) in items {
        m.insert(key(k), answer_json(a));
    }
    Value::Object(m)
}

fn helper_names(ids: impl Iterator<Item = u32>) -> Vec<String> {
    ids.map(|id| helper_name(id as i32).map_or_else(|| format!("#{id}"), str::to_string))
        .collect()
}

fn helpers_json(rows: &[HelperRow]) -> Value {
    let mut m = Map::new();
    for (t, row) in rows {
        let v = match row {
            Ok(None) => Value::Null,
            Ok(Some(list)) => json!(helper_names(
                list.iter()
                    .filter(|(_, a)| a.supported())
                    .map(|(id, _)| *id)
            )),
            Err(e) => json!({ "error": e.to_string() }),
        };
        m.insert(t.to_string(), v);
    }
    Value::Object(m)
}

/// The report as one JSON object with a key per section.
pub fn to_json(r: &Report) -> Value {
    json!({
        "kernel": {
            "release": r.kernel_release,
            "version": r.kernel_version.map(|v| v.to_string()),
            "version_code": r.kernel_version.map(|v| v.code()),
        },
        "program_types": section(r.program_types.iter().map(|(t, a)| (t, a)), |t| t.to_string()),
        "map_types": section(r.map_types.iter().map(|(t, a)| (t, a)), |t| t.to_string()),
        "map_flags": section(
            r.map_flags.iter().map(|(f, _, a)| (*f, a)),
            |f| features::map_flags::name(f).to_string()
        ),
        "helpers": helpers_json(&r.helpers),
        "links": section(r.links.iter().map(|(k, a)| (*k, a)), |k| k.name().to_string()),
        "btf": section(r.btf.iter().map(|(b, a)| (*b, a)), |b| b.name().to_string()),
        "misc": section(r.misc.iter().map(|(m, a)| (*m, a)), |m| m.name().to_string()),
        "timing_ms": {
            "total": r.total_time.as_secs_f64() * 1e3,
            "helpers": r.helpers_time.as_secs_f64() * 1e3,
        },
    })
}

fn answer_text(a: &Answer) -> String {
    match a {
        Ok(true) => "yes".into(),
        Ok(false) => "no".into(),
        Err(e) => format!("unknown ({e})"),
    }
}

fn to_text(r: &Report) -> String {
    let mut s = String::new();
    let version = r.kernel_version.map_or_else(
        || "unknown".to_string(),
        |v| format!("{v} (code {})", v.code()),
    );
    let _ = writeln!(s, "Kernel: {} (version {version})", r.kernel_release);
    let mut block = |title: &str, rows: Vec<(String, &Answer)>| {
        let _ = writeln!(s, "\n{title}:");
        for (k, a) in rows {
            let _ = writeln!(s, "  {k:<28} {}", answer_text(a));
        }
    };
    block(
        "Program types",
        r.program_types
            .iter()
            .map(|(t, a)| (t.to_string(), a))
            .collect(),
    );
    block(
        "Map types",
        r.map_types
            .iter()
            .map(|(t, a)| (t.to_string(), a))
            .collect(),
    );
    block(
        "Map flags",
        r.map_flags
            .iter()
            .map(|(f, t, a)| (format!("{} ({t})", features::map_flags::name(*f)), a))
            .collect(),
    );
    block(
        "Links",
        r.links
            .iter()
            .map(|(k, a)| (k.name().to_string(), a))
            .collect(),
    );
    block(
        "BTF",
        r.btf
            .iter()
            .map(|(b, a)| (b.name().to_string(), a))
            .collect(),
    );
    block(
        "Misc",
        r.misc
            .iter()
            .map(|(m, a)| (m.name().to_string(), a))
            .collect(),
    );
    for (t, row) in &r.helpers {
        let _ = write!(s, "\nHelpers for program type {t}:");
        match row {
            Ok(None) => s.push_str(" (program type not supported)\n"),
            Err(e) => {
                let _ = writeln!(s, " unknown ({e})");
            }
            Ok(Some(list)) => {
                let names = helper_names(
                    list.iter()
                        .filter(|(_, a)| a.supported())
                        .map(|(id, _)| *id),
                );
                let _ = writeln!(s, " {}", names.len());
                for n in names {
                    let _ = writeln!(s, "  - {n}");
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "\nProbed in {:.0} ms (helper matrix {:.0} ms)",
        r.total_time.as_secs_f64() * 1e3,
        r.helpers_time.as_secs_f64() * 1e3
    );
    s
}
