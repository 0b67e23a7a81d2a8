//! The build helper end to end: a C source compiled with clang into an output directory and
//! its skeleton written beside it; clear errors for a missing clang and a bad source.
//! Skips loudly when no clang is installed (the 6.1 test VM has none), unless
//! OXBPF_REQUIRE_CLANG=1.

use oxbpf_build::{find_clang, BuildError, Builder};
use std::path::PathBuf;

const SOURCE: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pair);
} pairs SEC(".maps");

const volatile __u32 limit = 9;
__u64 hits;

SEC("xdp")
int count(struct xdp_md *ctx)
{
	hits += limit;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"#;

/// A fresh directory under the system temp dir (CARGO_TARGET_TMPDIR is a host path in the
/// test VM), removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("oxbpf-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bpf")).expect("mkdir");
    Scratch(dir)
}

fn clang_or_skip() -> bool {
    match find_clang() {
        Ok(_) => true,
        Err(e) if std::env::var("OXBPF_REQUIRE_CLANG").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: {e}");
            false
        }
        Err(e) => panic!("OXBPF_REQUIRE_CLANG=1: {e}"),
    }
}

#[test]
fn compiles_sources_and_writes_skeletons() {
    if !clang_or_skip() {
        return;
    }
    let guard = scratch("ok");
    let dir = &guard.0;
    std::fs::write(dir.join("bpf/counter.bpf.c"), SOURCE).expect("write source");
    std::fs::write(
        dir.join("bpf/shared.h"),
        "struct pair { __u32 a; __u16 b; };\n",
    )
    .expect("write header");
    std::fs::write(dir.join("bpf/notes.txt"), "not a source").expect("write other");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir out");
    let generated = Builder::new()
        .source_dir(Some(dir.join("bpf")))
        .out_dir(&out)
        .rerun_directives(false)
        .build()
        .expect("build");
    assert_eq!(generated.len(), 1);
    let g = &generated[0];
    assert_eq!(g.name, "counter");
    assert_eq!(g.object, out.join("counter.bpf.o"));
    let spec = oxbpf::elf::load_collection_spec_from_file(&g.object).expect("object parses");
    assert!(spec.programs.contains_key("count"));
    let src = std::fs::read_to_string(&g.skeleton).expect("skeleton");
    assert!(src.contains("pub mod counter {"), "{src}");
    assert!(
        src.contains("pub struct pair {"),
        "type from the header: {src}"
    );
    assert!(src.contains("offset_of!(pair, b) == 4"), "{src}");
    assert!(
        src.contains("HashMap<&'a ::oxbpf::map::Map, __u32, pair>"),
        "{src}"
    );
    assert!(src.contains("pub limit: __u32"), "{src}");
    assert!(src.contains("pub fn set_hits(&self, v: __u64)"), "{src}");
}

#[test]
fn missing_clang_is_a_clear_error() {
    let guard = scratch("noclang");
    let dir = &guard.0;
    std::fs::write(dir.join("bpf/x.bpf.c"), SOURCE).expect("write source");
    let err = Builder::new()
        .clang("/nonexistent/clang-19")
        .source_dir(Some(dir.join("bpf")))
        .out_dir(dir.join("bpf"))
        .rerun_directives(false)
        .build()
        .expect_err("no clang there");
    assert!(matches!(err, BuildError::ClangMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/clang-19") && msg.contains("OXBPF_CLANG"),
        "{msg}"
    );
}

#[test]
fn compile_errors_carry_clang_diagnostics() {
    if !clang_or_skip() {
        return;
    }
    let guard = scratch("bad");
    let dir = &guard.0;
    std::fs::write(
        dir.join("bpf/broken.bpf.c"),
        "int f(void) { return undeclared; }\n",
    )
    .expect("write");
    let err = Builder::new()
        .source_dir(Some(dir.join("bpf")))
        .out_dir(dir.join("bpf"))
        .rerun_directives(false)
        .build()
        .expect_err("does not compile");
    match &err {
        BuildError::Compile {
            source_file,
            stderr,
            ..
        } => {
            assert!(source_file.ends_with("broken.bpf.c"));
            assert!(stderr.contains("undeclared"), "{stderr}");
        }
        e => panic!("wrong error: {e:?}"),
    }
}

#[test]
fn no_out_dir_outside_a_build_script() {
    std::env::remove_var("OUT_DIR");
    let err = Builder::new()
        .source_dir(None)
        .build()
        .expect_err("no OUT_DIR");
    assert!(matches!(err, BuildError::NoOutDir), "{err:?}");
}
