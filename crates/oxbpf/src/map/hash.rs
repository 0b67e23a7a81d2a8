//! [`HashMap`] and [`PerCpuHashMap`] (also covering the LRU variants, which behave the same
//! from user space).

use super::error::MapError;
use super::handle::Map;
use super::pod::{bytes_of, from_bytes, Pod};
use super::view::{check, decode_per_cpu, encode_per_cpu};
use crate::spec::MapType;
use std::borrow::Borrow;
use std::marker::PhantomData;

/// A `BPF_MAP_TYPE_HASH` or `BPF_MAP_TYPE_LRU_HASH` from `K` to `V`.
///
/// ```no_run
/// use oxbpf::map::{HashMap, BPF_ANY};
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_HASH (or LRU_HASH), __u32 keys, __u64 values.
/// let hits = HashMap::<_, u32, u64>::new(coll.map("hits").unwrap())?;
/// hits.insert(&7, &1, BPF_ANY)?;
/// assert_eq!(hits.get(&7)?, Some(1));
/// for entry in hits.iter() {
///     let (key, value) = entry?;
///     println!("{key}: {value}");
/// }
/// hits.remove(&7)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HashMap<M, K, V> {
    map: M,
    _kv: PhantomData<(K, V)>,
}

/// An LRU hash map: the same view as [`HashMap`], which accepts both types.
pub type LruHashMap<M, K, V> = HashMap<M, K, V>;

impl<M: Borrow<Map>, K: Pod, V: Pod> HashMap<M, K, V> {
    /// Wraps `map`, checking its type and that `K`/`V` have its key/value sizes.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(
            map.borrow(),
            "HashMap",
            &[MapType::HASH, MapType::LRU_HASH],
            Some(std::mem::size_of::<K>()),
            Some(std::mem::size_of::<V>()),
        )?;
        Ok(HashMap {
            map,
            _kv: PhantomData,
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

    /// The value for `key`, if present.
    pub fn get(&self, key: &K) -> Result<Option<V>, MapError> {
        Ok(self.map().lookup(bytes_of(key))?.map(|b| from_bytes(&b)))
    }

    /// Inserts or updates `key` (`flags`: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
    pub fn insert(&self, key: &K, value: &V, flags: u64) -> Result<(), MapError> {
        self.map().update(bytes_of(key), bytes_of(value), flags)
    }

    /// Removes `key`; `false` if it was absent.
    pub fn remove(&self, key: &K) -> Result<bool, MapError> {
        self.map().delete(bytes_of(key))
    }

    /// The keys (see [`Map::keys`] for behaviour under concurrent deletion).
    pub fn keys(&self) -> impl Iterator<Item = Result<K, MapError>> + '_ {
        self.map().keys().map(|k| k.map(|k| from_bytes(&k)))
    }

    /// The entries; keys deleted between listing and lookup are skipped.
    pub fn iter(&self) -> impl Iterator<Item = Result<(K, V), MapError>> + '_ {
        self.keys().filter_map(|k| match k {
            Ok(k) => self.get(&k).transpose().map(|v| v.map(|v| (k, v))),
            Err(e) => Some(Err(e)),
        })
    }

    /// Every entry in as few syscalls as the kernel allows (`BPF_MAP_LOOKUP_BATCH`).
    pub fn get_batch(&self) -> Result<Vec<(K, V)>, MapError> {
        Ok(self
            .map()
            .lookup_batch()?
            .iter()
            .map(|(k, v)| (from_bytes(k), from_bytes(v)))
            .collect())
    }

    /// Inserts all `entries` (`BPF_MAP_UPDATE_BATCH`).
    pub fn insert_batch(&self, entries: &[(K, V)], flags: u64) -> Result<usize, MapError> {
        let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| bytes_of(k)).collect();
        let values: Vec<&[u8]> = entries.iter().map(|(_, v)| bytes_of(v)).collect();
        self.map().update_batch(&keys, &values, flags)
    }

    /// Removes all `keys` (`BPF_MAP_DELETE_BATCH`).
    pub fn remove_batch(&self, keys: &[K]) -> Result<usize, MapError> {
        let keys: Vec<&[u8]> = keys.iter().map(bytes_of).collect();
        self.map().delete_batch(&keys)
    }
}

/// A `BPF_MAP_TYPE_PERCPU_HASH` or `BPF_MAP_TYPE_LRU_PERCPU_HASH`: each key holds one `V` per
/// possible CPU.
///
/// ```no_run
/// use oxbpf::map::PerCpuHashMap;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_PERCPU_HASH (or LRU_PERCPU_HASH), __u32 keys, __u64 values.
/// let bytes = PerCpuHashMap::<_, u32, u64>::new(coll.map("bytes").unwrap())?;
/// if let Some(per_cpu) = bytes.get(&80)? {
///     println!("port 80: {} bytes", per_cpu.iter().sum::<u64>());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PerCpuHashMap<M, K, V> {
    map: M,
    _kv: PhantomData<(K, V)>,
}

/// An LRU per-CPU hash map: the same view as [`PerCpuHashMap`].
pub type LruPerCpuHashMap<M, K, V> = PerCpuHashMap<M, K, V>;

impl<M: Borrow<Map>, K: Pod, V: Pod> PerCpuHashMap<M, K, V> {
    /// Wraps `map`, checking its type and that `K`/`V` have its key/value sizes.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(
            map.borrow(),
            "PerCpuHashMap",
            &[MapType::PERCPU_HASH, MapType::LRU_PERCPU_HASH],
            Some(std::mem::size_of::<K>()),
            Some(std::mem::size_of::<V>()),
        )?;
        Ok(PerCpuHashMap {
            map,
            _kv: PhantomData,
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

    /// The values for `key`, one per possible CPU, if present.
    pub fn get(&self, key: &K) -> Result<Option<Vec<V>>, MapError> {
        Ok(self
            .map()
            .lookup(bytes_of(key))?
            .map(|b| decode_per_cpu(&b)))
    }

    /// Inserts or updates `key` with one value per possible CPU.
    pub fn insert(&self, key: &K, values: &[V], flags: u64) -> Result<(), MapError> {
        let buf = encode_per_cpu(self.map(), "update", values)?;
        self.map().update(bytes_of(key), &buf, flags)
    }

    /// Removes `key`; `false` if it was absent.
    pub fn remove(&self, key: &K) -> Result<bool, MapError> {
        self.map().delete(bytes_of(key))
    }

    /// The keys.
    pub fn keys(&self) -> impl Iterator<Item = Result<K, MapError>> + '_ {
        self.map().keys().map(|k| k.map(|k| from_bytes(&k)))
    }

    /// Every entry with per-CPU values, read in batches.
    pub fn get_batch(&self) -> Result<Vec<(K, Vec<V>)>, MapError> {
        Ok(self
            .map()
            .lookup_batch()?
            .iter()
            .map(|(k, v)| (from_bytes(k), decode_per_cpu(v)))
            .collect())
    }
}
