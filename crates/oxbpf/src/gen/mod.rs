//! Skeleton generation (`oxbpf gen skeleton`): Rust source that talks to one BPF object
//! with types generated from its BTF, so no struct is written by hand.
//!
//! The generated module (one `pub mod NAME { ... }`, ready for `include!`) holds:
//! * `#[repr(C)]` definitions of every struct, union, enum and typedef the object's maps
//!   and global sections use (plus any named with [`SkelOptions::types`], e.g. a ring-buffer
//!   record), each with compile-time size, alignment and field-offset assertions from BTF
//!   (see `types.rs` for how bitfields, unions and padding are spelled);
//! * one packed struct per global section (`Rodata`, `Data`, `Bss`, `DataFoo` for
//!   `.data.foo`...), its fields at the variables' offsets;
//! * `OpenSkel` (stage one: the parsed object, global sections editable as those structs),
//!   `Skel` (stage two, after load: typed map views from [`crate::map`], programs, `.rodata`
//!   as loaded, and `.data`/`.bss` read and written live through the section map's memory
//!   mapping, [`crate::skel::GlobalData`]); attaching is the third stage, done with the
//!   [`crate::link`] functions on a program's fd;
//! * the object's bytes, embedded with `include_bytes!`.
//!
//! Written by hand: the generator needs this crate's BTF reader and map views, which no
//! code-generation crate knows about; the output is plain text (no `syn`/`quote`).

mod defs;
mod ident;
mod skel;
mod stages;
mod types;

use crate::btf::BtfError;
use crate::elf::ElfError;
use std::path::{Path, PathBuf};

/// Errors from generating a skeleton.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The object did not parse.
    #[error("parse object: {0}")]
    Elf(#[from] ElfError),
    /// The object's BTF is malformed.
    #[error("object BTF: {0}")]
    Btf(#[from] BtfError),
    /// A type cannot be expressed in Rust (used internally; such types become opaque bytes).
    #[error("BTF type {id}: {reason}")]
    Unsupported {
        /// BTF type id.
        id: u32,
        /// Why.
        reason: String,
    },
    /// A type asked for with [`SkelOptions::types`] is not in the object's BTF.
    #[error("no struct, union, enum or typedef named {0:?} in the object's BTF; hint: the type must be used by the object (e.g. through a global variable) for clang to emit it")]
    NoSuchType(String),
}

/// Where the generated code finds the object's bytes for `include_bytes!`.
#[derive(Debug, Clone)]
pub enum ObjectRef {
    /// A path, written as a string literal (relative paths are relative to the file that
    /// `include!`s the module).
    Path(PathBuf),
    /// A file name in the build script's `OUT_DIR` (`concat!(env!("OUT_DIR"), "/file")`).
    OutDir(String),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SkelOptions {
    /// Module name (a Rust identifier is made of it).
    pub name: String,
    /// How the generated code embeds the object.
    pub object: ObjectRef,
    /// Extra named types to generate (e.g. a ring-buffer record type used by no map).
    pub types: Vec<String>,
}

impl SkelOptions {
    /// Options for module `name` embedding the object at `path`.
    pub fn new(name: impl Into<String>, object: ObjectRef) -> Self {
        SkelOptions {
            name: name.into(),
            object,
            types: Vec::new(),
        }
    }
}

/// The default module name for an object file: its file name up to the first `.`
/// (`xdp.bpf.o` → `xdp`).
pub fn name_from_path(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    if stem.is_empty() {
        "skel".into()
    } else {
        stem.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    }
}

/// The Rust source of the skeleton of `object` (the bytes of a BPF ELF object).
pub fn skeleton(object: &[u8], opts: &SkelOptions) -> Result<String, GenError> {
    let spec = crate::elf::load_collection_spec(object)?;
    skel::generate(&spec, opts)
}

#[cfg(test)]
mod tests;
