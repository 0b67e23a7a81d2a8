//! BTF: parse, query, edit and marshal the BPF Type Format, plus `.BTF.ext` and kernel BTF.
//!
//! * [`Btf`] holds one blob (base or split) as owned bytes (or a read-only mapping of a
//!   `/sys/kernel/btf` file, copied on first edit) plus an id → offset table built in a single
//!   validating pass; [`Type`] views decode records lazily (see `parse.rs` and
//!   `types.rs` for the layout choices). Name lookups use per-kind hash indexes keyed by
//!   essential name, each built on its first query (`index.rs`).
//! * Edits the loader needs are in-place fixed-size writes, record replacement of equal size
//!   and appends (`edit.rs`); [`sanitize`] rewrites kinds an old kernel lacks like libbpf does.
//! * [`BtfExt`] parses `.BTF.ext`; [`kernel::vmlinux`] finds the running kernel's BTF.
//!
//! Written by hand: no maintained crate parses BTF zero-copy with split BTF, in-place edits
//! and marshalling (aya's `aya-obj` decodes every type eagerly into owned structs).

mod by_id;
pub mod core;
pub mod dump;
mod edit;
mod ext;
pub mod hub;
mod index;
mod json;
pub mod kernel;
mod load;
mod parse;
mod query;
mod raw;
pub mod sanitize;
mod storage;
mod types;
pub mod value;

pub use ext::BtfExt;
pub use load::load_btf_fd;
pub use parse::Btf;
pub use query::PTR_SIZE;
pub use raw::Kind;
pub use sanitize::MissingFeatures;
pub use types::{
    Array, Composite, Datasec, DeclTag, Enum, EnumValue, Float, Func, FuncLinkage, FuncProto, Fwd,
    Int, Member, Param, Ref, Type, Var, VarLinkage, VarSecinfo, INVALID_NAME,
};

use crate::sys::SysError;

