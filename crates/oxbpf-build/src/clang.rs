//! Finding and running clang for the BPF target.

use super::BuildError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Clang names searched on `PATH`, in order.
const NAMES: &[&str] = &["clang-19", "clang"];

/// `$OXBPF_CLANG`, else `$CLANG`, else the first of `clang-19`, `clang` on `PATH`.
pub fn find_clang() -> Result<PathBuf, BuildError> {
    for var in ["OXBPF_CLANG", "CLANG"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in NAMES {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join(name);
            if cand.is_file() {
                return Ok(cand);
            }
        }
    }
    Err(BuildError::ClangMissing {
        tried: format!("$OXBPF_CLANG, $CLANG, {} on PATH", NAMES.join(", ")),
    })
}

/// The target architecture (build scripts see `CARGO_CFG_TARGET_ARCH`).
fn rust_arch() -> String {
    std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| std::env::consts::ARCH.into())
}

/// Debian's multiarch include directory (`/usr/include/x86_64-linux-gnu`), where
/// `<asm/types.h>` lives for `<linux/bpf.h>`, if it exists.
fn multiarch_include() -> Option<PathBuf> {
    let dir = PathBuf::from(format!("/usr/include/{}-linux-gnu", rust_arch()));
    dir.is_dir().then_some(dir)
}

/// The `__TARGET_ARCH_*` name of the target.
fn target_arch() -> &'static str {
    match rust_arch().as_str() {
        "x86_64" | "x86" => "x86",
        "aarch64" => "arm64",
        "riscv64" => "riscv",
        "s390x" => "s390",
        "powerpc64" => "powerpc",
        "loongarch64" => "loongarch",
        _ => "x86",
    }
}

/// `clang -g -O2 -target bpf -c src -o obj` with the source directory (and the multiarch
/// directory) on the include path.
pub(crate) fn compile(
    clang: &Path,
    src: &Path,
    obj: &Path,
    include: &Path,
    extra: &[String],
) -> Result<(), BuildError> {
    let out = Command::new(clang)
        .args(["-g", "-O2", "-target", "bpf"])
        .arg(format!("-D__TARGET_ARCH_{}", target_arch()))
        .arg("-I")
        .arg(include)
        .args(multiarch_include().map(|d| format!("-I{}", d.display())))
        .args(extra)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(obj)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BuildError::ClangMissing {
                tried: clang.display().to_string(),
            },
            _ => BuildError::Io {
                what: "run",
                path: clang.to_path_buf(),
                source: e,
            },
        })?;
    if !out.status.success() {
        return Err(BuildError::Compile {
            source_file: src.to_path_buf(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}
