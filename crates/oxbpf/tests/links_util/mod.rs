//! Shared helpers of the `links_*` integration tests: privilege check with loud skips,
//! fixture loading, unique network namespaces / veth pairs removed on drop, map counters.
#![allow(dead_code)]

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::Map;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Tests in one binary run one at a time: probe caches, env overrides and fault injection
/// are process-global, and counters filter on our pid.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A name unique to this process and call.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("oxl{}-{n}{tag}", std::process::id())
}

fn require_kernel_env() -> bool {
    std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// Prints why a test is skipped; under `OXBPF_REQUIRE_KERNEL=1` fails instead.
pub fn skip(reason: &str) {
    if require_kernel_env() {
        panic!("OXBPF_REQUIRE_KERNEL=1 but the test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Skips a test because the running kernel refuses something (not a privilege problem):
/// printed loudly, never a failure, since the reason is the kernel's own.
pub fn skip_kernel(reason: &str) {
    eprintln!("SKIPPED (kernel): {reason}");
}

/// True when we are root and may load programs.
pub fn require_kernel() -> bool {
    if unsafe { libc::geteuid() } != 0 {
        skip("kernel link tests need root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)");
        return false;
    }
    true
}

/// Path of a fixture object under `testdata/links`.
pub fn fixture(name: &str) -> String {
    format!("{}/testdata/links/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Loads the named programs (all maps) of fixture `obj`.
pub fn load(obj: &str, programs: &[&str]) -> Result<Collection, oxbpf::collection::LoadError> {
    let spec = oxbpf::elf::load_collection_spec_from_file(fixture(obj)).expect("parse fixture");
    let opts = CollectionOptions {
        programs: Some(programs.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    Collection::load(&spec, &opts)
}

/// The `u64` at index `slot` of array map `m`.
pub fn count(m: &Map, slot: u32) -> u64 {
    let v = m
        .lookup(&slot.to_ne_bytes())
        .expect("lookup")
        .expect("slot");
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}

/// Sets the `u32` at index `slot` of array map `m`.
pub fn set_u32(m: &Map, slot: u32, v: u32) {
    m.update(&slot.to_ne_bytes(), &v.to_ne_bytes(), 0)
        .expect("update");
}

/// Polls `f` until true or 2 s pass.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The cgroup v2 mount point, if any.
pub fn cgroup2_root() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| std::path::PathBuf::from(f[1]))
}

/// Creates a uniquely named cgroup v2 directory; `None` (after `skip` with the reason) if
/// there is no cgroup v2 mount or it cannot be made.
pub fn new_cgroup(skip: fn(&str)) -> Option<std::path::PathBuf> {
    let Some(root) = cgroup2_root() else {
        skip("no cgroup v2 mount");
        return None;
    };
    let path = root.join(unique("cg"));
    if let Err(e) = std::fs::create_dir(&path) {
        skip(&format!("cannot create cgroup {}: {e}", path.display()));
        return None;
    }
    Some(path)
}

/// Runs a command, panicking with its stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted (with its devices) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> args...`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// `ip netns exec <ns> cmd args...`, returning success.
    pub fn exec_ok(&self, cmd: &str, args: &[&str]) -> bool {
        let mut full = vec!["netns", "exec", &self.name, cmd];
        full.extend_from_slice(args);
        Command::new("ip")
            .args(&full)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Path of the namespace file.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs `f` on a thread that joined this namespace.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns");
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A namespace with an up veth pair `veth0` (10.0.0.1) <-> `veth1` (10.0.0.2), where veth1
/// is moved into a second namespace `peer` so traffic really crosses the pair.
pub struct VethPair {
    pub a: Netns,
    pub b: Netns,
}

impl VethPair {
    pub fn new() -> VethPair {
        let a = Netns::new("a");
        let b = Netns::new("b");
        a.ip(&[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ]);
        a.ip(&["link", "set", "veth1", "netns", &b.name]);
        a.ip(&["addr", "add", "10.0.0.1/24", "dev", "veth0"]);
        b.ip(&["addr", "add", "10.0.0.2/24", "dev", "veth1"]);
        a.ip(&["link", "set", "veth0", "up"]);
        b.ip(&["link", "set", "veth1", "up"]);
        VethPair { a, b }
    }

    /// Sends one UDP datagram from `b` (10.0.0.2) to `a` (10.0.0.1:9), i.e. into veth0's
    /// ingress, and from `a` to `b` (veth0 egress).
    pub fn traffic(&self) {
        self.b.enter(|| {
            let s = std::net::UdpSocket::bind("10.0.0.2:0").expect("bind in b");
            let _ = s.send_to(b"ping", "10.0.0.1:9");
        });
        self.a.enter(|| {
            let s = std::net::UdpSocket::bind("10.0.0.1:0").expect("bind in a");
            let _ = s.send_to(b"ping", "10.0.0.2:9");
        });
    }
}
