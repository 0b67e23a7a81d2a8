//! Executable sections: their functions (by symbol), and what each relocated instruction refers to.

use super::reader::{ElfObject, Section, Symbol};
use super::ElfError;
use crate::asm::Insn;
use crate::spec::RelocTarget;
use object::elf;
use std::collections::{BTreeMap, HashMap};

/// `src_reg` of a bpf-to-bpf call.
pub(super) const BPF_PSEUDO_CALL: u8 = 1;
/// `src_reg` of an `ld_imm64` loading a function's address (callbacks).
pub(super) const BPF_PSEUDO_FUNC: u8 = 4;

/// `R_BPF_NONE`.
const R_BPF_NONE: u32 = 0;
/// `R_BPF_64_64`: `ld_imm64` of a symbol.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: call of a symbol.
const R_BPF_64_32: u32 = 10;

/// One function inside an executable section.
#[derive(Debug, Clone)]
pub(super) struct Func {
    pub name: String,
    /// First slot in its section.
    pub start: usize,
    /// Number of slots.
    pub len: usize,
}

/// What a relocated (or pc-relative) instruction refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SlotRef {
    /// A call of the function slot `slot` of section `sec`.
    Call { sec: usize, slot: usize },
    /// An `ld_imm64` of the address of slot `slot` of section `sec`.
    FuncAddr { sec: usize, slot: usize },
    /// A load-time target.
    Target(RelocTarget),
}

/// An executable section, decoded.
#[derive(Debug, Clone)]
pub(super) struct CodeSection {
    pub index: usize,
    pub name: String,
    pub insns: Vec<Insn>,
    /// Functions sorted by start slot.
    pub funcs: Vec<Func>,
    /// Relocated slots.
    pub refs: BTreeMap<usize, SlotRef>,
}

impl CodeSection {
    /// The function containing `slot`.
    pub fn func_at(&self, slot: usize) -> Option<&Func> {
        self.funcs
            .iter()
            .find(|f| slot >= f.start && slot < f.start + f.len)
    }
}

/// Decodes `sec` and finds its functions.
pub(super) fn decode_section(
    obj: &ElfObject<'_>,
    sec: &Section<'_>,
) -> Result<CodeSection, ElfError> {
    let insns = Insn::decode_all(sec.data).ok_or_else(|| {
        ElfError::Format(format!(
            "code section '{}' is {} bytes, not a whole number of 8-byte instructions",
            sec.name,
            sec.data.len()
        ))
    })?;
    let syms: Vec<&Symbol<'_>> = obj
        .symbols_in(sec.index)
        .into_iter()
        .filter(|s| s.kind == elf::STT_FUNC && !s.name.is_empty())
        .collect();
    let mut funcs = Vec::new();
    for (i, s) in syms.iter().enumerate() {
        if s.value % 8 != 0 || s.size % 8 != 0 {
            return Err(ElfError::Format(format!(
                "function '{}' in '{}' is not instruction-aligned (offset {:#x}, size {})",
                s.name, sec.name, s.value, s.size
            )));
        }
        let start = (s.value / 8) as usize;
        // Size 0 (hand-written assembly): up to the next function or the section end.
        let end = if s.size == 0 {
            syms.get(i + 1)
                .map_or(insns.len(), |n| (n.value / 8) as usize)
        } else {
            start.saturating_add((s.size / 8) as usize)
        };
        if start >= insns.len() || end > insns.len() || end <= start {
            return Err(ElfError::Format(format!(
                "function '{}' ({:#x}+{}) lies outside section '{}' ({} bytes)",
                s.name,
                s.value,
                s.size,
                sec.name,
                sec.data.len()
            )));
        }
        if let Some(prev) = funcs.last() {
            let prev: &Func = prev;
            if start < prev.start + prev.len {
                return Err(ElfError::Format(format!(
                    "functions '{}' and '{}' overlap in section '{}'",
                    prev.name, s.name, sec.name
                )));
            }
        }
        funcs.push(Func {
            name: s.name.to_string(),
            start,
            len: end - start,
        });
    }
    if funcs.is_empty() && !insns.is_empty() && sec.name != ".text" {
        // No FUNC symbol (e.g. plain assembly): the whole section is one program,
        // named after a global symbol at offset 0 if any, else after the section.
        let name = obj
            .symbols_in(sec.index)
            .into_iter()
            .find(|s| s.value == 0 && s.is_global() && !s.name.is_empty())
            .map_or_else(
                || sec.name.replace(['/', '.', '?'], "_"),
                |s| s.name.to_string(),
            );
        funcs.push(Func {
            name,
            start: 0,
            len: insns.len(),
        });
    }
    Ok(CodeSection {
        index: sec.index,
        name: sec.name.to_string(),
        insns,
        funcs,
        refs: BTreeMap::new(),
    })
}

/// Which non-code section kinds relocations may point at.
#[derive(Debug, Clone, Default)]
pub(super) struct Targets {
    /// Map definitions by (section, offset) → map name (`.maps` and legacy `maps`).
    pub maps: HashMap<(usize, u64), String>,
    /// Sections holding map definitions.
    pub map_sections: Vec<usize>,
    /// Global-data sections by index → (map name, size).
    pub data: HashMap<usize, (String, u64)>,
}

