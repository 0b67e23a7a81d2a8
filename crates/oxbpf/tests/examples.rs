//! Every example of `examples/` run as its own process on the real kernel, its output checked:
//! XDP and tc on a veth pair in network namespaces this test creates, the tracing examples
//! against processes this test starts, the cgroup example in a fresh cgroup v2 directory, the
//! pinning example in a fresh bpffs directory.
//!
//! The examples are compiled into this binary (`#[path]` modules) and run by re-executing it
//! with `OXBPF_EXAMPLE=<name>` and the example's own arguments: what runs is the example's
//! `main`, always built from the current source, also inside `cargo xtask vm-test`'s VM
//! (which copies test binaries only). The same variable runs small helpers (`exit:N`,
//! `connect:PORT`) that the tests start as the processes the examples observe.

mod examples_util;
mod links_util;

use examples_util::*;
use links_util::{unique, VethPair};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::Duration;

#[path = "../examples/cgroup_connect.rs"]
mod cgroup_connect;
#[path = "../examples/perfbuf.rs"]
mod perfbuf;
#[path = "../examples/pin_counter.rs"]
mod pin_counter;
#[path = "../examples/ringbuf.rs"]
mod ringbuf;
#[cfg(feature = "tokio")]
#[path = "../examples/ringbuf_async.rs"]
mod ringbuf_async;
#[path = "../examples/task_comm.rs"]
mod task_comm;
#[path = "../examples/tc_counter.rs"]
mod tc_counter;
#[path = "../examples/xdp_firewall.rs"]
mod xdp_firewall;
#[path = "../examples/xdp_prog_run.rs"]
mod xdp_prog_run;

/// How long the long-running examples run: long enough for the test's traffic under TCG.
const SECONDS: &str = "3";

fn main() -> ExitCode {
    if let Ok(name) = std::env::var(EXAMPLE_ENV) {
        return run_example(&name);
    }
    run_tests(&[
        (
            "xdp_firewall_counts_and_drops_by_prefix",
            xdp_firewall_counts_and_drops_by_prefix,
        ),
        (
            "xdp_prog_run_gives_the_verdict",
            xdp_prog_run_gives_the_verdict,
        ),
        ("ringbuf_prints_our_exec", ringbuf_prints_our_exec),
        #[cfg(feature = "tokio")]
        (
            "ringbuf_async_prints_our_exec",
            ringbuf_async_prints_our_exec,
        ),
        ("perfbuf_prints_our_exit_code", perfbuf_prints_our_exit_code),
        (
            "task_comm_counts_forks_and_execs",
            task_comm_counts_forks_and_execs,
        ),
        (
            "tc_counter_counts_both_directions",
            tc_counter_counts_both_directions,
        ),
        (
            "cgroup_connect_refuses_the_port",
            cgroup_connect_refuses_the_port,
        ),
        (
            "pin_counter_keeps_state_across_runs",
            pin_counter_keeps_state_across_runs,
        ),
    ])
}

/// Runs example `name` (or a helper) in this process, as its binary would.
fn run_example(name: &str) -> ExitCode {
    match name {
        "cgroup_connect" => cgroup_connect::main(),
        "perfbuf" => perfbuf::main(),
        "pin_counter" => pin_counter::main(),
        "ringbuf" => ringbuf::main(),
        #[cfg(feature = "tokio")]
        "ringbuf_async" => ringbuf_async::main(),
        "task_comm" => task_comm::main(),
        "tc_counter" => tc_counter::main(),
        "xdp_firewall" => xdp_firewall::main(),
        "xdp_prog_run" => xdp_prog_run::main(),
        helper => run_helper(helper),
    }
}

/// `exit:N` exits with N; `connect:PORT` connects a UDP socket to 127.0.0.1:PORT and prints
/// the outcome.
fn run_helper(helper: &str) -> ExitCode {
    if let Some(code) = helper.strip_prefix("exit:") {
        std::process::exit(code.parse().expect("exit code"));
    }
    if let Some(port) = helper.strip_prefix("connect:") {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        match s.connect(format!("127.0.0.1:{port}")) {
            Ok(()) => println!("connect: ok"),
            Err(e) => println!("connect: {}", e.raw_os_error().unwrap_or(0)),
        }
        return ExitCode::SUCCESS;
    }
    eprintln!("unknown example {helper:?}");
    ExitCode::FAILURE
}

