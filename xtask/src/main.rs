//! Developer tasks. `cargo xtask build-bpf [--check]` compiles every `*.bpf.c` fixture;
//! `cargo xtask vm-test` runs the test executables on Debian's 6.1 kernel under qemu.
//! `cargo xtask fuzz [--seconds N] [--target NAME] [--seed S]` fuzzes the parsers (fuzz.rs).
//! `cargo xtask bench [--quick]` runs oxlb's benchmarks (datapath, e2e; root).
//!
//! Sources are found recursively under `crates/*/testdata`, `crates/*/bpf` and `crates/*/examples`. Each is compiled
//! from its own directory with a relative path and `-fdebug-compilation-dir=.`, so the object
//! (DWARF and `.BTF` line info included) does not depend on where the checkout lives, and two
//! builds give identical bytes. A first line `// xtask: cflags=-mcpu=v4 -DFOO` adds flags
//! after the defaults (later flags win in clang).

mod fuzz;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod vmtest;

/// Flags every fixture is compiled with, before per-file extras.
const BASE_CFLAGS: &[&str] = &[
    "-g",
    "-O2",
    "-target",
    "bpf",
    "-mcpu=v3",
    "-D__TARGET_ARCH_x86",
    "-I/usr/include/x86_64-linux-gnu",
    "-fdebug-compilation-dir=.",
];

/// Marker of the per-file flags comment.
const CFLAGS_MARKER: &str = "// xtask: cflags=";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build-bpf") => build_bpf(&args[1..]),
        Some("vm-test") => vmtest::run(&args[1..]),
        Some("fuzz") => fuzz_cmd(&args[1..]),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask build-bpf [--check] | vm-test [...] | fuzz [--seconds N] [--target NAME] [--seed S] [--target NAME --replay FILE] | bench [--quick]");
            eprintln!("  build-bpf          compile every *.bpf.c under crates/*/{{testdata,bpf,examples}} to *.bpf.o beside it");
            eprintln!("  build-bpf --check  rebuild into a temp dir and fail if a committed object differs");
            eprintln!("  vm-test [--help]   run the tests on Debian's 6.1 kernel under qemu");
            eprintln!("  fuzz               mutate the committed objects and run the parsers on them (default 60 s)");
            eprintln!("  bench [--quick]    run oxlb's benchmarks: datapath (BPF_PROG_RUN) and e2e (wrk; root)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo bench -p oxlb --bench NAME` for each oxlb benchmark, `--quick` passed on.
fn bench(args: &[String]) -> Result<(), String> {
    let quick = match args {
        [] => false,
        [q] if q == "--quick" => true,
        _ => return Err(format!("bench takes only --quick, not {args:?}")),
    };
    for name in ["datapath", "e2e"] {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(workspace_root())
            .args(["bench", "-p", "oxlb", "--bench", name]);
        if quick {
            cmd.args(["--", "--quick"]);
        }
        let status = cmd.status().map_err(|e| format!("cargo bench: {e}"))?;
        if !status.success() {
            return Err(format!("oxlb bench {name} failed ({status})"));
        }
    }
    Ok(())
}

fn fuzz_cmd(args: &[String]) -> Result<(), String> {
    let mut opts = fuzz::FuzzOpts {
        seconds: 60,
        target: None,
        seed: 0x5eed,
        crash_dir: workspace_root().join("target/fuzz-crashes"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => opts.seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--target" => opts.target = Some(val()?),
            "--seed" => opts.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--replay" => {
                let file = val()?;
                let name = opts.target.clone().ok_or("--replay needs --target first")?;
                return fuzz::replay(&name, Path::new(&file));
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let report = fuzz::run(&workspace_root(), &opts)?;
    print!("{report}");
    Ok(())
}

/// Workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// The clang to run: `$CLANG` if set, else `clang-19`.
fn clang() -> String {
    std::env::var("CLANG").unwrap_or_else(|_| "clang-19".to_string())
}

fn build_bpf(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        other => {
            return Err(format!(
                "unexpected arguments {other:?}; only --check is accepted"
            ))
        }
    };
    let root = workspace_root();
    let sources = find_sources(&root)?;
    if sources.is_empty() {
        return Err(format!(
            "no *.bpf.c found under {}/crates/*/{{testdata,bpf,examples}}",
            root.display()
        ));
    }
    let tmp = std::env::temp_dir().join(format!("oxbpf-xtask-{}", std::process::id()));
    if check {
        fs::create_dir_all(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    }
    let mut differing = Vec::new();
    let mut failures = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let committed = object_path(src);
        let out = if check {
            tmp.join(format!("{i}.o"))
        } else {
            committed.clone()
        };
        let rel = src.strip_prefix(&root).unwrap_or(src).display().to_string();
        if let Err(e) = compile(src, &out) {
            failures.push(format!("{rel}: {e}"));
            continue;
        }
        if check {
            let fresh = fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()))?;
            match fs::read(&committed) {
                Ok(old) if old == fresh => {}
                Ok(_) => differing.push(format!(
                    "{rel}: committed object differs from a fresh build"
                )),
                Err(_) => differing.push(format!("{rel}: no committed object")),
            }
        } else {
            println!(
                "built {}",
                committed
                    .strip_prefix(&root)
                    .unwrap_or(&committed)
                    .display()
            );
        }
    }
    if check {
        let _ = fs::remove_dir_all(&tmp);
    }
    if !failures.is_empty() {
        return Err(format!("compilation failed:\n  {}", failures.join("\n  ")));
    }
    if !differing.is_empty() {
        return Err(format!(
            "{} object(s) out of date; run `cargo xtask build-bpf` and commit:\n  {}",
            differing.len(),
            differing.join("\n  ")
        ));
    }
    if check {
        println!("all {} BPF objects up to date", sources.len());
    }
    Ok(())
}

