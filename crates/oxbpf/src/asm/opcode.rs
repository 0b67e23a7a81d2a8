//! Opcode fields of `struct bpf_insn` (`code` byte) and special `src_reg` values.
//!
//! `code` = class (low 3 bits) | size/op and mode/source bits. Load/store classes use
//! `size | mode | class`; ALU/JMP classes use `op | source | class`.

// Instruction classes.
/// Non-standard loads (`ld_imm64`, legacy packet loads).
pub const BPF_LD: u8 = 0x00;
/// Register loads from memory.
pub const BPF_LDX: u8 = 0x01;
/// Immediate stores to memory.
pub const BPF_ST: u8 = 0x02;
/// Register stores to memory (and atomics).
pub const BPF_STX: u8 = 0x03;
/// 32-bit arithmetic.
pub const BPF_ALU: u8 = 0x04;
/// 64-bit jumps.
pub const BPF_JMP: u8 = 0x05;
/// 32-bit jumps.
pub const BPF_JMP32: u8 = 0x06;
/// 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

// Load/store sizes.
/// 32-bit word.
pub const BPF_W: u8 = 0x00;
/// 16-bit half word.
pub const BPF_H: u8 = 0x08;
/// 8-bit byte.
pub const BPF_B: u8 = 0x10;
/// 64-bit double word.
pub const BPF_DW: u8 = 0x18;

// Load/store modes.
/// 64-bit immediate (`ld_imm64`).
pub const BPF_IMM: u8 = 0x00;
/// Legacy absolute packet load.
pub const BPF_ABS: u8 = 0x20;
/// Legacy indirect packet load.
pub const BPF_IND: u8 = 0x40;
/// Regular memory access.
pub const BPF_MEM: u8 = 0x60;
/// Sign-extending load (ISA v4).
pub const BPF_MEMSX: u8 = 0x80;
/// Atomic operation (STX class), operation in `imm`.
pub const BPF_ATOMIC: u8 = 0xc0;

// Operand source.
/// Immediate operand.
pub const BPF_K: u8 = 0x00;
/// Register operand.
pub const BPF_X: u8 = 0x08;

// ALU operations.
/// `+=`.
pub const BPF_ADD: u8 = 0x00;
/// `-=`.
pub const BPF_SUB: u8 = 0x10;
/// `*=`.
pub const BPF_MUL: u8 = 0x20;
/// `/=` (signed when `off == 1`).
pub const BPF_DIV: u8 = 0x30;
/// `|=`.
pub const BPF_OR: u8 = 0x40;
/// `&=`.
pub const BPF_AND: u8 = 0x50;
/// `<<=`.
pub const BPF_LSH: u8 = 0x60;
/// `>>=` (logical).
pub const BPF_RSH: u8 = 0x70;
/// Negation.
pub const BPF_NEG: u8 = 0x80;
/// `%=` (signed when `off == 1`).
pub const BPF_MOD: u8 = 0x90;
/// `^=`.
pub const BPF_XOR: u8 = 0xa0;
/// `=` (sign-extending when `off` is 8, 16 or 32).
pub const BPF_MOV: u8 = 0xb0;
/// `s>>=` (arithmetic).
pub const BPF_ARSH: u8 = 0xc0;
/// Byte swap (`imm` = 16, 32 or 64).
pub const BPF_END: u8 = 0xd0;

/// Byte swap to little endian (ALU class, `BPF_K`).
pub const BPF_TO_LE: u8 = 0x00;
/// Byte swap to big endian (ALU class, `BPF_X`).
pub const BPF_TO_BE: u8 = 0x08;

// Jump operations.
/// Unconditional jump (`goto`; `gotol` in JMP32 class).
pub const BPF_JA: u8 = 0x00;
/// `==`.
pub const BPF_JEQ: u8 = 0x10;
/// `>` unsigned.
pub const BPF_JGT: u8 = 0x20;
/// `>=` unsigned.
pub const BPF_JGE: u8 = 0x30;
/// `&` (jump if bits set).
pub const BPF_JSET: u8 = 0x40;
/// `!=`.
pub const BPF_JNE: u8 = 0x50;
/// `s>`.
pub const BPF_JSGT: u8 = 0x60;
/// `s>=`.
pub const BPF_JSGE: u8 = 0x70;
/// Function call.
pub const BPF_CALL: u8 = 0x80;
/// Return.
pub const BPF_EXIT: u8 = 0x90;
/// `<` unsigned.
pub const BPF_JLT: u8 = 0xa0;
/// `<=` unsigned.
pub const BPF_JLE: u8 = 0xb0;
/// `s<`.
pub const BPF_JSLT: u8 = 0xc0;
/// `s<=`.
pub const BPF_JSLE: u8 = 0xd0;
/// Conditional pseudo jump (`may_goto`).
pub const BPF_JCOND: u8 = 0xe0;

// Atomic operations (in `imm` of `BPF_STX | BPF_ATOMIC`).
/// Return the old value in the source register.
pub const BPF_FETCH: i32 = 0x01;
/// Exchange.
pub const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
/// Compare and exchange (compares with `r0`).
pub const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;

// `src_reg` of `ld_imm64`.
/// `imm` is a map file descriptor.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `imm` is a map fd, the second slot's `imm` an offset into its value.
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// `imm` is a kernel BTF type id (a ksym).
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `imm` is a relative instruction offset of a subprogram (callback).
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// `imm` is an index into the `fd_array` of maps.
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
/// Like [`BPF_PSEUDO_MAP_IDX`], plus a value offset.
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;

// `src_reg` of calls.
/// Helper call: `imm` is the helper id.
pub const BPF_HELPER_CALL: u8 = 0;
/// bpf-to-bpf call: `imm` is the relative instruction offset of the callee.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// kfunc call: `imm` is a kernel BTF id, `off` an fd_array index of the module BTF (0 = vmlinux).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// Class bits of `code`.
pub const fn class(code: u8) -> u8 {
    code & 0x07
}

/// Size bits of a load/store `code`.
pub const fn size(code: u8) -> u8 {
    code & 0x18
}

/// Mode bits of a load/store `code`.
pub const fn mode(code: u8) -> u8 {
    code & 0xe0
}

/// Operation bits of an ALU/JMP `code`.
pub const fn op(code: u8) -> u8 {
    code & 0xf0
}

/// Source bit (`BPF_K` / `BPF_X`) of an ALU/JMP `code`.
pub const fn source(code: u8) -> u8 {
    code & 0x08
}

/// Bytes accessed by a load/store size.
pub const fn size_bytes(size: u8) -> u8 {
    match size {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}
