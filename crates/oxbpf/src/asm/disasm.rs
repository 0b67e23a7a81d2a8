//! Disassembler printing the same text as `llvm-objdump -d` (LLVM 19) for BPF.
//!
//! Differences from llvm-objdump, on purpose: no symbol/label annotations on jumps (objdump
//! prints `<LBB0_3>`; [`disassemble_annotated`] prints the target slot instead), and 32-bit
//! atomics always use the `w` register forms objdump prints with `--mcpu=v4` (objdump's default
//! decoder misreads the fetch variants as `<unknown>`). Encodings objdump rejects print
//! `<unknown>`. Written by hand because no crate prints this dialect.

use std::fmt::{self, Write as _};

use super::helpers::helper_name;
use super::insn::Insn;
use super::opcode::*;

/// Signed hex as llvm-objdump prints immediates: `0x5`, `-0x7`.
struct Hex(i64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-0x{:x}", self.0.unsigned_abs())
        } else {
            write!(f, "0x{:x}", self.0)
        }
    }
}

/// Jump offset with explicit sign: `+0x1`, `-0x3`.
struct Rel(i64);

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-0x{:x}", self.0.unsigned_abs())
        } else {
            write!(f, "+0x{:x}", self.0)
        }
    }
}

/// Memory operand `(rN + 0x8)` / `(rN - 0x8)`.
struct Mem(u8, i16);

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.1 < 0 { '-' } else { '+' };
        write!(f, "(r{} {} 0x{:x})", self.0, sign, self.1.unsigned_abs())
    }
}

/// Address without parentheses: `r1 + 0x8` (xchg/cmpxchg operands).
struct Addr(Mem);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 .1 < 0 { '-' } else { '+' };
        write!(
            f,
            "r{} {} 0x{:x}",
            self.0 .0,
            sign,
            self.0 .1.unsigned_abs()
        )
    }
}

const UNKNOWN: &str = "<unknown>";

/// Load/store width name (`u8`...`u64`), `None` for an impossible size.
fn width(code: u8, signed: bool) -> &'static str {
    match (size(code), signed) {
        (BPF_B, false) => "u8",
        (BPF_H, false) => "u16",
        (BPF_W, false) => "u32",
        (BPF_DW, false) => "u64",
        (BPF_B, true) => "s8",
        (BPF_H, true) => "s16",
        (BPF_W, true) => "s32",
        _ => "s64",
    }
}

/// Compound-assignment operator of a binary ALU op.
fn alu_op(op: u8, off: i16) -> Option<&'static str> {
    Some(match (op, off) {
        (BPF_ADD, 0) => "+=",
        (BPF_SUB, 0) => "-=",
        (BPF_MUL, 0) => "*=",
        (BPF_DIV, 0) => "/=",
        (BPF_DIV, 1) => "s/=",
        (BPF_OR, 0) => "|=",
        (BPF_AND, 0) => "&=",
        (BPF_LSH, 0) => "<<=",
        (BPF_RSH, 0) => ">>=",
        (BPF_MOD, 0) => "%=",
        (BPF_MOD, 1) => "s%=",
        (BPF_XOR, 0) => "^=",
        (BPF_ARSH, 0) => "s>>=",
        _ => return None,
    })
}

/// Comparison operator of a conditional jump.
fn jmp_op(op: u8) -> Option<&'static str> {
    Some(match op {
        BPF_JEQ => "==",
        BPF_JGT => ">",
        BPF_JGE => ">=",
        BPF_JSET => "&",
        BPF_JNE => "!=",
        BPF_JSGT => "s>",
        BPF_JSGE => "s>=",
        BPF_JLT => "<",
        BPF_JLE => "<=",
        BPF_JSLT => "s<",
        BPF_JSLE => "s<=",
        _ => return None,
    })
}

/// Highest register number llvm-objdump names (`r11`, LLVM's internal extra register).
const MAX_REG: u8 = 11;

/// Whether the instruction's `dst_reg` / `src_reg` fields name registers.
fn used_regs(insn: Insn) -> (bool, bool) {
    let code = insn.code;
    let x = source(code) == BPF_X;
    match class(code) {
        BPF_ALU | BPF_ALU64 => (true, x && !matches!(op(code), BPF_END | BPF_NEG)),
        BPF_LDX | BPF_STX => (true, true),
        BPF_ST => (true, false),
        BPF_LD => match mode(code) {
            BPF_IND => (false, true),
            BPF_ABS => (false, false),
            _ => (true, false),
        },
        _ => match op(code) {
            BPF_JA | BPF_JCOND | BPF_EXIT => (false, false),
            BPF_CALL => (x, false),
            _ => (true, x),
        },
    }
}

