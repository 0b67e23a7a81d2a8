//! [`probe_all`]: every probe at once, for `oxbpf probe` and diagnostics.

use super::*;
use std::time::{Duration, Instant};

/// Options for [`probe_all`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// Also probe [`NOISY_HELPERS`] (their probes log warnings in the kernel log).
    pub full_helpers: bool,
    /// Threads for the helper matrix (0: one per CPU).
    pub threads: usize,
}

/// One probe's answer.
pub type Answer = Result<bool, FeatureError>;

/// The answers of every probe.
#[derive(Debug)]
pub struct Report {
    /// `uname -r`.
    pub kernel_release: String,
    /// The kernel version (with distribution quirks applied).
    pub kernel_version: Option<KernelVersion>,
    /// Per program type (all known values except `unspec`).
    pub program_types: Vec<(ProgramType, Answer)>,
    /// Per map type (all known values except `unspec`).
    pub map_types: Vec<(MapType, Answer)>,
    /// Per map flag, on its default map type.
    pub map_flags: Vec<(u32, MapType, Answer)>,
    /// Helper availability per program type.
    pub helpers: Vec<HelperRow>,
    /// Per link kind.
    pub links: Vec<(LinkKind, Answer)>,
    /// Per BTF feature.
    pub btf: Vec<(BtfFeature, Answer)>,
    /// Misc features.
    pub misc: Vec<(Misc, Answer)>,
    /// Time spent on the helper matrix.
    pub helpers_time: Duration,
    /// Time spent on everything.
    pub total_time: Duration,
}

/// Runs every probe (answers already cached are reused).
pub fn probe_all(opts: ReportOptions) -> Report {
    let start = Instant::now();
    let (kernel_release, _) = version::uname();
    let prog_types: Vec<ProgramType> = ProgramType::ALL[1..].to_vec();
    let program_types = prog_types
        .iter()
        .map(|&t| (t, have_program_type(t)))
        .collect();
    let map_types = MapType::ALL[1..]
        .iter()
        .map(|&t| (t, have_map_type(t)))
        .collect();
    let map_flags = map_flags::ALL
        .iter()
        .map(|&f| (f, default_map_type(f), have_map_flag(None, f)))
        .collect();
    let links = LinkKind::ALL.iter().map(|&k| (k, have_link(k))).collect();
    let btf = BtfFeature::ALL.iter().map(|&b| (b, have_btf(b))).collect();
    let misc = Misc::ALL.iter().map(|&m| (m, have_misc(m))).collect();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let h0 = Instant::now();
    let helpers = helper_matrix(&prog_types, &all_helper_ids(opts.full_helpers), threads);
    let helpers_time = h0.elapsed();
    Report {
        kernel_release,
        kernel_version: kernel_version(),
        program_types,
        map_types,
        map_flags,
        helpers,
        links,
        btf,
        misc,
        helpers_time,
        total_time: start.elapsed(),
    }
}
