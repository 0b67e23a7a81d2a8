//! Helper probes, the technique of bpftool and libbpf: load `call <helper>; exit` as the
//! program type and read the verifier log.
//!
//! * `invalid func <name>#<id>`: the kernel does not know the helper id at all.
//! * `unknown func <name>#<id>` (kernels before 6.x) or `program of this type cannot use
//!   helper <name>#<id>` (newer kernels): the helper exists, but not for this program type.
//! * Any other outcome (the program loads, or the verifier fails later, e.g. on an argument
//!   type): the helper is available to this program type. The verifier resolves the helper's
//!   prototype before it checks arguments, so the probe needs no valid arguments.
//!
//! The probe is only meaningful where a minimal program of the type loads. Tracing programs
//! are probed as `tp_btf` programs attached to the `sched_switch` raw tracepoint (found in
//! the kernel's BTF); a few helpers differ for fentry/fexit/fmod_ret (e.g.
//! `bpf_get_func_ret`). Types that need a target this module cannot provide (lsm, ext,
//! struct_ops) are reported as inconclusive, as bpftool does.
//!
//! [`helper_matrix`] probes many types at once on parallel threads; every answer lands in
//! the same cache [`have_helper`] reads.

use super::probe::{self, Loaded, ProbeProg, RET0};
use super::prog::probe_prog;
use super::{cache, Feature, FeatureError};
use crate::asm::Insn;
use crate::spec::ProgramType;
use std::sync::OnceLock;

/// Helpers whose *probe* has a side effect, skipped by [`all_helper_ids`] with `full =
/// false` (as bpftool does): `bpf_trace_printk` and `bpf_trace_vprintk` make the kernel
/// print a warning banner and allocate trace buffers, `bpf_probe_write_user` logs a warning.
pub const NOISY_HELPERS: &[u32] = &[6, 36, 177];

/// How one helper probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelperAnswer {
    /// The program loaded: available.
    Loaded,
    /// The verifier accepted the call and failed later for another reason: available.
    OtherError,
    /// `invalid func`: the kernel does not know this helper id.
    UnknownId,
    /// `unknown func` / `program of this type cannot use helper`: not for this type.
    NotForType,
}

impl HelperAnswer {
    /// True if programs of the type may call the helper.
    pub fn supported(self) -> bool {
        matches!(self, HelperAnswer::Loaded | HelperAnswer::OtherError)
    }
}

/// Helper ids `1..=MAX_HELPER_ID`, without [`NOISY_HELPERS`] unless `full`.
pub fn all_helper_ids(full: bool) -> Vec<u32> {
    (1..=crate::asm::MAX_HELPER_ID as u32)
        .filter(|id| full || !NOISY_HELPERS.contains(id))
        .collect()
}

/// Classifies one probe load.
fn classify(t: ProgramType, id: u32, loaded: Loaded) -> Result<HelperAnswer, FeatureError> {
    let feature = Feature::Helper(t, id);
    match loaded {
        Loaded::Fd(_) => Ok(HelperAnswer::Loaded),
        Loaded::Failed { log, .. } if log.contains("invalid func ") => Ok(HelperAnswer::UnknownId),
        Loaded::Failed { log, .. }
            if log.contains("unknown func ")
                || log.contains("program of this type cannot use helper ") =>
        {
            Ok(HelperAnswer::NotForType)
        }
        Loaded::Failed { log, .. } if !log.trim().is_empty() => Ok(HelperAnswer::OtherError),
        Loaded::Failed { err, .. } => Err(FeatureError::Probe {
            feature,
            source: err,
        }
        .classify()),
    }
}

/// BTF id of the `btf_trace_sched_switch` typedef in vmlinux BTF: a `tp_btf` target.
fn tp_btf_target() -> Option<u32> {
    static ID: OnceLock<Option<u32>> = OnceLock::new();
    *ID.get_or_init(|| {
        let vmlinux = crate::btf::kernel::vmlinux().ok()?;
        vmlinux.find_by_name_kind("btf_trace_sched_switch", crate::btf::Kind::Typedef)
    })
}

/// The probe program of type `t` running `insns`, with an attach target where one is needed.
fn host_prog(t: ProgramType, insns: &[Insn]) -> ProbeProg<'_> {
    let mut p = probe_prog(t, insns);
    if t == ProgramType::TRACING {
        p.attach_btf_id = tp_btf_target().unwrap_or(0);
    }
    p
}

/// Checks that type `t` can host helper probes (a minimal program of it loads).
fn check_host(t: ProgramType, id: u32) -> Result<bool, FeatureError> {
    let feature = Feature::Helper(t, id);
    if !super::have_program_type(t)? {
        return Ok(false);
    }
    match probe::load(&host_prog(t, &RET0), false) {
        Loaded::Fd(_) => Ok(true),
        Loaded::Failed { err, .. } => Err(FeatureError::Inconclusive {
            feature,
            reason: format!(
                "a minimal {t} program does not load without an attach target ({err}); \
                 helpers of this type cannot be probed this way"
            ),
        }),
    }
}

fn probe_one(t: ProgramType, id: u32) -> Result<HelperAnswer, FeatureError> {
    let insns = [Insn::call_helper(id as i32), Insn::exit()];
    let answer = classify(t, id, probe::load(&host_prog(t, &insns), true))?;
    cache::put(Feature::Helper(t, id), answer.supported());
    Ok(answer)
}

/// Whether programs of type `t` may call helper `id` (`enum bpf_func_id`; see
/// [`crate::asm::helper_id`]). `Ok(false)` also when the type itself is unsupported.
pub fn have_helper(t: ProgramType, id: u32) -> Result<bool, FeatureError> {
    let feature = Feature::Helper(t, id);
    if let Some(v) = cache::get(feature) {
        return Ok(v);
    }
    if !check_host(t, id)? {
        cache::put(feature, false);
        return Ok(false);
    }
    probe_one(t, id).map(HelperAnswer::supported)
}

/// Probes helpers `ids` for type `t` in one pass: one load per helper. `Ok(None)` if the
/// type is not supported; `Err` if the type cannot host helper probes.
pub fn probe_helpers(
    t: ProgramType,
    ids: &[u32],
) -> Result<Option<Vec<(u32, HelperAnswer)>>, FeatureError> {
    let first = ids.first().copied().unwrap_or(1);
    if !check_host(t, first)? {
        return Ok(None);
    }
    ids.iter()
        .map(|&id| probe_one(t, id).map(|a| (id, a)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// One row of [`helper_matrix`].
pub type HelperRow = (
    ProgramType,
    Result<Option<Vec<(u32, HelperAnswer)>>, FeatureError>,
);

/// [`probe_helpers`] for every type in `types`, spread over up to `threads` threads
/// (at least 1). Rows come back in the order of `types`.
pub fn helper_matrix(types: &[ProgramType], ids: &[u32], threads: usize) -> Vec<HelperRow> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<HelperRow>>> = Mutex::new((0..types.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, types.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&t) = types.get(i) else { break };
                let row = (t, probe_helpers(t, ids));
                rows.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(row);
            });
        }
    });
    rows.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}
