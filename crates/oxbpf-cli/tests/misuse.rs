//! Misuse of `oxbpf` that must fail clearly and leave nothing behind: objects that are not
//! regular files, `load --pin` that fails half-way, pins outside bpffs (issue 16: 4, 8, 10).

mod common;

use common::{err, fx, oxbpf, require_root, BpffsDir, Netns};
use std::time::{Duration, Instant};

#[test]
fn object_input_that_is_not_a_regular_file_is_refused_at_once() {
    let start = Instant::now();
    for (path, kind) in [
        ("/dev/zero", "character device"),
        (env!("CARGO_MANIFEST_DIR"), "directory"),
    ] {
        for cmd in ["inspect", "load", "check"] {
            let out = oxbpf(&[cmd, path]);
            assert!(!out.status.success(), "{cmd} {path}");
            let e = err(&out);
            assert!(
                e.contains(kind) && e.contains("not a regular file"),
                "{cmd} {path}: {e}"
            );
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "no command read its input whole"
    );
}

#[test]
fn load_pin_is_all_or_nothing_and_a_rerun_works() {
    if !require_root() {
        return;
    }
    let obj = fx("misuse/pin_all_or_nothing.bpf.o");
    let dir = BpffsDir::new("oxmis");
    let pin = format!("{}/nested", dir.path());
    // count_oob fails the verifier: exit 1, and neither the by-name map, nor count_ok, nor the
    // directories made for them stay behind.
    let out = oxbpf(&["load", "--pin", &pin, &obj]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(err(&out).contains("nothing pinned"), "{}", err(&out));
    assert!(!dir.0.exists(), "left behind: {:?}", dir.entries());
    // The same into an existing directory leaves it empty.
    std::fs::create_dir(&dir.0).unwrap();
    let out = oxbpf(&["load", "--pin", dir.path(), &obj]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(dir.entries(), Vec::<String>::new());
    // The rerun without the bad program pins everything (no EEXIST from a half-done first run).
    let out = oxbpf(&["load", "--pin", &pin, "--program", "count_ok", &obj]);
    assert!(out.status.success(), "{}", err(&out));
    let nested = BpffsDir(dir.0.join("nested"));
    assert_eq!(nested.entries(), ["count_ok", "misuse_counts"]);
    // A pin that is in the way fails the command, which removes what it pinned itself.
    std::fs::remove_file(nested.0.join("count_ok")).unwrap();
    let out = oxbpf(&["load", "--pin", &pin, "--program", "count_ok", &obj]);
    assert!(
        out.status.success(),
        "the by-name map is reused: {}",
        err(&out)
    );
    let out = oxbpf(&["load", "--pin", &pin, "--program", "count_ok", &obj]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).contains("count_ok") && err(&out).contains("nothing was left pinned"));
    assert_eq!(
        nested.entries(),
        ["count_ok", "misuse_counts"],
        "the existing pins stay"
    );
}

#[test]
fn load_pin_outside_bpffs_says_so_and_how_to_mount() {
    if !require_root() {
        return;
    }
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(common::unique("nobpffs"));
    std::fs::create_dir(&tmp).unwrap();
    let out = oxbpf(&["load", "--pin", tmp.to_str().unwrap(), &fx("xdp.bpf.o")]);
    let _ = std::fs::remove_dir(&tmp);
    assert_eq!(out.status.code(), Some(1));
    let e = err(&out);
    assert!(
        e.contains("not on a bpffs mount") && e.contains("mount -t bpf bpf"),
        "{e}"
    );
    assert!(
        !e.contains("CAP_BPF"),
        "root is not told it lacks privileges: {e}"
    );
    // `ip netns exec` remounts /sys without bpffs: the hint says to mount it there.
    let ns = Netns::new("oxmis");
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_oxbpf"),
            "load",
            "--pin",
        ])
        .args(["/sys/fs/bpf/oxbpf-misuse", &fx("xdp.bpf.o")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = err(&out);
    assert!(e.contains("mount -t bpf bpf /sys/fs/bpf"), "{e}");
}
