//! Feature probes against a kernel that answers like an older one (`sys::fault`): the probes
//! must report "not supported" — and must not cache inconclusive answers.
//!
//! Fault rules are process-global, so these tests live in their own binary and hold `LOCK`.
//! Run with `cargo test -p oxbpf --features fault-injection --test features_fault`.
#![cfg(feature = "fault-injection")]

use oxbpf::features::*;
use oxbpf::spec::{MapType, ProgramType};
use oxbpf::sys::caps::{Cap, CapSet};
use oxbpf::sys::{fault::Guard, Cmd};
use std::sync::{Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

/// Serialises the test and starts from an empty probe cache; the cache is reset again when
/// the returned guard is dropped.
struct Fresh(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for Fresh {
    fn drop(&mut self) {
        reset_cache();
    }
}

fn fresh() -> Option<Fresh> {
    if caps_util::probes_refused() {
        return None;
    }
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
            panic!("OXBPF_REQUIRE_KERNEL=1 but not root");
        }
        eprintln!("SKIPPED: feature probes need root (CAP_BPF)");
        return None;
    }
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    reset_cache();
    Some(Fresh(g))
}

#[test]
fn link_create_einval_means_no_links() {
    let Some(_f) = fresh() else { return };
    {
        let _fault = Guard::fail(Cmd::LinkCreate, libc::EINVAL);
        for &k in LinkKind::ALL {
            assert!(!have_link(k).unwrap(), "{k:?}");
        }
        let err = require(Feature::Link(LinkKind::Xdp)).unwrap_err();
        assert!(matches!(
            err,
            FeatureError::NotSupported {
                feature: Feature::Link(LinkKind::Xdp),
                min_kernel: "v5.9"
            }
        ));
        assert_eq!(
            err.to_string(),
            "XDP bpf_link not supported (requires >= v5.9)"
        );
    }
    // Without the fault the probe asks the real kernel again.
    reset_cache();
    assert_eq!(
        have_link(LinkKind::Xdp).unwrap(),
        oxbpf::link::xdp_link_supported().unwrap()
    );
}

#[test]
fn map_create_einval_for_one_type() {
    let Some(_f) = fresh() else { return };
    // Root without CAP_SYS_RESOURCE may not create arenas: then the real answer is
    // "not decidable with these capabilities", and stays that after the fault.
    let real = have_map_type(MapType::ARENA);
    if let Err(e) = &real {
        assert!(e.needs_capabilities(), "{e}");
        eprintln!("arena: {e}");
    }
    reset_cache();
    {
        let _fault = Guard::fail_if(Cmd::MapCreate, MapType::ARENA.0, libc::EINVAL);
        assert!(!have_map_type(MapType::ARENA).unwrap());
        assert!(!have_map_flag(None, map_flags::BPF_F_SEGV_ON_FAULT).unwrap());
        assert!(
            have_map_type(MapType::HASH).unwrap(),
            "other types unaffected"
        );
        let err = require(Feature::MapType(MapType::ARENA)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "map type arena not supported (requires >= v6.9)"
        );
    }
    // Conclusive answers are cached: still "no" while the cache lives.
    assert!(!have_map_type(MapType::ARENA).unwrap());
    reset_cache();
    let after = have_map_type(MapType::ARENA);
    assert_eq!(after.as_ref().ok(), real.as_ref().ok());
    assert_eq!(
        after.is_err_and(|e| e.needs_capabilities()),
        real.is_err_and(|e| e.needs_capabilities())
    );
}

#[test]
fn inconclusive_errors_are_not_cached() {
    let Some(_f) = fresh() else { return };
    {
        let _fault = Guard::fail(Cmd::MapCreate, libc::EPERM);
        // Hash maps need no capability: a refusal is a policy's unless this process lacks
        // some capability (root without CAP_SYS_RESOURCE), then it is not decidable.
        let dropped = CapSet::effective().unwrap().lacking(&Cap::ALL);
        let err = have_map_type(MapType::HASH).unwrap_err();
        assert_eq!(err.needs_capabilities(), !dropped.is_empty(), "{err}");
        if dropped.is_empty() {
            assert!(matches!(err, FeatureError::Probe { .. }), "{err}");
        } else {
            assert!(err.to_string().contains(dropped[0].name()), "{err}");
        }
        assert_eq!(err.errno(), Some(libc::EPERM));
        assert!(!err.is_not_supported());
        let err = require(Feature::MapType(MapType::HASH)).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM));
    }
    // No reset: the EPERM was not remembered, so this probes again and succeeds.
    assert!(have_map_type(MapType::HASH).unwrap());
}

