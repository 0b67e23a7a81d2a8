//! [`ProgramArray`]: tail-call targets by index.

use super::error::MapError;
use super::handle::Map;
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;
use std::os::fd::{AsRawFd, BorrowedFd};

/// A `BPF_MAP_TYPE_PROG_ARRAY`: index → program, for `bpf_tail_call`.
///
/// ```no_run
/// use oxbpf::map::ProgramArray;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_PROG_ARRAY `jump`, and bpf_tail_call(ctx, &jump, 1) in the caller.
/// let jump = ProgramArray::new(coll.map("jump").unwrap())?;
/// let stage = coll.programs().get("parse_ipv4").unwrap();
/// jump.set(1, stage.fd(), 0)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ProgramArray<M> {
    map: M,
}

impl<M: Borrow<Map>> ProgramArray<M> {
    /// Wraps `map`, checking its type and 4-byte keys and values.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(
            map.borrow(),
            "ProgramArray",
            &[MapType::PROG_ARRAY],
            Some(4),
            Some(4),
        )?;
        Ok(ProgramArray { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Puts the program `prog` at `index`.
    pub fn set(&self, index: u32, prog: BorrowedFd, flags: u64) -> Result<(), MapError> {
        let fd = prog.as_raw_fd() as u32;
        self.map()
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), flags)
    }

    /// Empties slot `index`; `false` if it was empty.
    pub fn clear(&self, index: u32) -> Result<bool, MapError> {
        self.map().delete(&index.to_ne_bytes())
    }

    /// The id of the program at `index`, if set.
    pub fn get(&self, index: u32) -> Result<Option<u32>, MapError> {
        Ok(self
            .map()
            .lookup(&index.to_ne_bytes())?
            .map(|b| u32::from_ne_bytes(b[..4].try_into().expect("4 bytes"))))
    }

    /// The indices that hold a program (array keys always list every slot: empty ones are
    /// skipped here).
    pub fn indices(&self) -> impl Iterator<Item = Result<u32, MapError>> + '_ {
        self.map().keys().filter_map(|k| {
            let k = match k {
                Ok(k) => u32::from_ne_bytes(k[..4].try_into().expect("4 bytes")),
                Err(e) => return Some(Err(e)),
            };
            match self.get(k) {
                Ok(Some(_)) => Some(Ok(k)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        })
    }
}
