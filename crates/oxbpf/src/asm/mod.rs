//! BPF instructions: the 8-byte slot type, opcode constants, helper ids, and a disassembler
//! whose text matches `llvm-objdump -d`.

mod disasm;
pub mod gpl;
mod helpers;
mod insn;
pub mod opcode;

pub use disasm::{disassemble, disassemble_annotated, format_insn, instructions};
pub use helpers::{helper_id, helper_name, MAX_HELPER_ID};
pub use insn::Insn;

#[cfg(test)]
mod tests;
