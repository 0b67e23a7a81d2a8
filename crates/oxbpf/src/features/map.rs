//! Map type and map flag probes: create a one-element map of that type (with the flag) and
//! close it.
//!
//! Each type gets the smallest attributes its kernel check accepts (key/value sizes, zero
//! `max_entries` for storage maps, a page for ring buffers, `BPF_F_MMAPABLE` for arenas).
//! Local-storage maps (sk/inode/task/cgrp storage) need BTF for their key and value: a
//! one-INT blob is loaded for them. Map-in-map types get an inner array. struct_ops maps are
//! created with a value type id that names no struct_ops type: a kernel that knows the map
//! type answers `ENOTSUPP` (524), one that does not answers `EINVAL`.
//!
//! `EINVAL`/`E2BIG`/`EOPNOTSUPP` mean "not supported"; other errors are inconclusive.

use super::map_flags::*;
use super::{cache, Feature, FeatureError};
use crate::spec::MapType;
use crate::sys::{self, attr::MapCreateAttr, SysError};

/// The kernel-internal `ENOTSUPP`.
const ENOTSUPP: i32 = 524;
use std::os::fd::{AsRawFd, OwnedFd};

/// The smallest attributes a kernel accepts for map type `t`.
fn base_attr(t: MapType) -> MapCreateAttr {
    let mut a = MapCreateAttr {
        map_type: t.0,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    match t {
        MapType::STACK_TRACE => a.value_size = 8,
        MapType::LPM_TRIE => {
            a.key_size = 8;
            a.value_size = 8;
            a.map_flags = BPF_F_NO_PREALLOC;
        }
        MapType::CGROUP_STORAGE | MapType::PERCPU_CGROUP_STORAGE => {
            a.key_size = 16; // struct bpf_cgroup_storage_key
            a.value_size = 8;
            a.max_entries = 0;
        }
        MapType::QUEUE | MapType::STACK | MapType::BLOOM_FILTER => a.key_size = 0,
        MapType::RINGBUF | MapType::USER_RINGBUF => {
            a.key_size = 0;
            a.value_size = 0;
            a.max_entries = page_size();
        }
        MapType::ARENA => {
            a.key_size = 0;
            a.value_size = 0;
            a.map_flags = BPF_F_MMAPABLE;
        }
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => {
            a.max_entries = 0;
            a.map_flags = BPF_F_NO_PREALLOC;
        }
        MapType::STRUCT_OPS => a.btf_vmlinux_value_type_id = 1,
        _ => {}
    }
    a
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u32
    } else {
        4096
    }
}

fn needs_btf(t: MapType) -> bool {
    matches!(
        t,
        MapType::SK_STORAGE
            | MapType::INODE_STORAGE
            | MapType::TASK_STORAGE
            | MapType::CGRP_STORAGE
    )
}

/// Creates a map of type `t` with `flags` added; `Ok(false)` if the kernel refuses it as
/// unknown.
fn try_create(t: MapType, flags: u32, feature: Feature) -> Result<bool, FeatureError> {
    let mut a = base_attr(t);
    a.map_flags |= flags;
    if flags & BPF_F_STACK_BUILD_ID != 0 {
        a.value_size = 32; // one struct bpf_stack_build_id
    }
    let inconclusive = |source: SysError| FeatureError::Probe { feature, source };
    let _inner: Option<OwnedFd> = if t.is_map_in_map() {
        let inner = sys::map_create(&base_attr(MapType::ARRAY)).map_err(inconclusive)?;
        a.inner_map_fd = inner.as_raw_fd() as u32;
        Some(inner)
    } else {
        None
    };
    let _btf: Option<OwnedFd> = if needs_btf(t) {
        match super::btf::int_only_btf() {
            Ok(fd) => {
                a.btf_fd = fd.as_raw_fd() as u32;
                a.btf_key_type_id = 1;
                a.btf_value_type_id = 1;
                Some(fd)
            }
            // No BTF at all: no map type that needs it either.
            Err(e) if e.is_unsupported() => return Ok(false),
            Err(e) => return Err(inconclusive(e)),
        }
    } else {
        None
    };
    match sys::map_create(&a) {
        Ok(_fd) => Ok(true),
        Err(e) if t == MapType::STRUCT_OPS && e.errno == ENOTSUPP => Ok(true),
        Err(e) if e.is_unsupported() => Ok(false),
        Err(e) => Err(inconclusive(e)),
    }
}

/// Whether this kernel can create maps of type `t` (probed once per process).
pub fn have_map_type(t: MapType) -> Result<bool, FeatureError> {
    let feature = Feature::MapType(t);
    cache::cached(feature, || try_create(t, 0, feature))
}

/// Whether map type `map_type` (default: [`default_map_type`] of the flag) accepts
/// `map_flags` bit `flag` (one of [`super::map_flags`]). A flag that makes no sense for the
/// given type reads as unsupported.
pub fn have_map_flag(map_type: Option<MapType>, flag: u32) -> Result<bool, FeatureError> {
    let map_type = map_type.unwrap_or_else(|| default_map_type(flag));
    let feature = Feature::MapFlag { map_type, flag };
    cache::cached(feature, || try_create(map_type, flag, feature))
}
