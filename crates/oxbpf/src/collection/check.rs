//! Offline compatibility check: what loading a spec against some kernel BTF would do to each
//! program's CO-RE relocations and externs, without creating any kernel object.
//!
//! Verdicts: a strong extern that is missing (or incompatible) and a CO-RE relocation that
//! cannot be applied at all are **errors** (the load would fail). A poisoned CO-RE relocation
//! fails the load only if the verifier reaches it; a reachability pass over the relocated
//! program ([`super::reach`]) decides: `reachable` on a path whose branches known values
//! decide is an **error**, `unknown` (behind branches on values only the kernel knows) a
//! **warning**, `unreachable` (the normal outcome of a `bpf_core_field_exists()` guard) fine.
//! Weak externs that are missing are fine (0 / poisoned
//! call behind `bpf_ksym_exists()`). Typeless ksyms can only be checked against the running
//! kernel's `/proc/kallsyms`; with external BTF they are reported as unchecked.
//!
//! Also errors: a program whose licence is not GPL-compatible calling a GPL-only helper or any
//! kfunc (the verifier refuses both), and a BTF-typed program (tp_btf, fentry/fexit/fmod_ret,
//! lsm, iter) whose attach target is not in the target's BTF.

use super::externs::{self, KernelSymbols, Resolution};
use super::kernel_btf::ModuleBtf;
use super::reach::{reachability, Reach};
use crate::asm::gpl::{is_gpl_only_helper, licence_is_gpl_compatible};
use crate::asm::helper_name;
use crate::btf::core::{self, CoreOutcome, CoreResult, CoreTarget};
use crate::btf::Btf;
use crate::spec::{CollectionSpec, ExternKind, ProgramSpec};
use std::collections::HashMap;
use std::sync::Arc;

/// The kernel a spec is checked against.
pub struct CheckTarget {
    /// vmlinux BTF (or external BTF standing in for it).
    pub vmlinux: Arc<Btf>,
    /// Module BTFs (split on `vmlinux`), searched when vmlinux lacks a type or symbol.
    pub modules: Vec<ModuleBtf>,
    /// Kernel symbol addresses for typeless ksyms (`None`: not known for this target).
    pub kallsyms: Option<HashMap<String, u64>>,
}

impl KernelSymbols for CheckTarget {
    fn vmlinux(&self) -> Result<Arc<Btf>, String> {
        Ok(self.vmlinux.clone())
    }
    fn modules(&self) -> &[ModuleBtf] {
        &self.modules
    }
    fn kallsyms(&self, name: &str) -> Result<Option<u64>, String> {
        match &self.kallsyms {
            Some(t) => Ok(t.get(name).copied()),
            None => Err(
                "typeless ksym: its address is known only from the target kernel's /proc/kallsyms"
                    .into(),
            ),
        }
    }
}

/// One extern as a program sees it.
#[derive(Debug, Clone)]
pub struct ExternCheck {
    /// Symbol name.
    pub name: String,
    /// Kind.
    pub kind: ExternKind,
    /// Declared `__weak`.
    pub weak: bool,
    /// Resolution against the target.
    pub resolution: Resolution,
}

/// The check of one program.
#[derive(Debug, Clone)]
pub struct ProgramCheck {
    /// Program name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// One result per CO-RE relocation, or the error that stops relocation.
    pub core: Result<Vec<CoreResult>, String>,
    /// Externs the program references.
    pub externs: Vec<ExternCheck>,
    /// Calls the program's licence does not allow (GPL-only helpers, kfuncs), as text.
    pub licence: Vec<String>,
    /// The BTF attach target (tp_btf, fentry...): `Ok(name)` when found, `Err(why)` when not;
    /// `None` for programs without one.
    pub attach_target: Option<Result<String, String>>,
    /// Each poisoned relocation's instruction and whether the verifier would reach it.
    pub poisoned: Vec<PoisonReach>,
}

/// A poisoned instruction and its reachability.
#[derive(Debug, Clone)]
pub struct PoisonReach {
    /// Instruction slot.
    pub insn: u32,
    /// What the relocation asked for, e.g. `byte_off struct task_struct.pid (0:5)`.
    pub what: String,
    /// Why it was poisoned.
    pub reason: String,
    /// Reachability after relocation.
    pub reach: Reach,
    /// `file:line: code` of the instruction, from line info.
    pub source: Option<String>,
}

impl PoisonReach {
    fn text(&self, verdict: &str) -> String {
        let src = self
            .source
            .as_deref()
            .map(|s| format!(" at {s}"))
            .unwrap_or_default();
        format!(
            "instruction {} ({}) poisoned{src}: {}; {verdict}",
            self.insn, self.what, self.reason
        )
    }
}

impl ProgramCheck {
    /// Reasons the program cannot load (empty when it can, as far as offline checks go).
    pub fn errors(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Err(e) = &self.core {
            v.push(e.clone());
        }
        for e in &self.externs {
            if let Resolution::Missing(why) = &e.resolution {
                v.push(format!("extern {}: {why}", e.name));
            }
        }
        v.extend(
            self.poisoned
                .iter()
                .filter(|p| p.reach == Reach::Reachable)
                .map(|p| {
                    p.text(
                        "reachable on a path every branch of which is decided, so the load fails",
                    )
                }),
        );
        v.extend(self.licence.iter().cloned());
        if let Some(Err(why)) = &self.attach_target {
            v.push(why.clone());
        }
        v
    }

