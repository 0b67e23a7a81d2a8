//! Reachability of instructions after CO-RE relocation, for `check`: a constant-propagation
//! pass over the program's control flow that prunes the branches known scalars decide, as
//! the verifier does with the constants CO-RE relocations write (`field_exists`,
//! `type_exists`, `enum_value_exists`, sizes, offsets) and with every other immediate.
//!
//! Two register states are kept per instruction: one joined over *every* feasible path, one
//! over the paths on which every branch was decided by known values ("unconditional"
//! paths). An instruction is [`Reach::Reachable`] when an unconditional path gets there (the
//! verifier walks it too), [`Reach::Unknown`] when only paths through undecided branches do
//! (values from memory, helpers, maps: the verifier may know more, e.g. frozen `.rodata`),
//! and [`Reach::Unreachable`] when no feasible path does. Memory other than 8-byte stack
//! slots written from known registers is unknown; calls clobber r0-r5 and the stack.

use crate::asm::opcode::*;
use crate::asm::Insn;
use crate::btf::core::POISON_HELPER_ID;
use std::collections::BTreeMap;

/// Whether an instruction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// No feasible path reaches it: dead code the verifier never visits.
    Unreachable,
    /// A path whose every branch is decided by known values reaches it.
    Reachable,
    /// Only paths through branches on unknown values reach it.
    Unknown,
}

impl Reach {
    /// `"unreachable"`, `"reachable"` or `"unknown"`.
    pub fn name(self) -> &'static str {
        match self {
            Reach::Unreachable => "unreachable",
            Reach::Reachable => "reachable",
            Reach::Unknown => "unknown",
        }
    }
}

/// Register and stack knowledge: `None` = unknown.
#[derive(Clone, PartialEq, Eq, Default)]
struct State {
    regs: [Option<u64>; 11],
    /// Known 8-byte stack slots, by offset from r10.
    stack: BTreeMap<i16, u64>,
}

impl State {
    fn join(&mut self, other: &State) -> bool {
        let before = self.clone();
        for (a, b) in self.regs.iter_mut().zip(other.regs.iter()) {
            if a != b {
                *a = None;
            }
        }
        self.stack.retain(|k, v| other.stack.get(k) == Some(v));
        *self != before
    }
    fn clobber_call(&mut self) {
        for r in &mut self.regs[0..6] {
            *r = None;
        }
        self.stack.clear();
    }
}

/// Per instruction: (state over all paths, state over unconditional paths).
type Slot = (Option<State>, Option<State>);

/// The reachability of every instruction slot of `insns` from slot 0.
pub fn reachability(insns: &[Insn]) -> Vec<Reach> {
    let n = insns.len();
    let mut at: Vec<Slot> = vec![(None, None); n];
    if n == 0 {
        return Vec::new();
    }
    let mut work = vec![0usize];
    at[0] = (Some(State::default()), Some(State::default()));
    // Callbacks (`ld_imm64` of a BPF_PSEUDO_FUNC) may run whenever a helper runs them.
    for (i, ins) in insns.iter().enumerate() {
        if ins.is_ld_imm64() && ins.src() == BPF_PSEUDO_FUNC {
            if let Some(t) = target(*ins, i, n) {
                at[t].0 = Some(State::default());
                work.push(t);
            }
        }
    }
    let mut steps = 0usize;
    while let Some(i) = work.pop() {
        steps += 1;
        if steps > 512 * n + 4096 {
            // The lattice is finite, so this takes a pathological program; say nothing
            // rather than something unfounded.
            return vec![Reach::Unknown; n];
        }
        let (all, def) = at[i].clone();
        let Some(all) = all else { continue };
        let mut changed = Vec::new();
        for (succ, st, _) in step(insns, i, &all) {
            if succ < n && merge(&mut at[succ].0, &st) {
                changed.push(succ);
            }
        }
        for (succ, st, decided) in def.map(|d| step(insns, i, &d)).unwrap_or_default() {
            if decided && succ < n && merge(&mut at[succ].1, &st) {
                changed.push(succ);
            }
        }
        work.extend(changed);
    }
    at.iter()
        .map(|(a, d)| match (a, d) {
            (_, Some(_)) => Reach::Reachable,
            (Some(_), None) => Reach::Unknown,
            (None, None) => Reach::Unreachable,
        })
        .collect()
}

