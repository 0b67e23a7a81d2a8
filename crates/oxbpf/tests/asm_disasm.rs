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
        .args(["-d", "-z", "--no-show-raw-insn"])
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

/// The clang to assemble with, if installed.
fn clang() -> Option<String> {
    ["clang-19", "clang"]
        .into_iter()
        .find(|cand| {
            Command::new(cand)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

/// Every opcode byte with a spread of register/offset/immediate values, assembled as raw
/// `.quad`s and disassembled by both sides.
#[test]
fn opcode_sweep_matches_llvm_objdump() {
    let (Some(tool), Some(cc)) = (objdump(), clang()) else {
        eprintln!("SKIP opcode_sweep_matches_llvm_objdump: needs clang-19 and llvm-objdump-19");
        return;
    };
    let offs: [i16; 9] = [0, 1, 8, 16, 32, -3, 2, i16::MAX, i16::MIN];
    let imms: [i32; 18] = [
        0,
        1,
        16,
        32,
        64,
        -1,
        0x40,
        0x41,
        0x50,
        0x51,
        0xa0,
        0xa1,
        0xe1,
        0xf1,
        0xe0,
        8,
        i32::MIN,
        i32::MAX,
    ];
    // Deterministic pseudo-random registers, so values 11..=15 (invalid) show up too.
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut insns = Vec::new();
    for code in 0..=255u8 {
        for &off in &offs {
            for &imm in &imms {
                let r = next();
                let (dst, src) = if r % 4 == 0 {
                    ((r >> 8) as u8 & 0xf, (r >> 12) as u8 & 0xf)
                } else {
                    ((r >> 8) as u8 % 11, (r >> 12) as u8 % 11)
                };
                insns.push(Insn::new(code, dst, src, off, imm));
                if code == 0x18 {
                    insns.push(Insn::new(0, 0, 0, 0, next() as i32));
                }
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("oxbpf-asm-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let asm: String = insns
        .iter()
        .map(|i| format!(".quad {:#018x}\n", u64::from_le_bytes(i.to_bytes())))
        .collect();
    std::fs::write(dir.join("sweep.s"), format!(".text\n{asm}")).expect("write asm");
    let obj = dir.join("sweep.o");
    let st = Command::new(&cc)
        .args(["-target", "bpf", "-c"])
        .arg(dir.join("sweep.s"))
        .arg("-o")
        .arg(&obj)
        .status()
        .expect("run clang");
    assert!(st.success(), "assembling the sweep failed");
    let plain = objdump_text(&tool, &obj, &[]);
    let v4 = objdump_text(&tool, &obj, &["--mcpu=v4"]);
    let _ = std::fs::remove_dir_all(&dir);
    let (mut total, mut matched) = (0usize, 0usize);
    let mut mismatches = BTreeMap::<u8, Vec<String>>::new();
    for (idx, ours) in instructions(&insns) {
        total += 1;
        let insn = insns[idx];
        let reference = if insn.code == 0xc3 { &v4 } else { &plain };
        let theirs = reference
            .get(&(".text".to_string(), idx))
            .cloned()
            .unwrap_or_default();
        if normalise(&ours) == theirs {
            matched += 1;
        } else {
            mismatches.entry(insn.code).or_default().push(format!(
                "{:02x} {:02x} off={} imm={}: ours `{ours}` objdump `{theirs}`",
                insn.code, insn.regs, insn.off, insn.imm
            ));
        }
    }
    eprintln!(
        "opcode sweep vs {tool}: {matched}/{total} match ({:.2}%)",
        100.0 * matched as f64 / total.max(1) as f64
    );
    let report: Vec<String> = mismatches
        .values()
        .flat_map(|v| v.iter().take(3).cloned())
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} opcodes differ:\n{}",
        mismatches.len(),
        report.join("\n")
    );
}
