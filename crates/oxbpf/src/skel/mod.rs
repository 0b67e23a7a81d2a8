//! Run-time support for generated skeletons (see [`crate::gen`]): the code `oxbpf gen
//! skeleton` writes calls these to open the embedded object, set global sections before
//! load, find maps and programs by name, and read or write `.data`/`.bss` live through the
//! section map's memory mapping.
//!
//! Stages follow libbpf's: `open()` parses the embedded object into a
//! [`CollectionSpec`](crate::spec::CollectionSpec) (globals editable as typed structs),
//! `load()` creates maps and loads programs, and `attach()` ([`attach_all`]) attaches the
//! programs whose section names their hook; the others go through the [`crate::link`]
//! functions, which take the program's fd.

mod attach;
mod bits;
mod global;

pub use crate::map::Pod;
pub use attach::{attach_all, auto_attach};
pub use bits::{bits_get, bits_set, read_pod, record, write_pod};
pub use global::GlobalData;

use crate::collection::{Collection, LoadError};
use crate::elf::ElfError;
use crate::map::{Map, MapError};
use crate::prog::Program;
use crate::spec::{CollectionSpec, MapInit};

/// Errors from a generated skeleton.
#[derive(Debug, thiserror::Error)]
pub enum SkelError {
    /// The embedded object did not parse.
    #[error("open skeleton {skel:?}: {source}")]
    Open {
        /// Skeleton name.
        skel: &'static str,
        /// The parse error.
        #[source]
        source: ElfError,
    },
    /// Loading maps or programs failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A map operation (building a typed view, mapping a section) failed.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The object has no such map, section or program (or the program was not loaded).
    #[error("{what} {name:?} is not in the loaded object; hint: {hint}")]
    Missing {
        /// `"map"`, `"program"` or `"global section"`.
        what: &'static str,
        /// Its name.
        name: String,
        /// What to check.
        hint: &'static str,
    },
    /// Attaching a program to the hook its section names failed.
    #[error("attach program {program:?}: {source}")]
    Attach {
        /// Program name.
        program: String,
        /// The link error.
        #[source]
        source: crate::link::LinkError,
    },
    /// A generated type's size differs from the object's section (the skeleton is stale).
    #[error("global section {section:?} is {want} bytes in the object, the skeleton's type has {got}; hint: regenerate the skeleton from this object")]
    Layout {
        /// Section name.
        section: String,
        /// Size in the object.
        want: usize,
        /// Size of the generated type.
        got: usize,
    },
}

/// Parses the object embedded in skeleton `skel`.
pub fn open_spec(skel: &'static str, object: &[u8]) -> Result<CollectionSpec, SkelError> {
    crate::elf::load_collection_spec(object).map_err(|source| SkelError::Open { skel, source })
}

fn section_bytes<'s>(
    spec: &'s mut CollectionSpec,
    name: &str,
) -> Result<&'s mut Vec<u8>, SkelError> {
    match spec.maps.get_mut(name).map(|m| &mut m.init) {
        Some(MapInit::Data(d)) => Ok(d),
        _ => Err(SkelError::Missing {
            what: "global section",
            name: name.into(),
            hint: "regenerate the skeleton from this object",
        }),
    }
}

/// The initial contents of global section `name` (`.rodata`, `.bss`...) as `T`.
pub fn section_init<T: Pod>(spec: &mut CollectionSpec, name: &str) -> Result<T, SkelError> {
    let data = section_bytes(spec, name)?;
    check_len(name, data.len(), std::mem::size_of::<T>())?;
    Ok(read_pod(data, 0))
}

/// Writes `value` as the initial contents of global section `name`.
pub fn set_section<T: Pod>(
    spec: &mut CollectionSpec,
    name: &str,
    value: &T,
) -> Result<(), SkelError> {
    let data = section_bytes(spec, name)?;
    check_len(name, data.len(), std::mem::size_of::<T>())?;
    write_pod(data, 0, value);
    Ok(())
}

fn check_len(section: &str, want: usize, got: usize) -> Result<(), SkelError> {
    if want != got {
        return Err(SkelError::Layout {
            section: section.into(),
            want,
            got,
        });
    }
    Ok(())
}

/// The loaded map `name`.
pub fn map<'a>(coll: &'a Collection, name: &str) -> Result<&'a Map, SkelError> {
    coll.map(name).ok_or_else(|| SkelError::Missing {
        what: "map",
        name: name.into(),
        hint: "regenerate the skeleton from this object",
    })
}

/// The loaded program `name`.
pub fn program<'a>(coll: &'a Collection, name: &str) -> Result<&'a Program, SkelError> {
    coll.program(name).ok_or_else(|| SkelError::Missing {
        what: "program",
        name: name.into(),
        hint: "programs in `?` sections or left out of CollectionOptions::programs are not loaded",
    })
}

/// 8-byte aligned bytes, for embedding an object with `include_bytes!` (the ELF reader
/// copies unaligned input first; aligned input is read in place).
#[repr(C, align(8))]
pub struct Aligned<T: ?Sized>(pub T);
