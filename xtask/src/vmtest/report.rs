//! Parses what `/init` wrote to ttyS1 (`@@VM-` markers around libtest's human output run with
//! `--show-output`) and prints per-binary, per-test results.
//!
//! A passing test counts as skipped when its captured output has a line starting with "skip"
//! (any case) or containing "SKIP": the project's kernel tests return early after such an
//! `eprintln!` (`SKIPPED: needs root ...`).

use super::build::TestBinary;

/// Outcome of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Passed,
    /// Failed (panicked).
    Failed,
    /// `#[ignore]`d, or passed after printing a skip reason.
    Skipped,
}

/// One `#[test]`.
#[derive(Debug, Clone)]
pub struct Case {
    /// Test path, e.g. `sys::tests::foo`.
    pub name: String,
    /// Result.
    pub outcome: Outcome,
    /// Skip reason or the ignore message.
    pub reason: Option<String>,
}

/// One test executable's run.
#[derive(Debug, Default)]
pub struct Binary {
    /// Display name (as in the test list).
    pub name: String,
    /// Exit status; `None` if the VM stopped before it finished.
    pub rc: Option<i32>,
    /// Tests in the order they ran.
    pub cases: Vec<Case>,
    /// libtest's "test result:" line.
    pub summary: Option<String>,
    /// Wall-clock seconds inside the VM.
    pub secs: Option<f64>,
    /// Captured output per test name (from `---- name stdout ----` blocks).
    captured: Vec<(String, Vec<String>)>,
    /// Last lines outside captured blocks, shown when the binary itself failed.
    tail: Vec<String>,
    /// Index of a case whose result line was incomplete.
    pending: Option<usize>,
}

/// How many trailing output lines of a crashed binary are kept.
const TAIL_LINES: usize = 20;

/// Everything parsed from the results log.
#[derive(Debug, Default)]
pub struct Parsed {
    /// `uname -r` in the VM.
    pub release: Option<String>,
    /// Upstream version from `/proc/version` (`Debian 6.1.192-2` → `6.1.192`).
    pub version: Option<String>,
    /// Modules `insmod` refused.
    pub module_failures: Vec<String>,
    /// Test executables in run order.
    pub binaries: Vec<Binary>,
    /// `/init` reached its end.
    pub done: bool,
}

/// Parses the ttyS1 log.
pub fn parse(log: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut cur: Option<Binary> = None;
    let mut block: Option<(String, Vec<String>)> = None;
    for raw in log.lines() {
        let mut line = raw.trim_end_matches('\r');
        // A marker can follow output that lacked a final newline (e.g. a killed test).
        if let Some(i) = line.find("@@VM-").filter(|&i| i > 0) {
            if let Some(b) = cur.as_mut() {
                libtest_line(b, &mut block, &line[..i]);
            }
            line = &line[i..];
        }
        if let Some(r) = line.strip_prefix("@@VM-UNAME ") {
            p.release = Some(r.trim().to_string());
        } else if let Some(v) = line.strip_prefix("@@VM-VERSION ") {
            p.version = debian_version(v);
        } else if let Some(m) = line.strip_prefix("@@VM-MODULE-FAILED ") {
            p.module_failures.push(m.trim().to_string());
        } else if let Some(name) = line.strip_prefix("@@VM-BEGIN ") {
            if let Some(b) = cur.take() {
                p.binaries.push(b);
            }
            cur = Some(Binary {
                name: name.trim().to_string(),
                ..Binary::default()
            });
        } else if let Some(rest) = line.strip_prefix("@@VM-END ") {
            if let Some(mut b) = cur.take() {
                flush(&mut b, &mut block);
                let field = |key: &str| {
                    rest.split_whitespace()
                        .rev()
                        .find_map(|w| w.strip_prefix(key))
                        .map(str::to_string)
                };
                b.rc = field("rc=").and_then(|v| v.parse().ok());
                let up = |key| field(key).and_then(|v| v.parse::<f64>().ok());
                b.secs = up("end=").zip(up("start=")).map(|(e, s)| e - s);
                p.binaries.push(finish(b));
            }
        } else if line.starts_with("@@VM-DONE") {
            p.done = true;
        } else if let Some(b) = cur.as_mut() {
            libtest_line(b, &mut block, line);
        }
    }
    if let Some(mut b) = cur.take() {
        flush(&mut b, &mut block);
        p.binaries.push(finish(b));
    }
    p
}

