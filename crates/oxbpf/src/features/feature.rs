//! [`Feature`]: every probe-able kernel feature as one value, with its display name.

use crate::spec::{MapType, ProgramType};
use std::fmt;

/// A kernel feature that can be probed ([`have`](super::have), [`require`](super::require)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// A program type can be loaded.
    ProgramType(ProgramType),
    /// A map type can be created.
    MapType(MapType),
    /// A `map_flags` bit is accepted by a map type.
    MapFlag {
        /// The map type the flag is tried on.
        map_type: MapType,
        /// The flag (`map_flags::*`).
        flag: u32,
    },
    /// Programs of a type may call a helper (by `enum bpf_func_id`).
    Helper(ProgramType, u32),
    /// A kind of `bpf_link`.
    Link(LinkKind),
    /// A BTF feature (`BPF_BTF_LOAD` accepts a kind).
    Btf(BtfFeature),
    /// Verifier and instruction-set features.
    Misc(Misc),
}

/// Kinds of `bpf_link` that [`have_link`](super::have_link) probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// cgroup links (`BPF_LINK_TYPE_CGROUP`).
    Cgroup,
    /// XDP links (`BPF_LINK_TYPE_XDP`).
    Xdp,
    /// perf_event links for kprobe/uprobe/tracepoint programs (`BPF_LINK_TYPE_PERF_EVENT`).
    PerfEvent,
    /// Multi-kprobe links (`BPF_TRACE_KPROBE_MULTI`; needs `CONFIG_FPROBE`).
    KprobeMulti,
    /// tc express links (`BPF_TCX_INGRESS/EGRESS`).
    Tcx,
    /// Multi-uprobe links (`BPF_TRACE_UPROBE_MULTI`; needs `CONFIG_UPROBES`).
    UprobeMulti,
    /// netkit device links (`BPF_NETKIT_PRIMARY/PEER`; needs `CONFIG_NETKIT`).
    Netkit,
}

impl LinkKind {
    /// Every kind, in order of appearance in the kernel.
    pub const ALL: &'static [LinkKind] = &[
        LinkKind::Cgroup,
        LinkKind::Xdp,
        LinkKind::PerfEvent,
        LinkKind::KprobeMulti,
        LinkKind::Tcx,
        LinkKind::UprobeMulti,
        LinkKind::Netkit,
    ];

    /// Short lower-case name (`"xdp"`, `"kprobe_multi"`...).
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Cgroup => "cgroup",
            LinkKind::Xdp => "xdp",
            LinkKind::PerfEvent => "perf_event",
            LinkKind::KprobeMulti => "kprobe_multi",
            LinkKind::Tcx => "tcx",
            LinkKind::UprobeMulti => "uprobe_multi",
            LinkKind::Netkit => "netkit",
        }
    }
}

/// BTF features that [`have_btf`](super::have_btf) probes (one minimal blob each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BtfFeature {
    /// `BPF_BTF_LOAD` itself (an INT-only blob).
    Load,
    /// `BTF_KIND_FUNC` and `FUNC_PROTO`.
    Func,
    /// Global linkage of `BTF_KIND_FUNC`.
    FuncGlobal,
    /// `BTF_KIND_VAR` and `DATASEC`.
    Datasec,
    /// `BTF_KIND_FLOAT`.
    Float,
    /// `BTF_KIND_DECL_TAG`.
    DeclTag,
    /// `BTF_KIND_TYPE_TAG`.
    TypeTag,
    /// `BTF_KIND_ENUM64`.
    Enum64,
}

impl BtfFeature {
    /// Every BTF feature.
    pub const ALL: &'static [BtfFeature] = &[
        BtfFeature::Load,
        BtfFeature::Func,
        BtfFeature::FuncGlobal,
        BtfFeature::Datasec,
        BtfFeature::Float,
        BtfFeature::DeclTag,
        BtfFeature::TypeTag,
        BtfFeature::Enum64,
    ];

    /// Short name (`"func_global"`, `"enum64"`...), as in [`crate::btf::MissingFeatures`].
    pub fn name(self) -> &'static str {
        match self {
            BtfFeature::Load => "btf",
            BtfFeature::Func => "func",
            BtfFeature::FuncGlobal => "func_global",
            BtfFeature::Datasec => "datasec",
            BtfFeature::Float => "float",
            BtfFeature::DeclTag => "decl_tag",
            BtfFeature::TypeTag => "type_tag",
            BtfFeature::Enum64 => "enum64",
        }
    }
}

