//! `oxbpf gen skeleton`: the binary prints exactly what `oxbpf::gen::skeleton` generates
//! (that output is compiled for every fixture by the oxbpf-skel-tests crate), and bad input
//! is a clear error.

mod common;

use common::{fx, oxbpf};

#[test]
fn prints_the_library_skeleton() {
    let obj = fx("global_data.bpf.o");
    let out = oxbpf(&["gen", "skeleton", &obj, "--name", "gd"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let abs = std::fs::canonicalize(&obj).expect("fixture");
    let opts = oxbpf::gen::SkelOptions::new("gd", oxbpf::gen::ObjectRef::Path(abs.clone()));
    let want = oxbpf::gen::skeleton(&std::fs::read(&obj).unwrap(), &opts).expect("generate");
    assert_eq!(printed, want);
    assert!(printed.contains("pub mod gd {"));
    assert!(printed.contains(&format!("include_bytes!({:?})", abs.to_string_lossy())));
    assert!(printed.contains("pub fn set_data_val(&self, v: __u64)"));
}

#[test]
fn default_name_and_extra_types() {
    let obj = fx("btf_kinds.bpf.o");
    let out = oxbpf(&["gen", "skeleton", &obj, "--embed-path", "btf_kinds.bpf.o"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).expect("utf-8");
    assert!(s.contains("pub mod btf_kinds {"), "name from the file");
    assert!(s.contains("include_bytes!(\"btf_kinds.bpf.o\")"));

    // A type no map or global uses is generated only when asked for.
    let obj = fx("xdp.bpf.o");
    let gen = |extra: &[&str]| {
        let mut args = vec!["gen", "skeleton", obj.as_str()];
        args.extend_from_slice(extra);
        let out = oxbpf(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert!(!gen(&[]).contains("pub struct xdp_md {"));
    let s = gen(&["--type", "xdp_md"]);
    assert!(s.contains("pub struct xdp_md {"), "{s}");
    assert!(
        s.contains("offset_of!(xdp_md, ingress_ifindex) == 12"),
        "{s}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let out = oxbpf(&["gen", "skeleton", "/nonexistent/x.bpf.o"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.bpf.o"), "{err}");

    let obj = fx("global_data.bpf.o");
    let out = oxbpf(&["gen", "skeleton", &obj, "--type", "no_such_type"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no_such_type") && err.contains("hint"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing printed on failure");

    let out = oxbpf(&["gen", "skeleton", "/proc/self/status"]);
    assert!(!out.status.success(), "not an ELF object");
}
