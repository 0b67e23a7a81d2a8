//! The capability matrix of the library: the test re-executes itself (as root, full
//! capabilities) inside a network namespace it made (`nsenter --net`), under `setpriv --bounding-set=...` for
//! each setting below (the exec turns the bounding set into root's effective set). In each
//! setting the child first checks that its effective set is exactly the setting's, then walks
//! the fixtures — load, run (`BPF_PROG_TEST_RUN`), attach, see the program count real events
//! (veth traffic, getpid(), a function of this binary) — and for every step either sees it
//! work or asserts the exact refusal: the first step whose capabilities the process lacks
//! must fail with "<command> (<type>) needs <the missing ones>, which this process lacks".
//! What a step needs comes from this file's own table (kernel/bpf/syscall.c and measurement
//! on v6.18), not from the library's.
//!
//! The namespaces and the veth pair are made by the full-root parent: creating them needs
//! CAP_SYS_ADMIN, which a deployed loader does not have either (its runtime makes them).

mod links_util;

use links_util::{fixture, VethPair};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::features::have_program_type;
use oxbpf::link::{
    attach_raw_tracepoint, attach_tc, attach_tracepoint, attach_uprobe, attach_xdp, PerfOptions,
    TcDirection, TcOptions, UprobeOptions, UprobeTarget, XdpMode, XdpOptions,
};
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::ProgramType;
use std::process::Command;
use std::time::{Duration, Instant};

const SETTING_ENV: &str = "OXBPF_CAPS_SETTING";

const BPF: u32 = 39;
const PERFMON: u32 = 38;
const NET_ADMIN: u32 = 12;
const SYS_ADMIN: u32 = 21;
const SYS_RESOURCE: u32 = 24;
/// The capabilities the matrix looks at.
const WATCHED: [u32; 5] = [BPF, PERFMON, NET_ADMIN, SYS_ADMIN, SYS_RESOURCE];

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

fn name(cap: u32) -> &'static str {
    match cap {
        BPF => "CAP_BPF",
        PERFMON => "CAP_PERFMON",
        NET_ADMIN => "CAP_NET_ADMIN",
        SYS_ADMIN => "CAP_SYS_ADMIN",
        _ => "CAP_SYS_RESOURCE",
    }
}

/// The effective set from `/proc/self/status`.
fn cap_eff() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff line");
    u64::from_str_radix(hex.trim(), 16).expect("CapEff hex")
}

/// The kernel's check for `cap`: CAP_SYS_ADMIN also passes for CAP_BPF, CAP_PERFMON and
/// CAP_NET_ADMIN.
fn passes(eff: u64, cap: u32) -> bool {
    eff & (1 << cap) != 0 || (cap != SYS_RESOURCE && eff & (1 << SYS_ADMIN) != 0)
}

/// One step of a row: what the refusal names ("BPF_PROG_LOAD (program type xdp)"), the
/// capabilities the kernel checks, and what doing it looks like.
struct Step<'a> {
    subject: &'a str,
    needs: &'a [u32],
    run: &'a mut dyn FnMut() -> Result<String, String>,
}

/// Walks `steps`: each must succeed while its capabilities pass; the first that does not
/// must fail with the exact hint, and the rest are not tried. Returns the row's outcome.
fn row(eff: u64, steps: &mut [Step]) -> String {
    let mut done = Vec::new();
    for s in steps.iter_mut() {
        let lacking: Vec<&str> = s
            .needs
            .iter()
            .filter(|&&c| !passes(eff, c))
            .map(|&c| name(c))
            .collect();
        let result = (s.run)();
        if lacking.is_empty() {
            match result {
                Ok(what) => done.push(what),
                Err(e) => panic!("{}: failed although allowed: {e}", s.subject),
            }
            continue;
        }
        let want = format!(
            "{} needs {}, which this process lacks",
            s.subject,
            lacking.join(" + ")
        );
        match result {
            Ok(what) => panic!("{}: {what}, but expected the refusal {want:?}", s.subject),
            Err(e) => {
                assert!(e.contains(&want), "expected {want:?} in: {e}");
                assert!(
                    !e.contains("run as root") && !e.contains("RLIMIT_MEMLOCK"),
                    "{e}"
                );
                done.push(format!("refused: {want}"));
                break;
            }
        }
    }
    done.join("; ")
}

fn load(obj: &str, progs: &[&str]) -> Result<Collection, String> {
    let spec = oxbpf::elf::load_collection_spec_from_file(obj).expect("parse fixture");
    let opts = CollectionOptions {
        programs: Some(progs.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    Collection::load(&spec, &opts).map_err(|e| format!("{e:#}"))
}

fn u64_at(coll: &Collection, map: &str, slot: u32) -> u64 {
    let v = coll
        .map(map)
        .unwrap()
        .lookup(&slot.to_ne_bytes())
        .expect("lookup")
        .expect("slot");
    v.chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .sum()
}

/// Polls `f` (after `poke`) until it is above `before`, for up to 2 s.
fn moved(before: u64, mut poke: impl FnMut(), f: impl Fn() -> u64) -> Result<u64, String> {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        poke();
        let now = f();
        if now > before {
            return Ok(now - before);
        }
        if Instant::now() > end {
            return Err("attached, but the program did not run".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Five UDP datagrams to the peer namespace: ARP replies and ICMP port-unreachable come
/// back into veth0's ingress.
fn traffic() {
    let s = std::net::UdpSocket::bind("10.0.0.1:0").expect("bind in the child's namespace");
    for _ in 0..5 {
        let _ = s.send_to(b"ping", "10.0.0.2:9");
    }
}

fn getpids() {
    for _ in 0..5 {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() };
    }
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_caps_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3) + 1
}

const MAP_ARRAY: &str = "BPF_MAP_CREATE (map type array)";

/// Creates map `map` of `obj` alone (it needs CAP_BPF: `map_subject` names its type), then
/// loads each of `progs` (name, refusal subject, capabilities) in turn; the collection of the
/// last one when every step was allowed, and the outcome so far.
fn load_row(
    eff: u64,
    obj: &str,
    (map, map_subject): (&str, &str),
    progs: &[(&str, &str, &[u32])],
) -> (String, Option<Collection>) {
    let coll = std::cell::RefCell::new(None);
    let mut create = || {
        let spec = oxbpf::elf::load_collection_spec_from_file(obj).unwrap();
        oxbpf::map::Map::create(&spec.maps[map], None, None)
            .map(|_| format!("{map} created"))
            .map_err(|e| format!("{e:#}"))
    };
    let mut loads: Vec<_> = progs
        .iter()
        .map(|&(prog, _, _)| {
            let coll = &coll;
            move || -> Result<String, String> {
                *coll.borrow_mut() = Some(load(obj, &[prog])?);
                Ok(format!("{prog} loaded"))
            }
        })
        .collect();
    let mut steps = vec![Step {
        subject: map_subject,
        needs: &[BPF],
        run: &mut create,
    }];
    for (l, &(_, subject, needs)) in loads.iter_mut().zip(progs) {
        steps.push(Step {
            subject,
            needs,
            run: l,
        });
    }
    let outcome = row(eff, &mut steps);
    drop(steps);
    drop(loads);
    let all = progs.iter().all(|p| p.2.iter().all(|&c| passes(eff, c)));
    (outcome, coll.into_inner().filter(|_| all))
}

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
