//! `oxbpf run` of one fixture program of every runnable program type, each with the inputs
//! its kernel test-run handler accepts, and the refusals `oxbpf run` words itself.

mod common;

use common::require_root as privileged;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn fx(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../oxbpf/testdata")
        .join(rel);
    p.to_str().expect("utf-8 path").to_string()
}

/// `oxbpf --json run ARGS`: (success, parsed stdout).
fn run(args: &[&str]) -> (bool, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(["--json", "run"])
        .args(args)
        .output()
        .expect("run oxbpf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"));
    (out.status.success(), v)
}

/// The u64 at index `idx` of a `--map-out` dump of the `hits` array.
fn hits(v: &Value, idx: u32) -> u64 {
    let hex = v["maps"]["hits"][hex(&idx.to_le_bytes())]
        .as_str()
        .unwrap_or_else(|| panic!("no hits[{idx}] in {v}"));
    let b: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
        .collect();
    u64::from_le_bytes(b.try_into().unwrap())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, bytes: &[u8]) -> Scratch {
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("run_types_{name}_{}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        Scratch(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What a row expects.
enum Want {
    /// Success with this retval, and `hits[idx] == runs` after the run.
    Ran { retval: u64, hit: u32, runs: u64 },
    /// Refused before load with a message containing this.
    Refused(&'static str),
}

#[test]
fn every_runnable_type_runs_through_the_cli() {
    if !privileged() {
        return;
    }
    let mut frame = vec![0u8; 64];
    frame[0..14].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    frame[14] = 0x45;
    let frame = Scratch::new("frame", &frame);
    // struct bpf_sk_lookup: family AF_INET at 8, protocol TCP at 12, the rest zero.
    let mut sk = vec![0u8; 72];
    sk[8..12].copy_from_slice(&2u32.to_ne_bytes());
    sk[12..16].copy_from_slice(&6u32.to_ne_bytes());
    let sk = Scratch::new("sk_lookup", &sk);
    let raw_args = Scratch::new("raw_args", &[0u8; 16]);
    let (f, s, a) = (frame.path(), sk.path(), raw_args.path());
    let sections = fx("sections.bpf.o");
    use Want::*;
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<&str>, Want)> = vec![
        // program, extra args, expectation (hits index as in sections.bpf.c). A socket
        // filter sees the frame without its Ethernet header (skb->len 50 of 64); the flow
        // dissector returns BPF_FLOW_DISSECTOR_CONTINUE (129).
        ("sec_socket", vec!["--data", f, "--repeat", "3"], Ran { retval: 50, hit: 0, runs: 3 }),
        ("sec_tc", vec!["--data", f, "--repeat", "4"], Ran { retval: 0, hit: 1, runs: 4 }),
        ("sec_classifier", vec!["--data", f], Ran { retval: 0, hit: 2, runs: 1 }),
        ("sec_xdp", vec!["--data", f, "--repeat", "5"], Ran { retval: 2, hit: 3, runs: 5 }),
        ("sec_cgroup_skb_ingress", vec!["--data", f], Ran { retval: 1, hit: 7, runs: 1 }),
        ("sec_lwt_in", vec!["--data", f], Ran { retval: 0, hit: 18, runs: 1 }),
        ("sec_flow_dissector", vec!["--data", f, "--repeat", "2"], Ran { retval: 129, hit: 15, runs: 2 }),
        ("sec_sk_lookup", vec!["--ctx", s, "--repeat", "2"], Ran { retval: 1, hit: 14, runs: 2 }),
        ("sec_raw_tp", vec![], Ran { retval: 0, hit: 6, runs: 1 }),
        ("sec_raw_tp", vec!["--ctx", a, "--cpu", "0"], Ran { retval: 0, hit: 6, runs: 1 }),
        ("sec_syscall", vec![], Ran { retval: 0, hit: 16, runs: 1 }),
        // What each handler refuses, said before anything is loaded.
        ("sec_raw_tp", vec!["--repeat", "5"], Refused("run exactly once")),
        ("sec_raw_tp", vec!["--data", f], Refused("take no packet data")),
        ("sec_syscall", vec!["--repeat", "2"], Refused("run exactly once")),
        ("sec_sk_lookup", vec![], Refused("--ctx FILE holding struct bpf_sk_lookup")),
        ("sec_sk_lookup", vec!["--ctx", s, "--data", f], Refused("take no packet data")),
        ("sec_xdp", vec![], Refused("--data FILE")),
        ("sec_xdp", vec!["--data", f, "--cpu", "0"], Refused("--cpu applies to raw tracepoint")),
        ("sec_perf_event", vec![], Refused("no test run")),
        ("sec_tracepoint", vec![], Refused("no test run")),
    ];
    let mut failures = Vec::new();
    for (prog, extra, want) in &rows {
        let mut args = vec![sections.as_str(), prog];
        args.extend(extra.iter().copied());
        args.extend(["--map-out", "hits"]);
        let (ok, v) = run(&args);
        let good = match want {
            Ran { retval, hit, runs } => {
                ok && v["retval"].as_u64() == Some(*retval) && hits(&v, *hit) == *runs
            }
            Refused(msg) => !ok && v["error"].as_str().is_some_and(|e| e.contains(msg)),
        };
        eprintln!("{prog} {extra:?}: {}", if good { "ok" } else { "FAILED" });
        if !good {
            failures.push(format!("{prog} {extra:?}: {v}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Syscall programs get their context written back: `ctx_out_hex` shows it.
#[test]
fn syscall_context_comes_back_and_tp_btf_is_not_runnable() {
    if !privileged() {
        return;
    }
    let (ok, v) = run(&[&fx("tracing.bpf.o"), "trace_sched_switch"]);
    assert!(!ok);
    assert!(v["error"].as_str().unwrap().contains("no test run"), "{v}");
    // run_ctx's syscall program writes out = 2 * in into its context and returns in + 1.
    let mut args = 21u32.to_ne_bytes().to_vec();
    args.extend(0u32.to_ne_bytes());
    let ctx = Scratch::new("sys_ctx", &args);
    let (ok, v) = run(&[&fx("run_ctx.bpf.o"), "double_in", "--ctx", ctx.path()]);
    assert!(ok, "{v}");
    assert_eq!(v["retval"], 22, "{v}");
    let mut want = 21u32.to_ne_bytes().to_vec();
    want.extend(42u32.to_ne_bytes());
    assert_eq!(v["ctx_out_hex"], hex(&want), "{v}");
}

/// fentry runs only attached: `oxbpf run` attaches it for the run, and the kernel's
/// `bpf_fentry_test1(1)` call shows up in `fentry_arg`. Kernels whose lockdown refuses
/// tracing programs refuse the load, with the reason.
#[test]
fn fentry_runs_attached_or_is_refused_with_the_reason() {
    if !privileged() {
        return;
    }
    let (ok, v) = run(&[&fx("tracing.bpf.o"), "trace_fentry", "--map-out", ".bss"]);
    if !ok {
        let e = v["error"].as_str().unwrap();
        assert!(e.contains("lockdown"), "{v}");
        eprintln!("SKIPPED part: fentry load refused here: {e}");
        return;
    }
    let bss = v["maps"][".bss"].as_str().unwrap();
    assert_eq!(&bss[0..16], "0100000000000000", "fentry_arg = 1: {v}");
}
