//! The capability matrix: `oxbpf` run as root with capabilities taken away (setpriv's bounding
//! set, which the exec turns into the effective set) and as nobody. For each setting: what
//! loads and runs, and the exact refusal otherwise — naming the missing capability, never
//! "run as root" and never RLIMIT_MEMLOCK.

mod common;

use common::*;
use std::process::{Command, Output};

/// Runs `oxbpf ARGS` as root with bounding set `caps` ("-all,+bpf,...").
fn with_caps(caps: &str, args: &[&str]) -> Output {
    let out = Command::new("setpriv")
        .arg(format!("--bounding-set={caps}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("run setpriv");
    eprintln!(
        "[{caps}] oxbpf {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        err(&out)
    );
    out
}

fn all_text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), err(o))
}

/// No settings mention root's remedy or memlock.
fn assert_no_misleading_hint(o: &Output) {
    let t = all_text(o);
    assert!(!t.contains("run as root"), "{t}");
    assert!(!t.contains("RLIMIT_MEMLOCK"), "{t}");
}

const MINIMAL: &str = "-all,+bpf,+net_admin,+perfmon";

#[test]
fn minimal_set_loads_and_runs_xdp_and_loads_a_tracepoint() {
    if !require_root() {
        return;
    }
    let xdp = fx("xdp.bpf.o");
    let out = with_caps(MINIMAL, &["load", &xdp]);
    assert!(out.status.success());
    let out = with_caps(
        MINIMAL,
        &["--json", "run", &xdp, "xdp_pass", "--data", &xdp],
    );
    assert!(out.status.success());
    assert_eq!(stdout_json(&out)["retval"], 2);
    let trace = fx("links/trace.bpf.o");
    let out = with_caps(MINIMAL, &["load", &trace, "--program", "tp_getpid"]);
    assert!(out.status.success());
}

/// (bounding set, fixture, extra arguments, what the output must say).
const REFUSALS: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "-all,+bpf,+perfmon",
        "xdp.bpf.o",
        &[],
        &[
            "hint: BPF_PROG_LOAD (program type xdp) needs CAP_NET_ADMIN, which this process \
             lacks (running as root, but the capability was dropped",
            // Its maps need only CAP_BPF.
            "map     pkt_count",
        ],
    ),
    (
        "-all,+bpf,+net_admin",
        "links/trace.bpf.o",
        &["--program", "tp_getpid"],
        &["(program type tracepoint) needs CAP_PERFMON, which this process lacks"],
    ),
    (
        "-all",
        "xdp.bpf.o",
        &[],
        &[
            "BPF_MAP_CREATE: operation not permitted (errno 1); hint: BPF_MAP_CREATE (map type \
           percpu_array) needs CAP_BPF, which this process lacks (running as root",
        ],
    ),
];

#[test]
fn refusals_name_the_missing_capability() {
    if !require_root() {
        return;
    }
    for (caps, fixture, extra, expect) in REFUSALS {
        let obj = fx(fixture);
        let mut args = vec!["load", obj.as_str()];
        args.extend_from_slice(extra);
        let out = with_caps(caps, &args);
        assert_eq!(out.status.code(), Some(1), "{caps}");
        let text = all_text(&out);
        for e in *expect {
            assert!(text.contains(e), "{caps}: expected {e:?} in {text}");
        }
        assert_no_misleading_hint(&out);
    }
    // Reading an object needs nothing.
    assert!(with_caps("-all", &["inspect", &fx("xdp.bpf.o")])
        .status
        .success());
}

#[test]
fn nobody_is_told_the_capability_not_to_be_root() {
    if !require_root() {
        return;
    }
    let nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_oxbpf"))
            .args(args)
            .output()
            .expect("run setpriv")
    };
    let out = nobody(&["load", &fx("xdp.bpf.o")]);
    assert_eq!(out.status.code(), Some(1));
    let text = all_text(&out);
    assert!(
        text.contains("(map type percpu_array) needs CAP_BPF, which this process lacks"),
        "{text}"
    );
    assert!(!text.contains("running as root"), "{text}");
    assert_no_misleading_hint(&out);
    // Probes say what they cannot decide; the memlock probe does not read EPERM as "charged".
    // (With kernel.unprivileged_bpf_disabled=0 anyone may create hash and array maps.)
    let v = stdout_json(&nobody(&["--json", "probe"]));
    let disabled = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .is_ok_and(|s| s.trim() != "0");
    if !disabled {
        assert_eq!(v["map_types"]["hash"], true, "{}", v["map_types"]);
        return;
    }
    let hash = v["map_types"]["hash"]["error"].as_str().unwrap_or_default();
    assert!(
        hash.contains("not decidable with these capabilities: needs CAP_BPF"),
        "{hash}"
    );
    let memcg = v["misc"]["memcg_accounting"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        memcg.contains(
            "cannot tell whether RLIMIT_MEMLOCK is charged: a one-element array map fails \
             already under the current limit"
        ),
        "{memcg}"
    );
}

#[test]
fn without_sys_resource_probes_say_what_they_cannot_decide() {
    if !require_root() {
        return;
    }
    let out = with_caps("-sys_resource", &["--json", "probe"]);
    assert!(out.status.success());
    let v = stdout_json(&out);
    assert_eq!(v["program_types"]["xdp"], true);
    assert_eq!(v["map_types"]["hash"], true);
    let arena = &v["map_types"]["arena"];
    assert!(
        arena == &serde_json::Value::Bool(true)
            || arena["error"].as_str().is_some_and(
                |e| e.contains("not decidable with these capabilities: needs CAP_SYS_RESOURCE")
            ),
        "{arena}"
    );
    assert!(with_caps("-sys_resource", &["load", &fx("xdp.bpf.o")])
        .status
        .success());
}
