//! `oxbpf load OBJ`: load maps and programs, report each program.

use super::pin::Pins;
use crate::output::Output;
use anyhow::{anyhow, Context};
use oxbpf::collection::{Collection, CollectionOptions, KernelBtfSource, LoadReport};
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `oxbpf load`.
#[derive(clap::Args)]
pub struct Args {
    /// The BPF ELF object.
    pub object: PathBuf,
    /// Load only this program (repeatable); default all.
    #[arg(long = "program", value_name = "NAME")]
    pub programs: Vec<String>,
    /// Pin loaded programs and maps under this bpffs directory (also the directory for
    /// `LIBBPF_PIN_BY_NAME` maps).
    #[arg(long, value_name = "DIR")]
    pub pin: Option<PathBuf>,
    /// Print the full verifier log of programs that fail.
    #[arg(long, short)]
    pub verbose: bool,
    /// Kernel BTF for CO-RE: a BTF file (raw, `.btf.tar.xz` or ELF with .BTF) or a
    /// BTFHub-style directory; default the running kernel's.
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,
    /// Load XDP program PROG bound to device IFACE (so it may use XDP metadata kfuncs);
    /// repeatable.
    #[arg(long = "dev-bound", value_name = "PROG@IFACE", value_parser = parse_dev_bound)]
    pub dev_bound: Vec<(String, u32)>,
}

/// `PROG@IFACE` → (program, ifindex).
fn parse_dev_bound(s: &str) -> Result<(String, u32), String> {
    let (prog, iface) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?}: expected PROG@IFACE, e.g. xdp_main@eth0"))?;
    let idx = oxbpf::link::Iface::from(iface)
        .index()
        .map_err(|e| format!("{iface:?}: {e}"))?;
    Ok((prog.to_string(), idx))
}

/// Options shared by commands that load an object.
pub fn options(
    programs: &[String],
    pin: Option<&PathBuf>,
    btf: Option<&PathBuf>,
) -> CollectionOptions {
    CollectionOptions {
        pin_dir: pin.cloned(),
        programs: (!programs.is_empty()).then(|| programs.iter().cloned().collect()),
        kernel_btf: btf.map(KernelBtfSource::from_path).unwrap_or_default(),
        ..Default::default()
    }
}

/// Runs `oxbpf load`.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let spec = super::read_spec(&args.object)?;
    let mut opts = options(&args.programs, args.pin.as_ref(), args.btf.as_ref());
    opts.dev_bound = args.dev_bound.iter().cloned().collect();
    let pins = args.pin.as_deref().map(Pins::prepare).transpose()?;
    let mut report = match Collection::load_report(&spec, &opts) {
        Ok(r) => r,
        Err(e) => {
            if let Some(p) = pins {
                p.undo(&mut Collection::default());
            }
            return Err(e).context("load");
        }
    };
    let mut value = report_json(&report);
    if let (Some(mut pins), Some(dir)) = (pins, args.pin.as_deref()) {
        // All or nothing: a failed program or pin leaves nothing pinned, so a rerun starts clean.
        let result = if report.failed.is_empty() {
            pins.pin_all(&report.collection, dir)
        } else {
            Ok(())
        };
        let pinned = report.failed.is_empty() && result.is_ok();
        if !pinned {
            pins.undo(&mut report.collection);
        }
        result.map_err(|e| {
            let hint = if e.source.kind() == std::io::ErrorKind::AlreadyExists {
                "; remove the old pins or pin elsewhere"
            } else {
                ""
            };
            anyhow!("{e}; nothing was left pinned{hint}")
        })?;
        value["pinned"] = json!(pinned);
        if !pinned {
            eprintln!(
                "nothing pinned under {}: a program failed to load",
                dir.display()
            );
        }
    }
    value["bpf_token"] = super::probe::token_json();
    out.emit(&value, || {
        report_text(&report, args.verbose) + &super::probe::token_line()
    });
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report_json(r: &LoadReport) -> Value {
    let mut programs: Vec<(String, Value)> = r
        .collection
        .programs()
        .iter()
        .map(|(n, p)| (n.clone(), json!({"name": n, "loaded": true, "id": p.id()})))
        .collect();
    programs.extend(r.failed.iter().map(|(n, e)| {
        (
            n.clone(),
            json!({"name": n, "loaded": false, "error": e.to_string()}),
        )
    }));
    programs.sort_by(|a, b| a.0.cmp(&b.0));
    let maps: Vec<Value> = r
        .collection
        .maps()
        .iter()
        .map(|(n, m)| {
            json!({"name": n, "id": m.id(), "type": m.map_type().to_string(),
                   "key_size": m.key_size(), "value_size": m.value_size(), "max_entries": m.max_entries()})
        })
        .collect();
    json!({ "programs": programs.into_iter().map(|p| p.1).collect::<Vec<_>>(), "maps": maps })
}

fn report_text(r: &LoadReport, verbose: bool) -> String {
    let mut s = String::new();
    for (n, p) in r.collection.programs() {
        let _ = writeln!(s, "program {n:<28} loaded  id {}", p.id());
    }
    for (n, e) in &r.failed {
        let _ = writeln!(s, "program {n:<28} FAILED  {e}");
        if verbose {
            if let Some(log) = e.verifier_log() {
                let _ = writeln!(s, "--- verifier log of {n} ---\n{log}");
            }
        }
    }
    for (n, m) in r.collection.maps() {
        let _ = writeln!(
            s,
            "map     {n:<28} created id {} ({})",
            m.id(),
            m.map_type()
        );
    }
    s
}
