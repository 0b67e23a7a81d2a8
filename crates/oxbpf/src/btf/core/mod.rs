//! CO-RE (compile once, run everywhere): rewrite a program's field offsets, sizes, type ids,
//! existence checks and enum values for the kernel it runs on, as libbpf does.
//!
//! [`relocate`] is a pure function of the program's BTF, the target BTFs and the
//! instructions, so it also runs offline (`oxbpf check`). For each `bpf_core_relo` record:
//!
//! 1. the access string (`"0:1:2"`) is parsed against the local type (`spec`);
//! 2. candidates are target types of a compatible kind with the same name once `___flavor`
//!    suffixes are stripped: in the first target BTF (vmlinux), and only if it has none in
//!    the others (module BTFs) (`names`);
//! 3. each candidate is matched (members by name, through anonymous structs/unions; types
//!    by libbpf's compatibility rules, `compat`), and its value computed (`calc`).
//!    All matching candidates must agree, otherwise the relocation is ambiguous and an error.
//!    Candidates that did not match are dropped for the type's later relocations (libbpf's
//!    pruning), so one local type keeps one consistent set of candidates in a program;
//! 4. the instruction is patched, or poisoned (`call 0xbad2310`) when the target lacks what
//!    it needs — harmless in dead code, explained by [`explain_poison`] otherwise (`patch`).
//!
//! Written by hand: no crate implements CO-RE outside libbpf (C) and aya-obj (which does not
//! give libbpf's errors for ambiguity or the candidate pruning).

mod calc;
mod compat;
mod kind;
mod names;
mod patch;
mod spec;

pub use compat::{types_are_compat, types_match};
pub use kind::CoreKind;
pub use names::{essential, essential_len, essential_len_bytes};
pub use patch::POISON_HELPER_ID;

use crate::asm::Insn;
use crate::btf::{Btf, Type};
use crate::spec::CoreRelo;
use calc::{side, CalcErr, Side};
use names::{find_cands, Cand};
use patch::Res;
use std::collections::HashMap;
use std::sync::Arc;

/// The BTFs relocations are resolved against, in search order: the first is vmlinux (or an
/// external BTF replacing it); the others are module BTFs (split on the first), searched
/// only for types the first one has no candidate for.
#[derive(Debug, Clone, Copy)]
pub struct CoreTarget<'a> {
    /// Target BTFs in search order.
    pub btfs: &'a [Arc<Btf>],
}

/// What happened to one relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreResult {
    /// The record.
    pub relo: CoreRelo,
    /// Its kind.
    pub kind: CoreKind,
    /// The local access, e.g. `struct task_struct.pid (0:5)`.
    pub local_spec: String,
    /// Instruction slots it covers (2 for `ld_imm64`).
    pub slots: u32,
    /// Resolved or poisoned.
    pub outcome: CoreOutcome,
}

/// Result of one relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreOutcome {
    /// The instruction now holds `new` (it held `orig`).
    Resolved {
        /// Value computed from the local BTF (what the compiler wrote).
        orig: u64,
        /// Value for the target.
        new: u64,
        /// The target type used: (index into [`CoreTarget::btfs`], type id); `None` when no
        /// candidate matched (existence checks giving 0) or for `TypeIdLocal`.
        target_type: Option<(usize, u32)>,
    },
    /// The instruction was replaced by `call 0xbad2310`.
    Poisoned {
        /// Why the relocation could not be satisfied.
        reason: String,
    },
}

/// Errors that stop relocation (a poisoned instruction is not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A record of a kind this library does not know.
    #[error("program {program:?}: CO-RE relocation #{index} at instruction {insn} has unknown kind {kind}; hint: object built by a newer compiler than this library knows")]
    UnknownKind {
        /// Program name.
        program: String,
        /// Index of the record.
        index: usize,
        /// Instruction slot.
        insn: u32,
        /// Raw kind.
        kind: u32,
    },
    /// A relocation that cannot be applied (bad record, unsupported access, bad instruction).
    #[error("program {program:?}: CO-RE relocation #{index} ({kind}) at instruction {insn}{}: {reason}", spec_text(.local_spec))]
    Invalid {
        /// Program name.
        program: String,
        /// Index of the record.
        index: usize,
        /// Instruction slot.
        insn: u32,
        /// Kind.
        kind: CoreKind,
        /// Local access, if it could be parsed.
        local_spec: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// Several candidates match and disagree.
    #[error("program {program:?}: ambiguous CO-RE relocation at instruction {insn}: {candidates} candidates for {local_spec} give different {what}: {details}; hint: the target BTF has several compatible types with this name (flavors); rename the local type with a ___flavor suffix naming one, or make it match only one")]
    Ambiguous {
        /// Program name.
        program: String,
        /// Instruction slot.
        insn: u32,
        /// Local access.
        local_spec: String,
        /// Number of candidates considered.
        candidates: usize,
        /// `offsets` or `results`.
        what: &'static str,
        /// The two disagreeing candidates and their values.
        details: String,
    },
}

fn spec_text(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!(" for {s}")).unwrap_or_default()
}

