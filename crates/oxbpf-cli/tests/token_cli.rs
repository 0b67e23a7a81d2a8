//! `oxbpf probe`, `load` and `attach` report the BPF token: run as an unprivileged user in a user
//! namespace with a delegated bpffs (set up as in oxbpf's tests/token.rs), with
//! `OXBPF_BPF_TOKEN_PATH` pointing at it they load through the token and say so; with the
//! variable empty, `load` fails with an error that says no token was used.
//!
//! A plain `main`: entering a user namespace needs a single-threaded process.

#[path = "../../oxbpf/tests/token_util/mod.rs"]
mod token_util;

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Output};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../oxbpf/testdata/xdp.bpf.o");

fn oxbpf(token_path: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .env("OXBPF_BPF_TOKEN_PATH", token_path)
        .args(args)
        .output()
        .expect("run oxbpf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let shown = if stdout.len() > 2000 {
        "(long output)\n"
    } else {
        &stdout
    };
    eprintln!(
        "oxbpf {args:?} (token path {token_path:?}): {}\n{shown}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn main() {
    if !token_util::root_or_skip("the token CLI test") {
        return;
    }
    // As root in the initial namespace: no token, and the report says why.
    let out = oxbpf("", &["--json", "probe"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(v["bpf_token"]["used"], false, "{}", v["bpf_token"]);
    assert!(
        v["bpf_token"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("turned off by OXBPF_BPF_TOKEN_PATH")),
        "{}",
        v["bpf_token"]
    );
    let out = oxbpf("/nonexistent-bpffs", &["load", OBJECT]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BPF token: not used (OXBPF_BPF_TOKEN_PATH: open bpffs /nonexistent-bpffs"),
        "{text}"
    );
    if !token_util::kernel_has_tokens() {
        return;
    }
    let status = token_util::in_delegated_userns(child);
    assert_eq!(status, 0, "token child failed; see its output above");
    println!("token CLI test: ok");
}

/// In the user namespace, as nobody, holding the delegated bpffs `mnt` (inherited by oxbpf).
fn child(mnt: OwnedFd) {
    let path = format!("/proc/self/fd/{}", mnt.as_raw_fd());
    let out = oxbpf("", &["load", OBJECT]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no BPF token was used"), "{err}");

    let out = oxbpf(&path, &["load", OBJECT]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("program xdp_pass"), "{text}");
    assert!(
        text.contains(&format!("BPF token: used (from {path}, passed to ")),
        "{text}"
    );

    let out = oxbpf(&path, &["--json", "probe"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(v["bpf_token"]["used"], true, "{}", v["bpf_token"]);
    assert_eq!(v["bpf_token"]["path"], path.as_str());
    assert_eq!(v["program_types"]["xdp"], true, "{}", v["program_types"]);
    assert_eq!(v["map_types"]["hash"], true, "{}", v["map_types"]);

    // attach: XDP on lo of a network namespace this user namespace owns, the link pinned in
    // the delegated bpffs; both vanish with this process.
    // SAFETY: plain syscall; this child is single-threaded.
    assert_eq!(
        unsafe { libc::unshare(libc::CLONE_NEWNET) },
        0,
        "unshare(net)"
    );
    let pin = format!("{path}/xdp_lo");
    let args = [
        "attach", "xdp", OBJECT, "xdp_pass", "--iface", "lo", "--mode", "generic", "--pin", &pin,
    ];
    let out = oxbpf(&path, &args);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("attached xdp_pass"), "{text}");
    assert!(text.contains("BPF token: used (from "), "{text}");
}