fn merge(slot: &mut Option<State>, s: &State) -> bool {
    match slot {
        None => {
            *slot = Some(s.clone());
            true
        }
        Some(cur) => cur.join(s),
    }
}

fn target(ins: Insn, i: usize, n: usize) -> Option<usize> {
    let t = ins.branch_target(i)?;
    (0..n as i64).contains(&t).then_some(t as usize)
}

/// Successors of slot `i` under `s`: (slot, state there, edge decided by known values).
fn step(insns: &[Insn], i: usize, s: &State) -> Vec<(usize, State, bool)> {
    let ins = insns[i];
    let n = insns.len();
    let next = i + 1;
    let mut out = s.clone();
    match class(ins.code) {
        BPF_ALU | BPF_ALU64 => {
            let v = alu(ins, s);
            if let Some(r) = out.regs.get_mut(ins.dst() as usize) {
                *r = v;
            }
            vec![(next, out, true)]
        }
        BPF_LD if ins.is_ld_imm64() => {
            let v = (ins.src() == 0)
                .then(|| insns.get(next).map(|hi| ins.imm64(*hi)))
                .flatten();
            if let Some(r) = out.regs.get_mut(ins.dst() as usize) {
                *r = v;
            }
            vec![(i + 2, out, true)]
        }
        BPF_LD => {
            // Legacy packet loads: r0 unknown, r1-r5 clobbered.
            out.clobber_call();
            vec![(next, out, true)]
        }
        BPF_LDX => {
            let slot = (ins.src() == 10 && ins.code == (BPF_LDX | BPF_MEM | BPF_DW))
                .then(|| s.stack.get(&ins.off).copied())
                .flatten();
            if let Some(r) = out.regs.get_mut(ins.dst() as usize) {
                *r = slot;
            }
            vec![(next, out, true)]
        }
        BPF_ST | BPF_STX => {
            store(ins, s, &mut out);
            vec![(next, out, true)]
        }
        _ => jump(ins, i, n, s, out),
    }
}

fn store(ins: Insn, s: &State, out: &mut State) {
    if ins.dst() != 10 {
        // Through another pointer: it may point into the stack.
        out.stack.clear();
        return;
    }
    let size = match ins.code & 0x18 {
        BPF_DW => 8,
        BPF_W => 4,
        BPF_H => 2,
        _ => 1,
    };
    let (lo, hi) = (ins.off as i32, ins.off as i32 + size);
    out.stack
        .retain(|&k, _| k as i32 + 8 <= lo || k as i32 >= hi);
    let mode = ins.code & 0xe0;
    if size == 8 && mode == BPF_MEM {
        let v = if class(ins.code) == BPF_STX {
            s.regs.get(ins.src() as usize).copied().flatten()
        } else {
            Some(ins.imm as i64 as u64)
        };
        if let Some(v) = v {
            out.stack.insert(ins.off, v);
        }
    }
}

