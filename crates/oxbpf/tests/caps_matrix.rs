//! The capability matrix of the library: the test re-executes itself (as root, full
//! capabilities) inside a network namespace it made (`nsenter --net`), under
//! `setpriv --bounding-set=...` for each setting below (the exec turns the bounding set into
//! root's effective set). In each setting the child first checks that its effective set is
//! exactly the setting's, then walks the fixtures — load, run (`BPF_PROG_TEST_RUN`), attach,
//! see the program count real events (veth traffic, getpid(), a function of this binary) —
//! and for every step either sees it work or asserts the exact refusal: the first step whose
//! capabilities the process lacks must fail with "<command> (<type>) needs <the missing
//! ones>, which this process lacks". What a step needs comes from this file's own table
//! (kernel/bpf/syscall.c and measurement on v6.18), not from the library's. Run with
//! `--nocapture` to print the table.
//!
//! The namespaces and the veth pair are made by the full-root parent: creating them needs
//! CAP_SYS_ADMIN, which a deployed loader does not have either (its runtime makes them).

mod links_util;
mod matrix_util;

use links_util::{fixture, VethPair};
use matrix_util::*;
use oxbpf::collection::Collection;
use oxbpf::features::have_program_type;
use oxbpf::link::{
    attach_raw_tracepoint, attach_tc, attach_tracepoint, attach_uprobe, attach_xdp, PerfOptions,
    TcDirection, TcOptions, UprobeOptions, UprobeTarget, XdpMode, XdpOptions,
};
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::ProgramType;
use std::process::Command;

const SETTING_ENV: &str = "OXBPF_CAPS_SETTING";

/// (name, setpriv bounding set or "" for unchanged, the watched capabilities it keeps).
const SETTINGS: &[(&str, &str, &[u32])] = &[
    (
        "root",
        "",
        &[BPF, PERFMON, NET_ADMIN, SYS_ADMIN, SYS_RESOURCE],
    ),
    (
        "root-no-sys-resource",
        "-sys_resource",
        &[BPF, PERFMON, NET_ADMIN, SYS_ADMIN],
    ),
    (
        "bpf+net_admin+perfmon",
        "-all,+bpf,+net_admin,+perfmon",
        &[BPF, PERFMON, NET_ADMIN],
    ),
    ("bpf+perfmon", "-all,+bpf,+perfmon", &[BPF, PERFMON]),
    ("bpf+net_admin", "-all,+bpf,+net_admin", &[BPF, NET_ADMIN]),
    ("none", "-all", &[]),
];

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_caps_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3) + 1
}

const MAP_ARRAY: &str = "BPF_MAP_CREATE (map type array)";

/// Attaches tracing program `prog` of `c` (its counter: slot `slot` of `counts`), pokes it
/// and reads the count, or asserts the refusal of the attach.
fn trace_attach(eff: u64, c: &Collection, prog: &str, slot: u32) -> String {
    let pid = std::process::id();
    c.map("cfg")
        .unwrap()
        .update(&0u32.to_ne_bytes(), &pid.to_ne_bytes(), 0)
        .unwrap();
    let fd = c.program(prog).unwrap().fd();
    let exe = std::env::current_exe().unwrap();
    let (attached, need, poke): (_, u32, fn()) = match prog {
        "tp_getpid" => (
            attach_tracepoint(fd, "syscalls", "sys_enter_getpid", PerfOptions::default()),
            PERFMON,
            getpids,
        ),
        "raw_sys_enter" => (attach_raw_tracepoint(fd, "sys_enter"), PERFMON, getpids),
        _ => (
            attach_uprobe(
                fd,
                &exe,
                UprobeTarget::Symbol("oxbpf_caps_uprobe_target", 0),
                UprobeOptions::default().pid(pid as i32),
            ),
            // Measured: the uprobe PMU wants CAP_SYS_ADMIN, CAP_PERFMON is not enough.
            SYS_ADMIN,
            || {
                std::hint::black_box(oxbpf_caps_uprobe_target(std::hint::black_box(7)));
            },
        ),
    };
    match attached {
        Ok(link) => {
            assert!(passes(eff, need), "{prog} attached without {}", name(need));
            let n = moved(u64_at(c, "counts", slot), poke, || {
                u64_at(c, "counts", slot)
            })
            .expect(prog);
            drop(link);
            format!("; attached, counted {n} events")
        }
        Err(e) => {
            let want = format!("this event needs {}, which this process lacks", name(need));
            let e = e.to_string();
            assert!(
                !passes(eff, need),
                "{prog}: attach failed although allowed: {e}"
            );
            assert!(e.contains(&want), "expected {want:?} in {e}");
            format!("; attach refused: {want}")
        }
    }
}

