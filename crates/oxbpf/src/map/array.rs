//! [`Array`] and [`PerCpuArray`]: fixed-size maps indexed by `u32`.

use super::error::MapError;
use super::handle::Map;
use super::pod::{bytes_of, from_bytes, Pod};
use super::view::{check, decode_per_cpu, encode_per_cpu};
use crate::spec::MapType;
use std::borrow::Borrow;
use std::marker::PhantomData;

/// A `BPF_MAP_TYPE_ARRAY` of `V`.
///
/// ```no_run
/// use oxbpf::map::Array;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
/// //             __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
/// let counts = Array::<_, u64>::new(coll.map("counts").unwrap())?;
/// counts.set(1, &42, 0)?;
/// assert_eq!(counts.get(1)?, 42);
/// println!("all slots: {:?}", counts.values()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Array<M, V> {
    map: M,
    _v: PhantomData<V>,
}

fn bounds(map: &Map, op: &'static str, index: u32) -> Result<(), MapError> {
    if index >= map.max_entries() {
        return Err(MapError::OutOfBounds {
            map: map.name().into(),
            op,
            index,
            max_entries: map.max_entries(),
        });
    }
    Ok(())
}

impl<M: Borrow<Map>, V: Pod> Array<M, V> {
    /// Wraps `map`, checking it is an array with 4-byte keys and `V`-sized values.
    pub fn new(map: M) -> Result<Self, MapError> {
        let sz = std::mem::size_of::<V>();
        check(map.borrow(), "Array", &[MapType::ARRAY], Some(4), Some(sz))?;
        Ok(Array {
            map,
            _v: PhantomData,
        })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Unwraps the view.
    pub fn into_inner(self) -> M {
        self.map
    }

    /// Number of slots.
    pub fn len(&self) -> u32 {
        self.map().max_entries()
    }

    /// True for a zero-slot array.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `index`.
    pub fn get(&self, index: u32) -> Result<V, MapError> {
        bounds(self.map(), "lookup in", index)?;
        let v = self.map().lookup(&index.to_ne_bytes())?;
        v.map(|b| from_bytes(&b)).ok_or_else(|| MapError::Invalid {
            map: self.map().name().into(),
            op: "lookup in",
            reason: format!("array slot {index} missing"),
        })
    }

    /// Writes the value at `index`.
    pub fn set(&self, index: u32, value: &V, flags: u64) -> Result<(), MapError> {
        bounds(self.map(), "update", index)?;
        self.map()
            .update(&index.to_ne_bytes(), bytes_of(value), flags)
    }

    /// Every slot's value, in index order.
    pub fn values(&self) -> Result<Vec<V>, MapError> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

/// A `BPF_MAP_TYPE_PERCPU_ARRAY` of `V`: each slot holds one `V` per possible CPU.
///
/// ```no_run
/// use oxbpf::map::PerCpuArray;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_PERCPU_ARRAY, __u32 keys, __u64 values.
/// let packets = PerCpuArray::<_, u64>::new(coll.map("packets").unwrap())?;
/// let per_cpu: Vec<u64> = packets.get(0)?; // one value per possible CPU
/// println!("total {}", per_cpu.iter().sum::<u64>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PerCpuArray<M, V> {
    map: M,
    _v: PhantomData<V>,
}

impl<M: Borrow<Map>, V: Pod> PerCpuArray<M, V> {
    /// Wraps `map`, checking it is a per-CPU array with 4-byte keys and `V`-sized values.
    pub fn new(map: M) -> Result<Self, MapError> {
        let sz = std::mem::size_of::<V>();
        check(
            map.borrow(),
            "PerCpuArray",
            &[MapType::PERCPU_ARRAY],
            Some(4),
            Some(sz),
        )?;
        Ok(PerCpuArray {
            map,
            _v: PhantomData,
        })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Unwraps the view.
    pub fn into_inner(self) -> M {
        self.map
    }

    /// Number of slots.
    pub fn len(&self) -> u32 {
        self.map().max_entries()
    }

    /// True for a zero-slot array.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values at `index`, one per possible CPU (indexed by CPU id).
    pub fn get(&self, index: u32) -> Result<Vec<V>, MapError> {
        bounds(self.map(), "lookup in", index)?;
        let v = self.map().lookup(&index.to_ne_bytes())?;
        v.map(|b| decode_per_cpu(&b))
            .ok_or_else(|| MapError::Invalid {
                map: self.map().name().into(),
                op: "lookup in",
                reason: format!("array slot {index} missing"),
            })
    }

    /// Writes the values at `index`: exactly one per possible CPU.
    pub fn set(&self, index: u32, values: &[V], flags: u64) -> Result<(), MapError> {
        bounds(self.map(), "update", index)?;
        let buf = encode_per_cpu(self.map(), "update", values)?;
        self.map().update(&index.to_ne_bytes(), &buf, flags)
    }
}
