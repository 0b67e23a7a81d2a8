//! Program loading, verifier errors, pinning, test runs and the memlock probe on the real kernel.

use oxbpf::asm::Insn;
use oxbpf::map::{Array, Map};
use oxbpf::prog::{self, LoadRequest, Program, ProgramError, TestRunOpts};
use oxbpf::spec::{MapSpec, MapType, ProgramType};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

mod caps_util;
mod coll_support;
use coll_support::require_kernel;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}
fn mov64_imm(dst: u8, imm: i32) -> Insn {
    ins(0xb7, dst, 0, 0, imm)
}
fn exit() -> Insn {
    ins(0x95, 0, 0, 0, 0)
}
fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
    [ins(0x18, dst, 1, 0, fd), ins(0, 0, 0, 0, 0)]
}

fn xdp_pass() -> Vec<Insn> {
    vec![mov64_imm(0, 2), exit()]
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[test]
fn xdp_pass_test_run_returns_xdp_pass() {
    if !require_kernel() {
        return;
    }
    let insns = xdp_pass();
    let p = prog::load(&LoadRequest::new(
        "xdp_pass",
        ProgramType::XDP,
        &insns,
        "GPL",
    ))
    .unwrap();
    assert_eq!(p.prog_type(), ProgramType::XDP);
    assert!(p.id() > 0);
    let pkt = [0xaau8; 64];
    let out = p
        .test_run(&TestRunOpts {
            data_in: &pkt,
            repeat: 3,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.retval, 2);
    assert_eq!(out.data_out, pkt, "XDP_PASS leaves the packet unchanged");
    let info = p.info().unwrap();
    assert_eq!(oxbpf::sys::name_from_bytes(&info.name), "xdp_pass");
    assert_eq!(info.tag, p.tag());
    assert_ne!(p.tag(), [0; 8]);
}

#[test]
fn map_lookup_and_increment_counts_runs() {
    if !require_kernel() {
        return;
    }
    let spec = MapSpec {
        name: "counts".into(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..Default::default()
    };
    let map = Map::create(&spec, None, None).unwrap();
    let fd = map.fd().as_raw_fd();
    let mut insns = vec![
        ins(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
        ins(0xbf, 2, 10, 0, 0),  // r2 = r10
        ins(0x07, 2, 0, 0, -4),  // r2 += -4
    ];
    insns.extend(ld_map_fd(1, fd)); // r1 = map
    insns.extend([
        ins(0x85, 0, 0, 0, 1), // call bpf_map_lookup_elem
        ins(0x15, 0, 0, 2, 0), // if r0 == 0 goto +2
        mov64_imm(1, 1),       // r1 = 1
        ins(0xdb, 0, 1, 0, 0), // lock *(u64 *)(r0 + 0) += r1
        mov64_imm(0, 2),
        exit(),
    ]);
    let p = prog::load(&LoadRequest::new(
        "count_runs",
        ProgramType::XDP,
        &insns,
        "GPL",
    ))
    .unwrap();
    let pkt = [0u8; 64];
    let out = p
        .test_run(&TestRunOpts {
            data_in: &pkt,
            repeat: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.retval, 2);
    let counts = Array::<_, u64>::new(&map).unwrap();
    assert_eq!(counts.get(0).unwrap(), 5);
    // The program keeps the map referenced.
    let ids = oxbpf::sys::prog_info(p.fd()).unwrap().nr_map_ids;
    assert_eq!(ids, 1);
}

#[test]
fn verifier_error_names_program_reason_and_source() {
    if !require_kernel() {
        return;
    }
    // r0 = *(u32 *)(r2 + 0) with r2 never written.
    let insns = vec![mov64_imm(0, 0), ins(0x61, 0, 2, 0, 0), exit()];
    let lookup = |i: u32| (i == 1).then(|| "fake.bpf.c:42: return *p;".to_string());
    let mut req = LoadRequest::new("bad_read", ProgramType::XDP, &insns, "GPL");
    req.source_lookup = Some(&lookup);
    let err = prog::load(&req).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("load program \"bad_read\": permission denied (errno 13): verifier:"),
        "{msg}"
    );
    assert!(msg.contains("R2 !read_ok"), "{msg}");
    assert!(msg.contains("at fake.bpf.c:42: return *p;"), "{msg}");
    assert!(!msg.contains("processed "), "statistics are noise: {msg}");
    assert_eq!(err.errno(), Some(libc::EACCES));
    assert!(err.verifier_log().unwrap().contains("R2 !read_ok"));
    let oxbpf_err: oxbpf::Error = err.into();
    assert!(oxbpf_err.to_string().contains("bad_read"));
}

#[test]
fn verbose_load_keeps_log() {
    if !require_kernel() {
        return;
    }
    let insns = xdp_pass();
    let mut req = LoadRequest::new("verbose", ProgramType::XDP, &insns, "GPL");
    req.log_level = 2;
    let p = prog::load(&req).unwrap();
    let log = p.verifier_log().expect("log kept");
    assert!(log.contains("processed 2 insns"), "{log}");
}

#[test]
fn large_failing_log_is_fully_captured() {
    if !require_kernel() {
        return;
    }
    // 30k straight-line moves then a bad read: log level 2 prints every instruction, far more
    // than the first 64 KiB buffer, so the loader must grow it.
    let mut insns: Vec<Insn> = (0..30_000).map(|i| mov64_imm(1, i)).collect();
    insns.extend([ins(0x61, 0, 3, 0, 0), exit()]);
    let mut req = LoadRequest::new("big_log", ProgramType::XDP, &insns, "GPL");
    req.log_level = 2;
    let err = prog::load(&req).unwrap_err();
    let log = err.verifier_log().unwrap();
    assert!(
        log.len() > 64 * 1024,
        "log grew past the first buffer: {}",
        log.len()
    );
    assert!(
        log.contains("0: (b7) r1 = 0"),
        "log starts at the first insn"
    );
    assert!(err.to_string().contains("R3 !read_ok"), "{err}");
}

#[test]
fn pin_open_by_pin_and_id() {
    if !require_kernel() {
        return;
    }
    let insns = xdp_pass();
    let mut p = prog::load(&LoadRequest::new("pinme", ProgramType::XDP, &insns, "GPL")).unwrap();
    let path = std::path::PathBuf::from(format!("/sys/fs/bpf/{}", unique("oxbpf-prog")));
    p.pin(&path).unwrap();
    let q = Program::from_pin(&path).unwrap();
    assert_eq!(q.id(), p.id());
    assert_eq!(q.name(), "pinme");
    assert_eq!(q.prog_type(), ProgramType::XDP);
    if let Some(r) = caps_util::needs_sys_admin("BPF_PROG_GET_FD_BY_ID", Program::from_id(p.id())) {
        assert_eq!(r.tag(), p.tag());
    }
    p.unpin().unwrap();
    assert!(!path.exists());
    let e = Program::from_pin(&path).unwrap_err();
    assert!(matches!(e, ProgramError::Pin { .. }), "{e}");
    assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
}

#[test]
fn test_run_grows_output_on_enospc() {
    if !require_kernel() {
        return;
    }
    let insns = xdp_pass();
    let p = prog::load(&LoadRequest::new("grow", ProgramType::XDP, &insns, "GPL")).unwrap();
    let pkt = [7u8; 128];
    let out = p
        .test_run(&TestRunOpts {
            data_in: &pkt,
            data_out_size: Some(16),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.data_out, pkt);
}

#[test]
fn memlock_probe_agrees_with_helper_probe() {
    if !require_kernel() {
        return;
    }
    prog::bump_memlock_rlimit_if_needed().unwrap();
    // libbpf's indirect signal: bpf_ktime_get_coarse_ns (helper 160) arrived with memcg accounting.
    let insns = vec![ins(0x85, 0, 0, 0, 160), mov64_imm(0, 0), exit()];
    let res = prog::load(&LoadRequest::new(
        "coarse",
        ProgramType::SOCKET_FILTER,
        &insns,
        "GPL",
    ));
    if let Err(e) = &res {
        eprintln!("{e}");
    }
    let has_helper = res.is_ok();
    assert_eq!(prog::memlock_charged().unwrap(), !has_helper);
}

#[test]
fn load_rejects_bad_license_without_panicking() {
    let insns = xdp_pass();
    let e = prog::load(&LoadRequest::new("lic", ProgramType::XDP, &insns, "G\0PL")).unwrap_err();
    assert!(e.to_string().contains("license"), "{e}");
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}