/// Writes one instruction; `next` is the second slot of an `ld_imm64` (treated as zero if absent).
fn write_insn(w: &mut dyn fmt::Write, insn: Insn, next: Option<Insn>) -> fmt::Result {
    let (code, dst, src, off, imm) = (insn.code, insn.dst(), insn.src(), insn.off, insn.imm);
    let (uses_dst, uses_src) = used_regs(insn);
    if (uses_dst && dst > MAX_REG) || (uses_src && src > MAX_REG) {
        return w.write_str(UNKNOWN);
    }
    match class(code) {
        BPF_ALU | BPF_ALU64 => write_alu(w, insn),
        BPF_LDX => match mode(code) {
            BPF_MEM => write!(w, "r{dst} = *({} *){}", width(code, false), Mem(src, off)),
            BPF_MEMSX if size(code) != BPF_DW => {
                write!(w, "r{dst} = *({} *){}", width(code, true), Mem(src, off))
            }
            _ => w.write_str(UNKNOWN),
        },
        BPF_ST if mode(code) == BPF_MEM => {
            write!(
                w,
                "*({} *){} = {}",
                width(code, false),
                Mem(dst, off),
                Hex(imm.into())
            )
        }
        BPF_ST => w.write_str(UNKNOWN),
        BPF_STX => match mode(code) {
            BPF_MEM => write!(w, "*({} *){} = r{src}", width(code, false), Mem(dst, off)),
            BPF_ATOMIC => write_atomic(w, insn),
            _ => w.write_str(UNKNOWN),
        },
        BPF_LD => match (mode(code), size(code)) {
            (BPF_IMM, BPF_DW) if off == 0 => {
                let next = next.unwrap_or_default();
                if src == 0 {
                    write!(w, "r{dst} = {} ll", Hex(insn.imm64(next) as i64))
                } else {
                    write!(w, "ld_pseudo\tr{dst}, 0x{src:x}, 0x{:x}", imm as u32)
                }
            }
            (BPF_ABS, s) if s != BPF_DW => {
                write!(
                    w,
                    "r0 = *({} *)skb[{}]",
                    width(code, false),
                    Hex(imm.into())
                )
            }
            (BPF_IND, s) if s != BPF_DW => {
                write!(w, "r0 = *({} *)skb[r{src}]", width(code, false))
            }
            _ => w.write_str(UNKNOWN),
        },
        _ => write_jmp(w, insn),
    }
}

fn write_alu(w: &mut dyn fmt::Write, insn: Insn) -> fmt::Result {
    let (code, dst, src, off, imm) = (insn.code, insn.dst(), insn.src(), insn.off, insn.imm);
    let r = if class(code) == BPF_ALU64 { 'r' } else { 'w' };
    let x = source(code) == BPF_X;
    match op(code) {
        BPF_NEG if !x => write!(w, "{r}{dst} = -{r}{dst}"),
        BPF_MOV => match (x, off) {
            (false, 0) => write!(w, "{r}{dst} = {}", Hex(imm.into())),
            (true, 0) => write!(w, "{r}{dst} = {r}{src}"),
            (true, 8 | 16) => write!(w, "{r}{dst} = (s{off}){r}{src}"),
            (true, 32) if r == 'r' => write!(w, "{r}{dst} = (s{off}){r}{src}"),
            (true, 1) if r == 'r' => write!(
                w,
                "r{dst} = addr_space_cast(r{src}, {}, {})",
                Hex((imm as u32 >> 16).into()),
                Hex((imm as u32 & 0xffff).into())
            ),
            _ => w.write_str(UNKNOWN),
        },
        BPF_END if matches!(imm, 16 | 32 | 64) => {
            let kind = match (r, x) {
                ('w', false) => "le",
                ('w', true) => "be",
                (_, false) => "bswap",
                _ => return w.write_str(UNKNOWN),
            };
            write!(w, "r{dst} = {kind}{imm} r{dst}")
        }
        o => match alu_op(o, off) {
            Some(sym) if x => write!(w, "{r}{dst} {sym} {r}{src}"),
            Some(sym) => write!(w, "{r}{dst} {sym} {}", Hex(imm.into())),
            None => w.write_str(UNKNOWN),
        },
    }
}

