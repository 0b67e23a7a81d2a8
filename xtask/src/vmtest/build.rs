//! Builds the test executables with `cargo test --no-run --message-format=json` and lists them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Packages whose every test executable runs in the VM, unless `--package` says otherwise.
pub const DEFAULT_PACKAGES: &[&str] = &["oxbpf"];
/// xtask's canary test (`xtask/tests/vm_smoke.rs`); xtask's own unit tests do not run in the VM.
const CANARY: &str = "vm_smoke";

/// One test executable.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// Display name: `oxbpf lib`, `oxbpf test asm_disasm`, `xtask test vm_smoke`.
    pub name: String,
    /// The executable on the host.
    pub path: PathBuf,
    /// Its package directory (`CARGO_MANIFEST_DIR`), recreated at the same path in the VM.
    pub manifest_dir: PathBuf,
    /// False for a package's binary (`CARGO_BIN_EXE_*` of its integration tests): copied to
    /// the same absolute path in the VM, not run.
    pub is_test: bool,
}

/// Builds the workspace's test executables and returns those of `packages` plus the canary.
///
/// The build is CI's own (`cargo test --workspace --features oxbpf/fault-injection`), so after
/// CI's test step nothing is recompiled: a `-p` subset would resolve features differently.
pub fn test_executables(root: &Path, packages: &[String]) -> Result<Vec<TestBinary>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root).args(["test", "--no-run"]);
    cmd.args([
        "--workspace",
        "--features",
        "oxbpf/fault-injection",
        "--message-format=json-render-diagnostics",
    ]);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {cargo}: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed: {}", out.status));
    }
    let mut bins = parse_artifacts(&String::from_utf8_lossy(&out.stdout))?;
    bins.retain(|b| {
        let pkg = b.name.split(' ').next().unwrap_or("");
        packages.iter().any(|p| p == pkg) || b.name == format!("xtask test {CANARY}")
    });
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bins)
}

/// Test executables among cargo's JSON messages (`profile.test` with an `executable`), and the
/// packages' binaries their integration tests run.
fn parse_artifacts(stdout: &str) -> Result<Vec<TestBinary>, String> {
    let mut bins = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let kind = msg["target"]["kind"][0].as_str().unwrap_or("?");
        let is_test = msg["profile"]["test"] == true;
        if msg["reason"] != "compiler-artifact" || !(is_test || kind == "bin") {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let manifest = msg["manifest_path"]
            .as_str()
            .ok_or("cargo artifact without manifest_path")?;
        let manifest_dir = Path::new(manifest)
            .parent()
            .ok_or("manifest_path without parent")?
            .to_path_buf();
        let pkg = manifest_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let target = msg["target"]["name"].as_str().unwrap_or("?");
        let name = match kind {
            _ if !is_test => format!("{pkg} exe {target}"),
            "lib" | "rlib" | "cdylib" | "proc-macro" => format!("{pkg} lib"),
            other => format!("{pkg} {other} {target}"),
        };
        bins.push(TestBinary {
            name,
            path: PathBuf::from(exe),
            manifest_dir,
            is_test,
        });
    }
    Ok(bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_test_executables_and_package_binaries() {
        let json = r#"{"reason":"compiler-artifact","manifest_path":"/w/crates/oxbpf/Cargo.toml","target":{"name":"oxbpf","kind":["lib"]},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","manifest_path":"/w/crates/oxbpf/Cargo.toml","target":{"name":"oxbpf","kind":["lib"]},"profile":{"test":true},"executable":"/w/target/debug/deps/oxbpf-1"}
{"reason":"compiler-artifact","manifest_path":"/w/crates/oxbpf/Cargo.toml","target":{"name":"maps","kind":["test"]},"profile":{"test":true},"executable":"/w/target/debug/deps/maps-2"}
{"reason":"compiler-artifact","manifest_path":"/w/crates/oxlb/Cargo.toml","target":{"name":"oxlb","kind":["bin"]},"profile":{"test":false},"executable":"/w/target/debug/oxlb"}
{"reason":"build-finished","success":true}
not json"#;
        let bins = parse_artifacts(json).unwrap();
        let names: Vec<_> = bins.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["oxbpf lib", "oxbpf test maps", "oxlb exe oxlb"]);
        assert_eq!(bins[1].manifest_dir, Path::new("/w/crates/oxbpf"));
        assert!(bins[1].is_test && !bins[2].is_test);
        assert_eq!(bins[2].path, Path::new("/w/target/debug/oxlb"));
    }
}