    /// Poisoned relocations whose reachability depends on values only the kernel knows,
    /// and unchecked externs.
    pub fn warnings(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .poisoned
            .iter()
            .filter(|p| p.reach == Reach::Unknown)
            .map(|p| {
                p.text("reachable only through branches on values unknown here (memory, maps, helpers): the load fails if the verifier reaches it")
            })
            .collect();
        for e in &self.externs {
            if let Resolution::Unchecked(why) = &e.resolution {
                v.push(format!("extern {}: {why}", e.name));
            }
        }
        v
    }
}

/// Checks every program of `spec` against `target`.
pub fn check(spec: &CollectionSpec, target: &CheckTarget) -> Vec<ProgramCheck> {
    let mut btfs = vec![target.vmlinux.clone()];
    btfs.extend(target.modules.iter().map(|m| m.btf.clone()));
    spec.programs
        .values()
        .map(|p| {
            let mut insns = p.instructions.clone();
            let core = if p.core_relos.is_empty() {
                Ok(Vec::new())
            } else {
                match spec.btf.as_deref() {
                    None => Err("the object has CO-RE relocations but no .BTF".to_string()),
                    Some(local) => core::relocate(
                        &p.name,
                        &p.core_relos,
                        &mut insns,
                        local,
                        &CoreTarget { btfs: &btfs },
                    )
                    .map_err(|e| e.to_string()),
                }
            };
            let poisoned = poison_reach(p, &insns, core.as_deref().unwrap_or(&[]), spec);
            let externs: Vec<ExternCheck> = externs::used_externs(&[p])
                .into_iter()
                .filter_map(|n| spec.externs.get(n))
                .map(|e| ExternCheck {
                    name: e.name.clone(),
                    kind: e.kind,
                    weak: e.weak,
                    resolution: externs::resolve_one(spec.btf.as_deref(), e, target),
                })
                .collect();
            ProgramCheck {
                name: p.name.clone(),
                section: p.section.clone(),
                core,
                licence: licence_errors(p, &externs),
                attach_target: attach_target(p, &btfs),
                externs,
                poisoned,
            }
        })
        .collect()
}

/// Reachability of each poisoned relocation of `p` in its relocated instructions.
fn poison_reach(
    p: &crate::spec::ProgramSpec,
    insns: &[crate::asm::Insn],
    core: &[CoreResult],
    spec: &CollectionSpec,
) -> Vec<PoisonReach> {
    if !core
        .iter()
        .any(|r| matches!(r.outcome, CoreOutcome::Poisoned { .. }))
    {
        return Vec::new();
    }
    let reach = reachability(insns);
    let lookup = spec
        .btf
        .as_deref()
        .map(|b| super::source_lookup(&p.line_info, b));
    core.iter()
        .filter_map(|r| {
            let CoreOutcome::Poisoned { reason } = &r.outcome else {
                return None;
            };
            let insn = r.relo.insn_off;
            Some(PoisonReach {
                insn,
                what: format!("{} {}", r.kind.name(), r.local_spec),
                reason: reason.clone(),
                reach: reach.get(insn as usize).copied().unwrap_or(Reach::Unknown),
                source: lookup.as_ref().and_then(|f| f(insn)),
            })
        })
        .collect()
}

/// Calls the verifier refuses because the program's licence is not GPL-compatible.
fn licence_errors(p: &ProgramSpec, externs: &[ExternCheck]) -> Vec<String> {
    if licence_is_gpl_compatible(&p.license) {
        return Vec::new();
    }
    let licence = if p.license.is_empty() {
        "the object has no licence".to_string()
    } else {
        format!("licence {:?} is not GPL-compatible", p.license)
    };
    let fix = "declare a GPL-compatible one, e.g. `char LICENSE[] SEC(\"license\") = \"GPL\";`";
    let mut helpers: Vec<u32> = p
        .instructions
        .iter()
        .filter(|i| i.is_helper_call() && i.imm > 0 && is_gpl_only_helper(i.imm as u32))
        .map(|i| i.imm as u32)
        .collect();
    helpers.sort_unstable();
    helpers.dedup();
    let mut v: Vec<String> = helpers
        .into_iter()
        .map(|id| {
            format!(
                "{licence}, but it calls the GPL-only helper {}#{id}: the verifier refuses it; {fix}",
                helper_name(id as i32).unwrap_or("?")
            )
        })
        .collect();
    v.extend(
        externs
            .iter()
            .filter(|e| e.kind == ExternKind::Kfunc)
            .map(|e| {
                format!(
            "{licence}, but it calls kfunc {}: kfuncs are for GPL-compatible programs only; {fix}",
            e.name
        )
            }),
    );
    v
}

/// Looks up the program's BTF attach target in `btfs` (vmlinux first, then modules).
fn attach_target(p: &ProgramSpec, btfs: &[Arc<Btf>]) -> Option<Result<String, String>> {
    let (name, kind) = super::attach_btf::target(p)?;
    if btfs
        .iter()
        .any(|b| b.find_by_name_kind(&name, kind).is_some())
    {
        return Some(Ok(name));
    }
    Some(Err(format!(
        "attach target {name:?} ({kind:?}) is not in the target BTF: the load fails \
         (the function or tracepoint is absent or inlined in that kernel)"
    )))
}