fn jump(ins: Insn, i: usize, n: usize, s: &State, mut out: State) -> Vec<(usize, State, bool)> {
    let next = i + 1;
    let op = op(ins.code);
    match op {
        BPF_EXIT => Vec::new(),
        BPF_CALL if ins.is_pseudo_call() => {
            let mut callee = State::default();
            callee.regs[1..6].copy_from_slice(&s.regs[1..6]);
            out.clobber_call();
            let mut v = vec![(next, out, true)];
            if let Some(t) = target(ins, i, n) {
                v.push((t, callee, true));
            }
            v
        }
        // A poisoned relocation: the verifier stops here.
        BPF_CALL if ins.is_helper_call() && ins.imm == POISON_HELPER_ID => Vec::new(),
        BPF_CALL => {
            out.clobber_call();
            vec![(next, out, true)]
        }
        BPF_JA => target(ins, i, n).map_or(Vec::new(), |t| vec![(t, out, true)]),
        BPF_JCOND => {
            let mut v = vec![(next, out.clone(), false)];
            v.extend(target(ins, i, n).map(|t| (t, out, false)));
            v
        }
        _ => {
            let a = s.regs.get(ins.dst() as usize).copied().flatten();
            let b = if ins.code & BPF_X != 0 {
                s.regs.get(ins.src() as usize).copied().flatten()
            } else {
                Some(ins.imm as i64 as u64)
            };
            let taken = match (a, b) {
                (Some(a), Some(b)) => compare(op, class(ins.code) == BPF_JMP32, a, b),
                _ => None,
            };
            let t = target(ins, i, n);
            match taken {
                Some(true) => t.map_or(Vec::new(), |t| vec![(t, out, true)]),
                Some(false) => vec![(next, out, true)],
                None => {
                    let mut v = vec![(next, out.clone(), false)];
                    v.extend(t.map(|t| (t, out, false)));
                    v
                }
            }
        }
    }
}

/// The outcome of a conditional jump on known operands (`None`: unknown operator).
fn compare(op: u8, w32: bool, a: u64, b: u64) -> Option<bool> {
    let (a, b) = if w32 {
        (a as u32 as u64, b as u32 as u64)
    } else {
        (a, b)
    };
    let (sa, sb) = if w32 {
        (a as u32 as i32 as i64, b as u32 as i32 as i64)
    } else {
        (a as i64, b as i64)
    };
    Some(match op {
        BPF_JEQ => a == b,
        BPF_JNE => a != b,
        BPF_JGT => a > b,
        BPF_JGE => a >= b,
        BPF_JLT => a < b,
        BPF_JLE => a <= b,
        BPF_JSET => a & b != 0,
        BPF_JSGT => sa > sb,
        BPF_JSGE => sa >= sb,
        BPF_JSLT => sa < sb,
        BPF_JSLE => sa <= sb,
        _ => return None,
    })
}

