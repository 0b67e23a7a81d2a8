//! `BPF_F_*` map creation flags, their names, and the map type each is probed on.

use crate::spec::MapType;

/// Hash-style maps allocate elements on demand.
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
/// LRU maps keep per-CPU LRU lists.
pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
/// `numa_node` is valid.
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
/// User space may only read.
pub const BPF_F_RDONLY: u32 = 1 << 3;
/// User space may only write.
pub const BPF_F_WRONLY: u32 = 1 << 4;
/// Stack trace maps store build ids.
pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
/// Hash seed zero (tests only).
pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
/// Programs may only read.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// Programs may only write.
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
/// Local storage is cloned to child sockets.
pub const BPF_F_CLONE: u32 = 1 << 9;
/// The map can be `mmap`ed.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// perf event arrays keep events when the map fd is closed.
pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
/// Inner maps of map-in-map may differ in `max_entries`.
pub const BPF_F_INNER_MAP: u32 = 1 << 12;
/// Arena page faults from programs raise SIGSEGV in user space.
pub const BPF_F_SEGV_ON_FAULT: u32 = 1 << 17;
/// Arena pointers are not converted to user addresses.
pub const BPF_F_NO_USER_CONV: u32 = 1 << 18;

/// Every flag [`have_map_flag`](super::have_map_flag) knows how to probe.
pub const ALL: &[u32] = &[
    BPF_F_NO_PREALLOC,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY,
    BPF_F_WRONLY,
    BPF_F_STACK_BUILD_ID,
    BPF_F_ZERO_SEED,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY_PROG,
    BPF_F_CLONE,
    BPF_F_MMAPABLE,
    BPF_F_PRESERVE_ELEMS,
    BPF_F_INNER_MAP,
    BPF_F_SEGV_ON_FAULT,
    BPF_F_NO_USER_CONV,
];

/// The uapi name of a single flag (`"BPF_F_MMAPABLE"`), `"BPF_F_?"` for others.
pub fn name(flag: u32) -> &'static str {
    match flag {
        BPF_F_NO_PREALLOC => "BPF_F_NO_PREALLOC",
        BPF_F_NO_COMMON_LRU => "BPF_F_NO_COMMON_LRU",
        BPF_F_NUMA_NODE => "BPF_F_NUMA_NODE",
        BPF_F_RDONLY => "BPF_F_RDONLY",
        BPF_F_WRONLY => "BPF_F_WRONLY",
        BPF_F_STACK_BUILD_ID => "BPF_F_STACK_BUILD_ID",
        BPF_F_ZERO_SEED => "BPF_F_ZERO_SEED",
        BPF_F_RDONLY_PROG => "BPF_F_RDONLY_PROG",
        BPF_F_WRONLY_PROG => "BPF_F_WRONLY_PROG",
        BPF_F_CLONE => "BPF_F_CLONE",
        BPF_F_MMAPABLE => "BPF_F_MMAPABLE",
        BPF_F_PRESERVE_ELEMS => "BPF_F_PRESERVE_ELEMS",
        BPF_F_INNER_MAP => "BPF_F_INNER_MAP",
        BPF_F_SEGV_ON_FAULT => "BPF_F_SEGV_ON_FAULT",
        BPF_F_NO_USER_CONV => "BPF_F_NO_USER_CONV",
        _ => "BPF_F_?",
    }
}

/// The map type a flag is probed on when none is given (one that has accepted it since the
/// flag appeared).
pub fn default_map_type(flag: u32) -> MapType {
    match flag {
        BPF_F_NO_COMMON_LRU => MapType::LRU_HASH,
        BPF_F_STACK_BUILD_ID => MapType::STACK_TRACE,
        BPF_F_CLONE => MapType::SK_STORAGE,
        BPF_F_PRESERVE_ELEMS => MapType::PERF_EVENT_ARRAY,
        BPF_F_SEGV_ON_FAULT | BPF_F_NO_USER_CONV => MapType::ARENA,
        BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ZERO_SEED => MapType::HASH,
        _ => MapType::ARRAY,
    }
}