/// How an extern is used by instructions.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ExternUse {
    pub called: bool,
    pub loaded: bool,
}

/// Resolves every relocation of `code`, filling `code.refs` and recording extern uses.
pub(super) fn resolve_relocations(
    obj: &ElfObject<'_>,
    code: &mut CodeSection,
    targets: &Targets,
    externs: &mut BTreeMap<String, ExternUse>,
) -> Result<(), ElfError> {
    let Some(rels) = obj.rels.get(&code.index) else {
        return Ok(());
    };
    for rel in rels {
        let err = |reason: String| ElfError::Relocation {
            section: code.name.clone(),
            offset: rel.offset,
            reason,
        };
        if rel.r_type == R_BPF_NONE {
            continue;
        }
        if rel.offset % 8 != 0 || rel.offset / 8 >= code.insns.len() as u64 {
            return Err(err(format!(
                "offset is not an instruction of the section ({} instructions)",
                code.insns.len()
            )));
        }
        let slot = (rel.offset / 8) as usize;
        let insn = code.insns[slot];
        let sym = &obj.symbols[rel.sym];
        let is_call = insn.is_call();
        if !is_call && !insn.is_ld_imm64() {
            return Err(err(format!(
                "relocation against '{}' on instruction opcode {:#04x}, expected a call or ld_imm64",
                sym.name, insn.code
            )));
        }
        if insn.is_ld_imm64() && slot + 1 >= code.insns.len() {
            return Err(err("ld_imm64 is missing its second slot".into()));
        }
        match (rel.r_type, is_call) {
            (R_BPF_64_64, false) | (R_BPF_64_32, true) => {}
            (t, _) => {
                return Err(err(format!(
                    "unsupported relocation type {t} against '{}'",
                    sym.name
                )))
            }
        }
        let imm = i64::from(insn.imm);
        let target = if sym.is_undef() {
            if sym.name.is_empty() || !sym.is_global() {
                return Err(err(
                    "relocation against an unnamed or local undefined symbol".into(),
                ));
            }
            let u = externs.entry(sym.name.to_string()).or_default();
            if is_call {
                u.called = true;
            } else {
                u.loaded = true;
            }
            SlotRef::Target(RelocTarget::Extern(sym.name.to_string()))
        } else if let Some(tsec) = sym.section() {
            let tsection = obj.sections.get(tsec).ok_or_else(|| {
                err(format!(
                    "symbol '{}' is in section {tsec}, which does not exist",
                    sym.name
                ))
            })?;
            if tsection.is_exec() {
                if sym.value % 8 != 0 {
                    return Err(err(format!(
                        "function symbol '{}' is not instruction-aligned",
                        sym.name
                    )));
                }
                let base = (sym.value / 8) as i64;
                if is_call {
                    if insn.src() != BPF_PSEUDO_CALL {
                        return Err(err(format!(
                            "call of '{}' with src_reg {}, expected {BPF_PSEUDO_CALL} (bpf-to-bpf call)",
                            sym.name,
                            insn.src()
                        )));
                    }
                    SlotRef::Call {
                        sec: tsec,
                        slot: slot_index(base + imm + 1)
                            .ok_or_else(|| err("call target before the section".into()))?,
                    }
                } else {
                    if imm % 8 != 0 {
                        return Err(err(format!(
                            "address of '{}' with unaligned addend {imm}",
                            sym.name
                        )));
                    }
                    SlotRef::FuncAddr {
                        sec: tsec,
                        slot: slot_index(base + imm / 8)
                            .ok_or_else(|| err("function address before the section".into()))?,
                    }
                }
            } else if is_call {
                return Err(err(format!(
                    "call of '{}', which is in non-code section '{}'",
                    sym.name, tsection.name
                )));
            } else if targets.map_sections.contains(&tsec) {
                let off = if sym.kind == elf::STT_SECTION {
                    sym.value.wrapping_add_signed(imm)
                } else {
                    sym.value
                };
                let name = targets.maps.get(&(tsec, off)).ok_or_else(|| {
                    err(format!(
                        "no map is defined at offset {off} of '{}' (symbol '{}')",
                        tsection.name, sym.name
                    ))
                })?;
                SlotRef::Target(RelocTarget::Map(name.clone()))
            } else if let Some((map, size)) = targets.data.get(&tsec) {
                let off = (sym.value as i64)
                    .checked_add(imm)
                    .filter(|o| (0..=*size as i64).contains(o));
                let off = off.ok_or_else(|| {
                    err(format!(
                        "'{}'+{imm} is outside data section '{}' ({size} bytes)",
                        sym.name, tsection.name
                    ))
                })?;
                SlotRef::Target(RelocTarget::MapValue {
                    map: map.clone(),
                    offset: off as u32,
                })
            } else {
                return Err(err(format!(
                    "'{}' is in section '{}', which is not code, a map section or a global data section",
                    sym.name, tsection.name
                )));
            }
        } else {
            let hint = if sym.shndx == elf::SHN_COMMON {
                " (a COMMON symbol: initialize the global variable or compile with -fno-common)"
            } else {
                ""
            };
            return Err(err(format!(
                "relocation against special symbol '{}'{hint}",
                sym.name
            )));
        };
        code.refs.insert(slot, target);
    }
    Ok(())
}

fn slot_index(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}
