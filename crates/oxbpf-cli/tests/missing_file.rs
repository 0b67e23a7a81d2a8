//! A missing input file is named once in the error, not once per layer that handled it
//! (issue 13: `btf dump --file` and `check --btf` printed the path twice).

mod common;

use common::{err, fx, oxbpf};

/// Runs `oxbpf args`, expects failure, and returns stderr.
fn fails(args: &[&str]) -> String {
    let out = oxbpf(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    err(&out)
}

#[test]
fn a_missing_file_is_named_once() {
    let missing = "/nonexistent-oxbpf-input/file.o";
    let enoent = "No such file or directory (os error 2)";
    let obj = fx("xdp.bpf.o");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["btf", "dump", "--file", missing],
            format!("error: reading BTF from {missing}: {enoent}"),
        ),
        (
            vec!["check", &obj, "--btf", missing],
            format!("error: target BTF (--btf): reading BTF from {missing}: {enoent}"),
        ),
        (
            vec!["inspect", missing],
            format!("error: reading {missing}: {enoent}"),
        ),
        (
            vec!["load", missing],
            format!("error: reading {missing}: {enoent}"),
        ),
        (
            vec!["check", missing],
            format!("error: reading {missing}: {enoent}"),
        ),
    ];
    for (args, want) in cases {
        let e = fails(&args);
        assert_eq!(e.trim_end(), want, "{args:?}");
        assert_eq!(e.matches(missing).count(), 1, "{args:?}: {e}");
    }
}
