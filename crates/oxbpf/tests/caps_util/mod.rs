//! Re-runs tests of the current test binary with a capability dropped (`capsh --drop`), or
//! all of them with only CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON (`setpriv`), so the suite
//! proves its answers under reduced privileges, not only as full root. In such a re-run,
//! steps that need a capability the process lacks assert the exact refusal ([`refused`]).
#![allow(dead_code)]

use std::process::Command;

/// Set in a re-run to the name of its capability setting.
pub const SETTING_ENV: &str = "OXBPF_CAPS_SETTING";
/// The setting with CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON only.
pub const MINIMAL: &str = "bpf+net_admin+perfmon";
/// CAP_SYS_ADMIN's number.
pub const SYS_ADMIN: u32 = 21;

/// True if this process lacks capability number `bit` (`CapEff` of `/proc/self/status`).
pub fn lacks(bit: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).expect("CapEff hex"))
        .expect("CapEff line");
    eff & (1 << bit) == 0
}

/// `result` of a call that needs CAP_SYS_ADMIN (`what`: "BPF_MAP_GET_FD_BY_ID"): its value
/// when the process holds it; otherwise asserts the exact refusal and returns `None` (the
/// caller stops there).
pub fn needs_sys_admin<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Option<T> {
    if !lacks(SYS_ADMIN) {
        return Some(result.unwrap_or_else(|e| panic!("{what}: {e}")));
    }
    let Err(e) = result else {
        panic!("{what} succeeded without CAP_SYS_ADMIN");
    };
    refused(&e.to_string(), &format!("{what} needs CAP_SYS_ADMIN"));
    None
}

/// Asserts `err` says "`want`, which this process lacks" and no misleading remedy.
pub fn refused(err: &str, want: &str) {
    let want = format!("{want}, which this process lacks");
    assert!(err.contains(&want), "expected {want:?} in: {err}");
    assert!(
        !err.contains("run as root") && !err.contains("RLIMIT_MEMLOCK"),
        "{err}"
    );
    eprintln!("refused as expected: {want}");
}

/// The settings binaries re-run themselves in: (name, setpriv bounding set, runner test).
pub const SETTINGS: [(&str, &str, &str); 2] = [
    (
        MINIMAL,
        "-all,+bpf,+net_admin,+perfmon",
        "passes_with_bpf_net_admin_perfmon_only",
    ),
    ("none", "-all", "passes_with_no_capabilities"),
];

/// True in a re-run under one of [`SETTINGS`].
pub fn in_setting() -> bool {
    std::env::var(SETTING_ENV).is_ok()
}

/// For a test's entry check in a re-run: when the process may not use bpf() at all (no
/// CAP_BPF), `err`, its first refused call, must contain `want` and no misleading remedy.
/// True then (the test ends there, with the refusal asserted); false when CAP_BPF is held.
pub fn refused_entry(err: &str, want: &str) -> bool {
    const BPF: u32 = 39;
    if !lacks(BPF) || !lacks(SYS_ADMIN) {
        return false;
    }
    assert!(err.contains(want), "expected {want:?} in: {err}");
    assert!(
        !err.contains("run as root") && !err.contains("RLIMIT_MEMLOCK"),
        "{err}"
    );
    eprintln!("refused as expected: {want}");
    true
}

/// For a feature test's entry check in a re-run: without CAP_BPF every probe must answer
/// "not decidable with these capabilities: needs CAP_BPF" (asserted; true: the test ends).
pub fn probes_refused() -> bool {
    if !in_setting() {
        return false;
    }
    match oxbpf::features::have_program_type(oxbpf::spec::ProgramType::SOCKET_FILTER) {
        Ok(_) => false,
        Err(e) => {
            assert!(e.needs_capabilities(), "{e}");
            refused_entry(
                &e.to_string(),
                "not decidable with these capabilities: needs CAP_BPF",
            )
        }
    }
}

/// Re-runs every test of this binary but the runners (and `also_skip`) as root with only the
/// capabilities of setting `name` of [`SETTINGS`] (`setpriv --bounding-set`), with
/// [`SETTING_ENV`] set, and asserts they all passed. Returns false (and says so) when not
/// root or `setpriv` is missing, which fails under `OXBPF_REQUIRE_KERNEL=1`.
pub fn rerun_in(name: &str, also_skip: &[&str]) -> bool {
    let (_, bounding, _) = SETTINGS
        .iter()
        .find(|s| s.0 == name)
        .unwrap_or_else(|| panic!("unknown setting {name}"));
    let strict = std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1");
    if unsafe { libc::geteuid() } != 0 || Command::new("setpriv").arg("--version").output().is_err()
    {
        assert!(!strict, "OXBPF_REQUIRE_KERNEL=1 but not root or no setpriv");
        eprintln!("SKIPPED: re-running with fewer capabilities needs root and setpriv");
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--bounding-set={bounding}"))
        .arg("--")
        .arg(&exe)
        .env(SETTING_ENV, name);
    for r in SETTINGS
        .iter()
        .map(|s| s.2)
        .chain(also_skip.iter().copied())
    {
        cmd.args(["--skip", r]);
    }
    let out = cmd.output().expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- in setting {name}:\n{stdout}{stderr}");
    assert!(out.status.success(), "tests failed in setting {name}");
    assert!(stdout.contains("test result: ok."), "{stdout}");
    true
}

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
