//! Canary for `cargo xtask vm-test`: proves the kernel under test runs real `bpf(2)` commands.
//!
//! Prints the kernel release, creates an array map, writes and reads back a value, loads a
//! two-instruction XDP program and runs it with `BPF_PROG_TEST_RUN`. Skips loudly when not
//! privileged; with `OXBPF_REQUIRE_KERNEL=1` a skip is a failure.

use std::os::fd::AsFd;

use oxbpf::asm::Insn;
use oxbpf::sys::attr::{MapCreateAttr, ProgLoadAttr, TestRunAttr};
use oxbpf::sys::{self, ptr_to_u64, SysError};

const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_XDP: u32 = 6;
const XDP_PASS: i32 = 2;

/// Kernel release from `uname(2)`.
fn release() -> String {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `false` (after a loud message) when `err` means "not privileged" and skipping is allowed.
fn must_run(err: &SysError) -> bool {
    if !err.is_permission() {
        return true;
    }
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("OXBPF_REQUIRE_KERNEL=1 but bpf(2) was refused: {err}");
    }
    eprintln!("SKIP vm_smoke: bpf(2) refused ({err}); run as root / with CAP_BPF");
    false
}

#[test]
fn array_map_roundtrip_and_xdp_test_run() {
    eprintln!("kernel release: {}", release());
    let attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        ..Default::default()
    };
    let map = match sys::map_create(&attr) {
        Ok(fd) => fd,
        Err(e) if !must_run(&e) => return,
        Err(e) => panic!("map_create: {e}"),
    };
    let key = 3u32.to_ne_bytes();
    let value = 0x1122_3344_5566_7788u64.to_ne_bytes();
    sys::map_update_elem(map.as_fd(), &key, &value, 0).expect("map_update_elem");
    let mut out = [0u8; 8];
    sys::map_lookup_elem(map.as_fd(), &key, &mut out, 0).expect("map_lookup_elem");
    assert_eq!(out, value, "value read back differs from the value written");

    let insns = [Insn::mov64_imm(0, XDP_PASS), Insn::exit()];
    let license = c"GPL";
    let mut load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: ptr_to_u64(insns.as_ptr()),
        license: ptr_to_u64(license.as_ptr()),
        ..Default::default()
    };
    let prog = sys::prog_load(&mut load).expect("prog_load of `r0 = XDP_PASS; exit`");
    let packet = [0u8; 64];
    let mut run = TestRunAttr {
        prog_fd: std::os::fd::AsRawFd::as_raw_fd(&prog) as u32,
        data_in: ptr_to_u64(packet.as_ptr()),
        data_size_in: packet.len() as u32,
        repeat: 1,
        ..Default::default()
    };
    sys::prog_test_run(&mut run).expect("prog_test_run");
    assert_eq!(
        run.retval, XDP_PASS as u32,
        "XDP program returned {}",
        run.retval
    );
}

/// Runs `ip` with `args`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip {args:?}: {e} (install iproute2)"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two network namespaces, removed on drop (which also removes the veth pair between them).
struct Netns([String; 2]);

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
    }
}

#[test]
fn veth_pair_between_namespaces_pings() {
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("OXBPF_REQUIRE_KERNEL=1 but not root: cannot create network namespaces");
        }
        eprintln!("SKIP veth_pair_between_namespaces_pings: needs root for netns/veth");
        return;
    }
    let pid = std::process::id();
    let ns = Netns([format!("vmsmoke{pid}a"), format!("vmsmoke{pid}b")]);
    let (a, b) = (format!("vsa{pid}"), format!("vsb{pid}"));
    for n in &ns.0 {
        ip(&["netns", "add", n]);
    }
    ip(&[
        "-n", &ns.0[0], "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &ns.0[1],
    ]);
    ip(&["-n", &ns.0[0], "addr", "add", "10.99.0.1/24", "dev", &a]);
    ip(&["-n", &ns.0[1], "addr", "add", "10.99.0.2/24", "dev", &b]);
    ip(&["-n", &ns.0[0], "link", "set", &a, "up"]);
    ip(&["-n", &ns.0[1], "link", "set", &b, "up"]);
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0[0],
            "ping",
            "-c",
            "1",
            "-W",
            "5",
            "10.99.0.2",
        ])
        .output()
        .expect("running ip netns exec ... ping (install iputils-ping)");
    assert!(
        out.status.success(),
        "ping over the veth pair failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
