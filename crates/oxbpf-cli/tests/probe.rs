//! `oxbpf probe --json` against `bpftool feature probe kernel --json` on the running kernel:
//! every program type, map type, helper and misc feature bpftool reports must agree, except
//! for the explicit, checked allow-list below.

use oxbpf::asm::{helper_id, Insn};
use oxbpf::features::{probe_helpers, HelperAnswer};
use oxbpf::prog::{load, LoadRequest};
use oxbpf::spec::ProgramType;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

/// Program types where oxbpf and bpftool 7.1 disagree on this machine, with why. Each entry
/// is (type, bpftool's answer, oxbpf's answer: Some(bool) or None for "inconclusive").
const PROGRAM_TYPE_ALLOW: &[(&str, bool, Option<bool>, &str)] = &[
    (
        "tracing",
        false,
        Some(true),
        "bpftool 7.1 loads an fentry program with attach_btf_id 1 and expects the verifier's \
         'not a function' message; this kernel refuses fentry loads with EPERM before the \
         verifier runs (sandbox lockdown policy). oxbpf probes with tp_btf, which reaches the \
         verifier and proves the type is known",
    ),
    (
        "ext",
        false,
        None,
        "every ext load is refused with EPERM before the verifier (sandbox lockdown policy): \
         bpftool reads that as 'no', oxbpf as inconclusive",
    ),
    (
        "lsm",
        false,
        None,
        "every lsm load is refused with EPERM before the verifier (sandbox lockdown policy): \
         bpftool reads that as 'no', oxbpf as inconclusive",
    ),
];

/// Kernel wording (since the helper-proto rework in 6.x) for a helper that exists but not
/// for the program type. libbpf 1.1 (bpftool 7.1) only matches the older "unknown func",
/// so it counts every such helper as available to every type.
const NEW_WORDING: &str = "program of this type cannot use helper";

fn require_kernel() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let bpftool = Command::new("bpftool").arg("version").output().is_ok();
    if root && bpftool {
        return true;
    }
    let why = if root {
        "bpftool not found"
    } else {
        "not root"
    };
    if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("OXBPF_REQUIRE_KERNEL=1 but {why}");
    }
    eprintln!("SKIPPED: probe comparison needs root and bpftool ({why})");
    false
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn ours() -> Value {
    json_of(Command::new(env!("CARGO_BIN_EXE_oxbpf")).args(["probe", "--json"]))
}

fn bpftool() -> Value {
    json_of(Command::new("bpftool").args(["feature", "probe", "kernel", "--json"]))
}

/// `Some(bool)` for a conclusive answer, `None` for `{"error": ...}`.
fn answer(v: &Value) -> Option<bool> {
    v.as_bool()
}

/// Checks that the kernel really uses the wording bpftool 7.1 does not know.
fn kernel_uses_new_wording() -> bool {
    let insns = [
        Insn::call_helper(helper_id("xdp_adjust_head").unwrap()),
        Insn::exit(),
    ];
    let req = LoadRequest::new("probe", ProgramType::SOCKET_FILTER, &insns, "GPL");
    let err = load(&req).expect_err("socket filters cannot call bpf_xdp_adjust_head");
    err.verifier_log().unwrap_or("").contains(NEW_WORDING)
}

#[test]
fn program_and_map_types_agree_with_bpftool() {
    if !require_kernel() {
        return;
    }
    let (ours, theirs) = (ours(), bpftool());
    let mut compared = 0;
    for (section, suffix) in [("program_types", "_prog_type"), ("map_types", "_map_type")] {
        for (key, b) in theirs[section].as_object().expect("bpftool section") {
            let name = key
                .strip_prefix("have_")
                .and_then(|k| k.strip_suffix(suffix))
                .unwrap_or_else(|| panic!("unexpected bpftool key {key}"));
            let b = b.as_bool().expect("bpftool answers are booleans");
            let o = ours[section]
                .get(name)
                .unwrap_or_else(|| panic!("oxbpf has no {section} entry {name}"));
            compared += 1;
            if Some(b) == answer(o) {
                continue;
            }
            let allowed = section == "program_types"
                && PROGRAM_TYPE_ALLOW
                    .iter()
                    .any(|(n, bb, oo, _)| *n == name && *bb == b && *oo == answer(o));
            assert!(
                allowed,
                "{section} {name}: bpftool says {b}, oxbpf says {o}"
            );
            eprintln!("allowed disagreement on {name}: bpftool {b}, oxbpf {o}");
        }
    }
    assert!(compared > 50, "compared only {compared} entries");
}

