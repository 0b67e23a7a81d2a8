//! `cargo xtask vm-test`: runs the workspace's test executables on a second, real kernel —
//! Debian's `linux-image-6.1.0-*-cloud-amd64` — booted under `qemu-system-x86_64` (TCG).
//!
//! Steps: check host tools ([`tools`]), fetch and unpack the kernel package ([`kernel`]), build
//! the test executables ([`build`]), pack them with busybox, iproute2, their shared libraries,
//! the needed kernel modules and the crates' fixtures into an initramfs ([`initramfs`]), boot it
//! ([`qemu`]) and parse what `/init` wrote to the second serial port ([`report`]).
//!
//! Test binaries stay dynamically linked: their glibc and loader are copied from the host (the
//! same `ldd` walk `ip`/`ping` need anyway), so the normal `cargo test` build is reused instead
//! of a second, static build for an explicit `--target`.
//!
//! Host packages: `qemu-system-x86 busybox-static cpio` (+ `iproute2 iputils-ping`, already in
//! CI's setup); `--check-tools` lists what is missing. Everything it downloads or generates is
//! under `target/vm/`. In the VM the tests run as root, one binary at a time, each with
//! `--test-threads=1 --show-output`, from their package directory, with the same absolute
//! paths as on the host.

mod build;
mod initramfs;
mod kernel;
mod qemu;
mod report;
mod tools;

use std::time::{Duration, Instant};

/// Command-line options of `vm-test`.
#[derive(Debug)]
struct Options {
    /// Kernel ABI to use (`6.1.0-56`); newest available when `None`.
    kernel: Option<String>,
    /// libtest name filter passed to every test binary.
    filter: Option<String>,
    /// libtest `--skip` patterns.
    skip: Vec<String>,
    /// Packages (directory names) whose test executables run.
    packages: Vec<String>,
    /// Run only test binaries whose name contains one of these.
    only: Vec<String>,
    /// Leave out test binaries whose name contains one of these.
    exclude: Vec<String>,
    /// Extra kernel modules to load besides [`kernel::DEFAULT_MODULES`].
    modules: Vec<String>,
    /// Whole-VM time limit.
    timeout: Duration,
    /// Per test binary time limit inside the VM.
    test_timeout: Duration,
    /// Guest memory in MiB.
    mem_mib: u32,
    /// Guest CPUs.
    smp: u32,
    /// Set `OXBPF_REQUIRE_KERNEL=1` inside the VM.
    require_kernel: bool,
    /// Print every line the tests wrote.
    verbose: bool,
    /// Only check host tools and print the packages to install.
    check_tools: bool,
}

const USAGE: &str = "\
usage: cargo xtask vm-test [options]
  Boots Debian's linux-image-6.1.0-*-cloud-amd64 under qemu (TCG) and runs the oxbpf test
  executables (and xtask's vm_smoke canary) inside it as root.
  --kernel ABI         kernel ABI, e.g. 6.1.0-56 (default: newest in apt's lists)
  --filter PATTERN     libtest filter passed to every test binary
  --skip PATTERN       libtest --skip passed to every test binary (repeatable)
  --package DIR        test executables of crate directory DIR (repeatable; default oxbpf)
  --only NAME          run only test binaries whose name contains NAME (repeatable),
                       e.g. --only maps --only \"oxbpf lib\"
  --exclude NAME       leave out test binaries whose name contains NAME (repeatable),
                       e.g. --exclude \"oxlb lib\" (unit tests that need no kernel)
  --module NAME        also load kernel module NAME (repeatable)
  --timeout SECS       kill qemu after SECS (default 480)
  --test-timeout SECS  kill one test binary after SECS inside the VM (default 300)
  --mem MIB            guest memory (default 2048)
  --smp N              guest CPUs (default 2)
  --require-kernel     set OXBPF_REQUIRE_KERNEL=1 in the VM (skips become failures)
  --verbose            print the full test output
  --check-tools        only check host tools; print the apt packages to install";

impl Options {
    /// Whether the test binary `name` runs: `--only` (when given) names it, `--exclude` does not.
    fn selects(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str())))
            && !self.exclude.iter().any(|x| name.contains(x.as_str()))
    }
}

