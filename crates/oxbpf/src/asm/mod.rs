//! BPF instructions: the 8-byte slot type, opcode constants, and a disassembler.

mod insn;

pub use insn::Insn;
