//! Writing a relocation's result into its instruction, or poisoning the instruction.

use crate::asm::opcode::{
    class, size as size_bits, BPF_ALU, BPF_ALU64, BPF_B, BPF_DW, BPF_H, BPF_K, BPF_LD, BPF_LDX,
    BPF_ST, BPF_STX, BPF_W,
};
use crate::asm::Insn;

/// Helper id of a poisoned instruction (`0xbad2310`, "bad relo"): the verifier rejects it
/// with `invalid func unknown#195896080` only if it is reachable.
pub const POISON_HELPER_ID: i32 = 195_896_080;

/// Everything needed to patch one instruction.
#[derive(Debug, Clone, Default)]
pub struct Res {
    /// Value the compiler wrote (from the local BTF).
    pub orig: u64,
    /// Value for the target.
    pub new: u64,
    /// Poison instead of patching, with the reason.
    pub poison: Option<String>,
    /// Check the instruction currently holds `orig`.
    pub validate: bool,
    /// A load/store whose width would have to change in a way that changes the value read.
    pub fail_memsz: Option<String>,
    /// Local field size (0 when not a field offset).
    pub orig_sz: u32,
    /// Target field size.
    pub new_sz: u32,
}

/// Outcome of patching: `Ok(None)` patched, `Ok(Some(reason))` poisoned, `Err` malformed.
pub fn patch(insns: &mut [Insn], i: usize, res: &Res) -> Result<Option<String>, String> {
    let Some(&ins) = insns.get(i) else {
        return Err(format!(
            "instruction {i} is past the program's end ({} slots)",
            insns.len()
        ));
    };
    let bad = || {
        format!(
            "cannot relocate instruction {i} (code {:#04x}, off {}, imm {})",
            ins.code, ins.off, ins.imm
        )
    };
    match class(ins.code) {
        BPF_ALU | BPF_ALU64 => {
            if ins.code & 0x08 != BPF_K {
                return Err(bad());
            }
            if let Some(r) = &res.poison {
                poison(insns, i);
                return Ok(Some(r.clone()));
            }
            if res.validate && ins.imm as i64 as u64 != res.orig {
                return Err(unexpected(i, ins.imm as i64, res));
            }
            insns[i].imm = res.new as i32;
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            if let Some(r) = &res.poison {
                poison(insns, i);
                return Ok(Some(r.clone()));
            }
            if res.validate && ins.off as i64 as u64 != res.orig {
                return Err(unexpected(i, ins.off as i64, res));
            }
            if res.new > i16::MAX as u64 {
                return Err(format!(
                    "offset {} does not fit the 16-bit offset of instruction {i}",
                    res.new
                ));
            }
            if let Some(r) = &res.fail_memsz {
                poison(insns, i);
                return Ok(Some(r.clone()));
            }
            insns[i].off = res.new as i16;
            if res.new_sz != res.orig_sz {
                let have = bytes_of(ins.code);
                if have != res.orig_sz {
                    return Err(format!(
                        "instruction {i} accesses {have} bytes, but the local field is {} bytes",
                        res.orig_sz
                    ));
                }
                let sz = bpf_size(res.new_sz).ok_or_else(|| {
                    format!(
                        "instruction {i}: the target field is {} bytes, not a load/store size",
                        res.new_sz
                    )
                })?;
                insns[i].code = (ins.code & !0x18) | sz;
            }
        }
        BPF_LD => {
            let next = insns.get(i + 1).copied();
            let ok = ins.is_ld_imm64()
                && ins.src() == 0
                && ins.off == 0
                && next.is_some_and(|n| n.code == 0 && n.regs == 0 && n.off == 0);
            if !ok {
                return Err(format!(
                    "ld_imm64 at instruction {i} has an unexpected form"
                ));
            }
            if let Some(r) = &res.poison {
                poison(insns, i);
                return Ok(Some(r.clone()));
            }
            let imm = ins.imm64(next.unwrap_or_default());
            if res.validate && imm != res.orig {
                return Err(format!(
                    "instruction {i} holds {imm}, expected {} (the local value) before relocating to {}",
                    res.orig, res.new
                ));
            }
            insns[i].imm = res.new as u32 as i32;
            insns[i + 1].imm = (res.new >> 32) as u32 as i32;
        }
        _ => return Err(bad()),
    }
    Ok(None)
}

fn unexpected(i: usize, got: i64, res: &Res) -> String {
    format!(
        "instruction {i} holds {got}, expected {} (the local value) before relocating to {}; \
         hint: was the object's BTF changed after compilation?",
        res.orig, res.new
    )
}

/// Replaces slot `i` (and the second slot of an `ld_imm64`) with `call 0xbad2310`.
fn poison(insns: &mut [Insn], i: usize) {
    let n = if insns[i].is_ld_imm64() && i + 1 < insns.len() {
        2
    } else {
        1
    };
    for s in &mut insns[i..i + n] {
        *s = Insn::call_helper(POISON_HELPER_ID);
    }
}

fn bytes_of(code: u8) -> u32 {
    match size_bits(code) {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

fn bpf_size(bytes: u32) -> Option<u8> {
    Some(match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        8 => BPF_DW,
        _ => return None,
    })
}
