//! BPF tokens end to end (Linux 6.9+), as the kernel selftests set them up: a child drops to
//! an unprivileged user and enters a new user namespace, creates a bpffs context there
//! (`fsopen`) and hands it to the privileged parent, which sets the `delegate_*` options
//! (only it may), creates and mounts it detached (`fsmount`) and hands the mount back. In the
//! child, without a token every load is refused with an error that says a token is missing;
//! with a token from that bpffs it loads an object (BTF, maps, XDP programs), runs the programs
//! (`BPF_PROG_TEST_RUN`) and loads a tracepoint program, and the feature probes answer.
//!
//! A plain `main` (no libtest threads): `unshare(CLONE_NEWUSER)` needs a single-threaded
//! process.

mod token_util;

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::features::{have_program_type, FeatureError};
use oxbpf::prog::{self, LoadRequest, TestRunOpts};
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
    let insns = [oxbpf::asm::Insn::mov64_imm(0, 0), oxbpf::asm::Insn::exit()];
    prog::load(&LoadRequest::new(
        "tp",
        ProgramType::TRACEPOINT,
        &insns,
        "GPL",
    ))
    .expect("tracepoint program with a token");
    match token::status() {
        Status::Used { calls, .. } => assert!(calls > 3, "{calls} calls passed the token"),
        other => panic!("token status {other}"),
    }
    eprintln!(
        "with a token: loaded, ran xdp_pass/xdp_drop, loaded a tracepoint program; {}",
        token::status()
    );
}