/// `Linux version ... Debian 6.1.192-2 (2025-...)` → `6.1.192`.
fn debian_version(proc_version: &str) -> Option<String> {
    let words: Vec<&str> = proc_version.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "Debian")?;
    let v = words.get(i + 1)?;
    Some(v.split('-').next().unwrap_or(v).to_string())
}

fn flush(b: &mut Binary, block: &mut Option<(String, Vec<String>)>) {
    if let Some((name, mut lines)) = block.take() {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        b.captured.push((name, lines));
    }
}

/// One line of libtest output.
fn libtest_line(b: &mut Binary, block: &mut Option<(String, Vec<String>)>, line: &str) {
    if let Some(name) = line
        .strip_prefix("---- ")
        .and_then(|r| r.strip_suffix(" stdout ----"))
    {
        flush(b, block);
        *block = Some((name.to_string(), Vec::new()));
        return;
    }
    if line == "successes:" || line == "failures:" || line.starts_with("test result: ") {
        flush(b, block);
        if line.starts_with("test result: ") {
            b.summary = Some(line.to_string());
        }
        return;
    }
    if let Some((_, lines)) = block.as_mut() {
        lines.push(line.to_string());
        return;
    }
    b.tail.push(line.to_string());
    if b.tail.len() > TAIL_LINES {
        b.tail.remove(0);
    }
    if let Some(result) = outcome(line.trim()) {
        // The result of a test whose "test name ... " line was broken by other output.
        if let Some(case) = b.pending.take().and_then(|i| b.cases.get_mut(i)) {
            (case.outcome, case.reason) = result;
        }
        return;
    }
    let Some((name, result)) = line
        .strip_prefix("test ")
        .and_then(|r| r.split_once(" ..."))
    else {
        return;
    };
    let (outcome, reason) = outcome(result.trim()).unwrap_or_else(|| {
        b.pending = Some(b.cases.len());
        let seen = result.trim();
        let seen = if seen.is_empty() { "nothing" } else { seen };
        (Outcome::Failed, Some(format!("no result (saw {seen:?})")))
    });
    b.cases.push(Case {
        name: name.to_string(),
        outcome,
        reason,
    });
}

/// libtest's result word(s) after `test name ... `.
fn outcome(result: &str) -> Option<(Outcome, Option<String>)> {
    match result {
        "ok" => Some((Outcome::Passed, None)),
        "FAILED" => Some((Outcome::Failed, None)),
        r if r.starts_with("ignored") => {
            let why = r
                .strip_prefix("ignored")
                .unwrap_or("")
                .trim_start_matches(", ");
            let why = if why.is_empty() { "#[ignore]" } else { why };
            Some((Outcome::Skipped, Some(format!("ignored: {why}"))))
        }
        _ => None,
    }
}

/// Turns passes that printed a skip line into skips.
fn finish(mut b: Binary) -> Binary {
    for case in &mut b.cases {
        if case.outcome != Outcome::Passed {
            continue;
        }
        let skip = b
            .captured
            .iter()
            .filter(|(n, _)| *n == case.name)
            .flat_map(|(_, lines)| lines)
            .find(|l| is_skip_line(l));
        if let Some(line) = skip {
            case.outcome = Outcome::Skipped;
            case.reason = Some(line.trim().to_string());
        }
    }
    b
}

/// A skip message: starts with "skip" (any case) or contains "SKIP".
fn is_skip_line(line: &str) -> bool {
    let t = line.trim_start();
    t.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("skip")) || t.contains("SKIP")
}