/// Errors from parsing, querying, editing or loading BTF.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The input ends before a structure does.
    #[error("BTF truncated: {what} needs {need} bytes, only {have} present")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The magic number is wrong.
    #[error("not BTF: magic {magic:#06x} (want 0xeb9f); hint: pass the raw .BTF section or /sys/kernel/btf/* contents")]
    BadMagic {
        /// The magic found (read little-endian).
        magic: u16,
    },
    /// Unknown format version.
    #[error("unsupported BTF version {version} (only version 1 exists)")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// Header fields are inconsistent.
    #[error("bad BTF header: {reason}")]
    BadHeader {
        /// What is wrong.
        reason: String,
    },
    /// The string section is malformed.
    #[error("bad BTF string section: {reason}")]
    BadStrings {
        /// What is wrong.
        reason: String,
    },
    /// A type record runs past the type section.
    #[error(
        "BTF type [{id}] at type-section offset {offset} needs {need} bytes, only {have} left"
    )]
    TruncatedType {
        /// Id of the record.
        id: u32,
        /// Its offset in the type section.
        offset: usize,
        /// Bytes the record needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A record has an unknown kind number.
    #[error("BTF type [{id}] has unknown kind {kind}; hint: BTF from a newer compiler or kernel?")]
    UnknownKind {
        /// Id of the record.
        id: u32,
        /// The kind number.
        kind: u32,
    },
    /// A record's `vlen` is invalid for its kind.
    #[error("BTF type [{id}] ({kind}) has invalid vlen {vlen}")]
    BadVlen {
        /// Id of the record.
        id: u32,
        /// Its kind.
        kind: Kind,
        /// The vlen.
        vlen: u32,
    },
    /// A record refers to a type id that does not exist.
    #[error("BTF type [{id}] refers to type id {refers_to}, but only ids below {types_len} exist")]
    BadTypeId {
        /// Id of the referring record.
        id: u32,
        /// The bad id.
        refers_to: u32,
        /// Number of types.
        types_len: u32,
    },
    /// A record has a name offset past the string section.
    #[error("BTF type [{id}] has name offset {offset} past the {strings_len}-byte string section")]
    BadNameOffset {
        /// Id of the record.
        id: u32,
        /// The offset.
        offset: u32,
        /// String section length.
        strings_len: u32,
    },
    /// Id 0 (void) was asked for where a real type is needed.
    #[error("type id {id} is void, which has no record")]
    VoidType {
        /// The id.
        id: u32,
    },
    /// A type id past the last type.
    #[error("type id {id} out of range (this BTF has ids below {types_len})")]
    TypeIdOutOfRange {
        /// The id.
        id: u32,
        /// Number of types.
        types_len: u32,
    },
    /// A string offset past the string section.
    #[error("string offset {offset} out of range (string section is {strings_len} bytes)")]
    StringOffsetOutOfRange {
        /// The offset.
        offset: u32,
        /// String section length.
        strings_len: u32,
    },
    /// A string is not UTF-8.
    #[error("BTF string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The offset.
        offset: u32,
    },
    /// Following type references did not end (a cycle, or a chain deeper than 32).
    #[error("type [{id}]: reference chain loops or is deeper than 32")]
    LoopDetected {
        /// The starting id.
        id: u32,
    },
    /// The type has no size (void, FWD, FUNC, FUNC_PROTO).
    #[error("type [{id}] ({kind}) has no size")]
    NoSize {
        /// The id.
        id: u32,
        /// Its kind name.
        kind: &'static str,
    },
    /// A computed size exceeds 32 bits.
    #[error("type [{id}]: size overflows 32 bits")]
    SizeOverflow {
        /// The id.
        id: u32,
    },
    /// A type is not of the kind an operation needs.
    #[error("type [{id}] is {found}, expected {expected}")]
    WrongKind {
        /// The id.
        id: u32,
        /// Kind needed.
        expected: Kind,
        /// Kind found.
        found: Kind,
    },
    /// An index into members/vars/params is out of range.
    #[error("type [{id}] has {vlen} entries, index {index} is out of range")]
    IndexOutOfRange {
        /// The id.
        id: u32,
        /// The index.
        index: usize,
        /// Number of entries.
        vlen: usize,
    },
    /// A record given to push/replace is malformed.
    #[error("bad BTF type record: {reason}")]
    BadRecord {
        /// What is wrong.
        reason: String,
    },
    /// `.BTF.ext` is malformed.
    #[error("bad .BTF.ext: {reason}")]
    BadExt {
        /// What is wrong.
        reason: String,
    },
    /// Reading a BTF file failed.
    #[error("reading BTF from {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A kernel image (ELF) did not yield BTF.
    #[error("{path}: {reason}")]
    Elf {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// No kernel BTF was found.
    #[error("no BTF found for kernel {release}: tried {}; hint: pass external BTF for this kernel (a raw .btf file, an ELF with .BTF, or a BTFHub directory): `--btf PATH` with the oxbpf CLI, `CollectionOptions::kernel_btf` (KernelBtfSource::File / Hub) in the API; or build the kernel with CONFIG_DEBUG_INFO_BTF=y", tried.join(", "))]
    VmlinuxNotFound {
        /// `uname -r`.
        release: String,
        /// Paths tried.
        tried: Vec<String>,
    },
    /// A BTF object in the kernel could not be opened or read.
    #[error("{op} kernel BTF object id {id}: {source}")]
    Kernel {
        /// `"open"` or `"read"`.
        op: &'static str,
        /// The BTF object id.
        id: u32,
        /// The syscall error.
        source: SysError,
    },
    /// `BPF_BTF_LOAD` failed.
    #[error("loading BTF into the kernel: {source}{}", log_text(log))]
    Load {
        /// The syscall error.
        source: SysError,
        /// The kernel's verifier log (may be empty).
        log: String,
    },
}

fn log_text(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!("\nkernel BTF log:\n{}", log.trim_end())
    }
}

#[cfg(test)]
mod tests;
