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
///
/// Key layout: the kernel's key is a `u32` prefix length in bits, in host byte order, then
/// the data bytes, matched most significant bit first; `K` is only the data part (the map's
/// key size must be 4 + `size_of::<K>()`). Put IP addresses in network byte order:
/// `[u8; 4]` from [`Ipv4Addr::octets`](std::net::Ipv4Addr::octets), `[u8; 16]` for IPv6.
/// The C side declares the same layout:
///
/// ```c
/// struct v4_prefix { __u32 prefixlen; __u8 addr[4]; };  /* addr as on the wire */
/// struct {
///     __uint(type, BPF_MAP_TYPE_LPM_TRIE);
///     __uint(map_flags, BPF_F_NO_PREALLOC);              /* required */
///     __uint(max_entries, 1024);
///     __type(key, struct v4_prefix);
///     __type(value, __u32);
/// } blocklist SEC(".maps");
/// ```
///
/// ```no_run
/// use oxbpf::map::{LpmTrie, BPF_ANY};
/// use std::net::Ipv4Addr;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// let blocklist = LpmTrie::<_, [u8; 4], u32>::new(coll.map("blocklist").unwrap())?;
/// let net: Ipv4Addr = "192.0.2.0".parse()?;
/// blocklist.insert(24, &net.octets(), &1, BPF_ANY)?; // 192.0.2.0/24 -> 1
/// // A lookup with the full width finds the longest stored prefix covering the address.
/// let addr: Ipv4Addr = "192.0.2.77".parse()?;
/// assert_eq!(blocklist.get(32, &addr.octets())?, Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
