//! The first upstream release of each feature: for error messages and documentation only.
//! Every decision is made by probing the running kernel (distributions backport features,
//! and configs turn them off).

use super::feature::{BtfFeature, Feature, LinkKind, Misc};
use super::map_flags::*;
use crate::spec::{MapType, ProgramType};

/// The first release with program type `t` (`"unknown"` for values this table lacks).
pub fn program_type(t: ProgramType) -> &'static str {
    match t {
        ProgramType::SOCKET_FILTER => "v3.19",
        ProgramType::KPROBE | ProgramType::SCHED_CLS => "v4.1",
        ProgramType::SCHED_ACT => "v4.1",
        ProgramType::TRACEPOINT => "v4.7",
        ProgramType::XDP => "v4.8",
        ProgramType::PERF_EVENT => "v4.9",
        ProgramType::CGROUP_SKB | ProgramType::CGROUP_SOCK => "v4.10",
        ProgramType::LWT_IN | ProgramType::LWT_OUT | ProgramType::LWT_XMIT => "v4.10",
        ProgramType::SOCK_OPS => "v4.13",
        ProgramType::SK_SKB => "v4.14",
        ProgramType::CGROUP_DEVICE => "v4.15",
        ProgramType::SK_MSG | ProgramType::RAW_TRACEPOINT => "v4.17",
        ProgramType::CGROUP_SOCK_ADDR => "v4.17",
        ProgramType::LWT_SEG6LOCAL | ProgramType::LIRC_MODE2 => "v4.18",
        ProgramType::SK_REUSEPORT => "v4.19",
        ProgramType::FLOW_DISSECTOR => "v4.20",
        ProgramType::CGROUP_SYSCTL | ProgramType::RAW_TRACEPOINT_WRITABLE => "v5.2",
        ProgramType::CGROUP_SOCKOPT => "v5.3",
        ProgramType::TRACING => "v5.5",
        ProgramType::STRUCT_OPS | ProgramType::EXT => "v5.6",
        ProgramType::LSM => "v5.7",
        ProgramType::SK_LOOKUP => "v5.9",
        ProgramType::SYSCALL => "v5.14",
        ProgramType::NETFILTER => "v6.4",
        _ => "unknown",
    }
}

/// The first release with map type `t`.
pub fn map_type(t: MapType) -> &'static str {
    match t {
        MapType::HASH | MapType::ARRAY => "v3.19",
        MapType::PROG_ARRAY => "v4.2",
        MapType::PERF_EVENT_ARRAY => "v4.3",
        MapType::PERCPU_HASH | MapType::PERCPU_ARRAY | MapType::STACK_TRACE => "v4.6",
        MapType::CGROUP_ARRAY => "v4.8",
        MapType::LRU_HASH | MapType::LRU_PERCPU_HASH => "v4.10",
        MapType::LPM_TRIE => "v4.11",
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS => "v4.12",
        MapType::DEVMAP | MapType::SOCKMAP => "v4.14",
        MapType::CPUMAP => "v4.15",
        MapType::XSKMAP | MapType::SOCKHASH => "v4.18",
        MapType::CGROUP_STORAGE | MapType::REUSEPORT_SOCKARRAY => "v4.19",
        MapType::PERCPU_CGROUP_STORAGE | MapType::QUEUE | MapType::STACK => "v4.20",
        MapType::SK_STORAGE => "v5.2",
        MapType::DEVMAP_HASH => "v5.4",
        MapType::STRUCT_OPS => "v5.6",
        MapType::RINGBUF => "v5.8",
        MapType::INODE_STORAGE => "v5.10",
        MapType::TASK_STORAGE => "v5.11",
        MapType::BLOOM_FILTER => "v5.16",
        MapType::USER_RINGBUF => "v6.1",
        MapType::CGRP_STORAGE => "v6.2",
        MapType::ARENA => "v6.9",
        _ => "unknown",
    }
}

/// The first release accepting map flag `flag` (on its default map type).
pub fn map_flag(flag: u32) -> &'static str {
    match flag {
        BPF_F_NO_PREALLOC => "v4.6",
        BPF_F_NO_COMMON_LRU => "v4.10",
        BPF_F_NUMA_NODE => "v4.14",
        BPF_F_RDONLY | BPF_F_WRONLY => "v4.15",
        BPF_F_STACK_BUILD_ID => "v4.17",
        BPF_F_ZERO_SEED => "v5.0",
        BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG => "v5.2",
        BPF_F_CLONE => "v5.4",
        BPF_F_MMAPABLE => "v5.5",
        BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP => "v5.10",
        BPF_F_SEGV_ON_FAULT | BPF_F_NO_USER_CONV => "v6.9",
        _ => "unknown",
    }
}

/// The first release with link kind `k` (plus the config it needs, if any).
pub fn link(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Cgroup => "v5.7",
        LinkKind::Xdp => "v5.9",
        LinkKind::PerfEvent => "v5.15",
        LinkKind::KprobeMulti => "v5.18 with CONFIG_FPROBE",
        LinkKind::Tcx => "v6.6",
        LinkKind::UprobeMulti => "v6.6 with CONFIG_UPROBES",
        LinkKind::Netkit => "v6.7 with CONFIG_NETKIT",
    }
}

/// The first release with BTF feature `b`.
pub fn btf(b: BtfFeature) -> &'static str {
    match b {
        BtfFeature::Load => "v4.18",
        BtfFeature::Func => "v5.0",
        BtfFeature::Datasec => "v5.2",
        BtfFeature::FuncGlobal => "v5.6",
        BtfFeature::Float => "v5.13",
        BtfFeature::DeclTag => "v5.16",
        BtfFeature::TypeTag => "v5.17",
        BtfFeature::Enum64 => "v6.0",
    }
}

/// The first release with misc feature `m`.
pub fn misc(m: Misc) -> &'static str {
    match m {
        Misc::IsaV2 => "v4.14",
        Misc::IsaV3 => "v5.1",
        Misc::LargeInsns => "v5.2",
        Misc::BoundedLoops => "v5.3",
        Misc::MemcgAccounting => "v5.11",
        Misc::BpfCookie => "v5.15",
        Misc::IsaV4 => "v6.6",
    }
}

impl Feature {
    /// The first upstream release with this feature (documentation; see the module docs).
    /// Helpers have no per-helper table: `"a kernel offering it to this program type"`.
    pub fn min_kernel(&self) -> &'static str {
        match *self {
            Feature::ProgramType(t) => program_type(t),
            Feature::MapType(t) => map_type(t),
            Feature::MapFlag { flag, .. } => map_flag(flag),
            Feature::Helper(..) => "a kernel offering it to this program type",
            Feature::Link(k) => link(k),
            Feature::Btf(b) => btf(b),
            Feature::Misc(m) => misc(m),
        }
    }
}