fn write_atomic(w: &mut dyn fmt::Write, insn: Insn) -> fmt::Result {
    let (code, dst, src, off, imm) = (insn.code, insn.dst(), insn.src(), insn.off, insn.imm);
    let (r, ty) = match size(code) {
        BPF_W => ('w', "u32"),
        BPF_DW => ('r', "u64"),
        _ => return w.write_str(UNKNOWN),
    };
    let m = Mem(dst, off);
    let name = match imm & 0xf0 {
        0x00 => ("+=", "add"),
        0x40 => ("|=", "or"),
        0x50 => ("&=", "and"),
        0xa0 => ("^=", "xor"),
        _ => ("", ""),
    };
    let xsuffix = if r == 'w' { "32_32" } else { "_64" };
    // llvm-objdump decodes only imm bits 7..0: the operation nibble, and a low nibble that
    // is exactly BPF_FETCH for fetch forms and anything else for the plain `lock` forms.
    let imm = imm & 0xff;
    match imm {
        BPF_XCHG => write!(w, "{r}{src} = xchg{xsuffix}({}, {r}{src})", Addr(m)),
        BPF_CMPXCHG => write!(w, "{r}0 = cmpxchg{xsuffix}({}, {r}0, {r}{src})", Addr(m)),
        _ if name.0.is_empty() => w.write_str(UNKNOWN),
        _ if imm & 0x0f == BPF_FETCH => {
            write!(
                w,
                "{r}{src} = atomic_fetch_{}(({ty} *){m}, {r}{src})",
                name.1
            )
        }
        _ => write!(w, "lock *({ty} *){m} {} {r}{src}", name.0),
    }
}

fn write_jmp(w: &mut dyn fmt::Write, insn: Insn) -> fmt::Result {
    let (code, dst, src, off, imm) = (insn.code, insn.dst(), insn.src(), insn.off, insn.imm);
    let jmp64 = class(code) == BPF_JMP;
    let r = if jmp64 { 'r' } else { 'w' };
    let x = source(code) == BPF_X;
    match op(code) {
        BPF_JA if x => w.write_str(UNKNOWN),
        BPF_JA if jmp64 => write!(w, "goto {}", Rel(off.into())),
        BPF_JA => write!(w, "gotol {}", Rel(imm.into())),
        BPF_CALL if jmp64 && x => write!(w, "callx r{dst}"),
        BPF_CALL if jmp64 => write!(w, "call {}", Hex(imm.into())),
        BPF_EXIT if jmp64 && !x && imm == 0 => w.write_str("exit"),
        BPF_JCOND if jmp64 && !x => write!(w, "may_goto {}", Rel(off.into())),
        o => match jmp_op(o) {
            Some(sym) if x => write!(w, "if {r}{dst} {sym} {r}{src} goto {}", Rel(off.into())),
            Some(sym) => {
                write!(
                    w,
                    "if {r}{dst} {sym} {} goto {}",
                    Hex(imm.into()),
                    Rel(off.into())
                )
            }
            None => w.write_str(UNKNOWN),
        },
    }
}

/// Text of one instruction; `next` is the second slot when `insn` is an `ld_imm64`.
pub fn format_insn(insn: Insn, next: Option<Insn>) -> String {
    let mut s = String::new();
    let _ = write_insn(&mut s, insn, next);
    s
}

/// One slot as llvm-objdump would print it; an `ld_imm64` shows only its low 32 bits here
/// (use [`format_insn`] or [`disassemble`] to include the second slot).
impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_insn(f, *self, None)
    }
}

/// Instruction texts with their slot indices; an `ld_imm64` consumes two slots.
pub fn instructions(insns: &[Insn]) -> Vec<(usize, String)> {
    let mut out = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let next = insns.get(i + 1).copied();
        out.push((i, format_insn(insn, next)));
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

/// Disassembles a program: one `{slot:>8}:\t{text}` line per instruction, as llvm-objdump
/// lays it out without the raw bytes.
pub fn disassemble(insns: &[Insn]) -> String {
    render(insns, false)
}

/// Like [`disassemble`], plus helper names on helper calls (`call 0x1 ; bpf_map_lookup_elem`)
/// and target slots on jumps and bpf-to-bpf calls (`goto +0x5 <12>`).
pub fn disassemble_annotated(insns: &[Insn]) -> String {
    render(insns, true)
}

fn render(insns: &[Insn], annotate: bool) -> String {
    let mut out = String::new();
    for (idx, text) in instructions(insns) {
        let _ = write!(out, "{idx:>8}:\t{text}");
        if annotate {
            let insn = insns[idx];
            if insn.is_helper_call() {
                if let Some(name) = helper_name(insn.imm) {
                    let _ = write!(out, " ; {name}");
                }
            } else if insn.is_kfunc_call() {
                let _ = write!(out, " ; kfunc btf_id {}", insn.imm);
            } else if let Some(t) = insn.branch_target(idx) {
                let _ = write!(out, " <{t}>");
            }
        }
        out.push('\n');
    }
    out
}
