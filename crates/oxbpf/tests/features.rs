//! Feature probes on the running kernel: cross-checked against libbpf 1.7's own probes
//! (`libbpf_probe_bpf_prog_type/map_type/helper`, via libbpf-sys), the kernel's own BTF and
//! config, and values no kernel knows.

use oxbpf::btf::{kernel, Kind};
use oxbpf::features::{self, *};
use oxbpf::spec::{MapType, ProgramType};
use std::time::Instant;

fn require_kernel() -> bool {
    if caps_util::probes_refused() {
        return false;
    }
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("OXBPF_REQUIRE_KERNEL=1 but not root");
    }
    eprintln!("SKIPPED: feature probes need root (CAP_BPF)");
    false
}

/// Program types where oxbpf and libbpf disagree on this machine: (type, libbpf, oxbpf
/// (None = inconclusive), reason).
const PROGRAM_TYPE_ALLOW: &[(ProgramType, bool, Option<bool>, &str)] = &[
    (
        ProgramType::TRACING,
        false,
        Some(true),
        "libbpf probes with fentry, which this kernel refuses with EPERM before the verifier \
         (sandbox lockdown policy); oxbpf probes with tp_btf, which reaches the verifier",
    ),
    (
        ProgramType::EXT,
        false,
        None,
        "every ext load gets EPERM before the verifier here: libbpf says no, oxbpf inconclusive",
    ),
    (
        ProgramType::LSM,
        false,
        None,
        "every lsm load gets EPERM before the verifier here: libbpf says no, oxbpf inconclusive",
    ),
];

