//! Kernel feature probes: what the running kernel supports, decided by asking it — never by
//! its version number (distributions backport features, configs turn them off).
//!
//! Each probe does the smallest thing that needs the feature and reads the kernel's answer:
//! program types load `r0 = 0; exit` ([`have_program_type`]), map types create a
//! one-element map ([`have_map_type`], [`have_map_flag`]), helpers load `call helper; exit`
//! and read the verifier log like bpftool ([`have_helper`], [`helper_matrix`]), links call
//! `BPF_LINK_CREATE` against a target that cannot exist and read the errno ([`have_link`]),
//! BTF kinds load a minimal blob each ([`have_btf`], [`missing_btf_features`]), and
//! verifier/ISA features load a program using them ([`have_misc`]). Each module documents
//! its probes' logic.
//!
//! Answers are cached for the process. Only conclusive answers are cached: a refusal to a
//! caller short of capabilities is returned as [`FeatureError::NeedsCapabilities`] ("not
//! decidable with these capabilities: needs CAP_BPF"), other errors (`EPERM` by policy,
//! `ENOMEM`) as [`FeatureError::Probe`], and the next call probes again. [`require`] turns "not supported" into one matchable error kind,
//! [`FeatureError::NotSupported`], reading `"<feature> not supported (requires >= vX.Y)"`; the
//! version comes from a table kept for messages only ([`Feature::min_kernel`]).
//!
//! Kernel release and version code ([`kernel_version`]) follow libbpf's distribution quirks.

mod btf;
mod cache;
mod error;
mod feature;
mod helper;
mod link;
mod map;
pub mod map_flags;
mod misc;
mod probe;
mod prog;
mod report;
pub mod table;
mod version;

pub use btf::{have_btf, missing_btf_features};
#[cfg(feature = "fault-injection")]
pub use cache::reset_cache;
pub use error::FeatureError;
pub use feature::{BtfFeature, Feature, LinkKind, Misc};
pub use helper::{
    all_helper_ids, have_helper, helper_matrix, probe_helpers, HelperAnswer, HelperRow,
    NOISY_HELPERS,
};
pub use link::have_link;
pub use map::{have_map_flag, have_map_type};
pub use map_flags::default_map_type;
pub use misc::have_misc;
pub use prog::have_program_type;
pub use report::{probe_all, Answer, Report, ReportOptions};
pub use version::{
    kernel_release, kernel_version, kernel_version_code, version_from, KernelVersion,
};

use crate::spec::{MapType, ProgramType};

/// Whether the running kernel has `feature` (probed once per process; see the module docs).
pub fn have(feature: Feature) -> Result<bool, FeatureError> {
    match feature {
        Feature::ProgramType(t) => have_program_type(t),
        Feature::MapType(t) => have_map_type(t),
        Feature::MapFlag { map_type, flag } => have_map_flag(Some(map_type), flag),
        Feature::Helper(t, id) => have_helper(t, id),
        Feature::Link(k) => have_link(k),
        Feature::Btf(b) => have_btf(b),
        Feature::Misc(m) => have_misc(m),
    }
}

/// `Ok(())` if the kernel has `feature`, [`FeatureError::NotSupported`] if it does not, and
/// the probe's error if it could not tell.
pub fn require(feature: Feature) -> Result<(), FeatureError> {
    if have(feature)? {
        Ok(())
    } else {
        Err(FeatureError::not_supported(feature))
    }
}
