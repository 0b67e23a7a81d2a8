//! Shared by the kernel tests: privilege check, network namespaces with Drop guards.
#![allow(dead_code)]

pub mod cpu;
pub mod frames;
pub mod xdp;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// True when the kernel tests can run; skips loudly (or panics under
/// `OXBPF_REQUIRE_KERNEL=1`) otherwise.
pub fn require_kernel(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let why = format!("{test}: SKIPPED: needs root (BPF, XDP, network namespaces)");
    if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("{why}, and OXBPF_REQUIRE_KERNEL=1");
    }
    eprintln!("{why}");
    false
}

/// A unique name with the pid and a counter.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command, panicking with its output on failure.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Index and MAC address of `dev` in namespace `ns`.
pub fn link_of(ns: &str, dev: &str) -> (u32, [u8; 6]) {
    let out = sh(&["ip", "-n", ns, "-j", "link", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ifindex = v[0]["ifindex"].as_u64().unwrap() as u32;
    (ifindex, frames::mac(v[0]["address"].as_str().unwrap()))
}

/// A network namespace removed on drop.
pub struct Netns {
    /// Its name under /run/netns.
    pub name: String,
}

impl Netns {
    /// Creates a namespace named `<prefix><pid>-<n>` with `lo` up.
    pub fn new(prefix: &str) -> Self {
        let name = unique(prefix);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Runs `args` inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Index and MAC address of `dev`.
    pub fn link(&self, dev: &str) -> (u32, [u8; 6]) {
        link_of(&self.name, dev)
    }

    /// Runs `f(namespace name)` on a new thread inside the namespace and returns its result
    /// (a panic in `f` is passed on).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce(&str) -> T + Send + 'static) -> T {
        let name = self.name.clone();
        std::thread::spawn(move || {
            enter(&name);
            f(&name)
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

/// Moves the calling thread into namespace `name`.
pub fn enter(name: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
    // SAFETY: setns on a valid namespace fd; affects only the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