#[test]
fn btf_load_einval_means_every_kind_missing() {
    let Some(_f) = fresh() else { return };
    {
        let _fault = Guard::fail(Cmd::BtfLoad, libc::EINVAL);
        let missing = missing_btf_features().unwrap();
        assert_eq!(
            missing,
            oxbpf::btf::MissingFeatures {
                func: true,
                func_global: true,
                datasec: true,
                float: true,
                decl_tag: true,
                type_tag: true,
                enum64: true,
            }
        );
        assert!(!have_btf(BtfFeature::Load).unwrap());
        // Local storage maps need BTF: without it they are unsupported too.
        assert!(!have_map_type(MapType::SK_STORAGE).unwrap());
        assert!(have_map_type(MapType::ARRAY).unwrap());
    }
    reset_cache();
    assert!(have_btf(BtfFeature::Load).unwrap());
}

#[test]
fn prog_load_einval_for_one_type() {
    let Some(_f) = fresh() else { return };
    let adjust = oxbpf::asm::helper_id("xdp_adjust_head").unwrap() as u32;
    {
        let _fault = Guard::fail_if(Cmd::ProgLoad, ProgramType::XDP.0, libc::EINVAL);
        assert!(!have_program_type(ProgramType::XDP).unwrap());
        assert!(!have_helper(ProgramType::XDP, adjust).unwrap());
        assert!(have_program_type(ProgramType::SCHED_CLS).unwrap());
        let err = require(Feature::ProgramType(ProgramType::XDP)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "program type xdp not supported (requires >= v4.8)"
        );
    }
    reset_cache();
    assert!(have_helper(ProgramType::XDP, adjust).unwrap());
}

#[test]
fn old_verifier_means_no_misc_features() {
    let Some(_f) = fresh() else { return };
    // A kernel whose verifier rejects every socket filter we try (EINVAL, as for an unknown
    // opcode or a back-edge), and programs over 4096 instructions with E2BIG.
    let _fault = Guard::fail_if(Cmd::ProgLoad, ProgramType::SOCKET_FILTER.0, libc::EINVAL);
    for m in [Misc::BoundedLoops, Misc::IsaV2, Misc::IsaV3, Misc::IsaV4] {
        assert!(!have_misc(m).unwrap(), "{m:?}");
    }
    drop(_fault);
    let _fault = Guard::fail_if(Cmd::ProgLoad, ProgramType::SOCKET_FILTER.0, libc::E2BIG);
    assert!(!have_misc(Misc::LargeInsns).unwrap());
    let err = require(Feature::Misc(Misc::LargeInsns)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "programs over 4096 instructions not supported (requires >= v5.2)"
    );
}

/// True if the BTF blob has a type of raw kind `kind` (a signed ENUM counts as ENUM64: both
/// came with v6.0), as a kernel without that kind would find.
fn uses_kind(blob: &[u8], kind: u32) -> bool {
    use oxbpf::btf::{Btf, Type};
    let Ok(btf) = Btf::parse(blob) else {
        return false;
    };
    let found = btf.iter().any(|(_, t)| {
        t.kind().is_some_and(|k| k.raw() == kind)
            || (kind == 19 && matches!(t, Type::Enum(e) if e.signed))
    });
    found
}

/// True if the blob has a FUNC with global or extern linkage (kernels before v5.6 refuse it).
fn uses_global_func(blob: &[u8]) -> bool {
    use oxbpf::btf::{Btf, FuncLinkage, Type};
    Btf::parse(blob).is_ok_and(|btf| {
        btf.iter()
            .any(|(_, t)| matches!(t, Type::Func(f) if f.linkage != FuncLinkage::Static))
    })
}

/// Loads the btf_kinds fixture and runs its program, which returns 25 with every global
/// (data sections, a global subprogram) in place.
fn load_and_run_btf_kinds(
    spec: &oxbpf::spec::CollectionSpec,
    lacking: &str,
) -> oxbpf::collection::Collection {
    use oxbpf::collection::{Collection, CollectionOptions};
    let coll = Collection::load(spec, &CollectionOptions::default())
        .unwrap_or_else(|e| panic!("kernel without {lacking}: {e}"));
    let run = coll
        .program("btf_kinds")
        .unwrap()
        .test_run(&Default::default());
    assert_eq!(run.unwrap().retval, 25, "kernel without {lacking}");
    coll
}

/// BTF kinds by the kernel that introduced them, newest first: a kernel older than a row
/// lacks that row's kinds and every newer one.
const BTF_KIND_HISTORY: &[(&str, &[u32])] = &[
    ("ENUM64 (v6.0)", &[19]),
    ("TYPE_TAG (v5.17)", &[18]),
    ("DECL_TAG (v5.16)", &[17]),
    ("FLOAT (v5.13)", &[16]),
    ("VAR/DATASEC (v5.2)", &[14, 15]),
    ("FUNC/FUNC_PROTO (v5.0)", &[12, 13]),
];

