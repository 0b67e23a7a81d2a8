//! [`LpmTrie`]: longest-prefix-match maps. Keys are a `u32` prefix length (in bits) followed
//! by the data; IP addresses go in network byte order.

use super::error::MapError;
use super::handle::Map;
use super::pod::{bytes_of, from_bytes, Pod};
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;
use std::marker::PhantomData;

/// A `BPF_MAP_TYPE_LPM_TRIE` keyed by (prefix length, `K`) holding `V`.
#[derive(Debug)]
pub struct LpmTrie<M, K, V> {
    map: M,
    _kv: PhantomData<(K, V)>,
}

fn key_bytes<K: Pod>(prefix_len: u32, data: &K) -> Vec<u8> {
    let mut k = prefix_len.to_ne_bytes().to_vec();
    k.extend_from_slice(bytes_of(data));
    k
}

impl<M: Borrow<Map>, K: Pod, V: Pod> LpmTrie<M, K, V> {
    /// Wraps `map`, checking its type and that its key is 4 + `size_of::<K>()` bytes.
    pub fn new(map: M) -> Result<Self, MapError> {
        let m = map.borrow();
        check(m, "LpmTrie", &[MapType::LPM_TRIE], None, None)?;
        let (key, data) = (m.key_size() as usize, std::mem::size_of::<K>());
        if key != 4 + data {
            return Err(MapError::Invalid {
                map: m.name().into(),
                op: "open as LpmTrie",
                reason: format!(
                    "the map's key is {key} bytes (a u32 prefix length + {} data bytes) but K is \
                     {data} bytes; hint: K is only the data after the prefix length, {} bytes here \
                     (e.g. [u8; 4] for IPv4, [u8; 16] for IPv6)",
                    key.saturating_sub(4),
                    key.saturating_sub(4),
                ),
            });
        }
        check(
            m,
            "LpmTrie",
            &[MapType::LPM_TRIE],
            None,
            Some(std::mem::size_of::<V>()),
        )?;
        Ok(LpmTrie {
            map,
            _kv: PhantomData,
        })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// `key_bytes`, refusing a prefix longer than `K` has bits (the kernel's bare `EINVAL`).
    fn key(&self, op: &'static str, prefix_len: u32, data: &K) -> Result<Vec<u8>, MapError> {
        let max = 8 * std::mem::size_of::<K>() as u64;
        if u64::from(prefix_len) > max {
            return Err(MapError::Invalid {
                map: self.map().name().into(),
                op,
                reason: format!(
                    "prefix length {prefix_len} is longer than the key's {max} data bits; \
                     hint: the maximum prefix is {max}"
                ),
            });
        }
        Ok(key_bytes(prefix_len, data))
    }

    /// Longest-prefix match: the value of the longest stored prefix covering the first
    /// `prefix_len` bits of `data` (use the full width to match an address).
    pub fn get(&self, prefix_len: u32, data: &K) -> Result<Option<V>, MapError> {
        Ok(self
            .map()
            .lookup(&self.key("lookup in", prefix_len, data)?)?
            .map(|b| from_bytes(&b)))
    }

    /// Stores `data/prefix_len` → `value`.
    pub fn insert(&self, prefix_len: u32, data: &K, value: &V, flags: u64) -> Result<(), MapError> {
        self.map().update(
            &self.key("update", prefix_len, data)?,
            bytes_of(value),
            flags,
        )
    }

    /// Removes exactly `data/prefix_len`; `false` if absent.
    pub fn remove(&self, prefix_len: u32, data: &K) -> Result<bool, MapError> {
        self.map()
            .delete(&self.key("delete from", prefix_len, data)?)
    }

    /// The stored prefixes as `(prefix_len, data)`.
    pub fn keys(&self) -> impl Iterator<Item = Result<(u32, K), MapError>> + '_ {
        self.map()
            .keys()
            .map(|k| k.map(|k| (from_bytes::<u32>(&k), from_bytes::<K>(&k[4..]))))
    }
}
