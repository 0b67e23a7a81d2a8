//! The kernel BTF id a BTF-typed program (tp_btf, fentry/fexit/fmod_ret, lsm, iter) attaches to.

use super::kernel_btf::KernelBtfs;
use super::LoadError;
use crate::btf::Kind;
use crate::spec::{AttachType, ProgramSpec, ProgramType};

/// `(btf name, kind)` to look up for `p`, or `None` when it needs no attach BTF id.
pub fn target(p: &ProgramSpec) -> Option<(String, Kind)> {
    let to = p.attach_to.as_deref()?;
    let at = p.expected_attach_type?;
    match (p.prog_type, at) {
        (ProgramType::TRACING, AttachType::TRACE_RAW_TP) => {
            Some((format!("btf_trace_{to}"), Kind::Typedef))
        }
        (ProgramType::TRACING, AttachType::TRACE_ITER) => {
            Some((format!("bpf_iter_{to}"), Kind::Func))
        }
        (ProgramType::TRACING, _) => Some((to.to_string(), Kind::Func)),
        (ProgramType::LSM, _) => Some((format!("bpf_lsm_{to}"), Kind::Func)),
        _ => None,
    }
}

/// Resolves the attach BTF id of `p` in the running kernel's vmlinux BTF; `Ok(None)` when it
/// needs none.
pub fn resolve(p: &ProgramSpec, kb: &KernelBtfs) -> Result<Option<u32>, LoadError> {
    let Some((name, kind)) = target(p) else {
        return Ok(None);
    };
    let err = |reason: String| LoadError::AttachTarget {
        program: p.name.clone(),
        target: name.clone(),
        reason,
    };
    let vmlinux = kb.running().map_err(err)?;
    vmlinux
        .find_by_name_kind(&name, kind)
        .map(Some)
        .ok_or_else(|| {
            err(format!(
                "no {kind:?} {name:?} in the kernel's BTF (is the function inlined or absent?)"
            ))
        })
}
