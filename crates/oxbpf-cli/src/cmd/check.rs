//! `oxbpf check OBJ [--btf PATH]`: offline compatibility report (no kernel object created).
//!
//! Exit status: 0 when every program can load as far as offline checks tell; 1 when one
//! cannot (a strong extern missing or incompatible, a CO-RE relocation that cannot be
//! applied, a GPL-only helper or a kfunc called without a GPL-compatible licence, a tp_btf/
//! fentry/fexit/lsm attach target missing from the target BTF, a poisoned instruction
//! reachable on a path whose branches known values decide). A poisoned instruction behind
//! branches on values only the kernel knows is a warning; one that CO-RE constants make
//! dead is fine (see `check_reach.rs`).

use crate::output::Output;
use anyhow::Context;
use oxbpf::btf::core::CoreOutcome;
use oxbpf::collection::check::{check, CheckTarget, ProgramCheck};
use oxbpf::collection::externs::{read_kallsyms, Resolution};
use oxbpf::collection::{KernelBtfSource, KernelBtfs};
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `oxbpf check`.
#[derive(clap::Args)]
pub struct Args {
    /// The BPF ELF object.
    pub object: PathBuf,
    /// Target kernel BTF: a BTF file (raw, `.btf.tar.xz`, ELF with .BTF such as another
    /// `.bpf.o`) or a BTFHub-style directory; default the running kernel's.
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,
}

/// Runs `oxbpf check`.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let spec = super::read_spec(&args.object)?;
    let (target, label) = match &args.btf {
        Some(p) => {
            let src = KernelBtfSource::from_path(p);
            let btf = src.load(false).context("target BTF (--btf)")?;
            (
                CheckTarget {
                    vmlinux: btf,
                    modules: Vec::new(),
                    kallsyms: None,
                },
                p.display().to_string(),
            )
        }
        None => {
            let kb = KernelBtfs::new(KernelBtfSource::Running, false);
            let vmlinux = kb
                .running()
                .map_err(anyhow::Error::msg)
                .context("read the running kernel's BTF")?;
            let modules = kb.modules().to_vec();
            (
                CheckTarget {
                    vmlinux,
                    modules,
                    kallsyms: read_kallsyms().ok(),
                },
                format!("running kernel {}", oxbpf::btf::kernel::release()),
            )
        }
    };
    let results = check(&spec, &target);
    let failed = results.iter().any(|p| !p.errors().is_empty());
    let value = json!({
        "object": args.object.display().to_string(),
        "target": label,
        "ok": !failed,
        "programs": results.iter().map(program_json).collect::<Vec<_>>(),
    });
    out.emit(&value, || text(&label, &results));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn status(p: &ProgramCheck) -> &'static str {
    if !p.errors().is_empty() {
        "error"
    } else if !p.warnings().is_empty() {
        "warning"
    } else {
        "ok"
    }
}

