//! External kernel BTF on the real kernel: the same CO-RE program loaded with the target
//! BTF from a file, from a BTFHub-style directory (`.btf` and `.btf.tar.xz`), and the
//! actionable error when sysfs BTF is hidden and none is given.

use oxbpf::btf::hub::HubQuery;
use oxbpf::btf::{Btf, Kind};
use oxbpf::collection::{Collection, CollectionOptions, KernelBtfSource, LoadError};
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::CollectionSpec;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

mod caps_util;
mod coll_support;

/// Kernel tests need privileges (shared check) and a sysfs vmlinux BTF to copy.
fn require_kernel() -> bool {
    if !coll_support::require_kernel() {
        return false;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return coll_support::skip("no /sys/kernel/btf/vmlinux to copy");
    }
    true
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "oxbpf-extbtf-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn core_task() -> CollectionSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/externs/core_task.bpf.o");
    oxbpf::elf::load_collection_spec_from_file(p).unwrap()
}

fn vmlinux_bytes() -> Vec<u8> {
    std::fs::read("/sys/kernel/btf/vmlinux").unwrap()
}

/// Loads core_task with `source` and sysfs hidden, runs it, checks what CO-RE computed.
fn load_and_check(source: KernelBtfSource) {
    let spec = core_task();
    let opts = CollectionOptions {
        kernel_btf: source,
        hide_sysfs_btf: true,
        ..Default::default()
    };
    let coll = Collection::load(&spec, &opts).unwrap();
    let r = coll
        .program("core_task")
        .unwrap()
        .test_run(&TestRunOpts::default())
        .unwrap();
    assert_eq!(r.retval, 0);
    let out: Vec<u64> = coll_support::read_global(&spec, &coll, "out")
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let btf = Btf::parse_vec(vmlinux_bytes(), None).unwrap();
    let ts = btf.find_by_name_kind("task_struct", Kind::Struct).unwrap();
    let pid_off = btf
        .type_by_id(ts)
        .unwrap()
        .as_composite()
        .unwrap()
        .members()
        .find(|m| m.name == "pid")
        .unwrap()
        .bit_offset
        / 8;
    let tid = unsafe { libc::gettid() } as u64;
    assert_eq!(out, vec![pid_off as u64, tid, std::process::id() as u64]);
}

#[test]
fn file_source_replaces_sysfs() {
    if !require_kernel() {
        return;
    }
    let dir = TempDir::new("file");
    let f = dir.0.join("vmlinux.btf");
    std::fs::write(&f, vmlinux_bytes()).unwrap();
    load_and_check(KernelBtfSource::File(f));
}

fn hub_dir(root: &Path, q: &HubQuery) -> PathBuf {
    let (id, ver) = q
        .distro
        .clone()
        .unwrap_or(("linux".to_string(), "0".to_string()));
    let d = root.join(id).join(ver).join(&q.arch);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn hub_directory_with_plain_btf() {
    if !require_kernel() {
        return;
    }
    let root = TempDir::new("hub");
    let q = HubQuery::running();
    let d = hub_dir(&root.0, &q);
    std::fs::write(d.join(format!("{}.btf", q.release)), vmlinux_bytes()).unwrap();
    // A decoy for another kernel must not be picked.
    std::fs::write(d.join("0.0.0-other.btf"), b"junk").unwrap();
    load_and_check(KernelBtfSource::Hub(root.0.clone()));
    assert_eq!(
        KernelBtfSource::from_path(&root.0),
        KernelBtfSource::Hub(root.0.clone())
    );
}

/// Writes `<release>.btf` into a `.btf.tar.xz` at `archive`: with the system `tar -J` when
/// present (real xz compression, as BTFHub's files), else with the `tar` and `lzma-rs` crates.
fn make_tar_xz(archive: &Path, release: &str, btf: &[u8]) {
    let staging = TempDir::new("stage");
    let name = format!("{release}.btf");
    std::fs::write(staging.0.join(&name), btf).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-cJf")
        .arg(archive)
        .arg("-C")
        .arg(&staging.0)
        .arg(&name)
        .status();
    if matches!(status, Ok(s) if s.success()) {
        return;
    }
    let mut tar_bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        let mut h = tar::Header::new_gnu();
        h.set_size(btf.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, &name, btf).unwrap();
        b.finish().unwrap();
    }
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut tar_bytes.as_slice(), &mut xz).unwrap();
    std::fs::write(archive, xz).unwrap();
}

#[test]
fn hub_directory_with_tar_xz_found_by_search() {
    if !require_kernel() {
        return;
    }
    let root = TempDir::new("hubxz");
    let mut q = HubQuery::running();
    // Another distribution's tree: found by searching, not from os-release.
    q.distro = Some(("otherdistro".into(), "1".into()));
    let d = hub_dir(&root.0, &q);
    let archive = d.join(format!("{}.btf.tar.xz", q.release));
    make_tar_xz(&archive, &q.release, &vmlinux_bytes());
    let found = oxbpf::btf::hub::find(&root.0, &HubQuery::running()).unwrap();
    assert_eq!(found, archive);
    load_and_check(KernelBtfSource::Hub(root.0.clone()));
    load_and_check(KernelBtfSource::File(archive));
}

#[test]
fn no_btf_found_is_actionable() {
    if !require_kernel() {
        return;
    }
    let spec = core_task();
    let opts = CollectionOptions {
        hide_sysfs_btf: true,
        ..Default::default()
    };
    let e = Collection::load(&spec, &opts).unwrap_err();
    assert!(matches!(e, LoadError::CoreBtf { .. }), "{e:?}");
    let msg = e.to_string();
    let release = oxbpf::btf::kernel::release();
    assert!(
        msg.contains("apply CO-RE relocations: load kernel spec"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("no BTF found for kernel {release}")),
        "{msg}"
    );
    assert!(msg.contains("--btf"), "{msg}");
    assert!(msg.contains("CollectionOptions::kernel_btf"), "{msg}");
}

#[test]
fn hub_without_the_release_names_it() {
    let root = TempDir::new("hubempty");
    let q = HubQuery::running();
    hub_dir(&root.0, &q);
    let e = KernelBtfSource::Hub(root.0.clone()).load(true).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&q.release), "{msg}");
    assert!(msg.contains("--btf"), "{msg}");
}