/// Sends `n` UDP datagrams from `src` (an address of `pair.b`) to 10.0.0.1:`port` in `pair.a`.
fn send_from(pair: &VethPair, src: &str, port: u16, n: usize) {
    pair.b.enter(|| {
        let s = UdpSocket::bind(format!("{src}:0")).expect("bind in b");
        for _ in 0..n {
            s.send_to(b"hello", ("10.0.0.1", port)).expect("send");
        }
    });
}

fn xdp_firewall_counts_and_drops_by_prefix() {
    if !require_root() {
        return;
    }
    let pair = VethPair::new();
    pair.b.ip(&["addr", "add", "10.0.0.3/24", "dev", "veth1"]);
    // A listener in `a` sees what XDP let through.
    let rx = pair
        .a
        .enter(|| UdpSocket::bind("10.0.0.1:7000").expect("bind in a"));
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    let mut cmd = example(
        "xdp_firewall",
        &["veth0", SECONDS, "10.0.0.3/32", "192.0.2.0/24"],
    );
    in_netns(&mut cmd, &pair.a.path());
    let mut ex = start("xdp_firewall", cmd);
    let attached = ex.wait_for("attached to veth0");
    assert!(
        attached.contains("Link"),
        "XDP attaches with a bpf_link on >= 5.9: {attached}"
    );
    send_from(&pair, "10.0.0.2", 7000, 5);
    send_from(&pair, "10.0.0.3", 7000, 4);

    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok((_, from)) = rx.recv_from(&mut buf) {
        got.push(from.ip().to_string());
    }
    assert_eq!(
        got, ["10.0.0.2"; 5],
        "only the unblocked source gets through"
    );
    let out = ex.finish();
    let two = line(&out, "10.0.0.2 ");
    assert!(
        two.ends_with("dropped=0") && !two.contains("passed=0"),
        "{two}"
    );
    assert_eq!(line(&out, "10.0.0.3 "), "10.0.0.3 passed=0 dropped=4");

    // A mistyped interface: the error names it.
    let err = example("xdp_firewall", &["no-such-if0", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && stderr.contains("\"no-such-if0\""),
        "{stderr}"
    );
}

fn xdp_prog_run_gives_the_verdict() {
    if !require_root() {
        return;
    }
    for (src, want) in [("10.1.2.3", "XDP_DROP"), ("10.2.0.1", "XDP_PASS")] {
        let out = start(
            "xdp_prog_run",
            example("xdp_prog_run", &[src, "10.1.0.0/16"]),
        )
        .finish();
        assert!(
            line(&out, src).starts_with(&format!("{src}: {want} ")),
            "{out:?}"
        );
    }
    let err = example("xdp_prog_run", &["10.1.2"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && stderr.contains("invalid IPv4 address"),
        "{stderr}"
    );
}

fn ringbuf_prints_our_exec() {
    ringbuf_example_prints_our_exec("ringbuf");
}

/// Built with `--features tokio` only (CI runs it so).
#[cfg(feature = "tokio")]
fn ringbuf_async_prints_our_exec() {
    ringbuf_example_prints_our_exec("ringbuf_async");
}

/// `name` (the blocking or the async reader) prints the exec of a child this test starts.
fn ringbuf_example_prints_our_exec(name: &str) {
    if !require_root() {
        return;
    }
    let mut ex = start(name, example(name, &[SECONDS, "1000"]));
    ex.wait_for("watching exec()");
    let child = example("exit:0", &[])
        .spawn()
        .expect("spawn")
        .wait_with_output()
        .unwrap();
    assert!(child.status.success());
    let out = ex.finish();
    let want_suffix = format!("uid=0 comm={}", own_comm());
    assert!(
        out.iter()
            .any(|l| l.starts_with("exec pid=") && l.ends_with(&want_suffix)),
        "no exec event of our child ({want_suffix}) in {out:?}"
    );
    let total = out.last().and_then(|l| l.strip_suffix(" events"));
    assert!(
        total.and_then(|n| n.parse::<u32>().ok()) >= Some(1),
        "{out:?}"
    );
}

fn perfbuf_prints_our_exit_code() {
    if !require_root() {
        return;
    }
    let mut ex = start("perfbuf", example("perfbuf", &[SECONDS]));
    ex.wait_for("watching exit()");
    let mut child = example("exit:7", &[]).spawn().expect("spawn");
    let pid = child.id();
    assert_eq!(child.wait().unwrap().code(), Some(7));
    let out = ex.finish();
    let want = format!("exit pid={pid} comm={} status=7 signal=0", own_comm());
    assert!(out.contains(&want), "no {want:?} in {out:?}");
}

fn task_comm_counts_forks_and_execs() {
    if !require_root() {
        return;
    }
    // Forks are counted by the parent's comm: fork from a thread with a name of our own.
    let forker = format!("oxfk{}", std::process::id() % 100_000);
    let comm = own_comm();
    let mut ex = start(
        "task_comm",
        example("task_comm", &[SECONDS, &forker, &comm]),
    );
    ex.wait_for("counting fork()");
    std::thread::Builder::new()
        .name(forker.clone())
        .spawn(|| {
            for _ in 0..3 {
                let st = example("exit:0", &[]).status().expect("spawn");
                assert!(st.success());
            }
        })
        .unwrap()
        .join()
        .unwrap();
    let out = ex.finish();
    let fork = format!("fork comm={forker} ");
    assert_eq!(line(&out, &fork), format!("{fork}count=3"));
    let exec = format!("exec comm={comm} ");
    assert_eq!(line(&out, &exec), format!("{exec}count=3"));
}

fn tc_counter_counts_both_directions() {
    if !require_root() {
        return;
    }
    let pair = VethPair::new();
    let mut cmd = example("tc_counter", &["veth0", SECONDS]);
    in_netns(&mut cmd, &pair.a.path());
    let mut ex = start("tc_counter", cmd);
    let ingress = ex.wait_for("Ingress attached");
    ex.wait_for("Egress attached");
    // tcx exists since 6.6; before that the example falls back to a clsact filter.
    let want = if kernel_version() >= (6, 6) {
        "via Link"
    } else {
        "via Netlink"
    };
    assert!(ingress.ends_with(want), "{ingress}");
    pair.traffic();
    pair.traffic();
    let out = ex.finish();
    for dir in ["ingress", "egress"] {
        let l = line(&out, &format!("{dir} "));
        let packets: u64 = l
            .split("packets=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let bytes: u64 = l.split("bytes=").nth(1).unwrap().parse().unwrap();
        assert!(packets >= 2 && bytes >= packets * 42, "{l}");
    }
}

fn cgroup_connect_refuses_the_port() {
    if !require_root() {
        return;
    }
    let Some(cg) = Cgroup::new() else { return };
    let cgdir = cg.path.display().to_string();
    let mut ex = start(
        "cgroup_connect",
        example("cgroup_connect", &[&cgdir, "7777", SECONDS]),
    );
    ex.wait_for("refusing connect()");
    assert_eq!(
        cg.run_inside("connect:7777"),
        format!("connect: {}", libc::EPERM)
    );
    assert_eq!(cg.run_inside("connect:7778"), "connect: ok");
    let out = ex.finish();
    assert_eq!(line(&out, "allowed="), "allowed=1 refused=1");
}

fn pin_counter_keeps_state_across_runs() {
    if !require_root() {
        return;
    }
    let dir = format!("/sys/fs/bpf/{}", unique("pin"));
    let _cleanup = RemoveDir(dir.clone());
    for n in 1..=2 {
        let out = start("pin_counter", example("pin_counter", &[&dir])).finish();
        assert!(
            line(&out, "runs=").starts_with(&format!("runs={n} ")),
            "{out:?}"
        );
    }
    let out = start("pin_counter", example("pin_counter", &[&dir, "--unpin"])).finish();
    assert!(line(&out, "runs=").starts_with("runs=3 ") && out.contains(&"unpinned".to_string()));
    assert!(
        !std::path::Path::new(&dir).join("runs").exists(),
        "pin left behind"
    );
    let out = start("pin_counter", example("pin_counter", &[&dir, "--unpin"])).finish();
    assert!(
        line(&out, "runs=").starts_with("runs=1 "),
        "a new map after unpin: {out:?}"
    );
}

/// Removes a directory (and what is pinned in it) on drop.
struct RemoveDir(String);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh cgroup v2 directory, removed on drop.
struct Cgroup {
    path: std::path::PathBuf,
}

impl Cgroup {
    fn new() -> Option<Cgroup> {
        links_util::new_cgroup(skip).map(|path| Cgroup { path })
    }

    /// Runs helper `helper` in a child process that first moves itself into the cgroup;
    /// returns its output.
    fn run_inside(&self, helper: &str) -> String {
        let procs = self.path.join("cgroup.procs");
        let mut cmd = example(helper, &[]);
        // SAFETY: only a write(2) between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                std::fs::write(&procs, b"0")
            });
        }
        let out = cmd.output().expect("spawn helper in cgroup");
        assert!(out.status.success(), "helper {helper} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}
