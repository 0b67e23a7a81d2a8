//! (placeholder: being written)

/// Errors from this module.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// Placeholder until the module lands.
    #[error("not implemented")]
    NotImplemented,
}
