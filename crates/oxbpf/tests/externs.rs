//! Externs on the real kernel: weak/strong kfuncs (both the `call` and `ld_imm64` forms),
//! typed and typeless ksyms, `.kconfig` values compared with the kernel's own configuration.
//! Fixtures: testdata/externs/*.bpf.c (built by `cargo xtask build-bpf`).

use oxbpf::btf::Kind;
use oxbpf::collection::externs::{resolve_one, Resolution, RunningKernel};
use oxbpf::collection::{Collection, CollectionOptions, KernelBtfSource, KernelBtfs, LoadError};
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::{CollectionSpec, RelocTarget};
use std::io::Read;
use std::path::PathBuf;

mod caps_util;
mod coll_support;

const CAP_SYSLOG: u32 = 34;

use coll_support::require_kernel;
use coll_support::{read_global, write_global};

fn fixture(name: &str) -> CollectionSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/externs")
        .join(name);
    oxbpf::elf::load_collection_spec_from_file(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn u64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

fn run(coll: &Collection, prog: &str) {
    let r = coll
        .program(prog)
        .unwrap()
        .test_run(&TestRunOpts::default())
        .unwrap();
    assert_eq!(r.retval, 0);
}

fn kernel_config() -> std::collections::HashMap<String, String> {
    let mut text = String::new();
    let boot = format!("/boot/config-{}", oxbpf::btf::kernel::release());
    if let Ok(t) = std::fs::read_to_string(boot) {
        text = t;
    } else {
        let f = std::fs::File::open("/proc/config.gz").expect("kernel config");
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut text)
            .unwrap();
    }
    oxbpf::collection::kconfig::parse_config(&text)
}

#[test]
fn fixture_uses_both_kfunc_forms() {
    let spec = fixture("kfuncs.bpf.o");
    let p = &spec.programs["weak_kfuncs"];
    let sites: Vec<bool> = p
        .relocations
        .iter()
        .filter(|r| r.target == RelocTarget::Extern("bpf_kfunc_that_does_not_exist".into()))
        .map(|r| p.instructions[r.insn].is_call())
        .collect();
    assert!(sites.contains(&true) && sites.contains(&false), "{sites:?}");
}

#[test]
fn weak_kfuncs_present_and_missing() {
    if !require_kernel() || !kernel_has_task_kfuncs() {
        return;
    }
    let spec = fixture("kfuncs.bpf.o");
    let coll = Collection::load(&spec, &CollectionOptions::default()).unwrap();
    write_global(
        &spec,
        &coll,
        "pid",
        &(std::process::id() as i32).to_ne_bytes(),
    );
    run(&coll, "weak_kfuncs");
    let out = u64s(&read_global(&spec, &coll, "out"));
    // present detected, missing detected, present one called, missing one's call dead.
    assert_eq!(out, vec![1, 0, 1, 42]);
}