impl Binary {
    /// Captured output of `test`.
    fn output_of(&self, test: &str) -> Vec<&str> {
        self.captured
            .iter()
            .filter(|(n, _)| n == test)
            .flat_map(|(_, l)| l.iter().map(String::as_str))
            .collect()
    }

    /// Why the binary itself failed, if it did beyond its tests (crash, kill, not finished).
    fn trouble(&self) -> Option<String> {
        let any_failed = self.cases.iter().any(|c| c.outcome == Outcome::Failed);
        match self.rc {
            None => Some("did not finish (VM stopped or timed out)".into()),
            Some(0) => None,
            Some(137) => Some("killed after --test-timeout (rc=137)".into()),
            Some(rc) if self.summary.is_none() => Some(format!(
                "died (rc={rc}{}) before libtest's summary: later tests did not run",
                signal_name(rc)
            )),
            Some(rc) if !any_failed => Some(format!("exited with rc={rc} without a failed test")),
            Some(_) => None,
        }
    }
}

/// `, SIGABRT` for a shell exit status of 128 + signal.
fn signal_name(rc: i32) -> &'static str {
    match rc - 128 {
        4 => ", SIGILL",
        6 => ", SIGABRT",
        7 => ", SIGBUS",
        9 => ", SIGKILL",
        11 => ", SIGSEGV",
        _ => "",
    }
}

