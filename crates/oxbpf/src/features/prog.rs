//! Program type probes: load `r0 = 0; exit` as that type.
//!
//! The verifier log decides: the kernel looks the type up before anything writes to the
//! log, so a load that fails *with* a verifier log still proves the type is known (tracing
//! programs without an attach target, struct_ops without a struct). A load that fails with
//! `EINVAL`/`E2BIG` and an empty log means the type is unknown. Anything else (`EPERM`...)
//! is inconclusive.
//!
//! Per-type settings (facts from the kernel's `bpf_prog_load_check_attach`): sock_addr,
//! sockopt, sk_lookup, lirc and netfilter programs need a matching `expected_attach_type`;
//! syscall programs must be sleepable; kprobes get `kern_version` (kernels before 5.0 check
//! it); tracing programs use `tp_btf` without a BTF id (the verifier then logs that an id is
//! needed, after the type lookup).

use super::probe::{self, Loaded, ProbeProg, RET0};
use super::{cache, Feature, FeatureError};
use crate::spec::{AttachType, ProgramType};

/// `BPF_F_SLEEPABLE`.
const BPF_F_SLEEPABLE: u32 = 1 << 4;

/// The probe program for type `t` running `insns`.
pub(crate) fn probe_prog(t: ProgramType, insns: &[crate::asm::Insn]) -> ProbeProg<'_> {
    let mut p = ProbeProg {
        prog_type: t,
        insns,
        ..Default::default()
    };
    let attach = match t {
        ProgramType::CGROUP_SOCK_ADDR => Some(AttachType::CGROUP_INET4_CONNECT),
        ProgramType::CGROUP_SOCKOPT => Some(AttachType::CGROUP_GETSOCKOPT),
        ProgramType::SK_LOOKUP => Some(AttachType::SK_LOOKUP),
        ProgramType::LIRC_MODE2 => Some(AttachType::LIRC_MODE2),
        ProgramType::NETFILTER => Some(AttachType::NETFILTER),
        ProgramType::TRACING => Some(AttachType::TRACE_RAW_TP),
        ProgramType::LSM => Some(AttachType::LSM_MAC),
        _ => None,
    };
    p.expected_attach_type = attach.map_or(0, |a| a.0);
    match t {
        ProgramType::KPROBE => p.kern_version = super::kernel_version_code(),
        ProgramType::SYSCALL => p.flags = BPF_F_SLEEPABLE,
        _ => {}
    }
    p
}

/// Whether this kernel can load programs of type `t` (probed once per process).
pub fn have_program_type(t: ProgramType) -> Result<bool, FeatureError> {
    let feature = Feature::ProgramType(t);
    cache::cached(feature, || match probe::load(&probe_prog(t, &RET0), true) {
        Loaded::Fd(_) => Ok(true),
        Loaded::Failed { log, .. } if !log.trim().is_empty() => Ok(true),
        Loaded::Failed { err, .. } if err.is_unsupported() => Ok(false),
        Loaded::Failed { err, .. } => Err(FeatureError::Probe {
            feature,
            source: err,
        }),
    })
}