/// The rows of the matrix, run in the child; returns (row, outcome) pairs.
fn matrix(eff: u64) -> Vec<(&'static str, String)> {
    let veth0 = oxbpf::netlink::xdp::ifindex("veth0").expect("veth0 in the child's namespace");
    let mut out = Vec::new();

    // XDP: xdp.bpf.o. xdp_pass subtracts packet pointers, which the verifier prohibits
    // without CAP_PERFMON; xdp_drop does not.
    let xdp_obj = format!("{}/testdata/xdp.bpf.o", env!("CARGO_MANIFEST_DIR"));
    let (mut outcome, coll) = load_row(
        eff,
        &xdp_obj,
        ("pkt_count", "BPF_MAP_CREATE (map type percpu_array)"),
        &[
            (
                "xdp_drop",
                "BPF_PROG_LOAD (program type xdp)",
                &[BPF, NET_ADMIN],
            ),
            (
                "xdp_pass",
                "BPF_PROG_LOAD (program type xdp)",
                &[BPF, NET_ADMIN, PERFMON],
            ),
        ],
    );
    if let Some(c) = &coll {
        let p = c.program("xdp_pass").unwrap();
        let r = p
            .test_run(&TestRunOpts {
                data_in: &[0u8; 64],
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN checks no capability");
        assert_eq!(r.retval, 2);
        let link = attach_xdp(p.fd(), veth0, XdpMode::Generic, XdpOptions::default())
            .expect("attach XDP with CAP_NET_ADMIN");
        let n = moved(u64_at(c, "pkt_count", 0), traffic, || {
            u64_at(c, "pkt_count", 0)
        })
        .expect("XDP on veth0");
        drop(link);
        outcome.push_str(&format!(
            "; ran (test run: XDP_PASS); attached to veth0, counted {n} packets"
        ));
    }
    out.push(("xdp.bpf.o xdp_pass", outcome));

    // tc: links/tc.bpf.o, tcx ingress.
    let (mut outcome, coll) = load_row(
        eff,
        &fixture("tc.bpf.o"),
        ("counts", MAP_ARRAY),
        &[(
            "tc_a",
            "BPF_PROG_LOAD (program type sched_cls)",
            &[BPF, NET_ADMIN],
        )],
    );
    if let Some(c) = &coll {
        let p = c.program("tc_a").unwrap();
        let link = attach_tc(p.fd(), veth0, TcDirection::Ingress, TcOptions::default())
            .expect("attach tcx with CAP_NET_ADMIN");
        let n =
            moved(u64_at(c, "counts", 0), traffic, || u64_at(c, "counts", 0)).expect("tc on veth0");
        drop(link);
        outcome.push_str(&format!("; attached (tcx ingress), counted {n} packets"));
    }
    out.push(("links/tc.bpf.o tc_a", outcome));

    // Tracing: links/trace.bpf.o.
    let trace_obj = fixture("trace.bpf.o");
    for (prog, subject, slot) in [
        ("tp_getpid", "BPF_PROG_LOAD (program type tracepoint)", 0u32),
        (
            "raw_sys_enter",
            "BPF_PROG_LOAD (program type raw_tracepoint)",
            1,
        ),
        ("uprobe_hit", "BPF_PROG_LOAD (program type kprobe)", 3),
    ] {
        let (mut outcome, coll) = load_row(
            eff,
            &trace_obj,
            ("cfg", MAP_ARRAY),
            &[(prog, subject, &[BPF, PERFMON])],
        );
        if let Some(c) = &coll {
            outcome.push_str(&trace_attach(eff, c, prog, slot));
        }
        out.push((prog, outcome));
    }

    // Object ids (what `bpftool prog list` walks): CAP_SYS_ADMIN.
    let mut ids = [Step {
        subject: "BPF_PROG_GET_NEXT_ID",
        needs: &[SYS_ADMIN],
        run: &mut || {
            oxbpf::sys::get_next_id(oxbpf::sys::ObjKind::Prog, 0)
                .map(|_| "listed".into())
                .map_err(|e| e.to_string())
        },
    }];
    out.push(("program ids", row(eff, &mut ids)));

    // Probes (a fresh process: nothing cached): answered, or "not decidable" naming what is
    // missing.
    let probe = match have_program_type(ProgramType::XDP) {
        Ok(v) => {
            assert!(passes(eff, BPF) && passes(eff, NET_ADMIN));
            format!("xdp supported: {v}")
        }
        Err(e) => {
            let lacking: Vec<&str> = [BPF, NET_ADMIN]
                .into_iter()
                .filter(|&c| !passes(eff, c))
                .map(name)
                .collect();
            let want = format!(
                "not decidable with these capabilities: needs {}",
                lacking.join(" + ")
            );
            assert!(e.needs_capabilities(), "{e}");
            assert!(e.to_string().contains(&want), "expected {want:?} in {e}");
            want
        }
    };
    out.push(("probe program type xdp", probe));
    out
}

/// The child: checks its capabilities are the setting's, then runs the matrix.
fn child(setting: &str) {
    let (_, _, keeps) = SETTINGS
        .iter()
        .find(|(n, ..)| *n == setting)
        .unwrap_or_else(|| panic!("unknown {SETTING_ENV}={setting}"));
    let eff = cap_eff();
    for cap in WATCHED {
        let want = keeps.contains(&cap);
        let have = eff & (1 << cap) != 0;
        // Full root on a machine that never had CAP_SYS_RESOURCE (some containers): say so.
        if cap == SYS_RESOURCE && want && !have {
            eprintln!("note: this machine's root lacks CAP_SYS_RESOURCE (CapEff {eff:x})");
            continue;
        }
        assert_eq!(have, want, "{setting}: {} (CapEff {eff:x})", name(cap));
    }
    // After libtest's "test capability_matrix ... ", which has no newline.
    println!();
    for (what, outcome) in matrix(eff) {
        println!("| {setting} | {what} | {outcome} |");
    }
}

#[test]
fn capability_matrix() {
    if let Ok(setting) = std::env::var(SETTING_ENV) {
        return child(&setting);
    }
    if !links_util::require_kernel() {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        links_util::skip("setpriv (util-linux) not found; it runs the capability settings");
        return;
    }
    let pair = VethPair::new();
    let exe = std::env::current_exe().expect("test binary");
    let mut table = String::new();
    for (setting, bounding, _) in SETTINGS {
        // nsenter joins the network namespace only (`ip netns exec` would remount /sys,
        // hiding tracefs, which the child may not mount back).
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", pair.a.path())).arg("setpriv");
        if !bounding.is_empty() {
            cmd.arg(format!("--bounding-set={bounding}"));
        }
        let out = cmd
            .arg("--")
            .arg(&exe)
            .args([
                "--exact",
                "capability_matrix",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SETTING_ENV, setting)
            .output()
            .expect("run setpriv");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("test result: ok. 1 passed"),
            "setting {setting} failed:\n{stdout}\n{stderr}"
        );
        table.extend(
            stdout
                .lines()
                .filter(|l| l.starts_with("| "))
                .map(|l| format!("{l}\n")),
        );
        eprint!("{stderr}");
    }
    println!("| setting | fixture | result |\n|---|---|---|\n{table}");
    assert_eq!(table.lines().count(), SETTINGS.len() * 7, "{table}");
}
