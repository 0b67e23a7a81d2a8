//! `oxbpf check` (offline report), `oxbpf load/run --btf`, run as the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn externs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../oxbpf/testdata/externs")
        .join(name)
}

fn oxbpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("run oxbpf")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn program<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["programs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no program {name} in {v}"))
}

/// True when the running kernel's BTF is readable (default target of `check`).
fn have_kernel_btf() -> bool {
    let ok = std::fs::File::open("/sys/kernel/btf/vmlinux").is_ok();
    if !ok {
        if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("kernel test cannot run: no /sys/kernel/btf/vmlinux");
        }
        eprintln!("SKIPPED: no readable /sys/kernel/btf/vmlinux");
    }
    ok
}

/// True when kernel objects can be created (root); loud skip otherwise.
fn require_kernel() -> bool {
    if unsafe { libc::geteuid() } == 0 && have_kernel_btf() {
        return true;
    }
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("kernel test cannot run: not root");
    }
    eprintln!("SKIPPED: kernel test needs root");
    false
}

#[test]
fn check_against_target_with_renamed_and_removed_fields() {
    let obj = externs("check.bpf.o");
    let target = externs("check.target.bpf.o");
    let out = oxbpf(&[
        "check",
        obj.to_str().unwrap(),
        "--btf",
        target.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    // uses_port's poisoned offset is instruction 0, reached on every path: the load fails.
    assert!(!out.status.success(), "{v}");
    assert_eq!(v["ok"], false);

    let uses_port = program(&v, "uses_port");
    assert_eq!(uses_port["status"], "error", "{uses_port}");
    let r = &uses_port["core"][0];
    assert_eq!(r["kind"], "byte_off");
    assert_eq!(r["local"], "struct oxbpf_conn.port (0:1)");
    assert_eq!(r["status"], "poisoned");
    assert_eq!(r["reachability"], "reachable");
    assert!(r["reason"].as_str().unwrap().contains("not found"), "{r}");
    assert!(uses_port["errors"][0]
        .as_str()
        .unwrap()
        .contains("poisoned at check.bpf.c:"));

    let guarded = program(&v, "guarded");
    assert_eq!(guarded["status"], "ok", "{guarded}");
    let core = guarded["core"].as_array().unwrap();
    let exists = core.iter().find(|r| r["kind"] == "field_exists").unwrap();
    assert_eq!(exists["local"], "struct oxbpf_conn.flags (0:2)");
    assert_eq!(
        (exists["orig"].as_u64(), exists["new"].as_u64()),
        (Some(1), Some(0))
    );
    let state = core.iter().find(|r| r["kind"] == "byte_off").unwrap();
    assert_eq!(state["local"], "struct oxbpf_conn.state (0:3)");
    // Local layout: id 0, port 4, flags 8 (long), state 16; target: id 0, port_renamed 4, state 8.
    assert_eq!(
        (state["orig"].as_u64(), state["new"].as_u64()),
        (Some(16), Some(8))
    );

    // Text output says the same.
    let text = oxbpf(&[
        "check",
        obj.to_str().unwrap(),
        "--btf",
        target.to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(t.contains("program uses_port (syscall): ERROR"), "{t}");
    assert!(t.contains("POISONED (reachable at check.bpf.c:"), "{t}");
    assert!(t.contains("16 -> 8"), "{t}");
}

#[test]
fn check_fails_on_a_strong_missing_kfunc() {
    if !have_kernel_btf() {
        return;
    }
    let obj = externs("strong_kfunc.bpf.o");
    let out = oxbpf(&["check", obj.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    let p = program(&v, "strong_kfunc");
    assert_eq!(p["status"], "error");
    let e = &p["externs"][0];
    assert_eq!(e["name"], "bpf_kfunc_that_does_not_exist");
    assert_eq!(e["status"], "missing");
    assert!(
        p["errors"][0].as_str().unwrap().contains("bpf_ksym_exists"),
        "{p}"
    );
}

#[test]
fn check_reports_found_and_weak_missing_kfuncs() {
    if !have_kernel_btf() {
        return;
    }
    let obj = externs("kfuncs.bpf.o");
    let out = oxbpf(&["check", obj.to_str().unwrap(), "--json"]);
    let v = json(&out);
    assert!(out.status.success(), "{v}");
    let p = program(&v, "weak_kfuncs");
    let status = |n: &str| {
        p["externs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("bpf_task_from_pid"), "found");
    assert_eq!(status("bpf_task_release"), "found");
    assert_eq!(status("bpf_kfunc_that_does_not_exist"), "weak-missing");
}

#[test]
fn check_with_a_bad_btf_path_is_an_error() {
    let obj = externs("check.bpf.o");
    let out = oxbpf(&[
        "check",
        obj.to_str().unwrap(),
        "--btf",
        "/nonexistent/x.btf",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.btf"), "{err}");
}

#[test]
fn load_and_run_with_external_btf() {
    if !require_kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("oxbpf-cli-btf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vmlinux.btf");
    std::fs::copy("/sys/kernel/btf/vmlinux", &file).unwrap();
    let obj = externs("core_task.bpf.o");
    let load = oxbpf(&[
        "load",
        obj.to_str().unwrap(),
        "--btf",
        file.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&load);
    assert!(load.status.success(), "{v}");
    assert_eq!(program(&v, "core_task")["loaded"], true);
    let run = oxbpf(&[
        "run",
        obj.to_str().unwrap(),
        "core_task",
        "--btf",
        file.to_str().unwrap(),
        "--map-out",
        ".bss",
        "--json",
    ]);
    let v = json(&run);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(run.status.success(), "{v}");
    assert_eq!(v["retval"], 0);
    assert!(v["maps"][".bss"].is_string(), "{v}");
    let bad = oxbpf(&["load", obj.to_str().unwrap(), "--btf", "/nonexistent/x.btf"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("external kernel BTF"), "{err}");
}
