//! Verifier and instruction-set probes: load a socket filter that uses the feature.
//!
//! | feature        | program                                                         |
//! |----------------|-----------------------------------------------------------------|
//! | bounded loops  | `r0 = 10; loop: r0 -= 1; if r0 != 0 goto loop; exit`            |
//! | ISA v2         | `if r0 < 0 goto +1` (`BPF_JLT`)                                 |
//! | ISA v3         | `if w0 < 0 goto +1` (`BPF_JMP32`)                               |
//! | ISA v4         | `r0 = (s8)r0`, `r0 s/= 1`, `r0 = bswap16 r0`, `gotol +0`        |
//! | large programs | 4096 × `r0 = 1`, then `exit` (one over the old 4096 limit)       |
//!
//! Loaded ⇒ supported; `EINVAL`/`E2BIG` ⇒ not (the verifier rejects the back-edge, the
//! opcode, or the length); other errors are inconclusive. BPF cookies are the helper probe
//! for `bpf_get_attach_cookie` in tracepoint programs; memory-cgroup accounting is
//! [`crate::prog::memlock_charged`] inverted.

use super::probe::{self, Loaded, ProbeProg};
use super::{cache, Feature, FeatureError, Misc};
use crate::asm::opcode::*;
use crate::asm::Insn;
use crate::spec::ProgramType;

/// `bpf_get_attach_cookie`.
const HELPER_GET_ATTACH_COOKIE: u32 = 174;

fn program(m: Misc) -> Vec<Insn> {
    let exit = Insn::exit();
    match m {
        Misc::BoundedLoops => vec![
            Insn::mov64_imm(0, 10),
            Insn::alu64_imm(BPF_SUB, 0, 1),
            Insn::jmp_imm(BPF_JNE, 0, 0, -2),
            exit,
        ],
        Misc::IsaV2 => vec![
            Insn::mov64_imm(0, 0),
            Insn::jmp_imm(BPF_JLT, 0, 0, 1),
            Insn::mov64_imm(0, 1),
            exit,
        ],
        Misc::IsaV3 => vec![
            Insn::mov64_imm(0, 0),
            Insn::jmp32_imm(BPF_JLT, 0, 0, 1),
            Insn::mov64_imm(0, 1),
            exit,
        ],
        Misc::IsaV4 => vec![
            Insn::mov64_imm(0, 0),
            Insn::movsx64(0, 0, 8),
            // Signed division: BPF_DIV with off = 1.
            Insn::new(BPF_ALU64 | BPF_DIV | BPF_K, 0, 0, 1, 1),
            Insn::bswap(0, 16),
            Insn::gotol(0),
            exit,
        ],
        Misc::LargeInsns => {
            let mut v = vec![Insn::mov64_imm(0, 1); 4096];
            v.push(exit);
            v
        }
        Misc::BpfCookie | Misc::MemcgAccounting => Vec::new(),
    }
}

/// Whether this kernel has misc feature `m` (probed once per process).
pub fn have_misc(m: Misc) -> Result<bool, FeatureError> {
    let feature = Feature::Misc(m);
    cache::cached(feature, || match m {
        Misc::BpfCookie => super::have_helper(ProgramType::TRACEPOINT, HELPER_GET_ATTACH_COOKIE)
            .map_err(|e| match e {
                FeatureError::NeedsCapabilities { needs, source, .. } => {
                    FeatureError::NeedsCapabilities {
                        feature,
                        needs,
                        source,
                    }
                }
                e => FeatureError::Inconclusive {
                    feature,
                    reason: e.to_string(),
                },
            }),
        Misc::MemcgAccounting => crate::prog::memlock_charged()
            .map(|charged| !charged)
            .map_err(|e| FeatureError::Inconclusive {
                feature,
                reason: e.to_string(),
            }),
        _ => {
            let insns = program(m);
            let p = ProbeProg {
                prog_type: ProgramType::SOCKET_FILTER,
                insns: &insns,
                ..Default::default()
            };
            match probe::load(&p, false) {
                Loaded::Fd(_) => Ok(true),
                Loaded::Failed { err, .. } if err.is_unsupported() => Ok(false),
                Loaded::Failed { err, .. } => Err(FeatureError::Probe {
                    feature,
                    source: err,
                }),
            }
        }
    })
}
