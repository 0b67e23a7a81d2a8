//! (placeholder: being written)

/// Errors from this module.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// Placeholder until the module lands.
    #[error("not implemented")]
    NotImplemented,
}

/// Parsed BTF (placeholder).
#[derive(Debug, Clone, Default)]
pub struct Btf {}