/// Applies every CO-RE relocation of program `prog_name` to `insns` (its linked
/// instructions, `relos[i].insn_off` in slots) using `local` (the object's BTF) and `target`.
/// Returns one [`CoreResult`] per relocation, in order.
pub fn relocate(
    prog_name: &str,
    relos: &[CoreRelo],
    insns: &mut [Insn],
    local: &Btf,
    target: &CoreTarget,
) -> Result<Vec<CoreResult>, CoreError> {
    let mut cache: HashMap<u32, Vec<Cand>> = HashMap::new();
    let mut out = Vec::with_capacity(relos.len());
    for (index, r) in relos.iter().enumerate() {
        let kind = CoreKind::from_raw(r.kind).ok_or_else(|| CoreError::UnknownKind {
            program: prog_name.into(),
            index,
            insn: r.insn_off,
            kind: r.kind,
        })?;
        let mut local_spec: Option<String> = None;
        let invalid = |local_spec: &Option<String>, reason: String| CoreError::Invalid {
            program: prog_name.into(),
            index,
            insn: r.insn_off,
            kind,
            local_spec: local_spec.clone(),
            reason,
        };
        let access = local
            .str_at(r.access_str_off)
            .map_err(|e| invalid(&local_spec, format!("access string: {e}")))?;
        let lspec = spec::parse(local, r.type_id, access, kind).map_err(|e| {
            invalid(
                &local_spec,
                format!(
                    "local type [{}] {} with access {access:?}: {e}",
                    r.type_id,
                    spec::type_label(local, r.type_id)
                ),
            )
        })?;
        let desc = spec::describe(&lspec, kind);
        local_spec = Some(desc.clone());
        let (res, target_type) = if kind == CoreKind::TypeIdLocal {
            let id = r.type_id as u64;
            let res = Res {
                orig: id,
                new: id,
                ..Default::default()
            };
            (res, None)
        } else {
            let name = local.name_of(r.type_id).unwrap_or("");
            if name.is_empty() {
                return Err(invalid(
                    &local_spec,
                    "anonymous types cannot be looked up in the target (only bpf_core_type_id_local works on them)".into(),
                ));
            }
            let cands = cache
                .entry(r.type_id)
                .or_insert_with(|| find_cands(local, r.type_id, name, target));
            resolve(kind, &lspec, cands, target, prog_name, r.insn_off, &desc).map_err(
                |e| match e {
                    Resolve::Invalid(reason) => invalid(&local_spec, reason),
                    Resolve::Core(e) => e,
                },
            )?
        };
        let slots = match insns.get(r.insn_off as usize) {
            Some(i) if i.is_ld_imm64() => 2,
            _ => 1,
        };
        let outcome = match patch::patch(insns, r.insn_off as usize, &res)
            .map_err(|e| invalid(&local_spec, e))?
        {
            Some(reason) => CoreOutcome::Poisoned { reason },
            None => CoreOutcome::Resolved {
                orig: res.orig,
                new: res.new,
                target_type,
            },
        };
        tracing::debug!(program = prog_name, kind = kind.name(), spec = %desc, ?outcome, "CO-RE relocation");
        out.push(CoreResult {
            relo: *r,
            kind,
            local_spec: desc,
            slots,
            outcome,
        });
    }
    Ok(out)
}

enum Resolve {
    Invalid(String),
    Core(CoreError),
}

/// Matches every candidate, checks they agree, prunes the non-matching ones.
fn resolve(
    kind: CoreKind,
    lspec: &spec::Spec<'_>,
    cands: &mut Vec<Cand>,
    target: &CoreTarget,
    prog: &str,
    insn: u32,
    desc: &str,
) -> Result<(Res, Option<(usize, u32)>), Resolve> {
    let local_side = match side(kind, Some(lspec)) {
        Ok(s) => s,
        Err(CalcErr::Poison(r) | CalcErr::Fail(r)) => return Err(Resolve::Invalid(r)),
    };
    let mut first: Option<(spec::Spec, Res, Cand)> = None;
    let mut kept = Vec::new();
    for &c in cands.iter() {
        let tbtf = &target.btfs[c.btf];
        let Some(ts) = spec::match_spec(lspec, kind, tbtf, c.id).map_err(|e| {
            Resolve::Invalid(format!("matching candidate {}: {e}", cand_label(target, c)))
        })?
        else {
            continue;
        };
        let res = combine(kind, lspec, &local_side, Some(&ts)).map_err(Resolve::Invalid)?;
        match &first {
            None => first = Some((ts, res, c)),
            Some((fs, fres, fc)) => {
                let (what, a, b) = if fs.bit_offset != ts.bit_offset {
                    (
                        "offsets",
                        format!("bit offset {}", fs.bit_offset),
                        format!("bit offset {}", ts.bit_offset),
                    )
                } else if fres.poison.is_some() != res.poison.is_some() || fres.new != res.new {
                    ("results", res_text(fres), res_text(&res))
                } else {
                    kept.push(c);
                    continue;
                };
                return Err(Resolve::Core(CoreError::Ambiguous {
                    program: prog.into(),
                    insn,
                    local_spec: desc.into(),
                    candidates: cands.len(),
                    what,
                    details: format!(
                        "{} -> {a}, {} -> {b}",
                        cand_label(target, *fc),
                        cand_label(target, c)
                    ),
                }));
            }
        }
        kept.push(c);
    }
    match first {
        Some((_, res, c)) => {
            *cands = kept;
            Ok((res, Some((c.btf, c.id))))
        }
        None => {
            let mut res = combine(kind, lspec, &local_side, None).map_err(Resolve::Invalid)?;
            if let Some(p) = &mut res.poison {
                *p = if cands.is_empty() {
                    format!(
                        "no type named like {} in the target BTF",
                        spec::type_label(lspec.btf, lspec.root_id)
                    )
                } else {
                    format!(
                        "{p} ({} candidate type(s) checked, none has it)",
                        cands.len()
                    )
                };
            }
            Ok((res, None))
        }
    }
}

