//! `oxbpf probe` agrees with `bpftool feature probe kernel` on this kernel, for every program
//! type, map type and helper that bpftool reports.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn skip_or_fail(reason: &str) {
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("OXBPF_REQUIRE_KERNEL=1 but the test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// bpftool skips helpers that write to the kernel log unless in `full` mode.
const BPFTOOL_SKIPS: [&str; 3] = [
    "bpf_trace_printk",
    "bpf_trace_vprintk",
    "bpf_probe_write_user",
];

#[test]
fn probe_agrees_with_bpftool() {
    if unsafe { libc::geteuid() } != 0 {
        return skip_or_fail("not root");
    }
    let Ok(_) = Command::new("bpftool").arg("version").output() else {
        return skip_or_fail("bpftool not installed (Debian package bpftool)");
    };
    let theirs = json_of(Command::new("bpftool").args(["feature", "probe", "kernel", "--json"]));
    let ours = json_of(Command::new(env!("CARGO_BIN_EXE_oxbpf")).args(["--json", "probe"]));
    let mut disagreements = Vec::new();
    let mut compared = 0;
    let mut explained = 0;
    for (section, suffix) in [("program_types", "_prog_type"), ("map_types", "_map_type")] {
        for (k, v) in theirs[section].as_object().expect("section") {
            let name = k.trim_start_matches("have_").trim_end_matches(suffix);
            compared += 1;
            if ours[section][name] != *v {
                disagreements.push(format!(
                    "{section} {name}: bpftool {v}, oxbpf {}",
                    ours[section][name]
                ));
            }
        }
    }
    // bpftool 7.1 probes only the helpers its own (v6.1) headers know: compare those.
    let known: BTreeSet<i32> = theirs["helpers"]
        .as_object()
        .expect("helpers")
        .values()
        .flat_map(|l| l.as_array().cloned().unwrap_or_default())
        .filter_map(|n| oxbpf::asm::helper_id(n.as_str()?))
        .collect();
    let max_known = known.iter().max().copied().unwrap_or(0);
    for (k, list) in theirs["helpers"].as_object().expect("helpers") {
        let t = k.trim_end_matches("_available_helpers");
        let want: BTreeSet<String> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|n| n.as_str().map(String::from))
            .collect();
        let Some(got) = ours["helpers"][t].as_array() else {
            if !want.is_empty() {
                disagreements.push(format!(
                    "helpers for {t}: bpftool lists {}, oxbpf none",
                    want.len()
                ));
            }
            continue;
        };
        let got: BTreeSet<String> = got
            .iter()
            .filter_map(|n| n.as_str().map(String::from))
            .filter(|n| !BPFTOOL_SKIPS.contains(&n.as_str()))
            .filter(|n| oxbpf::asm::helper_id(n).is_some_and(|id| id <= max_known))
            .collect();
        compared += want.len().max(got.len());
        let ty = oxbpf::spec::ProgramType::from_name(t).expect("bpftool program type name");
        for n in want.symmetric_difference(&got) {
            // bpftool 7.1 (libbpf 1.1) only reads "invalid func"/"unknown func" as a refusal;
            // newer kernels refuse helpers a type may not call with "program of this type cannot
            // use helper": bpftool lists those as available, oxbpf does not.
            let id = oxbpf::asm::helper_id(n).expect("known helper");
            let why = oxbpf::features::helper_refusal(ty, id).unwrap_or_default();
            if want.contains(n) && why.contains("cannot use helper") {
                explained += 1;
                continue;
            }
            disagreements.push(format!(
                "helper {n} for {t}: bpftool {}, oxbpf {} ({why})",
                want.contains(n),
                got.contains(n)
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(compared > 1000, "compared only {compared} answers");
    eprintln!(
        "oxbpf probe agrees with bpftool on {compared} answers, except {explained} helpers the kernel \
         refuses with \"program of this type cannot use helper\" (bpftool 7.1 misreads those as available)"
    );
}

#[test]
fn probe_json_has_every_section() {
    if unsafe { libc::geteuid() } != 0 {
        return skip_or_fail("not root");
    }
    let v = json_of(Command::new(env!("CARGO_BIN_EXE_oxbpf")).args([
        "--json",
        "probe",
        "--no-helpers",
    ]));
    for s in ["kernel", "program_types", "map_types", "misc"] {
        assert!(v[s].is_object(), "{s} missing: {v}");
    }
    assert_eq!(v["program_types"]["xdp"], true);
    assert_eq!(v["map_types"]["ringbuf"], true);
    assert_eq!(v["misc"]["bounded_loops"], true);
}
