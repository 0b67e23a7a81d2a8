//! Static linking of one program: its entry function followed by every function it transitively
//! calls or takes the address of, with call and callback offsets rewritten for the new layout.

use super::code::{CodeSection, SlotRef, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC};
use super::ElfError;
use crate::asm::Insn;
use crate::spec::Relocation;
use std::collections::{BTreeMap, HashMap};

/// A function copied into the linked program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Piece {
    /// Its section.
    pub sec: usize,
    /// First slot in that section.
    pub src_start: usize,
    /// Number of slots.
    pub len: usize,
    /// First slot in the linked program.
    pub out_start: usize,
}

/// A linked program.
#[derive(Debug, Clone, Default)]
pub(super) struct Linked {
    pub insns: Vec<Insn>,
    pub relocations: Vec<Relocation>,
    /// The entry function first, then each appended function.
    pub pieces: Vec<Piece>,
}

/// Links the function starting at `start` in section `sec` (named `name`, for errors).
pub(super) fn link(
    code: &BTreeMap<usize, CodeSection>,
    sec: usize,
    start: usize,
    name: &str,
) -> Result<Linked, ElfError> {
    let err = |reason: String| ElfError::Program {
        name: name.to_string(),
        reason,
    };
    let mut out = Linked::default();
    let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
    let entry = code[&sec]
        .func_at(start)
        .ok_or_else(|| err(format!("no function at slot {start}")))?;
    append(&mut out, &mut placed, &code[&sec], entry.start, entry.len);

    let mut p = 0;
    while p < out.pieces.len() {
        let piece = out.pieces[p];
        let section = &code[&piece.sec];
        let mut k = 0;
        while k < piece.len {
            let src = piece.src_start + k;
            let at = piece.out_start + k;
            let insn = section.insns[src];
            let wide = insn.is_ld_imm64();
            if wide && k + 1 >= piece.len {
                return Err(err(format!(
                    "ld_imm64 at slot {src} of '{}' is cut off by the function end",
                    section.name
                )));
            }
            let target = match section.refs.get(&src) {
                Some(SlotRef::Target(t)) => {
                    out.relocations.push(Relocation {
                        insn: at,
                        target: t.clone(),
                    });
                    None
                }
                Some(SlotRef::Call { sec, slot }) => Some((*sec, *slot, BPF_PSEUDO_CALL)),
                Some(SlotRef::FuncAddr { sec, slot }) => Some((*sec, *slot, BPF_PSEUDO_FUNC)),
                None if (insn.is_call() && insn.src() == BPF_PSEUDO_CALL)
                    || (wide && insn.src() == BPF_PSEUDO_FUNC) =>
                {
                    // Unrelocated pc-relative reference inside the same section (static callee).
                    let t = src as i64 + i64::from(insn.imm) + 1;
                    let slot = usize::try_from(t).map_err(|_| {
                        err(format!(
                            "call at slot {src} of '{}' jumps before the section",
                            section.name
                        ))
                    })?;
                    Some((piece.sec, slot, insn.src()))
                }
                None => None,
            };
            if let Some((tsec, tslot, kind)) = target {
                let tcode = code.get(&tsec).ok_or_else(|| {
                    err(format!(
                        "call at slot {src} of '{}' targets a section with no code",
                        section.name
                    ))
                })?;
                let f = tcode.func_at(tslot).ok_or_else(|| {
                    err(format!(
                        "{} at slot {src} of '{}' targets slot {tslot} of '{}', which is in no function",
                        if kind == BPF_PSEUDO_CALL { "call" } else { "callback address" },
                        section.name,
                        tcode.name
                    ))
                })?;
                let (fstart, flen) = (f.start, f.len);
                let out_start = match placed.get(&(tsec, fstart)) {
                    Some(&s) => s,
                    None => append(&mut out, &mut placed, tcode, fstart, flen),
                };
                let dest = (out_start + (tslot - fstart)) as i64;
                let rel = dest - (at as i64 + 1);
                let imm = i32::try_from(rel).map_err(|_| err("linked program too large".into()))?;
                let slot = &mut out.insns[at];
                slot.imm = imm;
                slot.set_src(kind);
                if wide {
                    out.insns[at + 1].imm = 0;
                }
            }
            k += if wide { 2 } else { 1 };
        }
        p += 1;
    }
    Ok(out)
}

fn append(
    out: &mut Linked,
    placed: &mut HashMap<(usize, usize), usize>,
    code: &CodeSection,
    start: usize,
    len: usize,
) -> usize {
    let out_start = out.insns.len();
    out.insns.extend_from_slice(&code.insns[start..start + len]);
    out.pieces.push(Piece {
        sec: code.index,
        src_start: start,
        len,
        out_start,
    });
    placed.insert((code.index, start), out_start);
    out_start
}