fn program_json(p: &ProgramCheck) -> Value {
    let core: Value = match &p.core {
        Err(e) => json!({ "error": e }),
        Ok(rs) => rs
            .iter()
            .map(|r| {
                let mut v = json!({
                    "insn": r.relo.insn_off, "kind": r.kind.name(), "local": r.local_spec,
                });
                let o = v.as_object_mut().expect("object");
                match &r.outcome {
                    CoreOutcome::Resolved {
                        orig,
                        new,
                        target_type,
                    } => {
                        o.insert("status".into(), json!("resolved"));
                        o.insert("orig".into(), json!(orig));
                        o.insert("new".into(), json!(new));
                        o.insert("target_type".into(), json!(target_type.map(|t| t.1)));
                    }
                    CoreOutcome::Poisoned { reason } => {
                        o.insert("status".into(), json!("poisoned"));
                        o.insert("reason".into(), json!(reason));
                        super::check_reach::poisoned_json(p, r.relo.insn_off, o);
                    }
                }
                v
            })
            .collect(),
    };
    let externs: Vec<Value> = p
        .externs
        .iter()
        .map(|e| {
            let mut v = json!({
                "name": e.name, "kind": format!("{:?}", e.kind).to_lowercase(), "weak": e.weak,
                "status": e.resolution.status(),
            });
            let o = v.as_object_mut().expect("object");
            match &e.resolution {
                Resolution::Kfunc {
                    btf_id,
                    module,
                    notes,
                } => {
                    o.insert("btf_id".into(), json!(btf_id));
                    o.insert("module".into(), json!(module));
                    o.insert("notes".into(), json!(notes));
                }
                Resolution::Var { btf_id, module } => {
                    o.insert("btf_id".into(), json!(btf_id));
                    o.insert("module".into(), json!(module));
                }
                Resolution::Address(a) => {
                    o.insert("address".into(), json!(format!("{a:#x}")));
                }
                Resolution::WeakMissing(r) | Resolution::Missing(r) | Resolution::Unchecked(r) => {
                    o.insert("reason".into(), json!(r));
                }
                Resolution::Kconfig => {}
            }
            v
        })
        .collect();
    let attach = p.attach_target.as_ref().map(|r| match r {
        Ok(name) => json!({"target": name, "status": "found"}),
        Err(why) => json!({"status": "missing", "reason": why}),
    });
    json!({
        "name": p.name, "section": p.section, "status": status(p),
        "errors": p.errors(), "warnings": p.warnings(), "core": core, "externs": externs,
        "licence": p.licence, "attach_target": attach,
    })
}

fn text(label: &str, results: &[ProgramCheck]) -> String {
    let mut s = format!("target: {label}\n");
    for p in results {
        let _ = writeln!(
            s,
            "program {} ({}): {}",
            p.name,
            p.section,
            status(p).to_uppercase()
        );
        match &p.attach_target {
            Some(Ok(name)) => {
                let _ = writeln!(s, "  attach {name}: found");
            }
            Some(Err(why)) => {
                let _ = writeln!(s, "  attach ERROR {why}");
            }
            None => {}
        }
        for l in &p.licence {
            let _ = writeln!(s, "  licence ERROR {l}");
        }
        match &p.core {
            Err(e) => {
                let _ = writeln!(s, "  core  ERROR {e}");
            }
            Ok(rs) => {
                for r in rs {
                    let what = match &r.outcome {
                        CoreOutcome::Resolved { orig, new, .. } => format!("{orig} -> {new}"),
                        CoreOutcome::Poisoned { reason } => {
                            super::check_reach::poisoned_text(p, r.relo.insn_off, reason)
                        }
                    };
                    let _ = writeln!(
                        s,
                        "  core  insn {:<4} {:<22} {}: {what}",
                        r.relo.insn_off,
                        r.kind.name(),
                        r.local_spec
                    );
                }
            }
        }
        for e in &p.externs {
            let kind = format!("{:?}", e.kind).to_lowercase();
            let weak = if e.weak { " (weak)" } else { "" };
            let what = match &e.resolution {
                Resolution::Kfunc {
                    btf_id,
                    module,
                    notes,
                } => {
                    let mut t = format!(
                        "found [{btf_id}] in {}",
                        module.as_deref().unwrap_or("vmlinux")
                    );
                    for n in notes {
                        let _ = write!(t, "; note: {n}");
                    }
                    t
                }
                Resolution::Var { btf_id, module } => {
                    format!(
                        "found [{btf_id}] in {}",
                        module.as_deref().unwrap_or("vmlinux")
                    )
                }
                Resolution::Address(a) => format!("found at {a:#x}"),
                Resolution::WeakMissing(r) => format!("weak-missing: {r}"),
                Resolution::Missing(r) => format!("MISSING: {r}"),
                Resolution::Unchecked(r) => format!("unchecked: {r}"),
                Resolution::Kconfig => "kconfig (filled at load)".into(),
            };
            let _ = writeln!(s, "  {kind:<5} {}{weak}: {what}", e.name);
        }
    }
    s
}
