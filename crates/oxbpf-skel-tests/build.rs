//! Generates the skeleton of every committed fixture object (crates/oxbpf/testdata/** and
//! oxlb's datapath objects) into OUT_DIR with oxbpf-build, plus `all.rs` including them all,
//! so compiling this crate compiles every skeleton and evaluates its layout assertions.

use std::path::{Path, PathBuf};

/// Objects whose skeleton is not generated, with the reason.
const SKIP: &[(&str, &str)] = &[];

fn objects(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            objects(&p, out);
        } else if p.to_string_lossy().ends_with(".bpf.o") {
            out.push(p);
        }
    }
}

/// `elf/maps.bpf.o` → `elf_maps`.
fn module_name(prefix: &str, rel: &Path) -> String {
    let s = rel.to_string_lossy();
    let s = s.trim_end_matches(".bpf.o");
    format!(
        "{prefix}{}",
        s.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let crates = manifest.parent().expect("crates dir").to_path_buf();
    let mut b = oxbpf_build::Builder::new().source_dir(None);
    let mut names = Vec::new();
    let dirs = [
        (manifest.join("testdata"), ""),
        (crates.join("oxbpf/testdata"), ""),
        (crates.join("oxlb/bpf"), "oxlb_"),
    ];
    for (dir, prefix) in dirs {
        let mut objs = Vec::new();
        objects(&dir, &mut objs);
        for o in objs {
            let rel = o.strip_prefix(&dir).expect("under dir").to_path_buf();
            let name = module_name(prefix, &rel);
            if SKIP.iter().any(|(n, _)| *n == name) {
                continue;
            }
            b = b.object(o, name.clone());
            names.push(name);
        }
    }
    let generated = b
        .build()
        .unwrap_or_else(|e| panic!("generate skeletons: {e}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut all = String::new();
    let mut list = String::from(
        "/// Every generated skeleton's module name.\npub const SKELETONS: &[&str] = &[\n",
    );
    for g in &generated {
        all.push_str(&format!(
            "include!(concat!(env!(\"OUT_DIR\"), \"/{}.skel.rs\"));\n",
            g.name
        ));
        list.push_str(&format!("    {:?},\n", g.name));
    }
    list.push_str("];\n");
    all.push_str(&list);
    std::fs::write(out.join("all.rs"), all).expect("write all.rs");
}
