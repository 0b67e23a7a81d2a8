//! `oxbpf check`'s reachability verdicts on poisoned CO-RE relocations, compared with what
//! the kernel does when the same object is loaded against the same target BTF.

mod common;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn externs(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../oxbpf/testdata/externs")
        .join(name);
    p.to_str().unwrap().to_string()
}

/// `oxbpf --json ARGS`: (success, parsed stdout).
fn oxbpf_json(args: &[&str]) -> (bool, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"));
    (out.status.success(), v)
}

fn find<'a>(v: &'a Value, list: &str, name: &str) -> &'a Value {
    v[list]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {list}: {v}"))
}

/// (program, reachability of its poisoned instruction, check status).
const EXPECTED: &[(&str, &str, &str)] = &[
    ("uses_port", "reachable", "error"),
    ("guarded_dead", "unreachable", "ok"),
    ("size_guarded", "unreachable", "ok"),
    ("flag_guarded", "unknown", "warning"),
];

#[test]
fn verdicts_per_program() {
    let (obj, target) = (externs("check.bpf.o"), externs("check.target.bpf.o"));
    let (ok, v) = oxbpf_json(&["check", &obj, "--btf", &target]);
    assert!(!ok, "a reachable poisoned instruction fails the check: {v}");
    for &(name, reach, status) in EXPECTED {
        let p = find(&v, "programs", name);
        assert_eq!(p["status"], status, "{name}: {p}");
        let poisoned: Vec<&Value> = p["core"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "poisoned")
            .collect();
        assert_eq!(poisoned.len(), 1, "{name}: {p}");
        assert_eq!(poisoned[0]["reachability"], reach, "{name}: {p}");
        assert!(
            poisoned[0]["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("check.bpf.c:")),
            "{name}: {p}"
        );
    }
    // The error names the field and the source line; the warning says why it is unknown.
    let err = find(&v, "programs", "uses_port")["errors"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("struct oxbpf_conn.port") && err.contains("at check.bpf.c:"),
        "{err}"
    );
    let warn = find(&v, "programs", "flag_guarded")["warnings"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(warn.contains("unknown here"), "{warn}");
}

/// Against the kernel: every `reachable` verdict is a load the verifier refuses, every
/// `unreachable` one a load it accepts (`unknown` may go either way: here the verifier
/// knows the frozen .rodata flag is 0 and accepts it).
#[test]
fn verdicts_match_real_loads() {
    if !common::require_root() {
        return;
    }
    let (obj, target) = (externs("check.bpf.o"), externs("check.target.bpf.o"));
    let (_, v) = oxbpf_json(&["load", &obj, "--btf", &target]);
    for &(name, reach, _) in EXPECTED {
        let p = find(&v, "programs", name);
        let loaded = p["loaded"] == true;
        match reach {
            "reachable" => assert!(!loaded, "{name} is reachable but loaded: {p}"),
            "unreachable" => assert!(loaded, "{name} is unreachable but refused: {p}"),
            _ => assert!(loaded, "{name}: the verifier knows use_port = 0: {p}"),
        }
    }
}
