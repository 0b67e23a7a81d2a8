//! `.BTF.ext` records (byte offsets per ELF section) re-based onto linked programs (slot
//! offsets from the program start, covering every appended subprogram).

use super::code::CodeSection;
use super::link::Piece;
use super::ElfError;
use crate::btf::BtfExt;
use crate::spec::ProgramSpec;
use std::collections::BTreeMap;

/// Maps a record's byte offset in `sec` to its linked slot, if the piece covers it.
fn rebase(piece: &Piece, insn_off: u32, sec: &str) -> Result<Option<u32>, ElfError> {
    if insn_off % 8 != 0 {
        return Err(ElfError::Format(format!(
            ".BTF.ext record for '{sec}' at byte offset {insn_off} is not instruction-aligned"
        )));
    }
    let slot = (insn_off / 8) as usize;
    Ok(
        (slot >= piece.src_start && slot < piece.src_start + piece.len)
            .then(|| (piece.out_start + slot - piece.src_start) as u32),
    )
}

/// Fills `prog`'s func_info, line_info and CO-RE relocations from `ext`.
pub(super) fn attach(
    prog: &mut ProgramSpec,
    pieces: &[Piece],
    code: &BTreeMap<usize, CodeSection>,
    ext: &BtfExt,
) -> Result<(), ElfError> {
    for piece in pieces {
        let sec = code[&piece.sec].name.as_str();
        for r in ext.func_info.get(sec).into_iter().flatten() {
            if let Some(off) = rebase(piece, r.insn_off, sec)? {
                prog.func_info.push(crate::spec::FuncInfo {
                    insn_off: off,
                    ..*r
                });
            }
        }
        for r in ext.line_info.get(sec).into_iter().flatten() {
            if let Some(off) = rebase(piece, r.insn_off, sec)? {
                prog.line_info.push(crate::spec::LineInfo {
                    insn_off: off,
                    ..*r
                });
            }
        }
        for r in ext.core_relos.get(sec).into_iter().flatten() {
            if let Some(off) = rebase(piece, r.insn_off, sec)? {
                prog.core_relos.push(crate::spec::CoreRelo {
                    insn_off: off,
                    ..*r
                });
            }
        }
    }
    prog.func_info.sort_by_key(|r| r.insn_off);
    prog.line_info.sort_by_key(|r| r.insn_off);
    prog.core_relos.sort_by_key(|r| r.insn_off);
    Ok(())
}