#[test]
fn misc_agrees_with_bpftool() {
    if !require_kernel() {
        return;
    }
    let (ours, theirs) = (ours(), bpftool());
    for (theirs_key, ours_key) in [
        ("have_large_insn_limit", "large_insns"),
        ("have_bounded_loops", "bounded_loops"),
        ("have_v2_isa_extension", "isa_v2"),
        ("have_v3_isa_extension", "isa_v3"),
    ] {
        let b = theirs["misc"][theirs_key].as_bool();
        assert!(b.is_some(), "bpftool misc lacks {theirs_key}");
        assert_eq!(answer(&ours["misc"][ours_key]), b, "{ours_key}");
    }
}

#[test]
fn helpers_agree_with_bpftool() {
    if !require_kernel() {
        return;
    }
    let (ours, theirs) = (ours(), bpftool());
    let theirs = theirs["helpers"].as_object().expect("bpftool helpers");
    // bpftool's universe: every helper it reported for any type.
    let universe: BTreeSet<&str> = theirs
        .values()
        .flat_map(|l| l.as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        universe.len() > 150,
        "bpftool reported {} helpers",
        universe.len()
    );
    let new_wording = kernel_uses_new_wording();
    let bpftool_types = bpftool()["program_types"].clone();
    let (mut agree, mut quirk) = (0, 0);
    for (key, list) in theirs {
        let name = key.strip_suffix("_available_helpers").expect("bpftool key");
        let t = ProgramType::from_name(name).expect("known program type");
        let theirs: BTreeSet<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if bpftool_types[format!("have_{name}_prog_type")] == Value::Bool(false) {
            // bpftool probes no helpers for types it considers unsupported (the type answer
            // itself is compared, with its allow-list, in the program type test).
            assert!(theirs.is_empty());
            continue;
        }
        let ours_v = &ours["helpers"][name];
        let Some(ours_list) = ours_v.as_array() else {
            // oxbpf: type unsupported (null) or not probe-able (error); bpftool then
            // reports nothing either.
            assert!(
                theirs.is_empty(),
                "{name}: bpftool lists helpers, oxbpf has {ours_v}"
            );
            continue;
        };
        let ours: BTreeSet<&str> = ours_list.iter().filter_map(Value::as_str).collect();
        for &h in &universe {
            let (b, o) = (theirs.contains(h), ours.contains(h));
            if b == o {
                agree += 1;
                continue;
            }
            assert!(
                b && !o,
                "{name}/{h}: oxbpf says available, bpftool says not"
            );
            // The only tolerated disagreement: the kernel rejected the helper for this type
            // with the wording bpftool 7.1 cannot parse.
            let id = helper_id(h).unwrap() as u32;
            let a = probe_helpers(t, &[id]).unwrap().unwrap()[0].1;
            assert_eq!(a, HelperAnswer::NotForType, "{name}/{h}");
            assert!(new_wording, "{name}/{h}: bpftool says available, oxbpf not, and the kernel does not use the new wording");
            quirk += 1;
        }
    }
    eprintln!("helpers: {agree} (type, helper) pairs agree; {quirk} differ only by the bpftool 7.1 wording quirk ({NEW_WORDING:?})");
    assert!(agree > 1000, "only {agree} pairs compared");
}

#[test]
fn probe_is_fast_and_text_output_works() {
    if !require_kernel() {
        return;
    }
    let v = ours();
    let total = v["timing_ms"]["total"].as_f64().unwrap();
    let helpers = v["timing_ms"]["helpers"].as_f64().unwrap();
    eprintln!("oxbpf probe: total {total:.1} ms, helper matrix {helpers:.1} ms");
    assert!(total < 10_000.0, "probing took {total} ms");
    for section in [
        "kernel",
        "program_types",
        "map_types",
        "map_flags",
        "helpers",
        "links",
        "btf",
        "misc",
    ] {
        assert!(v.get(section).is_some(), "missing section {section}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .arg("probe")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Helpers for program type xdp:"), "{text}");
    assert!(text.contains("bpf_xdp_adjust_head"), "{text}");
}
