//! Feature probes on the real kernel, and what they say when the kernel answers like an older one.

use oxbpf::features::{self, FeatureError};
use oxbpf::spec::{MapType, ProgramType};

mod coll_support;
use coll_support::require_kernel;

#[test]
fn this_kernel_has_the_basics() {
    if !require_kernel() {
        return;
    }
    for t in [
        ProgramType::XDP,
        ProgramType::SCHED_CLS,
        ProgramType::SOCKET_FILTER,
        ProgramType::SYSCALL,
    ] {
        assert!(features::have_program_type(t).unwrap(), "{t}");
    }
    for t in [
        MapType::ARRAY,
        MapType::HASH,
        MapType::RINGBUF,
        MapType::LPM_TRIE,
        MapType::TASK_STORAGE,
    ] {
        assert!(features::have_map_type(t).unwrap(), "{t}");
    }
    assert!(!features::have_map_type(MapType(999)).unwrap());
    assert!(!features::have_program_type(ProgramType(999)).unwrap());
    // bpf_map_lookup_elem (1) from XDP; bpf_sys_bpf (166) only from syscall programs.
    assert!(features::have_helper(ProgramType::XDP, 1).unwrap());
    assert!(!features::have_helper(ProgramType::XDP, 166).unwrap());
    let why = features::helper_refusal(ProgramType::XDP, 166).expect("refused");
    assert!(why.contains("bpf_sys_bpf"), "{why}");
    assert!(features::have_helper(ProgramType::SYSCALL, 166).unwrap());
    assert!(features::have_bounded_loops().unwrap());
    assert!(features::have_isa(3).unwrap());
    assert!(features::have_large_insns().unwrap());
    assert!(matches!(
        features::have_helper(ProgramType::TRACING, 1),
        Err(FeatureError::Unprobeable { .. }) | Ok(false)
    ));
    let e = features::require_map_type(MapType(999)).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("not supported (requires >= a newer kernel)"),
        "{e}"
    );
}

#[test]
fn kernel_version_matches_uname() {
    let v = features::kernel_version();
    let release = oxbpf::btf::kernel::release();
    assert!(
        release.starts_with(&format!("{}.{}", v.major, v.minor)),
        "{v} vs {release}"
    );
}

#[cfg(feature = "fault-injection")]
#[test]
fn old_kernel_answers_make_probes_say_no() {
    use oxbpf::sys::{fault::Guard, Cmd};
    if !require_kernel() {
        return;
    }
    features::reset_cache();
    {
        let _f = Guard::fail(Cmd::MapCreate, libc::EINVAL).and(Cmd::ProgLoad, libc::EINVAL);
        assert!(!features::have_map_type(MapType::RINGBUF).unwrap());
        assert!(!features::have_program_type(ProgramType::SK_LOOKUP).unwrap());
        let e = features::require_map_type(MapType::RINGBUF).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ringbuf maps not supported (requires >= v5.8)"
        );
    }
    {
        // Unprivileged answers are reported, not cached as "no".
        let _f = Guard::fail(Cmd::MapCreate, libc::EPERM);
        features::reset_cache();
        assert!(matches!(
            features::have_map_type(MapType::HASH),
            Err(FeatureError::Probe { .. })
        ));
    }
    features::reset_cache();
    assert!(features::have_map_type(MapType::RINGBUF).unwrap());
    assert!(features::have_program_type(ProgramType::SK_LOOKUP).unwrap());
}