#[test]
fn loader_rewrites_object_btf_for_kernels_without_newer_kinds() {
    let obj = include_bytes!("../testdata/btf_kinds.bpf.o");
    let spec = oxbpf::elf::load_collection_spec(obj).unwrap();
    let object_btf = spec.btf.as_ref().expect("fixture has BTF");
    for depth in 0..=BTF_KIND_HISTORY.len() {
        let Some(_f) = fresh() else { return };
        let lacking = &BTF_KIND_HISTORY[..depth];
        let mut guard: Option<Guard> = None;
        for &kind in lacking.iter().flat_map(|(_, kinds)| kinds.iter()) {
            let refuse = move |blob: &[u8]| uses_kind(blob, kind);
            guard = Some(match guard {
                None => Guard::refuse_btf_if(refuse),
                Some(g) => g.and_refuse_btf_if(refuse),
            });
        }
        let names: Vec<&str> = lacking.iter().map(|(n, _)| *n).collect();
        if depth > 0 {
            assert!(
                object_btf.load().is_err(),
                "a kernel without {names:?} must refuse the raw object BTF"
            );
        }
        let coll = load_and_run_btf_kinds(&spec, &format!("{names:?}"));
        let prog = coll.program("btf_kinds").unwrap();
        // The (rewritten) BTF went to the kernel with the global-data maps, described by
        // their DATASEC — unless DATASEC is gone: then they are plain arrays...
        let lost = |kind| lacking.iter().any(|(_, k)| k.contains(&kind));
        let bss = coll.map(".bss").unwrap().info().unwrap();
        assert_eq!(
            (bss.btf_id == 0, bss.btf_value_type_id == 0),
            (lost(15), lost(15)),
            "kernel without {names:?}: .bss map BTF {} value type {}",
            bss.btf_id,
            bss.btf_value_type_id
        );
        // ...and with the program, unless FUNC is gone: then no func/line info, and the
        // kernel keeps no BTF for the program.
        let info = prog.info().unwrap();
        let funcs_lost = lost(12);
        assert_eq!(
            (info.nr_func_info == 0, info.btf_id == 0),
            (funcs_lost, funcs_lost),
            "kernel without {names:?}: {} func infos, btf id {}",
            info.nr_func_info,
            info.btf_id
        );
        drop(guard);
    }
}

/// One refusal at a time (a kernel that lacks just that, as backports make possible): the
/// object's BTF is refused as is, the loader rewrites exactly what the probe found missing,
/// the program runs, and the BTF still reaches the kernel unless the refusal removed what
/// carries it (DATASEC for the data maps, FUNC for the program).
#[test]
fn each_refused_btf_feature_alone_is_sanitised() {
    type Refusal = fn(&[u8]) -> bool;
    let rows: &[(&str, Refusal, bool, bool)] = &[
        // name, refusal, data maps lose BTF, program loses BTF
        (
            "FUNC/FUNC_PROTO",
            |b| uses_kind(b, 12) || uses_kind(b, 13),
            false,
            true,
        ),
        ("global FUNC linkage", uses_global_func, false, false),
        (
            "VAR/DATASEC",
            |b| uses_kind(b, 14) || uses_kind(b, 15),
            true,
            false,
        ),
        ("FLOAT", |b| uses_kind(b, 16), false, false),
        ("DECL_TAG", |b| uses_kind(b, 17), false, false),
        ("TYPE_TAG", |b| uses_kind(b, 18), false, false),
        ("ENUM64 and signed ENUM", |b| uses_kind(b, 19), false, false),
    ];
    let obj = include_bytes!("../testdata/btf_kinds.bpf.o");
    let spec = oxbpf::elf::load_collection_spec(obj).unwrap();
    let object_btf = spec.btf.as_ref().expect("fixture has BTF");
    for &(name, refuse, maps_lose, prog_loses) in rows {
        let Some(_f) = fresh() else { return };
        let _guard = Guard::refuse_btf_if(refuse);
        assert!(
            object_btf.load().is_err(),
            "the fixture must use {name} for this row to mean anything"
        );
        let coll = load_and_run_btf_kinds(&spec, name);
        let prog = coll.program("btf_kinds").unwrap();
        let bss = coll.map(".bss").unwrap().info().unwrap();
        assert_eq!(
            bss.btf_id == 0,
            maps_lose,
            "kernel without {name}: .bss BTF"
        );
        let info = prog.info().unwrap();
        assert_eq!(
            info.btf_id == 0,
            prog_loses,
            "kernel without {name}: program BTF"
        );
        assert_eq!(
            info.nr_func_info == 0,
            prog_loses,
            "kernel without {name}: func info"
        );
    }
}

mod caps_util;

/// The cache tests above, as root without CAP_SYS_RESOURCE.
#[test]
fn cache_without_cap_sys_resource() {
    caps_util::rerun_without(
        "cap_sys_resource",
        &[
            "map_create_einval_for_one_type",
            "inconclusive_errors_are_not_cached",
        ],
    );
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &["cache_without_cap_sys_resource"]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &["cache_without_cap_sys_resource"]);
}