#[test]
fn strong_missing_kfunc_is_a_clear_error() {
    if !require_kernel() {
        return;
    }
    let spec = fixture("strong_kfunc.bpf.o");
    let e = Collection::load(&spec, &CollectionOptions::default()).unwrap_err();
    assert!(matches!(e, LoadError::Extern { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("bpf_kfunc_that_does_not_exist"), "{msg}");
    assert!(msg.contains("__weak"), "{msg}");
    assert!(
        msg.contains("bpf_ksym_exists(bpf_kfunc_that_does_not_exist)"),
        "{msg}"
    );
}

#[test]
fn typeless_and_weak_ksyms() {
    if !require_kernel() {
        return;
    }
    let spec = fixture("ksyms.bpf.o");
    let loaded = Collection::load(&spec, &CollectionOptions::default());
    // Without CAP_SYSLOG (and unless kptr_restrict=0 with perf_event_paranoid <= 1)
    // /proc/kallsyms shows every address as 0. Visible or not, the first lines can be per-CPU
    // symbols at offset 0 (`0000000000000000 A fixed_percpu_data` on 6.1): look at them all.
    let hidden = std::fs::read_to_string("/proc/kallsyms")
        .unwrap()
        .lines()
        .all(|l| l.starts_with("0000000000000000"));
    if hidden {
        let Err(e) = loaded else {
            panic!("typeless ksyms resolved with hidden kallsyms addresses");
        };
        let e = e.to_string();
        if caps_util::lacks(CAP_SYSLOG) {
            caps_util::refused(&e, "kernel addresses need CAP_SYSLOG");
        } else {
            // kernel.kptr_restrict=2 hides them from everyone.
            assert!(e.contains("kernel addresses need CAP_SYSLOG"), "{e}");
        }
        assert!(e.contains("bpf_prog_put"), "{e}");
        return;
    }
    let coll = loaded.unwrap();
    run(&coll, "ksyms");
    let out = u64s(&read_global(&spec, &coll, "out"));
    let kallsyms = oxbpf::collection::externs::read_kallsyms().unwrap();
    let addr = kallsyms["bpf_prog_put"];
    assert_ne!(addr, 0);
    assert_eq!(out, vec![addr, 0, 0, 3]);
}

#[test]
fn typed_ksyms_resolve_to_vmlinux_vars() {
    let spec = fixture("ksyms_typed.bpf.o");
    let kb = KernelBtfs::new(KernelBtfSource::Running, false);
    let Ok(vmlinux) = kb.running() else {
        eprintln!("SKIPPED: no kernel BTF");
        return;
    };
    let k = RunningKernel::new(&kb);
    for name in ["runqueues", "bpf_prog_active"] {
        let r = resolve_one(spec.btf.as_deref(), &spec.externs[name], &k);
        let want = vmlinux.find_by_name_kind(name, Kind::Var).unwrap();
        assert_eq!(
            r,
            Resolution::Var {
                btf_id: want,
                module: None
            }
        );
    }
    assert!(
        !kb.modules_loaded(),
        "vmlinux had everything: no module BTF read"
    );
    if !require_kernel() {
        return;
    }
    let all_syms = kernel_config()
        .get("CONFIG_KALLSYMS_ALL")
        .map(String::as_str)
        == Some("y");
    match Collection::load(&spec, &CollectionOptions::default()) {
        Ok(coll) => {
            run(&coll, "ksyms_typed");
            let out = u64s(&read_global(&spec, &coll, "out"));
            assert_eq!(out[0], out[1], "this CPU's runqueue names this CPU");
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            if cpus > 1 {
                assert_eq!(out[2], 1, "CPU 1's runqueue");
            }
            assert_eq!(out[3], 1);
        }
        // The kernel finds typed ksyms' addresses through kallsyms: without
        // CONFIG_KALLSYMS_ALL it knows no data symbol, and says so.
        Err(e) if !all_syms => {
            let msg = e.to_string();
            assert!(
                msg.contains("failed to find the address for kernel symbol"),
                "{msg}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn missing_kfunc_reads_module_btf_lazily() {
    if !kernel_has_task_kfuncs() {
        return;
    }
    let spec = fixture("kfuncs.bpf.o");
    let kb = KernelBtfs::new(KernelBtfSource::Running, false);
    if kb.running().is_err() {
        eprintln!("SKIPPED: no kernel BTF");
        return;
    }
    let k = RunningKernel::new(&kb);
    let present = resolve_one(spec.btf.as_deref(), &spec.externs["bpf_task_from_pid"], &k);
    assert!(
        matches!(present, Resolution::Kfunc { module: None, .. }),
        "{present:?}"
    );
    assert!(!kb.modules_loaded());
    let missing = resolve_one(
        spec.btf.as_deref(),
        &spec.externs["bpf_kfunc_that_does_not_exist"],
        &k,
    );
    assert!(matches!(missing, Resolution::WeakMissing(_)), "{missing:?}");
    assert!(kb.modules_loaded(), "a miss in vmlinux searches module BTF");
    assert!(kb.fd_array().is_empty(), "no module BTF used: no fd_array");
}

#[test]
fn kconfig_values_match_the_kernel_config() {
    if !require_kernel() {
        return;
    }
    let spec = fixture("kconfig.bpf.o");
    let coll = Collection::load(&spec, &CollectionOptions::default()).unwrap();
    run(&coll, "kconfig");
    let out = u64s(&read_global(&spec, &coll, "out"));
    let cfg = kernel_config();
    // Debian's release string keeps the ABI ("6.1.0-56-cloud-amd64"); the real version is in
    // `uname -v` ("... Debian 6.1.192-1 ...").
    let kversion = std::fs::read_to_string("/proc/sys/kernel/version").unwrap_or_default();
    let release = match kversion.split("Debian ").nth(1) {
        Some(rest) => rest.split_whitespace().next().unwrap_or("").to_string(),
        None => oxbpf::btf::kernel::release(),
    };
    let nums: Vec<u32> = release
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    let version = (nums[0] << 16) | (nums[1] << 8) | nums[2].min(255);
    if std::path::Path::new("/proc/version_signature").exists() {
        assert_eq!(
            out[0] >> 8,
            u64::from(version >> 8),
            "Ubuntu: same major.minor"
        );
    } else {
        assert_eq!(out[0], u64::from(version));
    }
    assert_eq!(out[1], 1, "6.x kernels have bpf_get_attach_cookie");
    // By name: without CAP_SYSLOG the addresses are hidden but the names are listed.
    let want = format!("{}sys_bpf", oxbpf::collection::kconfig::syscall_prefix());
    let wrapper = std::fs::read_to_string("/proc/kallsyms")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some(want.as_str()));
    assert_eq!(out[2], wrapper as u64);
    let yn = |k: &str| cfg.get(k).map(String::as_str);
    assert_eq!(out[3], (yn("CONFIG_BPF_SYSCALL") == Some("y")) as u64);
    let tri = match yn("CONFIG_BPF_JIT") {
        Some("y") => 1,
        Some("m") => 2,
        _ => 0,
    };
    assert_eq!(out[4], tri);
    assert_eq!(
        out[5],
        yn("CONFIG_BPF_EVENTS").unwrap().as_bytes()[0] as u64
    );
    assert_eq!(out[6], yn("CONFIG_HZ").unwrap().parse::<u64>().unwrap());
    assert_eq!(out[7], 0, "unknown weak kconfig is 0");
    assert_eq!(out[8], (yn("CONFIG_KALLSYMS_ALL") == Some("y")) as u64);
    assert_eq!(out[9], 9);
    let lv = read_global(&spec, &coll, "localversion");
    let end = lv.iter().position(|&b| b == 0).unwrap();
    let want = yn("CONFIG_LOCALVERSION").unwrap().trim_matches('"');
    let want = &want.as_bytes()[..want.len().min(15)];
    assert_eq!(&lv[..end], want);
}

#[test]
fn strong_unknown_kconfig_fails() {
    if !require_kernel() {
        return;
    }
    let spec = fixture("kconfig_strong.bpf.o");
    let e = Collection::load(&spec, &CollectionOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("CONFIG_OXBPF_NOT_A_CONFIG"), "{msg}");
    assert!(msg.contains("not set in the kernel config"), "{msg}");
    assert!(msg.contains("__weak"), "{msg}");
}

/// The fixture's strong kfuncs (`bpf_task_from_pid`, `bpf_task_release`) exist since v6.2; on
/// older kernels (v6.1 in `xtask vm-test`) the tests that need them skip with that reason.
fn kernel_has_task_kfuncs() -> bool {
    let Ok(btf) = oxbpf::btf::kernel::vmlinux() else {
        return true;
    };
    let has = ["bpf_task_from_pid", "bpf_task_release"]
        .iter()
        .all(|n| btf.find_by_name_kind(n, oxbpf::btf::Kind::Func).is_some());
    if !has {
        eprintln!(
            "SKIPPED (kernel): no bpf_task_from_pid/bpf_task_release kfuncs in this kernel (v6.2+)"
        );
    }
    has
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}