/// `dir/name.bpf.c` → `dir/name.bpf.o`.
fn object_path(src: &Path) -> PathBuf {
    src.with_extension("o")
}

/// Every `*.bpf.c` under `crates/*/testdata`, `crates/*/bpf` and `crates/*/examples`, sorted.
fn find_sources(root: &Path) -> Result<Vec<PathBuf>, String> {
    let crates = root.join("crates");
    let mut found = Vec::new();
    let entries =
        fs::read_dir(&crates).map_err(|e| format!("reading {}: {e}", crates.display()))?;
    for entry in entries.flatten() {
        for sub in ["testdata", "bpf", "examples"] {
            let dir = entry.path().join(sub);
            if dir.is_dir() {
                walk(&dir, &mut found)?;
            }
        }
    }
    found.sort();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.to_str().is_some_and(|p| p.ends_with(".bpf.c")) {
            found.push(path);
        }
    }
    Ok(())
}

/// Extra flags from a first-line `// xtask: cflags=...` comment.
fn extra_cflags(src: &Path) -> Result<Vec<String>, String> {
    let text = fs::read_to_string(src).map_err(|e| format!("reading: {e}"))?;
    let first = text.lines().next().unwrap_or("");
    Ok(first
        .strip_prefix(CFLAGS_MARKER)
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default())
}

/// Compiles `src` from its own directory (relative source path) into `out`.
fn compile(src: &Path, out: &Path) -> Result<(), String> {
    let dir = src.parent().ok_or("source has no parent directory")?;
    let name = src.file_name().ok_or("source has no file name")?;
    let out = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(out)
    };
    let output = Command::new(clang())
        .current_dir(dir)
        .args(BASE_CFLAGS)
        .args(extra_cflags(src)?)
        .arg("-c")
        .arg(name)
        .arg("-o")
        .arg(&out)
        .output()
        .map_err(|e| format!("running {}: {e} (install clang-19 or set CLANG)", clang()))?;
    if !output.status.success() {
        return Err(format!(
            "{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}