/// The value an ALU instruction leaves in its destination, when known.
fn alu(ins: Insn, s: &State) -> Option<u64> {
    let w64 = class(ins.code) == BPF_ALU64;
    let op = op(ins.code);
    let src = if ins.code & BPF_X != 0 {
        s.regs.get(ins.src() as usize).copied().flatten()
    } else {
        Some(ins.imm as i64 as u64)
    };
    if op == BPF_MOV {
        let v = src?;
        return Some(match (w64, ins.off) {
            (true, 8) => v as u8 as i8 as i64 as u64,
            (true, 16) => v as u16 as i16 as i64 as u64,
            (true, 32) => v as u32 as i32 as i64 as u64,
            (true, _) => v,
            (false, 8) => v as u8 as i8 as u32 as u64,
            (false, 16) => v as u16 as i16 as u32 as u64,
            (false, _) => v as u32 as u64,
        });
    }
    let a = s.regs.get(ins.dst() as usize).copied().flatten()?;
    if op == BPF_NEG {
        return Some(if w64 {
            a.wrapping_neg()
        } else {
            (a as u32).wrapping_neg() as u64
        });
    }
    if op == BPF_END || ins.off != 0 {
        return None; // byte swaps, signed division: not needed for CO-RE constants
    }
    let b = src?;
    // 32-bit ops work on the low words and zero-extend their result.
    let (a, b, bits) = if w64 {
        (a, b, 64)
    } else {
        (a & 0xffff_ffff, b & 0xffff_ffff, 32)
    };
    let sh = (b & (bits - 1)) as u32;
    let v = match op {
        BPF_ADD => a.wrapping_add(b),
        BPF_SUB => a.wrapping_sub(b),
        BPF_MUL => a.wrapping_mul(b),
        BPF_DIV => a.checked_div(b).unwrap_or(0),
        BPF_MOD => a.checked_rem(b).unwrap_or(a),
        BPF_OR => a | b,
        BPF_AND => a & b,
        BPF_XOR => a ^ b,
        BPF_LSH => a.wrapping_shl(sh),
        BPF_RSH => a >> sh,
        BPF_ARSH if w64 => ((a as i64) >> sh) as u64,
        BPF_ARSH => ((a as u32 as i32) >> sh) as u32 as u64,
        _ => return None,
    };
    Some(if w64 { v } else { v & 0xffff_ffff })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POISON: Insn = Insn::call_helper(POISON_HELPER_ID);

    fn reach_of_poison(prog: &[Insn]) -> Reach {
        let i = prog.iter().position(|i| *i == POISON).unwrap();
        reachability(prog)[i]
    }

    #[test]
    fn known_constants_decide_branches() {
        let guarded = |v| {
            [
                Insn::mov64_imm(1, v),
                Insn::jmp_imm(BPF_JEQ, 1, 0, 1),
                POISON,
                Insn::exit(),
            ]
        };
        assert_eq!(reach_of_poison(&guarded(0)), Reach::Unreachable);
        assert_eq!(reach_of_poison(&guarded(1)), Reach::Reachable);
        // A value from memory: both ways possible.
        let mem = [
            Insn::ldx_mem(BPF_W, 1, 2, 0),
            Insn::jmp_imm(BPF_JEQ, 1, 0, 1),
            POISON,
            Insn::exit(),
        ];
        assert_eq!(reach_of_poison(&mem), Reach::Unknown);
        // Through a stack spill and a 32-bit ALU op; JMP32 sees only the low word.
        let spill = [
            Insn::mov64_imm(1, 4),
            Insn::alu32_imm(BPF_MUL, 1, 2),
            Insn::stx_mem(BPF_DW, 10, 1, -8),
            Insn::ldx_mem(BPF_DW, 3, 10, -8),
            Insn::jmp32_imm(BPF_JNE, 3, 8, 1),
            POISON,
            Insn::exit(),
        ];
        assert_eq!(reach_of_poison(&spill), Reach::Reachable);
        // A helper call forgets the stack.
        let mut clobbered = spill;
        clobbered[3] = Insn::call_helper(5);
        assert_eq!(reach_of_poison(&clobbered), Reach::Unknown);
    }

    #[test]
    fn merges_calls_and_loops() {
        // Two paths give r1 = 0 or 1 (undecided branch): after the merge r1 is unknown.
        let merged = [
            Insn::ldx_mem(BPF_W, 2, 1, 0),
            Insn::mov64_imm(1, 0),
            Insn::jmp_imm(BPF_JEQ, 2, 0, 1),
            Insn::mov64_imm(1, 1),
            Insn::jmp_imm(BPF_JEQ, 1, 0, 1),
            POISON,
            Insn::exit(),
        ];
        assert_eq!(reach_of_poison(&merged), Reach::Unknown);
        // A subprogram called unconditionally, poisoned at its entry.
        let call = [Insn::call_pseudo(1), Insn::exit(), POISON, Insn::exit()];
        assert_eq!(reach_of_poison(&call), Reach::Reachable);
        // A loop on an unknown counter terminates; the poison after it is reachable only
        // once the unknown branch exits the loop.
        let looped = [
            Insn::ldx_mem(BPF_W, 2, 1, 0),
            Insn::alu64_imm(BPF_SUB, 2, 1),
            Insn::jmp_imm(BPF_JNE, 2, 0, -2),
            POISON,
            Insn::exit(),
        ];
        assert_eq!(reach_of_poison(&looped), Reach::Unknown);
    }

    #[test]
    fn arbitrary_instructions_never_panic() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (x % 40) as usize;
            let prog: Vec<Insn> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    Insn::from_bytes(x.to_le_bytes())
                })
                .collect();
            let r = reachability(&prog);
            assert_eq!(r.len(), prog.len());
        }
    }
}
