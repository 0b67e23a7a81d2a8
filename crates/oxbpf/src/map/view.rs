//! Shared checks and conversions for the typed views.

use super::cpus::nr_possible_cpus;
use super::error::MapError;
use super::handle::{round8, Map};
use super::pod::{bytes_of, from_bytes, Pod};
use crate::spec::MapType;

/// Checks `map` has one of `types` and, where given, the key and value sizes a view needs.
pub(crate) fn check(
    map: &Map,
    view: &'static str,
    types: &'static [MapType],
    key: Option<usize>,
    value: Option<usize>,
) -> Result<(), MapError> {
    if !types.contains(&map.map_type()) {
        return Err(MapError::WrongType {
            map: map.name().into(),
            view,
            got: map.map_type(),
            want: types,
        });
    }
    if let Some(k) = key {
        map.check_size("open", "key", k, map.key_size() as usize)?;
    }
    if let Some(v) = value {
        map.check_size("open", "value", v, map.value_size() as usize)?;
    }
    Ok(())
}

/// Splits a per-CPU buffer into one `V` per possible CPU.
pub(crate) fn decode_per_cpu<V: Pod>(buf: &[u8]) -> Vec<V> {
    let slot = round8(std::mem::size_of::<V>());
    buf.chunks_exact(slot).map(from_bytes::<V>).collect()
}

/// Packs one `V` per possible CPU into a per-CPU buffer.
pub(crate) fn encode_per_cpu<V: Pod>(
    map: &Map,
    op: &'static str,
    values: &[V],
) -> Result<Vec<u8>, MapError> {
    let n = nr_possible_cpus().map_err(|e| map.io_err(op, e))?;
    if values.len() != n {
        return Err(MapError::Invalid {
            map: map.name().into(),
            op,
            reason: format!(
                "{} per-CPU values given, this machine has {n} possible CPUs; hint: pass one value per possible CPU (see map::possible_cpus)",
                values.len()
            ),
        });
    }
    let slot = round8(std::mem::size_of::<V>());
    let mut buf = vec![0u8; slot * n];
    for (chunk, v) in buf.chunks_exact_mut(slot).zip(values) {
        chunk[..std::mem::size_of::<V>()].copy_from_slice(bytes_of(v));
    }
    Ok(buf)
}
