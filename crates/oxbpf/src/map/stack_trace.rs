//! [`StackTraceMap`]: stack ids (from `bpf_get_stackid`) to instruction-pointer frames.

use super::error::MapError;
use super::handle::Map;
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;

/// A `BPF_MAP_TYPE_STACK_TRACE`: `u32` stack id → up to `value_size / 8` `u64` frames.
///
/// ```no_run
/// use oxbpf::map::StackTraceMap;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_STACK_TRACE, filled by bpf_get_stackid(ctx, &stacks, 0).
/// let stacks = StackTraceMap::new(coll.map("stacks").unwrap())?;
/// for id in stacks.stack_ids() {
///     let frames = stacks.get(id?)?.unwrap_or_default();
///     println!("{frames:x?}"); // instruction addresses, innermost first
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StackTraceMap<M> {
    map: M,
}

impl<M: Borrow<Map>> StackTraceMap<M> {
    /// Wraps `map`, checking its type, 4-byte keys and a value size that is a multiple of 8.
    pub fn new(map: M) -> Result<Self, MapError> {
        let m = map.borrow();
        check(m, "StackTraceMap", &[MapType::STACK_TRACE], Some(4), None)?;
        if m.value_size() % 8 != 0 {
            return Err(MapError::Invalid {
                map: m.name().into(),
                op: "open",
                reason: format!(
                    "stack trace value size {} is not a multiple of 8",
                    m.value_size()
                ),
            });
        }
        Ok(StackTraceMap { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// The frames of stack `id`, innermost first (unused trailing slots dropped).
    pub fn get(&self, id: u32) -> Result<Option<Vec<u64>>, MapError> {
        let Some(raw) = self.map().lookup(&id.to_ne_bytes())? else {
            return Ok(None);
        };
        let mut frames: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect();
        while frames.last() == Some(&0) {
            frames.pop();
        }
        Ok(Some(frames))
    }

    /// Removes stack `id`; `false` if absent.
    pub fn remove(&self, id: u32) -> Result<bool, MapError> {
        self.map().delete(&id.to_ne_bytes())
    }

    /// The stored stack ids.
    pub fn stack_ids(&self) -> impl Iterator<Item = Result<u32, MapError>> + '_ {
        self.map()
            .keys()
            .map(|k| k.map(|k| u32::from_ne_bytes(k[..4].try_into().expect("4 bytes"))))
    }
}