/// Prints the results; returns `true` when nothing failed and every binary ran.
pub fn print(p: &Parsed, expected: &[TestBinary], verbose: bool, log: &str) -> bool {
    if verbose {
        println!("----- test output -----\n{log}-----------------------");
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for m in &p.module_failures {
        println!("vm-test: insmod failed: {m}");
    }
    for b in &p.binaries {
        let count = |o| b.cases.iter().filter(|c| c.outcome == o).count();
        let (bp, bf, bs) = (
            count(Outcome::Passed),
            count(Outcome::Failed),
            count(Outcome::Skipped),
        );
        passed += bp;
        failed += bf;
        skipped += bs;
        let secs = b.secs.map(|s| format!(" ({s:.1}s)")).unwrap_or_default();
        println!(
            "== {}{secs}: {bp} passed, {bf} failed, {bs} skipped",
            b.name
        );
        for c in &b.cases {
            match c.outcome {
                Outcome::Passed => println!("   pass {}", c.name),
                Outcome::Skipped => {
                    println!("   SKIP {} — {}", c.name, c.reason.as_deref().unwrap_or(""))
                }
                Outcome::Failed => {
                    match &c.reason {
                        Some(r) => println!("   FAIL {} — {r}", c.name),
                        None => println!("   FAIL {}", c.name),
                    }
                    for l in b.output_of(&c.name) {
                        println!("        | {l}");
                    }
                }
            }
        }
        if let Some(t) = b.trouble() {
            // Counted once when no test of the binary was seen failing.
            failed += usize::from(bf == 0);
            println!("   FAIL (binary) {t}; its last output:");
            for l in &b.tail {
                println!("        | {l}");
            }
        }
    }
    for e in expected {
        if !p.binaries.iter().any(|b| b.name == e.name) {
            failed += 1;
            println!("== {}: FAIL never started", e.name);
        }
    }
    let release = p
        .release
        .as_deref()
        .unwrap_or("kernel unknown: VM did not boot");
    let version = p.version.as_deref().unwrap_or("6.1.x");
    println!("vm-test ({version}, {release}): {passed} passed, {failed} failed, {skipped} skipped");
    failed == 0 && p.release.is_some()
}

/// Prints kernel oopses, warnings and panics from the console log.
pub fn print_kernel_trouble(console: &str) {
    const MARKS: &[&str] = &[
        "BUG:",
        "WARNING:",
        "Oops",
        "Kernel panic",
        "Call Trace",
        "RIP:",
    ];
    let lines: Vec<&str> = console
        .lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .take(40)
        .collect();
    if !lines.is_empty() {
        println!("vm-test: kernel reported problems (see console log):");
        for l in lines {
            println!("   {}", l.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
@@VM-UNAME 6.1.0-56-cloud-amd64\r
@@VM-VERSION Linux version 6.1.0-56-cloud-amd64 (x@y) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-01-01)
@@VM-BEGIN oxbpf test maps
\r
running 4 tests\r
test maps::create ... ok\r
test maps::needs_clang ... ok
test maps::slow ... ignored, takes an hour
test maps::broken ... FAILED

successes:

---- maps::needs_clang stdout ----
SKIP maps::needs_clang: clang-19 not installed


successes:
    maps::create
    maps::needs_clang

failures:

---- maps::broken stdout ----
thread 'maps::broken' panicked at tests/maps.rs:3:5:
boom

failures:
    maps::broken

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

@@VM-END oxbpf test maps rc=101 start=3.50 end=5.75
@@VM-BEGIN oxbpf lib
running 1 test
";

    #[test]
    fn parses_markers_and_outcomes() {
        let p = parse(LOG);
        assert_eq!(p.release.as_deref(), Some("6.1.0-56-cloud-amd64"));
        assert_eq!(p.version.as_deref(), Some("6.1.192"));
        assert!(!p.done);
        assert_eq!(p.binaries.len(), 2);
        let b = &p.binaries[0];
        assert_eq!(b.rc, Some(101));
        assert_eq!(b.secs, Some(2.25));
        let got: Vec<_> = b
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("maps::create", Outcome::Passed),
                ("maps::needs_clang", Outcome::Skipped),
                ("maps::slow", Outcome::Skipped),
                ("maps::broken", Outcome::Failed),
            ]
        );
        assert_eq!(
            b.cases[1].reason.as_deref(),
            Some("SKIP maps::needs_clang: clang-19 not installed")
        );
        assert_eq!(b.cases[2].reason.as_deref(), Some("ignored: takes an hour"));
        assert_eq!(b.output_of("maps::broken")[1], "boom");
        assert!(b.trouble().is_none());
        assert_eq!(p.binaries[1].rc, None);
        assert!(p.binaries[1].trouble().is_some());
    }

    #[test]
    fn crash_without_failed_test_is_trouble() {
        let p = parse("@@VM-BEGIN x\ntest a ... ok\n@@VM-END x rc=139\n@@VM-DONE\n");
        assert!(p.done);
        assert!(p.binaries[0].trouble().unwrap().contains("139"));
        let p = parse("@@VM-BEGIN x\ntest a ... ok\n@@VM-END x rc=134\n");
        assert!(p.binaries[0].trouble().unwrap().contains("SIGABRT"));
        let p = parse("@@VM-BEGIN x\ntest a ... ok\ntest b ... @@VM-END x rc=137\n");
        let b = &p.binaries[0];
        assert!(b.trouble().unwrap().contains("timeout"));
        assert_eq!(b.cases[1].outcome, Outcome::Failed);
        assert_eq!(
            b.cases[1].reason.as_deref(),
            Some("no result (saw \"nothing\")")
        );
    }

    #[test]
    fn skip_lines() {
        assert!(is_skip_line("SKIPPED: no kernel BTF"));
        assert!(is_skip_line("  skipping: not root"));
        assert!(is_skip_line("maps::pin: SKIP (not root)"));
        assert!(!is_skip_line("relocated 3 insns, skipped 0"));
    }

    #[test]
    fn result_after_interleaved_output() {
        let p = parse("@@VM-BEGIN x\ntest a ... child says hi\nok\ntest b ... Killed\n");
        let b = &p.binaries[0];
        assert_eq!(b.cases[0].outcome, Outcome::Passed);
        assert_eq!(b.cases[1].outcome, Outcome::Failed);
        assert_eq!(
            b.cases[1].reason.as_deref(),
            Some("no result (saw \"Killed\")")
        );
    }
}