/// Entry point of `cargo xtask vm-test`.
pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let opts = parse_args(args)?;
    let missing = tools::missing_packages();
    if opts.check_tools {
        if missing.is_empty() {
            println!("vm-test: all host tools present");
            return Ok(());
        }
        println!("{}", missing.join(" "));
        return Err(format!(
            "missing host tools; install with: apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        ));
    }
    if !missing.is_empty() {
        return Err(format!(
            "missing host tools; install with: apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        ));
    }
    let root = crate::workspace_root();
    // `$CARGO_TARGET_DIR/vm`, else `<workspace>/target/vm`.
    let work = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"))
        .join("vm");
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let mut timings = Timings::default();

    let t = Instant::now();
    let kern = kernel::prepare(&work, opts.kernel.as_deref())?;
    timings.push("kernel", t);
    println!(
        "vm-test: kernel {} ({})",
        kern.release,
        kern.vmlinuz.display()
    );

    let t = Instant::now();
    let mut tests = build::test_executables(&root, &opts.packages)?;
    timings.push("build", t);
    tests.retain(|b| !b.is_test || opts.selects(&b.name));
    let n_tests = tests.iter().filter(|b| b.is_test).count();
    if n_tests == 0 {
        return Err("no test executables selected".into());
    }
    println!("vm-test: {n_tests} test executable(s)");

    let t = Instant::now();
    let modules = kern.modules(&opts.modules)?;
    let test_args: Vec<String> = opts
        .filter
        .iter()
        .cloned()
        .chain(
            opts.skip
                .iter()
                .flat_map(|s| ["--skip".to_string(), s.clone()]),
        )
        .collect();
    let image = initramfs::build(
        &work,
        &initramfs::Contents {
            tests: &tests,
            modules: &modules,
            release: &kern.release,
            kernel_config: Some(&kern.config),
            test_args: &test_args,
            require_kernel: opts.require_kernel,
            test_timeout: opts.test_timeout,
        },
    )?;
    timings.push("initramfs", t);

    let results = work.join("results.log");
    let console = work.join("console.log");
    let run = qemu::boot(&qemu::Vm {
        kernel: &kern.vmlinuz,
        initrd: &image,
        results: &results,
        console: &console,
        mem_mib: opts.mem_mib,
        smp: opts.smp,
        timeout: opts.timeout,
    })?;
    if let Some(boot) = run.booted_after {
        timings.push_duration("boot", boot);
        timings.push_duration("tests", run.total.saturating_sub(boot));
    } else {
        timings.push_duration("vm", run.total);
    }

    let text = std::fs::read_to_string(&results).unwrap_or_default();
    let console_text = std::fs::read_to_string(&console).unwrap_or_default();
    let parsed = report::parse(&text);
    tests.retain(|b| b.is_test);
    let ok = report::print(&parsed, &tests, opts.verbose, &text);
    report::print_kernel_trouble(&console_text);
    println!("vm-test: timings: {}", timings.render());
    println!(
        "vm-test: logs: {} (tests), {} (console)",
        rel(&root, &results),
        rel(&root, &console)
    );
    if run.timed_out {
        return Err(format!(
            "qemu killed after {}s (--timeout)",
            opts.timeout.as_secs()
        ));
    }
    if !ok {
        return Err("test failures inside the VM".into());
    }
    Ok(())
}

fn rel(root: &std::path::Path, p: &std::path::Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        kernel: None,
        filter: None,
        skip: Vec::new(),
        packages: Vec::new(),
        only: Vec::new(),
        exclude: Vec::new(),
        modules: Vec::new(),
        timeout: Duration::from_secs(480),
        test_timeout: Duration::from_secs(300),
        mem_mib: 2048,
        smp: 2,
        require_kernel: false,
        verbose: false,
        check_tools: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let secs = |v: String, name: &str| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("{name}: {v:?} is not a number of seconds"))
        };
        match arg.as_str() {
            "--kernel" => o.kernel = Some(value("--kernel")?),
            "--filter" => o.filter = Some(value("--filter")?),
            "--skip" => o.skip.push(value("--skip")?),
            "--only" => o.only.push(value("--only")?),
            "--exclude" => o.exclude.push(value("--exclude")?),
            "--package" | "-p" => o.packages.push(value("--package")?),
            "--module" => o.modules.push(value("--module")?),
            "--timeout" => o.timeout = secs(value("--timeout")?, "--timeout")?,
            "--test-timeout" => o.test_timeout = secs(value("--test-timeout")?, "--test-timeout")?,
            "--mem" => {
                let v = value("--mem")?;
                o.mem_mib = v.parse().map_err(|_| format!("--mem: {v:?} is not MiB"))?;
            }
            "--smp" => {
                let v = value("--smp")?;
                o.smp = v
                    .parse()
                    .map_err(|_| format!("--smp: {v:?} is not a count"))?;
            }
            "--require-kernel" => o.require_kernel = true,
            "--verbose" | "-v" => o.verbose = true,
            "--check-tools" => o.check_tools = true,
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    if o.packages.is_empty() {
        o.packages = build::DEFAULT_PACKAGES
            .iter()
            .map(|p| p.to_string())
            .collect();
    }
    Ok(o)
}

/// Wall-clock time of each step, printed at the end.
#[derive(Default)]
struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    fn push(&mut self, step: &'static str, since: Instant) {
        self.0.push((step, since.elapsed()));
    }
    fn push_duration(&mut self, step: &'static str, d: Duration) {
        self.0.push((step, d));
    }
    fn render(&self) -> String {
        self.0
            .iter()
            .map(|(s, d)| format!("{s} {:.1}s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_args(&args(&[
            "--filter",
            "maps",
            "--skip",
            "slow",
            "--timeout",
            "60",
        ]))
        .unwrap();
        assert_eq!(o.filter.as_deref(), Some("maps"));
        assert_eq!(o.skip, ["slow"]);
        assert_eq!(o.timeout, Duration::from_secs(60));
        assert_eq!(o.packages, ["oxbpf"]);
        assert!(parse_args(&args(&["--timeout", "soon"])).is_err());
        assert!(parse_args(&args(&["--only"])).is_err());
        let o = parse_args(&args(&["--exclude", "oxlb lib", "--only", "oxlb"])).unwrap();
        assert!(o.selects("oxlb test e2e"));
        assert!(!o.selects("oxlb lib"));
        assert!(!o.selects("oxbpf test maps"));
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }
}
