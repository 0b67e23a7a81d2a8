//! The instruction slot (`struct bpf_insn`) and constructors for the common instructions.

use super::opcode::*;

/// One 8-byte instruction slot, as the kernel sees it. A 64-bit immediate load (`ld_imm64`)
/// occupies two consecutive slots; the second has `code == 0` and carries the upper 32 bits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble.
    pub regs: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Size of one slot in bytes.
    pub const SIZE: usize = 8;

    /// Builds a slot from its fields.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }

    /// `dst op= imm` on 64-bit registers (`op` is `BPF_ADD`, `BPF_SUB`, ...).
    pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
    }

    /// `dst op= src` on 64-bit registers.
    pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
    }

    /// `wdst op= imm` on 32-bit subregisters.
    pub const fn alu32_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }

    /// `wdst op= wsrc` on 32-bit subregisters.
    pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(BPF_ALU | op | BPF_X, dst, src, 0, 0)
    }

    /// `dst = imm` (sign-extended to 64 bits).
    pub const fn mov64_imm(dst: u8, imm: i32) -> Self {
        Self::alu64_imm(BPF_MOV, dst, imm)
    }

    /// `dst = src`.
    pub const fn mov64_reg(dst: u8, src: u8) -> Self {
        Self::alu64_reg(BPF_MOV, dst, src)
    }

    /// `wdst = imm` (upper half zeroed).
    pub const fn mov32_imm(dst: u8, imm: i32) -> Self {
        Self::alu32_imm(BPF_MOV, dst, imm)
    }

    /// `wdst = wsrc` (upper half zeroed).
    pub const fn mov32_reg(dst: u8, src: u8) -> Self {
        Self::alu32_reg(BPF_MOV, dst, src)
    }

    /// `dst = (sN)src` with `bits` 8, 16 or 32 (ISA v4).
    pub const fn movsx64(dst: u8, src: u8, bits: i16) -> Self {
        Self::new(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, bits, 0)
    }

    /// `dst = -dst` (64-bit).
    pub const fn neg64(dst: u8) -> Self {
        Self::alu64_imm(BPF_NEG, dst, 0)
    }

    /// Byte swap of the low `bits` (16, 32, 64) of `dst` to big (`to_be`) or little endian.
    pub const fn endian(to_be: bool, dst: u8, bits: i32) -> Self {
        let src = if to_be { BPF_TO_BE } else { BPF_TO_LE };
        Self::new(BPF_ALU | BPF_END | src, dst, 0, 0, bits)
    }

    /// Unconditional byte swap of the low `bits` of `dst` (ISA v4 `bswap`).
    pub const fn bswap(dst: u8, bits: i32) -> Self {
        Self::new(BPF_ALU64 | BPF_END, dst, 0, 0, bits)
    }

    /// `dst = imm` for a full 64-bit value, `src` selecting a `BPF_PSEUDO_*` meaning (0 = plain).
    pub const fn ld_imm64(dst: u8, src: u8, imm: u64) -> [Self; 2] {
        [
            Self::new(BPF_LD | BPF_IMM | BPF_DW, dst, src, 0, imm as u32 as i32),
            Self::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }

    /// `dst = map` by file descriptor (`BPF_PSEUDO_MAP_FD`).
    pub const fn ld_map_fd(dst: u8, fd: i32) -> [Self; 2] {
        Self::ld_imm64(dst, BPF_PSEUDO_MAP_FD, fd as u32 as u64)
    }

    /// `dst = &map_value[off]` by map fd (`BPF_PSEUDO_MAP_VALUE`).
    pub const fn ld_map_value(dst: u8, fd: i32, off: u32) -> [Self; 2] {
        Self::ld_imm64(
            dst,
            BPF_PSEUDO_MAP_VALUE,
            ((off as u64) << 32) | fd as u32 as u64,
        )
    }

    /// The 64-bit immediate of an `ld_imm64` whose second slot is `next`.
    pub const fn imm64(self, next: Insn) -> u64 {
        (self.imm as u32 as u64) | ((next.imm as u32 as u64) << 32)
    }

    /// `dst = *(size *)(src + off)` (`size` is `BPF_B`, `BPF_H`, `BPF_W` or `BPF_DW`).
    pub const fn ldx_mem(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_LDX | BPF_MEM | size, dst, src, off, 0)
    }

    /// Sign-extending `dst = *(sN *)(src + off)` (ISA v4; `size` is `BPF_B`, `BPF_H` or `BPF_W`).
    pub const fn ldx_memsx(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_LDX | BPF_MEMSX | size, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub const fn stx_mem(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_STX | BPF_MEM | size, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub const fn st_mem(size: u8, dst: u8, off: i16, imm: i32) -> Self {
        Self::new(BPF_ST | BPF_MEM | size, dst, 0, off, imm)
    }

    /// Atomic `op` (`BPF_ADD`, `BPF_ADD as i32 | BPF_FETCH`, `BPF_XCHG`, `BPF_CMPXCHG`, ...)
    /// on `*(size *)(dst + off)` with `src` (`size` is `BPF_W` or `BPF_DW`).
    pub const fn atomic(size: u8, op: i32, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_STX | BPF_ATOMIC | size, dst, src, off, op)
    }

    /// `goto +off` (relative to the next slot).
    pub const fn ja(off: i16) -> Self {
        Self::new(BPF_JMP | BPF_JA, 0, 0, off, 0)
    }

    /// `gotol +imm`: unconditional jump with a 32-bit offset (ISA v4).
    pub const fn gotol(imm: i32) -> Self {
        Self::new(BPF_JMP32 | BPF_JA, 0, 0, 0, imm)
    }

    /// `may_goto +off`.
    pub const fn may_goto(off: i16) -> Self {
        Self::new(BPF_JMP | BPF_JCOND, 0, 0, off, 0)
    }

    /// `if dst op imm goto +off` (`op` is `BPF_JEQ`, `BPF_JGT`, ...).
    pub const fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(BPF_JMP | op | BPF_K, dst, 0, off, imm)
    }

    /// `if dst op src goto +off`.
    pub const fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_JMP | op | BPF_X, dst, src, off, 0)
    }

    /// `if wdst op imm goto +off` (32-bit compare).
    pub const fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
    }

    /// `if wdst op wsrc goto +off` (32-bit compare).
    pub const fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_JMP32 | op | BPF_X, dst, src, off, 0)
    }

    /// Call of kernel helper `id` (see [`super::helper_name`]).
    pub const fn call_helper(id: i32) -> Self {
        Self::new(BPF_JMP | BPF_CALL, 0, BPF_HELPER_CALL, 0, id)
    }

    /// bpf-to-bpf call of the subprogram `rel` slots after the next one.
    pub const fn call_pseudo(rel: i32) -> Self {
        Self::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel)
    }

    /// kfunc call: `btf_id` in the BTF at `fd_array[btf_fd_idx]` (0 = vmlinux).
    pub const fn call_kfunc(btf_id: i32, btf_fd_idx: i16) -> Self {
        Self::new(
            BPF_JMP | BPF_CALL,
            0,
            BPF_PSEUDO_KFUNC_CALL,
            btf_fd_idx,
            btf_id,
        )
    }

    /// `exit`.
    pub const fn exit() -> Self {
        Self::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }

    /// True for a helper call (`src_reg == 0`).
    pub fn is_helper_call(self) -> bool {
        self.is_call() && self.src() == BPF_HELPER_CALL
    }

    /// True for a bpf-to-bpf call.
    pub fn is_pseudo_call(self) -> bool {
        self.is_call() && self.src() == BPF_PSEUDO_CALL
    }

    /// True for a kfunc call.
    pub fn is_kfunc_call(self) -> bool {
        self.is_call() && self.src() == BPF_PSEUDO_KFUNC_CALL
    }

    /// True for `exit`.
    pub fn is_exit(self) -> bool {
        self.code == BPF_JMP | BPF_EXIT
    }

    /// Slot index a jump at `idx` goes to (also `call_pseudo` targets and `BPF_PSEUDO_FUNC`
    /// loads), or `None` if this slot does not branch.
    pub fn branch_target(self, idx: usize) -> Option<i64> {
        let next = idx as i64 + 1;
        match (class(self.code), op(self.code)) {
            (BPF_JMP, BPF_CALL) if self.src() == BPF_PSEUDO_CALL => Some(next + self.imm as i64),
            (BPF_JMP, BPF_CALL | BPF_EXIT) | (BPF_JMP32, BPF_CALL | BPF_EXIT) => None,
            (BPF_JMP32, BPF_JA) => Some(next + self.imm as i64),
            (BPF_JMP, _) | (BPF_JMP32, _) => Some(next + self.off as i64),
            (BPF_LD, _) if self.is_ld_imm64() && self.src() == BPF_PSEUDO_FUNC => {
                Some(next + self.imm as i64)
            }
            _ => None,
        }
    }

    /// Decodes one little-endian slot.
    pub fn from_bytes(b: [u8; 8]) -> Self {
        Insn {
            code: b[0],
            regs: b[1],
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes one little-endian slot.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Destination register.
    pub fn dst(self) -> u8 {
        self.regs & 0x0f
    }

    /// Source register.
    pub fn src(self) -> u8 {
        self.regs >> 4
    }

    /// Sets the source register.
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | (src << 4);
    }

    /// Sets the destination register.
    pub fn set_dst(&mut self, dst: u8) {
        self.regs = (self.regs & 0xf0) | (dst & 0x0f);
    }

    /// True for the first slot of a 64-bit immediate load (`BPF_LD | BPF_IMM | BPF_DW`).
    pub fn is_ld_imm64(self) -> bool {
        self.code == 0x18
    }

    /// True for a call (`BPF_JMP | BPF_CALL`).
    pub fn is_call(self) -> bool {
        self.code == 0x85
    }

    /// Decodes a byte slice whose length is a multiple of 8; `None` otherwise.
    pub fn decode_all(bytes: &[u8]) -> Option<Vec<Insn>> {
        if bytes.len() % Self::SIZE != 0 {
            return None;
        }
        Some(
            bytes
                .chunks_exact(Self::SIZE)
                .map(|c| Insn::from_bytes(c.try_into().expect("chunk of 8")))
                .collect(),
        )
    }

    /// Encodes instructions to the byte layout `BPF_PROG_LOAD` takes.
    pub fn encode_all(insns: &[Insn]) -> Vec<u8> {
        insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
}