fn res_text(r: &Res) -> String {
    match &r.poison {
        Some(p) => format!("failure ({p})"),
        None => format!("value {}", r.new),
    }
}

fn cand_label(target: &CoreTarget, c: Cand) -> String {
    let label = spec::type_label(&target.btfs[c.btf], c.id);
    if target.btfs.len() > 1 {
        format!("{label} [{}] in target BTF #{}", c.id, c.btf)
    } else {
        format!("{label} [{}]", c.id)
    }
}

/// Local and target values into one patch description.
fn combine(
    kind: CoreKind,
    lspec: &spec::Spec<'_>,
    local: &Side,
    ts: Option<&spec::Spec<'_>>,
) -> Result<Res, String> {
    let mut res = Res {
        orig: local.val,
        validate: local.validate,
        orig_sz: local.field_sz,
        ..Default::default()
    };
    match side(kind, ts) {
        Ok(t) => {
            res.new = t.val;
            res.new_sz = t.field_sz;
            if let (Some(ts), true) = (ts, res.orig_sz != res.new_sz) {
                if !memsz_adjust_ok(lspec.btf, local.type_id, ts.btf, t.type_id) {
                    res.fail_memsz = Some(format!(
                        "the load/store accesses the field with {} bytes, but the target field is {} bytes and not a pointer or unsigned integer; hint: access pointers, unsigned integers, or fields of matching type and size",
                        res.orig_sz, res.new_sz
                    ));
                }
            }
        }
        Err(CalcErr::Poison(p)) => res.poison = Some(p),
        Err(CalcErr::Fail(f)) => return Err(f),
    }
    if kind == CoreKind::TypeIdTarget {
        res.validate = false;
    }
    Ok(res)
}

/// A load's width may change only for pointers and unsigned integers (zero extension keeps
/// the value).
fn memsz_adjust_ok(lb: &Btf, lid: u32, tb: &Btf, tid: u32) -> bool {
    match (lb.type_by_id(lid), tb.type_by_id(tid)) {
        (Ok(Type::Ptr(_)), Ok(Type::Ptr(_))) => true,
        (Ok(Type::Int(a)), Ok(Type::Int(b))) => a.encoding != 1 && b.encoding != 1,
        _ => false,
    }
}

/// If instruction slot `insn` was poisoned by one of `results`, explains which relocation and
/// why (for a verifier error `invalid func unknown#195896080` at that instruction).
pub fn explain_poison(results: &[CoreResult], insn: u32) -> Option<String> {
    results.iter().find_map(|r| {
        let CoreOutcome::Poisoned { reason } = &r.outcome else {
            return None;
        };
        let start = r.relo.insn_off;
        (insn >= start && insn < start + r.slots).then(|| {
            format!(
                "instruction {insn} was poisoned by CO-RE relocation {} of {}: {reason}; the verifier found it reachable. hint: guard the access with bpf_core_field_exists()/bpf_core_type_exists()/bpf_core_enum_value_exists() so the code is dead on kernels without it, or fix the local type definition",
                r.kind, r.local_spec
            )
        })
    })
}

/// Finds the instruction the verifier rejected as `unknown#195896080` in `log` and explains
/// it with [`explain_poison`].
pub fn explain_verifier_log(results: &[CoreResult], log: &str) -> Option<String> {
    let marker = format!("unknown#{POISON_HELPER_ID}");
    log.lines()
        .rev()
        .filter(|l| l.contains(&marker))
        .filter_map(|l| l.trim_start().split(':').next()?.trim().parse::<u32>().ok())
        .next()
        .and_then(|insn| explain_poison(results, insn))
        .or_else(|| {
            // No numbered line (log level too low): any poisoned relocation is the culprit
            // only if it is the only one.
            let mut p = results
                .iter()
                .filter(|r| matches!(r.outcome, CoreOutcome::Poisoned { .. }));
            match (log.contains(&marker), p.next(), p.next()) {
                (true, Some(one), None) => explain_poison(results, one.relo.insn_off),
                _ => None,
            }
        })
}
