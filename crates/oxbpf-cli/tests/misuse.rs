//! Misuse of `oxbpf` that must fail clearly and leave nothing behind: objects that are not
//! regular files, `load --pin` that fails half-way, pins outside bpffs (issue 16: 4, 8, 10).

mod common;

use common::{err, fx, oxbpf, program, require_root, stdout_json, BpffsDir, Netns};
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
    let e = err(&out);
    assert!(
        e.contains("count_ok: File exists") && e.contains("nothing was left pinned"),
        "{e}"
    );
    assert!(e.contains("remove the old pins or pin elsewhere"), "{e}");
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

/// `oxbpf check OBJ --btf xdp.bpf.o` in JSON and in text, both required to exit 1.
fn check_fails(obj: &str) -> (serde_json::Value, String) {
    let args = ["check", obj, "--btf", &fx("xdp.bpf.o")];
    let out = oxbpf(&[&["--json"], &args[..]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    let text = oxbpf(&args);
    assert_eq!(text.status.code(), Some(1));
    (
        stdout_json(&out),
        String::from_utf8_lossy(&text.stdout).into_owned(),
    )
}

#[test]
fn check_fails_for_a_gpl_only_helper_without_a_gpl_licence() {
    let obj = fx("misuse/no_licence.bpf.o");
    // Any BTF will do as the target: the licence check needs none.
    let (v, text) = check_fails(&obj);
    let fib = program(&v, "fib_no_licence");
    assert_eq!(fib["status"], "error", "{fib}");
    let why = fib["licence"][0].as_str().unwrap();
    assert!(
        why.contains("no licence") && why.contains("bpf_fib_lookup"),
        "{why}"
    );
    assert_eq!(program(&v, "plain_no_licence")["status"], "ok");
    assert!(text.contains("GPL-only helper bpf_fib_lookup"), "{text}");
    // The kernel agrees: the same object fails to load for that reason only.
    if require_root() {
        let out = oxbpf(&["--json", "load", &obj]);
        let e = program(&stdout_json(&out), "fib_no_licence")["error"].clone();
        let e = e.as_str().unwrap();
        assert!(e.contains("GPL-restricted"), "{e}");
    }
}

#[test]
fn check_with_a_btf_lacking_the_attach_targets_fails() {
    let obj = fx("tracing.bpf.o");
    // xdp.bpf.o's BTF has neither btf_trace_sched_switch nor bpf_fentry_test1.
    let (v, text) = check_fails(&obj);
    for p in v["programs"].as_array().unwrap() {
        assert_eq!(p["status"], "error", "{p}");
        assert_eq!(p["attach_target"]["status"], "missing", "{p}");
    }
    assert!(
        text.contains("\"btf_trace_sched_switch\" (Typedef) is not in the target BTF"),
        "{text}"
    );
    // Against a BTF that has them (the running kernel's) the same object is fine.
    if std::fs::metadata("/sys/kernel/btf/vmlinux").is_ok() {
        let out = oxbpf(&["check", &obj, "--btf", "/sys/kernel/btf/vmlinux"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn run_with_an_oversized_ctx_names_the_context_size() {
    if !require_root() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (data, ctx) = (
        dir.join(common::unique("data")),
        dir.join(common::unique("ctx")),
    );
    std::fs::write(&data, [0u8; 64]).unwrap();
    std::fs::write(&ctx, [0xffu8; 100]).unwrap();
    let out = oxbpf(&[
        "run",
        &fx("xdp.bpf.o"),
        "xdp_pass",
        "--data",
        data.to_str().unwrap(),
        "--ctx",
        ctx.to_str().unwrap(),
    ]);
    let _ = (std::fs::remove_file(&data), std::fs::remove_file(&ctx));
    assert_eq!(out.status.code(), Some(1));
    let e = err(&out);
    assert!(
        e.contains("--ctx is 100 bytes") && e.contains("struct xdp_md is"),
        "{e}"
    );
    assert!(!e.contains("older"), "no old kernel is blamed: {e}");
}
