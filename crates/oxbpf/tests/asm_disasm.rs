//! Compares `oxbpf::asm` disassembly with `llvm-objdump -d` for every instruction of every
//! committed fixture object (crates/oxbpf/testdata/**/*.bpf.o).
//!
//! Normalised: whitespace runs, the trailing `<label>` objdump adds to jumps. 32-bit atomics
//! (code 0xc3) are compared with objdump's `--mcpu=v4` output, which decodes them correctly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection, SectionKind};
use oxbpf::asm::{instructions, Insn};

/// The llvm-objdump to use, if one is installed.
fn objdump() -> Option<String> {
    ["llvm-objdump-19", "llvm-objdump"]
        .into_iter()
        .find(|cand| {
            Command::new(cand)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

fn fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_str().is_some_and(|s| s.ends_with(".bpf.o")) {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
        &mut v,
    );
    v.sort();
    v
}

/// Collapses whitespace and drops a trailing ` <label>` annotation.
fn normalise(s: &str) -> String {
    let mut s = s.trim().to_string();
    if s.ends_with('>') && s != "<unknown>" {
        if let Some(i) = s.rfind(" <") {
            s.truncate(i);
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// objdump's text per (section, slot index).
fn objdump_text(tool: &str, obj: &Path, extra: &[&str]) -> BTreeMap<(String, usize), String> {
    let out = Command::new(tool)
        .args(["-d", "--no-show-raw-insn"])
        .args(extra)
        .arg(obj)
        .output()
        .expect("run llvm-objdump");
    assert!(
        out.status.success(),
        "llvm-objdump failed on {}",
        obj.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut map = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Disassembly of section ") {
            section = rest.trim_end_matches(':').to_string();
            continue;
        }
        let Some((idx, insn)) = line.split_once(':') else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<usize>() else {
            continue;
        };
        map.insert((section.clone(), idx), normalise(insn));
    }
    map
}

#[test]
fn disassembly_matches_llvm_objdump() {
    let Some(tool) = objdump() else {
        eprintln!(
            "SKIP disassembly_matches_llvm_objdump: no llvm-objdump-19 / llvm-objdump installed"
        );
        return;
    };
    let files = fixtures();
    assert!(!files.is_empty(), "no fixture objects under testdata/");
    let (mut total, mut matched) = (0usize, 0usize);
    let mut mismatches = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("read fixture");
        let elf = object::File::parse(&*data).expect("parse fixture ELF");
        let plain = objdump_text(&tool, file, &[]);
        let v4 = objdump_text(&tool, file, &["--mcpu=v4"]);
        for sec in elf.sections() {
            if sec.kind() != SectionKind::Text || sec.size() == 0 {
                continue;
            }
            let name = sec.name().expect("section name").to_string();
            let insns = Insn::decode_all(sec.data().expect("section data")).expect("whole slots");
            for (idx, ours) in instructions(&insns) {
                total += 1;
                let reference = if insns[idx].code == 0xc3 { &v4 } else { &plain };
                let theirs = reference
                    .get(&(name.clone(), idx))
                    .cloned()
                    .unwrap_or_default();
                if normalise(&ours) == theirs {
                    matched += 1;
                } else {
                    mismatches.push(format!(
                        "{}:{name}:{idx} code={:#04x}: ours `{ours}` objdump `{theirs}`",
                        file.file_name().unwrap_or_default().to_string_lossy(),
                        insns[idx].code
                    ));
                }
            }
        }
    }
    eprintln!(
        "disassembler vs {tool}: {matched}/{total} instructions match ({:.2}%) over {} objects",
        100.0 * matched as f64 / total.max(1) as f64,
        files.len()
    );
    assert!(total > 500, "too few instructions compared ({total})");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
