//! Helpers shared by the collection and real-world object tests: the privilege check, fixture
//! paths, unique names, bpffs directory guards and kernel object counting by name prefix.
#![allow(dead_code)]

use oxbpf::collection::{Collection, CollectionOptions, LoadReport};
use oxbpf::map::Map;
use oxbpf::spec::{CollectionSpec, MapSpec, MapType};
use oxbpf::sys::{self, ObjKind};
use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// True when kernel tests can run; a loud skip otherwise (a failure with OXBPF_REQUIRE_KERNEL=1).
pub fn require_kernel() -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("not root".to_string())
    } else {
        let spec = MapSpec {
            name: "probe".into(),
            map_type: MapType::ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..Default::default()
        };
        Map::create(&spec, None, None).err().map(|e| e.to_string())
    };
    match reason {
        None => true,
        // A re-run without CAP_BPF (tests/caps_util): the refusal itself is the result.
        Some(r)
            if crate::caps_util::refused_entry(
                &r,
                "BPF_MAP_CREATE (map type array) needs CAP_BPF, which this process lacks",
            ) =>
        {
            false
        }
        Some(r) => skip(&format!("kernel test needs BPF privileges: {r}")),
    }
}

/// Skips loudly (returns false), or panics when OXBPF_REQUIRE_KERNEL=1.
pub fn skip(reason: &str) -> bool {
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("test cannot run (OXBPF_REQUIRE_KERNEL=1): {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    false
}

/// `crates/oxbpf/testdata/<rel>`.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// Every committed `*.bpf.o` under testdata/ and testdata/elf/, as paths relative to testdata/.
pub fn all_fixtures() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "elf", "cold"] {
        let dir = testdata(sub);
        for e in std::fs::read_dir(&dir).expect("read testdata") {
            let name = e
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8");
            if name.ends_with(".bpf.o") {
                out.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    out.sort();
    out
}

/// Parses a fixture into a spec.
pub fn spec(rel: &str) -> CollectionSpec {
    let data = std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
    oxbpf::elf::load_collection_spec(&data).unwrap_or_else(|e| panic!("parse {rel}: {e}"))
}

/// Loads a fixture with default options; every program must load.
pub fn load(rel: &str) -> Collection {
    load_spec(&spec(rel), rel)
}

/// Loads a spec; every program must load.
pub fn load_spec(spec: &CollectionSpec, what: &str) -> Collection {
    Collection::load(spec, &CollectionOptions::default())
        .unwrap_or_else(|e| panic!("load {what}: {e}"))
}

/// Loads a spec reporting per-program failures.
pub fn load_report(spec: &CollectionSpec, opts: &CollectionOptions, what: &str) -> LoadReport {
    Collection::load_report(spec, opts).unwrap_or_else(|e| panic!("load_report {what}: {e}"))
}

/// A name unique to this process and call: `<prefix><pid><n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory on bpffs removed (with its pins) on drop.
pub struct BpffsDir(pub PathBuf);

impl BpffsDir {
    /// Creates `/sys/fs/bpf/<unique name>` (bpffs refuses dots in names).
    pub fn new(prefix: &str) -> BpffsDir {
        let p = PathBuf::from("/sys/fs/bpf").join(unique(prefix));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        BpffsDir(p)
    }
}

impl Drop for BpffsDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("warning: could not remove {}: {e}", self.0.display());
        }
    }
}

/// Ids of every live object of `kind`. Listing takes no reference (unlike opening by id, which
/// can race with the kernel's deferred release of prog arrays and leak them), so it is safe
/// to poll while objects are being freed.
pub fn live_ids(kind: ObjKind) -> BTreeSet<u32> {
    sys::all_ids(kind).expect("list ids").into_iter().collect()
}

/// Objects of `kind` created since `before` (ids only grow) whose kernel name starts with
/// `prefix`, as `(id, name)`. Only opens the new ids, which belong to live, loading objects.
pub fn new_named(kind: ObjKind, before: &BTreeSet<u32>, prefix: &str) -> Vec<(u32, String)> {
    let newest_before = before.iter().next_back().copied().unwrap_or(0);
    let mut out = Vec::new();
    for id in live_ids(kind).into_iter().filter(|&i| i > newest_before) {
        // Objects may disappear between listing and opening (other tests run concurrently).
        let Ok(fd) = sys::get_fd_by_id(kind, id) else {
            continue;
        };
        let name = match kind {
            ObjKind::Prog => sys::prog_info(fd.as_fd()).map(|i| i.name),
            ObjKind::Map => sys::map_info(fd.as_fd()).map(|i| i.name),
            _ => unreachable!("only programs and maps have names"),
        };
        if let Ok(raw) = name {
            let n = sys::name_from_bytes(&raw);
            if n.starts_with(prefix) {
                out.push((id, n));
            }
        }
    }
    out
}

/// True when the kernel accepts cpu v4 instructions (sign-extending moves: v6.6+).
pub fn kernel_has_isa_v4() -> bool {
    use oxbpf::asm::Insn;
    use oxbpf::spec::ProgramType;
    let insns = [Insn::mov64_imm(0, 0), Insn::movsx64(0, 0, 8), Insn::exit()];
    let req = oxbpf::prog::LoadRequest::new("isa_v4_probe", ProgramType::XDP, &insns, "GPL");
    oxbpf::prog::load(&req).is_ok()
}

/// The bytes of global variable `name` (of `spec`) in the loaded collection's data map.
pub fn read_global(spec: &CollectionSpec, coll: &Collection, name: &str) -> Vec<u8> {
    let v = &spec.variables[name];
    let data = coll
        .map(&v.map)
        .unwrap()
        .lookup(&0u32.to_ne_bytes())
        .unwrap()
        .unwrap();
    data[v.offset as usize..(v.offset + v.size) as usize].to_vec()
}

/// Overwrites global variable `name` (of `spec`) in the loaded collection's data map.
pub fn write_global(spec: &CollectionSpec, coll: &Collection, name: &str, bytes: &[u8]) {
    let v = &spec.variables[name];
    let map = coll.map(&v.map).unwrap();
    let mut data = map.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    data[v.offset as usize..v.offset as usize + bytes.len()].copy_from_slice(bytes);
    map.update(&0u32.to_ne_bytes(), &data, 0).unwrap();
}