/// A probe's answer, or `None` when it is not decidable with this process's capabilities
/// (said loudly); any other error fails the test.
fn decided(what: &str, answer: Result<bool, FeatureError>) -> Option<bool> {
    match answer {
        Ok(v) => Some(v),
        Err(e) if e.needs_capabilities() => {
            let msg = e.to_string();
            assert!(
                msg.contains("not decidable with these capabilities: needs CAP_"),
                "{msg}"
            );
            assert!(!msg.contains("run as root"), "{msg}");
            eprintln!("{what}: UNDECIDED with these capabilities: {msg}");
            None
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

#[test]
fn program_and_map_types_agree_with_libbpf() {
    if !require_kernel() {
        return;
    }
    for &t in &ProgramType::ALL[1..] {
        let theirs = unsafe { libbpf_sys::libbpf_probe_bpf_prog_type(t.0, std::ptr::null()) };
        assert!(theirs >= 0, "libbpf failed to probe {t}: {theirs}");
        let ours = have_program_type(t);
        let o = ours.as_ref().ok().copied();
        if o == Some(theirs == 1) || ours.as_ref().is_err_and(|e| e.needs_capabilities()) {
            continue;
        }
        let allowed = PROGRAM_TYPE_ALLOW
            .iter()
            .any(|(n, b, oo, _)| *n == t && *b == (theirs == 1) && *oo == o);
        assert!(allowed, "program type {t}: libbpf {theirs}, oxbpf {ours:?}");
    }
    for &t in &MapType::ALL[1..] {
        let theirs = unsafe { libbpf_sys::libbpf_probe_bpf_map_type(t.0, std::ptr::null()) };
        assert!(theirs >= 0, "libbpf failed to probe {t}: {theirs}");
        let Some(ours) = decided(&format!("map type {t}"), have_map_type(t)) else {
            continue;
        };
        if t == MapType::STRUCT_OPS && ours && theirs == 0 {
            libbpf_struct_ops_probe_fails_on_tail_field();
            continue;
        }
        assert_eq!(ours, theirs == 1, "map type {t}");
    }
}

/// libbpf 1.7 probes struct_ops maps with `value_type_btf_obj_fd = -1`, an attribute added in
/// v6.9: older kernels refuse a non-zero byte past the last map-create field they know with
/// EINVAL (`CHECK_ATTR`) before looking at the map type, so libbpf reads "unsupported" on
/// kernels that have struct_ops maps (v5.6+). Prove that is what happened: with the new field
/// the kernel answers EINVAL, without it "no such struct_ops type" (ENOTSUPP).
fn libbpf_struct_ops_probe_fails_on_tail_field() {
    let create = |tail: bool| {
        let opts = libbpf_sys::bpf_map_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
            btf_vmlinux_value_type_id: 1,
            value_type_btf_obj_fd: if tail { -1 } else { 0 },
            ..Default::default()
        };
        let fd = unsafe {
            libbpf_sys::bpf_map_create(
                libbpf_sys::BPF_MAP_TYPE_STRUCT_OPS,
                std::ptr::null(),
                4,
                4,
                1,
                &opts,
            )
        };
        assert!(
            fd < 0,
            "a struct_ops map with no struct_ops type was created"
        );
        -fd
    };
    assert_eq!(create(true), libc::EINVAL, "libbpf's probe attributes");
    assert_eq!(create(false), 524, "the same without value_type_btf_obj_fd");
    eprintln!("struct_ops maps: supported (ENOTSUPP); libbpf 1.7's probe gets EINVAL here");
}

#[test]
fn helper_matrix_agrees_with_libbpf() {
    if !require_kernel() {
        return;
    }
    let ids = all_helper_ids(false);
    let types: Vec<ProgramType> = ProgramType::ALL[1..].to_vec();
    let start = Instant::now();
    let rows = helper_matrix(&types, &ids, 2);
    let ours_time = start.elapsed();
    let (mut compared, mut supported) = (0, 0);
    let start = Instant::now();
    for (t, row) in rows {
        let list = match row {
            Ok(Some(list)) => list,
            // Unsupported type: nothing to compare (libbpf's helper probe "assumes supported"
            // when the load fails without a verifier message; bpftool skips such types).
            Ok(None) => {
                assert!(!have_program_type(t).unwrap());
                continue;
            }
            // Types that cannot host helper probes: libbpf refuses them too.
            Err(e) => {
                let r = unsafe { libbpf_sys::libbpf_probe_bpf_helper(t.0, 1, std::ptr::null()) };
                assert_eq!(r, -libc::EOPNOTSUPP, "{t}: oxbpf: {e}");
                continue;
            }
        };
        let first = unsafe { libbpf_sys::libbpf_probe_bpf_helper(t.0, 1, std::ptr::null()) };
        if first == -libc::EOPNOTSUPP {
            // libbpf does not probe helpers of this type (tracing: oxbpf uses a tp_btf
            // target libbpf does not try).
            assert_eq!(t, ProgramType::TRACING, "libbpf cannot probe {t}");
            continue;
        }
        for (id, answer) in list {
            let theirs = unsafe { libbpf_sys::libbpf_probe_bpf_helper(t.0, id, std::ptr::null()) };
            assert!(theirs >= 0, "libbpf failed on {t}/{id}: {theirs}");
            assert_eq!(
                answer.supported(),
                theirs == 1,
                "{t}/{}: oxbpf {answer:?}, libbpf {theirs}",
                oxbpf::asm::helper_name(id as i32).unwrap_or("?")
            );
            compared += 1;
            supported += usize::from(theirs == 1);
        }
    }
    eprintln!(
        "helper matrix: {compared} pairs agree with libbpf 1.7 ({supported} available); \
         oxbpf {ours_time:?} on 2 threads, libbpf {:?} serial",
        start.elapsed()
    );
    assert!(
        compared > 4000 && supported > 1000,
        "{compared}/{supported}"
    );
}

#[test]
fn values_no_kernel_knows_are_unsupported() {
    if !require_kernel() {
        return;
    }
    assert!(!have_program_type(ProgramType(1000)).unwrap());
    assert!(!have_map_type(MapType(1000)).unwrap());
    assert!(!have_map_flag(Some(MapType::ARRAY), 1 << 30).unwrap());
    let unknown = probe_helpers(ProgramType::SOCKET_FILTER, &[10_000])
        .unwrap()
        .unwrap();
    assert_eq!(unknown[0].1, HelperAnswer::UnknownId);
    // A helper the kernel knows, but not for this type; and one it has for the type.
    let adjust = oxbpf::asm::helper_id("xdp_adjust_head").unwrap() as u32;
    assert_eq!(
        probe_helpers(ProgramType::SOCKET_FILTER, &[adjust])
            .unwrap()
            .unwrap()[0]
            .1,
        HelperAnswer::NotForType
    );
    assert!(have_helper(ProgramType::XDP, adjust).unwrap());
    assert!(have_program_type(ProgramType::SOCKET_FILTER).unwrap());
    assert!(have_map_type(MapType::ARRAY).unwrap());
    // Tracing helpers are probed as tp_btf programs when vmlinux BTF is available.
    if kernel::vmlinux().is_ok() && have_program_type(ProgramType::TRACING).unwrap() {
        let lookup = oxbpf::asm::helper_id("map_lookup_elem").unwrap() as u32;
        assert!(have_helper(ProgramType::TRACING, lookup).unwrap());
        assert!(!have_helper(ProgramType::TRACING, adjust).unwrap());
    }
}

#[test]
fn require_reports_one_error_kind_with_the_version() {
    if !require_kernel() {
        return;
    }
    let f = Feature::MapType(MapType(1000));
    let err = require(f).unwrap_err();
    assert!(matches!(err, FeatureError::NotSupported { feature, .. } if feature == f));
    assert_eq!(
        err.to_string(),
        "map type unknown(1000) not supported (requires >= unknown)"
    );
    let e = FeatureError::not_supported(Feature::Link(LinkKind::Xdp));
    assert_eq!(
        e.to_string(),
        "XDP bpf_link not supported (requires >= v5.9)"
    );
    // The same prefix as LinkError::NotSupported from the XDP attach path.
    let link = oxbpf::link::LinkError::NotSupported {
        feature: "XDP bpf_link",
        min_kernel: "v5.9",
        hint: "h",
    };
    assert!(link.to_string().starts_with(&e.to_string()));
    require(Feature::ProgramType(ProgramType::XDP)).unwrap();
    let top: oxbpf::Error = err.into();
    assert!(top.to_string().contains("not supported"));
}

/// Every BTF kind the kernel's own BTF uses must be accepted by BPF_BTF_LOAD.
#[test]
fn btf_kinds_in_vmlinux_are_supported() {
    if !require_kernel() {
        return;
    }
    assert!(have_btf(BtfFeature::Load).unwrap());
    let Ok(vmlinux) = kernel::vmlinux() else {
        eprintln!("SKIPPED part: no vmlinux BTF");
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for id in 1..vmlinux.types_len() {
        seen.insert(vmlinux.kind(id).unwrap());
    }
    let kinds = [
        (Kind::Func, BtfFeature::Func),
        (Kind::Datasec, BtfFeature::Datasec),
        (Kind::Float, BtfFeature::Float),
        (Kind::DeclTag, BtfFeature::DeclTag),
        (Kind::TypeTag, BtfFeature::TypeTag),
        (Kind::Enum64, BtfFeature::Enum64),
    ];
    let mut checked = 0;
    for (kind, feature) in kinds {
        if seen.contains(&kind) {
            assert!(have_btf(feature).unwrap(), "vmlinux uses {kind:?}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "vmlinux BTF uses too few kinds: {seen:?}");
    let missing = missing_btf_features().unwrap();
    for &f in BtfFeature::ALL {
        let lacks = !have_btf(f).unwrap();
        let field = match f {
            BtfFeature::Load => continue,
            BtfFeature::Func => missing.func,
            BtfFeature::FuncGlobal => missing.func_global,
            BtfFeature::Datasec => missing.datasec,
            BtfFeature::Float => missing.float,
            BtfFeature::DeclTag => missing.decl_tag,
            BtfFeature::TypeTag => missing.type_tag,
            BtfFeature::Enum64 => missing.enum64,
        };
        assert_eq!(field, lacks, "{f:?}");
    }
}

fn kernel_config() -> Option<String> {
    let out = std::process::Command::new("zcat")
        .arg("/proc/config.gz")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Link kinds that depend on a kernel option agree with the kernel's config.
#[test]
fn links_agree_with_kernel_config() {
    if !require_kernel() {
        return;
    }
    assert_eq!(
        have_link(LinkKind::Xdp).unwrap(),
        oxbpf::link::xdp_link_supported().unwrap()
    );
    let Some(config) = kernel_config() else {
        eprintln!("SKIPPED: /proc/config.gz not readable");
        return;
    };
    let set = |opt: &str| config.lines().any(|l| l == format!("{opt}=y"));
    let v = kernel_version().expect("kernel version");
    let at_least = |major, minor| (v.major, v.minor) >= (major, minor);
    if at_least(5, 18) {
        assert_eq!(
            have_link(LinkKind::KprobeMulti).unwrap(),
            set("CONFIG_FPROBE")
        );
    }
    if at_least(6, 6) {
        assert_eq!(
            have_link(LinkKind::UprobeMulti).unwrap(),
            set("CONFIG_UPROBES")
        );
        assert!(have_link(LinkKind::Tcx).unwrap());
    }
    if at_least(6, 7) {
        assert_eq!(have_link(LinkKind::Netkit).unwrap(), set("CONFIG_NETKIT"));
    }
    if at_least(5, 15) {
        assert!(have_link(LinkKind::PerfEvent).unwrap());
        assert!(have_link(LinkKind::Cgroup).unwrap());
        assert!(have_misc(Misc::BpfCookie).unwrap());
    }
}

#[test]
fn kernel_version_matches_uname() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(kernel_release(), release.trim());
    let v = kernel_version().expect("parsable kernel version");
    let uname_v = std::fs::read_to_string("/proc/sys/kernel/version").unwrap();
    let sig = std::fs::read_to_string("/proc/version_signature").ok();
    assert_eq!(
        Some(v),
        version_from(release.trim(), &uname_v, sig.as_deref())
    );
    assert_eq!(kernel_version_code(), v.code());
    assert!(v.major >= 3);
}

#[test]
fn misc_probes_and_cache() {
    if !require_kernel() {
        return;
    }
    let start = Instant::now();
    let first: Vec<_> = Misc::ALL
        .iter()
        .map(|&m| decided(&format!("{m:?}"), have_misc(m)))
        .collect();
    let first_time = start.elapsed();
    // Only decided answers are cached; undecided ones are probed again on every call.
    let known: Vec<Misc> = Misc::ALL
        .iter()
        .zip(&first)
        .filter(|(_, a)| a.is_some())
        .map(|(&m, _)| m)
        .collect();
    let start = Instant::now();
    let again: Vec<_> = known.iter().map(|&m| have_misc(m).unwrap()).collect();
    let cached_time = start.elapsed();
    assert_eq!(first.iter().flatten().copied().collect::<Vec<_>>(), again);
    eprintln!("misc probes: first {first_time:?}, cached {cached_time:?}");
    assert!(cached_time < std::time::Duration::from_millis(5));
    // ISA v4 implies v3 implies v2; large programs came with bounded-loop era verifiers.
    let has = |m: Misc| decided(&format!("{m:?}"), have_misc(m));
    if has(Misc::IsaV4) == Some(true) {
        assert!(has(Misc::IsaV3) != Some(false) && has(Misc::IsaV2) != Some(false));
    }
    // Every flag this module knows is accepted by a kernel that has arenas (v6.9+), except
    // where the map type itself is missing (or undecidable with these capabilities).
    if decided("arena", have_map_type(MapType::ARENA)) == Some(true) {
        for &f in features::map_flags::ALL {
            let t = default_map_type(f);
            let name = features::map_flags::name(f);
            assert!(
                decided(name, have_map_flag(None, f)) != Some(false)
                    || decided(name, have_map_type(t)) != Some(true),
                "{name}"
            );
        }
    }
}

#[test]
fn probe_all_is_fast() {
    if !require_kernel() {
        return;
    }
    let r = probe_all(ReportOptions::default());
    eprintln!(
        "probe_all: {:?} total, helper matrix {:?}",
        r.total_time, r.helpers_time
    );
    assert!(r.total_time.as_secs() < 10);
    assert_eq!(r.program_types.len(), ProgramType::ALL.len() - 1);
    assert_eq!(r.helpers.len(), ProgramType::ALL.len() - 1);
}

mod caps_util;

/// The probe tests above, as root without CAP_SYS_RESOURCE (as in many containers): answers
/// the kernel refuses to this process must read "not decidable with these capabilities".
#[test]
fn probes_without_cap_sys_resource() {
    caps_util::rerun_without(
        "cap_sys_resource",
        &[
            "misc_probes_and_cache",
            "program_and_map_types_agree_with_libbpf",
        ],
    );
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &["probes_without_cap_sys_resource"]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &["probes_without_cap_sys_resource"]);
}
