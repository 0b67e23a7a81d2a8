//! Objects we did not write: the BPF programs Debian ships in `libxdp1` (xdp-dispatcher,
//! xdpdump, xdpfilt, AF_XDP default program), downloaded at test time with `apt-get download`.
//! Each must parse; each program libbpf (through `bpftool prog loadall`) loads must load with
//! oxbpf too. bpftool runs in a private mount namespace with its own bpffs, so neither its
//! program pins nor the pin-by-name maps it creates touch the shared /sys/fs/bpf.

mod caps_util;
mod coll_support;

use coll_support::*;
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::prog::TestRunOpts;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const CACHE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/libxdp1");

/// The extracted `*.o` files of libxdp1, downloading the package once; `Err` says why not.
fn objects() -> Result<&'static [PathBuf], String> {
    static OBJS: OnceLock<Result<Vec<PathBuf>, String>> = OnceLock::new();
    OBJS.get_or_init(fetch).as_deref().map_err(Clone::clone)
}

fn bpf_dir() -> PathBuf {
    Path::new(CACHE).join("root/usr/lib/x86_64-linux-gnu/bpf")
}

fn list_objects() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bpf_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "o"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn run_tool(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn fetch() -> Result<Vec<PathBuf>, String> {
    let have = list_objects();
    if !have.is_empty() {
        return Ok(have);
    }
    // Download into a fresh directory, extract, then move into place in one rename, so a
    // concurrent run never sees half a tree.
    let work = PathBuf::from(format!("{CACHE}.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
    let result = (|| {
        run_tool(
            Command::new("apt-get")
                .args(["download", "-q", "libxdp1"])
                .current_dir(&work),
        )?;
        let deb = std::fs::read_dir(&work)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .ok_or("apt-get download produced no .deb")?;
        run_tool(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(work.join("root")),
        )?;
        match std::fs::rename(&work, CACHE) {
            Ok(()) => Ok(()),
            // Another run finished first: its tree is as good as ours.
            Err(_) if !list_objects().is_empty() => Ok(()),
            Err(e) => Err(format!("rename to {CACHE}: {e}")),
        }
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    let objs = list_objects();
    if objs.is_empty() {
        return Err(format!("no BPF objects under {}", bpf_dir().display()));
    }
    Ok(objs)
}

/// The objects, or a loud skip (a failure with OXBPF_REQUIRE_KERNEL=1).
fn objects_or_skip() -> Option<&'static [PathBuf]> {
    match objects() {
        Ok(o) => Some(o),
        Err(e) => {
            skip(&format!("cannot get Debian's libxdp1 BPF objects: {e}"));
            None
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn read_spec(p: &Path) -> oxbpf::spec::CollectionSpec {
    let data = std::fs::read(p).unwrap();
    oxbpf::elf::load_collection_spec(&data)
        .unwrap_or_else(|e| panic!("{}: load_collection_spec: {e}", file_name(p)))
}

#[test]
fn every_libxdp_object_parses() {
    let Some(objs) = objects_or_skip() else {
        return;
    };
    assert!(objs.len() >= 10, "expected ~15 objects, got {objs:?}");
    for p in objs {
        let spec = read_spec(p);
        assert!(!spec.programs.is_empty(), "{}: no programs", file_name(p));
        assert!(spec.btf.is_some(), "{}: BTF", file_name(p));
    }
}

/// Programs `bpftool prog loadall` (libbpf) loads from `obj`: the pins it leaves, listed
/// inside a private mount namespace with its own bpffs. `Err` when bpftool cannot be run.
fn libbpf_loads(obj: &Path) -> Result<BTreeSet<String>, String> {
    let dir = format!("/sys/fs/bpf/{}", unique("oxrw"));
    let script = format!(
        "mount -t bpf bpf /sys/fs/bpf && mkdir -p {dir} && \
         {{ bpftool prog loadall \"$0\" {dir} >/dev/null 2>&1; ls {dir}; }}"
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(obj)
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "unshare/bpftool: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

#[test]
fn oxbpf_loads_every_program_libbpf_loads() {
    if !require_kernel() {
        return;
    }
    let Some(objs) = objects_or_skip() else {
        return;
    };
    if Command::new("bpftool").arg("version").output().is_err() {
        skip("bpftool is not installed");
        return;
    }
    let mut table = Vec::new();
    let mut missing = Vec::new();
    let mut libbpf_total = 0;
    for obj in objs {
        let name = file_name(obj);
        let spec = read_spec(obj);
        let libbpf = match libbpf_loads(obj) {
            Ok(l) => l,
            Err(e) => {
                skip(&format!("cannot run bpftool in a private bpffs: {e}"));
                return;
            }
        };
        libbpf_total += libbpf.len();
        let pins = BpffsDir::new("oxrw");
        let opts = CollectionOptions {
            pin_dir: Some(pins.0.clone()),
            ..Default::default()
        };
        let report = Collection::load_report(&spec, &opts)
            .unwrap_or_else(|e| panic!("{name}: oxbpf load_report: {e}"));
        for prog in spec.programs.keys() {
            let lib_ok = libbpf.contains(prog);
            let ox = match (report.collection.program(prog), report.failed.get(prog)) {
                (Some(_), _) => "ok".to_string(),
                (None, Some(e)) => format!("fail: {}", e.to_string().lines().next().unwrap_or("")),
                (None, None) => "not loaded".to_string(),
            };
            if lib_ok && ox != "ok" {
                missing.push(format!("{name}/{prog}: {ox}"));
            }
            table.push(format!(
                "{name:<26} {prog:<18} libbpf {:<4} oxbpf {ox}",
                if lib_ok { "ok" } else { "fail" }
            ));
        }
        // libbpf pins programs under their own names: nothing it loads is unknown to us.
        for p in &libbpf {
            assert!(
                spec.programs.contains_key(p),
                "{name}: libbpf loaded unknown {p}"
            );
        }
    }
    eprintln!(
        "object                     program            result\n{}",
        table.join("\n")
    );
    assert!(
        libbpf_total > 0,
        "libbpf loaded nothing: the comparison would be empty"
    );
    assert!(
        missing.is_empty(),
        "libbpf loads these, oxbpf does not:\n{}",
        missing.join("\n")
    );
}

#[test]
fn xdp_dispatcher_follows_its_rodata_config() {
    if !require_kernel() {
        return;
    }
    let Some(objs) = objects_or_skip() else {
        return;
    };
    let obj = objs
        .iter()
        .find(|p| file_name(p) == "xdp-dispatcher.o")
        .expect("libxdp1 ships xdp-dispatcher.o");
    let base = read_spec(obj);
    // struct xdp_dispatcher_config (v2): magic, version, num_progs_enabled, is_xdp_frags,
    // chain_call_actions[10], run_prios[10], program_flags[10]. Slot programs prog0..prog9 are
    // placeholders returning XDP_DISPATCHER_RETVAL (31) until libxdp replaces them.
    let conf_size = base.variables["conf"].size as usize;
    assert_eq!(conf_size, 124, "dispatcher config v2 layout");
    let run = |enabled: u8, chain0: u32| {
        let mut spec = base.clone();
        let mut conf = vec![0u8; conf_size];
        conf[2] = enabled;
        conf[4..8].copy_from_slice(&chain0.to_ne_bytes());
        spec.set_variable("conf", &conf).unwrap();
        let opts = CollectionOptions {
            programs: Some(BTreeSet::from(["xdp_dispatcher".to_string()])),
            ..Default::default()
        };
        let coll = Collection::load(&spec, &opts).unwrap_or_else(|e| panic!("dispatcher: {e}"));
        coll.program("xdp_dispatcher")
            .unwrap()
            .test_run(&TestRunOpts {
                data_in: &[0u8; 64],
                ..Default::default()
            })
            .unwrap()
            .retval
    };
    let results: BTreeMap<&str, u32> = BTreeMap::from([
        ("no programs enabled", run(0, 0)),
        ("prog0 enabled, no chain actions", run(1, 0)),
        ("prog0 enabled, chain on its return", run(1, 1 << 31)),
    ]);
    assert_eq!(
        results,
        BTreeMap::from([
            ("no programs enabled", 2),
            ("prog0 enabled, no chain actions", 31),
            ("prog0 enabled, chain on its return", 2),
        ])
    );
}
