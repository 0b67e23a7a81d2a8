//! Support of `tests/examples.rs`: a minimal test runner (the binary has its own `main`, so it
//! can also run the examples) and example processes whose output is read line by line.
//!
//! The runner accepts what libtest's callers pass — name filters, `--skip NAME`, `--exact`,
//! `--list`; other flags (`--test-threads`, `--show-output`, `--nocapture`, `-q`) are
//! ignored: tests always run one at a time, output shown — and prints libtest's lines
//! (`test NAME ... ok`, `test result: ...`, a skip reason as the test's captured output) so
//! `cargo xtask vm-test` reads its results.

use std::io::{BufRead, BufReader, Lines};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Environment variable naming the example (or helper) a re-executed test binary runs.
pub const EXAMPLE_ENV: &str = "OXBPF_EXAMPLE";

/// A test case: its name and body.
pub type Test = (&'static str, fn());

/// Skip reasons of the tests run so far, printed as their captured output at the end.
static SKIPS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static CURRENT: Mutex<String> = Mutex::new(String::new());

/// Records that the current test cannot run here, and why; under `OXBPF_REQUIRE_KERNEL=1`
/// (CI) that is a failure.
pub fn skip(reason: &str) {
    if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("OXBPF_REQUIRE_KERNEL=1 but the test cannot run: {reason}");
    }
    skip_kernel(reason);
}

/// Records that the running kernel refuses what the current test needs (never a failure).
pub fn skip_kernel(reason: &str) {
    eprintln!("SKIPPED: {reason}");
    let test = CURRENT.lock().unwrap().clone();
    SKIPS
        .lock()
        .unwrap()
        .push((test, format!("SKIPPED: {reason}")));
}

/// True when running as root; otherwise records the skip.
pub fn require_root() -> bool {
    if unsafe { libc::geteuid() } != 0 {
        skip("the examples need root (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)");
        return false;
    }
    true
}

/// Runs the selected `tests` in order; exit code 101 if one failed (libtest's).
pub fn run_tests(tests: &[Test]) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut filters, mut skips, mut exact, mut list) = (Vec::new(), Vec::new(), false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip" => skips.extend(it.next().cloned()),
            "--exact" => exact = true,
            "--list" => list = true,
            "--test-threads" | "--format" | "--color" => {
                it.next();
            }
            f if f.starts_with('-') => {}
            f => filters.push(f.to_string()),
        }
    }
    let matches = |name: &str, pat: &String| {
        if exact {
            name == pat
        } else {
            name.contains(pat.as_str())
        }
    };
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| matches(n, f)))
        .filter(|(n, _)| !skips.iter().any(|s| matches(n, s)))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, body) in &selected {
        *CURRENT.lock().unwrap() = name.to_string();
        print!("test {name} ... ");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let ok = catch_unwind(AssertUnwindSafe(body)).is_ok();
        println!("{}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    let skips = SKIPS.lock().unwrap();
    if !skips.is_empty() {
        println!("\nsuccesses:");
        for (test, line) in skips.iter() {
            println!("\n---- {test} stdout ----\n{line}");
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        selected.len() - failed.len(),
        failed.len(),
        tests.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

/// This test binary re-executed to run example (or helper) `name` with `args`.
pub fn example(name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(EXAMPLE_ENV, name).args(args);
    cmd
}

/// Makes `cmd` run in the network namespace at `path` (setns before exec).
pub fn in_netns(cmd: &mut Command, path: &str) {
    let file = std::fs::File::open(path).expect("open netns");
    // SAFETY: setns is async-signal-safe; `file` is moved into the closure and outlives exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A running example whose stdout the test reads.
pub struct Running {
    name: String,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

/// Starts `cmd` (from [`example`]) with stdout piped; stderr goes to the test's output.
pub fn start(name: &str, mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn example");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Running {
        name: name.to_string(),
        child,
        lines,
        seen: Vec::new(),
    }
}

impl Running {
    /// Reads lines until one starts with `prefix` and returns it; panics if the example
    /// ends first.
    pub fn wait_for(&mut self, prefix: &str) -> String {
        for line in self.lines.by_ref() {
            let line = line.expect("read example output");
            println!("{}> {line}", self.name);
            self.seen.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
        let status = self.child.wait().expect("wait");
        panic!(
            "{} ended ({status}) without printing {prefix:?}; output: {:?}",
            self.name, self.seen
        );
    }

    /// Reads the rest of the output, waits (killing it after 30 s) and checks it succeeded;
    /// returns every line it printed.
    pub fn finish(mut self) -> Vec<String> {
        let pid = self.child.id();
        let watchdog = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(100));
                // Signal 0: is it still there (not yet reaped)?
                if unsafe { libc::kill(pid as i32, 0) } != 0 {
                    return;
                }
            }
            eprintln!("example {pid} still running after 30 s: killing it");
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        });
        for line in self.lines.by_ref() {
            let line = line.expect("read example output");
            println!("{}> {line}", self.name);
            self.seen.push(line);
        }
        let status = self.child.wait().expect("wait");
        let _ = watchdog.join();
        assert!(
            status.success(),
            "{} failed ({status}); output: {:?}",
            self.name,
            self.seen
        );
        self.seen
    }
}

/// The line of `lines` starting with `prefix`, or a panic listing them all.
pub fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {lines:?}"))
}

/// The kernel command name (`comm`) of processes running this test binary: its file name,
/// cut to 15 bytes.
pub fn own_comm() -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    name.chars().take(15).collect()
}

/// `(major, minor)` of the running kernel.
pub fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}
