//! Re-runs tests of the current test binary with a capability dropped (`capsh --drop`), so the
//! suite proves its answers under reduced privileges, not only as full root.

use std::process::Command;

/// Runs `tests` (exact names) of this test binary under `capsh --drop=<cap>` and asserts that
/// the capability was really gone and that every one of them passed. Returns false (and says
/// so) when not root or `capsh` is missing, which fails under `OXBPF_REQUIRE_KERNEL=1`.
pub fn rerun_without(cap: &str, tests: &[&str]) -> bool {
    let strict = std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1");
    let skip = |why: &str| {
        assert!(!strict, "OXBPF_REQUIRE_KERNEL=1 but {why}");
        eprintln!("SKIPPED: {why}");
        false
    };
    if unsafe { libc::geteuid() } != 0 {
        return skip("dropping capabilities needs root");
    }
    if Command::new("capsh").arg("--help").output().is_err() {
        return skip("capsh not found (Debian package libcap2-bin; .ci/setup installs it)");
    }
    let exe = std::env::current_exe().expect("test binary path");
    // In the child: print the effective set, then exec the chosen tests one thread at a time.
    let script = r#"grep '^CapEff' /proc/self/status >&2; exec "$0" "$@""#;
    let out = Command::new("capsh")
        .arg(format!("--drop={cap}"))
        .args(["--", "-c", script])
        .arg(&exe)
        .args(["--exact", "--test-threads=1", "--nocapture"])
        .args(tests)
        .output()
        .expect("run capsh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- without {cap}:\n{stdout}{stderr}");
    assert!(out.status.success(), "tests failed without {cap}");
    let eff = stderr
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).expect("CapEff hex"))
        .expect("child printed CapEff");
    let bit = cap_number(cap);
    assert_eq!(eff & (1 << bit), 0, "{cap} still effective: {eff:x}");
    let ran = format!("test result: ok. {} passed", tests.len());
    assert!(stdout.contains(&ran), "expected {ran}");
    true
}

fn cap_number(cap: &str) -> u32 {
    match cap {
        "cap_net_admin" => 12,
        "cap_sys_admin" => 21,
        "cap_sys_resource" => 24,
        "cap_perfmon" => 38,
        "cap_bpf" => 39,
        other => panic!("unknown capability {other}"),
    }
}