/// Verifier, instruction-set and accounting features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Misc {
    /// Bounded loops (back-edges the verifier can prove terminate).
    BoundedLoops,
    /// ISA v2: `BPF_JLT`, `BPF_JLE`, `BPF_JSLT`, `BPF_JSLE`.
    IsaV2,
    /// ISA v3: the `BPF_JMP32` class.
    IsaV3,
    /// ISA v4: sign-extending moves/loads, signed division, `bswap`, `gotol`.
    IsaV4,
    /// Programs longer than 4096 instructions (1M-instruction verifier limit).
    LargeInsns,
    /// BPF cookies (`bpf_get_attach_cookie`).
    BpfCookie,
    /// BPF memory charged to memory cgroups instead of `RLIMIT_MEMLOCK`.
    MemcgAccounting,
}

impl Misc {
    /// Every misc feature.
    pub const ALL: &'static [Misc] = &[
        Misc::BoundedLoops,
        Misc::IsaV2,
        Misc::IsaV3,
        Misc::IsaV4,
        Misc::LargeInsns,
        Misc::BpfCookie,
        Misc::MemcgAccounting,
    ];

    /// Short name (`"bounded_loops"`, `"isa_v4"`...).
    pub fn name(self) -> &'static str {
        match self {
            Misc::BoundedLoops => "bounded_loops",
            Misc::IsaV2 => "isa_v2",
            Misc::IsaV3 => "isa_v3",
            Misc::IsaV4 => "isa_v4",
            Misc::LargeInsns => "large_insns",
            Misc::BpfCookie => "bpf_cookie",
            Misc::MemcgAccounting => "memcg_accounting",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Feature::ProgramType(t) => write!(f, "program type {t}"),
            Feature::MapType(t) => write!(f, "map type {t}"),
            Feature::MapFlag { map_type, flag } => write!(
                f,
                "map flag {} on {map_type} maps",
                super::map_flags::name(flag)
            ),
            Feature::Helper(t, id) => match crate::asm::helper_name(id as i32) {
                Some(n) => write!(f, "helper {n} in {t} programs"),
                None => write!(f, "helper #{id} in {t} programs"),
            },
            Feature::Link(k) => match k {
                LinkKind::Xdp => f.write_str("XDP bpf_link"),
                LinkKind::KprobeMulti => f.write_str("kprobe.multi bpf_link"),
                LinkKind::UprobeMulti => f.write_str("uprobe.multi bpf_link"),
                k => write!(f, "{} bpf_link", k.name()),
            },
            Feature::Btf(b) => match b {
                BtfFeature::Load => f.write_str("BTF (BPF_BTF_LOAD)"),
                BtfFeature::Func => f.write_str("BTF kind FUNC"),
                BtfFeature::FuncGlobal => f.write_str("BTF global FUNC linkage"),
                BtfFeature::Datasec => f.write_str("BTF kinds VAR/DATASEC"),
                BtfFeature::Float => f.write_str("BTF kind FLOAT"),
                BtfFeature::DeclTag => f.write_str("BTF kind DECL_TAG"),
                BtfFeature::TypeTag => f.write_str("BTF kind TYPE_TAG"),
                BtfFeature::Enum64 => f.write_str("BTF kind ENUM64"),
            },
            Feature::Misc(m) => f.write_str(match m {
                Misc::BoundedLoops => "bounded loops",
                Misc::IsaV2 => "ISA v2 instructions (BPF_JLT...)",
                Misc::IsaV3 => "ISA v3 instructions (BPF_JMP32)",
                Misc::IsaV4 => "ISA v4 instructions (sign extension, sdiv, bswap, gotol)",
                Misc::LargeInsns => "programs over 4096 instructions",
                Misc::BpfCookie => "BPF cookies (bpf_get_attach_cookie)",
                Misc::MemcgAccounting => "memory-cgroup accounting of BPF memory",
            }),
        }
    }
}
