//! Shared by the misuse tests: run the binary (here, in a netns, or with nsenter), fixtures,
//! privilege checks with loud skips, and scratch bpffs directories / namespaces removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Path of a committed fixture under `crates/oxbpf/testdata`.
pub fn fx(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../oxbpf/testdata")
        .join(rel)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Runs `oxbpf ARGS`.
pub fn oxbpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("run oxbpf")
}

/// Runs `oxbpf ARGS` in network namespace `ns` only (same mounts, so the same bpffs).
pub fn oxbpf_in(ns: &str, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .arg(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("run nsenter")
}

/// stdout parsed as JSON.
pub fn stdout_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", err(o)))
}

/// The entry named `name` of a report's `programs`.
pub fn program(v: &serde_json::Value, name: &str) -> serde_json::Value {
    let list = v["programs"].as_array().expect("programs");
    let p = list.iter().find(|p| p["name"] == name);
    p.unwrap_or_else(|| panic!("no program {name} in {v}"))
        .clone()
}

/// stderr as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// True when running as root; a loud skip otherwise (a failure with OXBPF_REQUIRE_KERNEL=1).
pub fn require_root() -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("kernel test cannot run: not root");
    }
    eprintln!("SKIPPED: kernel test needs root");
    false
}

/// A name unique to this process and call.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}_{n}", std::process::id())
}

/// A path under /sys/fs/bpf, removed with everything under it on drop.
pub struct BpffsDir(pub PathBuf);

impl BpffsDir {
    /// A fresh name (nothing created yet).
    pub fn new(prefix: &str) -> BpffsDir {
        BpffsDir(PathBuf::from("/sys/fs/bpf").join(unique(prefix)))
    }
    /// The path as text.
    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8")
    }
    /// Entry names directly under it (empty if it does not exist).
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for BpffsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A network namespace with a veth pair `v0`/`v1` in it, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    /// Creates it.
    pub fn new(prefix: &str) -> Netns {
        let ns = Netns(unique(prefix));
        ns.ip(&["netns", "add", &ns.0]);
        ns.ip(&[
            "-n", &ns.0, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        ns.ip(&["-n", &ns.0, "link", "set", "v0", "up"]);
        ns.ip(&["-n", &ns.0, "link", "set", "v1", "up"]);
        ns
    }
    fn ip(&self, args: &[&str]) {
        let st = Command::new("ip").args(args).status().expect("run ip");
        assert!(st.success(), "ip {args:?}");
    }
    /// `oxbpf ARGS` inside it.
    pub fn oxbpf(&self, args: &[&str]) -> Output {
        oxbpf_in(&self.0, args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
