//! The crate's error type: one variant per stage, each wrapping that module's own error.

use crate::sys::SysError;

/// Any oxbpf error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A raw `bpf(2)` call failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// Reading an ELF object failed.
    #[error(transparent)]
    Elf(#[from] crate::elf::ElfError),
    /// Parsing or using BTF failed.
    #[error(transparent)]
    Btf(#[from] crate::btf::BtfError),
    /// Loading a collection (maps, programs) failed.
    #[error(transparent)]
    Load(#[from] crate::collection::LoadError),
    /// A map operation failed.
    #[error(transparent)]
    Map(#[from] crate::map::MapError),
    /// A program operation failed.
    #[error(transparent)]
    Program(#[from] crate::prog::ProgramError),
    /// Attaching or detaching a link failed.
    #[error(transparent)]
    Link(#[from] crate::link::LinkError),
    /// A required kernel feature is missing, or a feature probe failed.
    #[error(transparent)]
    Feature(#[from] crate::features::FeatureError),
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] crate::netlink::NetlinkError),
    /// An I/O error outside `bpf(2)` (files, bpffs).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
