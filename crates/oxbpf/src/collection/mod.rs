//! Loading a [`CollectionSpec`](crate::spec::CollectionSpec) into the kernel.

pub mod reloc;

/// Errors from loading a collection.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A relocation could not be applied.
    #[error("relocate program {program:?} at instruction {insn}: {reason}")]
    Relocation {
        /// Program name.
        program: String,
        /// Instruction slot.
        insn: usize,
        /// Why.
        reason: String,
    },
}
