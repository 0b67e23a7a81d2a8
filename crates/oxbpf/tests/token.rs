//! BPF tokens end to end (Linux 6.9+), as the kernel selftests set them up: a child drops to
//! an unprivileged user and enters a new user namespace, creates a bpffs context there
//! (`fsopen`) and hands it to the privileged parent, which sets the `delegate_*` options
//! (only it may), creates and mounts it detached (`fsmount`) and hands the mount back. In the
//! child, without a token every load is refused with an error that says a token is missing;
//! with a token from that bpffs it loads an object (BTF, maps, XDP programs), runs the programs
//! (`BPF_PROG_TEST_RUN`), and the feature probes answer. It loads trace.bpf.o's tracepoint and
//! raw tracepoint programs, attaches the raw tracepoint (`BPF_RAW_TRACEPOINT_OPEN`), calls
//! getpid() and reads the count from a map; the perf-event tracepoint attach is refused in the
//! user namespace (no token covers `perf_event_open`) and the error must say so.
//!
//! A plain `main` (no libtest threads): `unshare(CLONE_NEWUSER)` needs a single-threaded
//! process.

mod token_util;

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::features::{have_program_type, FeatureError};
use oxbpf::link::{attach_raw_tracepoint, attach_tracepoint, PerfOptions};
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::ProgramType;
use oxbpf::token::{self, Status, Token};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use token_util::*;

fn main() {
    if !root_or_skip("the token test") {
        return;
    }
    if !kernel_has_tokens() {
        return;
    }
    let status = in_delegated_userns(child);
    assert_eq!(status, 0, "token child failed; see its output above");
    println!("token test: ok");
}

/// The unprivileged side.
fn child(mnt: OwnedFd) {
    let spec = {
        let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xdp.bpf.o"))
            .expect("read xdp.bpf.o");
        oxbpf::elf::load_collection_spec(&data).expect("parse xdp.bpf.o")
    };

    // Found through the variable, as a container's loader would.
    let path = format!("/proc/self/fd/{}", mnt.as_raw_fd());
    std::env::set_var(token::ENV, &path);
    assert!(
        matches!(token::status(), Status::Used { calls: 0, .. }),
        "{}",
        token::status()
    );

    // Without a token: refused, and the error says why.
    token::set(None);
    let Err(err) = Collection::load(&spec, &CollectionOptions::default()) else {
        panic!("an unprivileged user namespace loaded without a token");
    };
    let msg = format!("{err:#}");
    eprintln!("without a token: {msg}");
    assert!(
        msg.contains("user namespace") && msg.contains("no BPF token was used"),
        "{msg}"
    );
    assert!(!msg.contains("run as root"), "{msg}");
    let probe = have_program_type(ProgramType::XDP).unwrap_err();
    assert!(
        matches!(probe, FeatureError::NeedsCapabilities { .. }),
        "{probe}"
    );
    assert!(probe.to_string().contains("BPF token"), "{probe}");

    // With a token from the delegated bpffs again.
    let tok = Token::create(Path::new(&path)).expect("create a token");
    token::set(Some(tok));
    assert!(have_program_type(ProgramType::XDP).expect("probe with a token"));
    let coll = Collection::load(&spec, &CollectionOptions::default()).expect("load with a token");
    for (name, want) in [("xdp_pass", 2), ("xdp_drop", 1)] {
        let p = coll.program(name).expect(name);
        let pkt = [0u8; 64];
        let out = p
            .test_run(&TestRunOpts {
                data_in: &pkt,
                ..Default::default()
            })
            .expect("test run");
        assert_eq!(out.retval, want, "{name}");
    }
    let xdp_runs = token::status();
    trace_programs_run();
    match token::status() {
        Status::Used { calls, .. } => assert!(calls > 3, "{calls} calls passed the token"),
        other => panic!("token status {other}"),
    }
    eprintln!(
        "with a token: loaded and ran xdp_pass/xdp_drop ({xdp_runs}), ran the tracepoint \
         programs; {}",
        token::status()
    );
}

/// Loads trace.bpf.o's tracepoint and raw tracepoint programs through the token, attaches
/// them, calls getpid() and reads the counters. A tracepoint attaches through
/// `perf_event_open`, which no BPF token covers: in the user namespace the kernel refuses it
/// and the error must say so; the raw tracepoint attaches with `BPF_RAW_TRACEPOINT_OPEN`.
fn trace_programs_run() {
    let spec = oxbpf::elf::load_collection_spec_from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/links/trace.bpf.o"
    ))
    .expect("parse trace.bpf.o");
    let opts = CollectionOptions {
        programs: Some(["tp_getpid", "raw_sys_enter"].map(String::from).into()),
        ..Default::default()
    };
    let coll = Collection::load(&spec, &opts).expect("load tracing programs with a token");
    let pid = std::process::id().to_ne_bytes();
    coll.map("cfg")
        .unwrap()
        .update(&0u32.to_ne_bytes(), &pid, 0)
        .expect("set cfg");
    let counts = coll.map("counts").unwrap();
    let count = |slot: u32| {
        let v = counts
            .lookup(&slot.to_ne_bytes())
            .expect("lookup")
            .expect("slot");
        u64::from_ne_bytes(v[..8].try_into().unwrap())
    };
    let getpids = || {
        for _ in 0..5 {
            // SAFETY: getpid has no preconditions.
            unsafe { libc::getpid() };
        }
    };

    let tp = coll.program("tp_getpid").unwrap();
    match attach_tracepoint(
        tp.fd(),
        "syscalls",
        "sys_enter_getpid",
        PerfOptions::default(),
    ) {
        Ok(link) => {
            getpids();
            assert!(count(0) >= 5, "tracepoint ran {} times", count(0));
            drop(link);
        }
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("tracepoint attach in the user namespace: {msg}");
            assert!(
                msg.contains("sys_enter_getpid")
                    && msg.contains("runs in a user namespace: perf events need CAP_PERFMON")
                    && msg.contains("a BPF token does not cover perf_event_open"),
                "{msg}"
            );
        }
    }
    let raw = coll.program("raw_sys_enter").unwrap();
    let link = attach_raw_tracepoint(raw.fd(), "sys_enter").expect("attach raw tracepoint");
    getpids();
    assert!(count(1) >= 5, "raw tracepoint ran {} times", count(1));
    drop(link);
    let after = count(1);
    getpids();
    assert_eq!(count(1), after, "raw tracepoint still runs after detach");
}
