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
use oxbpf::sys::{self, attr::TokenCreateAttr, Cmd};
use oxbpf::token::{self, Status, Token};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use token_util::*;

fn main() {
    let strict = std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1");
    if unsafe { libc::geteuid() } != 0 {
        assert!(!strict, "OXBPF_REQUIRE_KERNEL=1 but not root");
        eprintln!("SKIPPED: the token test needs root (it configures a delegated bpffs)");
        return;
    }
    // A kernel without tokens does not know the command (EINVAL); one with them looks at the
    // (bad) bpffs fd first (EBADF).
    let mut probe = TokenCreateAttr {
        flags: 0,
        bpffs_fd: u32::MAX,
    };
    match unsafe { sys::bpf(Cmd::TokenCreate, &mut probe) } {
        Err(e) if e.errno == libc::EBADF => {}
        other => {
            eprintln!("this kernel has no BPF tokens (BPF_TOKEN_CREATE answered {other:?}); nothing to test");
            return;
        }
    }
    let (parent_sock, child_sock) = socketpair().expect("socketpair");
    // SAFETY: this process is single-threaded (no libtest harness).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop(parent_sock);
        let code = match std::panic::catch_unwind(|| child(child_sock)) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        std::process::exit(code);
    }
    drop(child_sock);
    let fs = recv_fd(parent_sock.as_raw_fd()).expect("bpffs context from the child");
    for key in [
        c"delegate_cmds",
        c"delegate_maps",
        c"delegate_progs",
        c"delegate_attachs",
    ] {
        fsconfig_string(&fs, key, c"any").expect("delegate");
    }
    let mnt = create_and_mount(&fs).expect("mount the delegated bpffs");
    send_fd(parent_sock.as_raw_fd(), mnt.as_raw_fd()).expect("send the mount");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "token child failed (status {status:#x}); see its output above"
    );
    println!("token test: ok");
}

/// The unprivileged side.
fn child(sock: OwnedFd) {
    enter_userns_as_nobody().expect("enter a user namespace as nobody");
    let fs = fsopen(c"bpf").expect("fsopen(bpf) in the user namespace");
    send_fd(sock.as_raw_fd(), fs.as_raw_fd()).expect("send the bpffs context");
    let mnt = recv_fd(sock.as_raw_fd()).expect("delegated bpffs from the parent");
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
