//! [`ArrayOfMaps`] and [`HashOfMaps`]: maps whose values are other maps.

use super::error::MapError;
use super::handle::Map;
use super::pod::{bytes_of, from_bytes, Pod};
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};

fn inner_id(b: &[u8]) -> u32 {
    u32::from_ne_bytes(b[..4].try_into().expect("4 bytes"))
}

/// A `BPF_MAP_TYPE_ARRAY_OF_MAPS`: index → inner map.
///
/// ```no_run
/// use oxbpf::map::ArrayOfMaps;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_ARRAY_OF_MAPS with __array(values, ...) and another map `inner_b`
/// // of the same shape as the inner map.
/// let outer = ArrayOfMaps::new(coll.map("outer").unwrap())?;
/// outer.set(0, coll.map("inner_b").unwrap().fd(), 0)?; // swap in another inner map
/// println!("inner map id at 0: {:?}", outer.get(0)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ArrayOfMaps<M> {
    map: M,
}

impl<M: Borrow<Map>> ArrayOfMaps<M> {
    /// Wraps `map`, checking its type and 4-byte keys and values.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(
            map.borrow(),
            "ArrayOfMaps",
            &[MapType::ARRAY_OF_MAPS],
            Some(4),
            Some(4),
        )?;
        Ok(ArrayOfMaps { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Stores the map `inner` at `index` (it must match the inner map template).
    pub fn set(&self, index: u32, inner: BorrowedFd, flags: u64) -> Result<(), MapError> {
        let fd = inner.as_raw_fd() as u32;
        self.map()
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), flags)
    }

    /// The id of the inner map at `index` (open it with [`Map::from_id`]).
    pub fn get(&self, index: u32) -> Result<Option<u32>, MapError> {
        Ok(self
            .map()
            .lookup(&index.to_ne_bytes())?
            .map(|b| inner_id(&b)))
    }

    /// Empties slot `index`.
    pub fn clear(&self, index: u32) -> Result<bool, MapError> {
        self.map().delete(&index.to_ne_bytes())
    }
}

/// A `BPF_MAP_TYPE_HASH_OF_MAPS`: `K` → inner map.
///
/// ```no_run
/// use oxbpf::map::{HashOfMaps, BPF_ANY};
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_HASH_OF_MAPS with __u32 keys and an inner map template.
/// let tenants = HashOfMaps::<_, u32>::new(coll.map("tenants").unwrap())?;
/// tenants.insert(&42, coll.map("tenant_42").unwrap().fd(), BPF_ANY)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HashOfMaps<M, K> {
    map: M,
    _k: PhantomData<K>,
}

impl<M: Borrow<Map>, K: Pod> HashOfMaps<M, K> {
    /// Wraps `map`, checking its type, `K`-sized keys and 4-byte values.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(
            map.borrow(),
            "HashOfMaps",
            &[MapType::HASH_OF_MAPS],
            Some(std::mem::size_of::<K>()),
            Some(4),
        )?;
        Ok(HashOfMaps {
            map,
            _k: PhantomData,
        })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Stores the map `inner` under `key`.
    pub fn insert(&self, key: &K, inner: BorrowedFd, flags: u64) -> Result<(), MapError> {
        let fd = inner.as_raw_fd() as u32;
        self.map().update(bytes_of(key), &fd.to_ne_bytes(), flags)
    }

    /// The id of the inner map under `key`.
    pub fn get(&self, key: &K) -> Result<Option<u32>, MapError> {
        Ok(self.map().lookup(bytes_of(key))?.map(|b| inner_id(&b)))
    }

    /// Removes `key`.
    pub fn remove(&self, key: &K) -> Result<bool, MapError> {
        self.map().delete(bytes_of(key))
    }

    /// The keys.
    pub fn keys(&self) -> impl Iterator<Item = Result<K, MapError>> + '_ {
        self.map().keys().map(|k| k.map(|k| from_bytes(&k)))
    }
}
