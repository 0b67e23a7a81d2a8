//! Batch operations (`BPF_MAP_*_BATCH`), falling back to one call per element on kernels or
//! map types without batch support (`EINVAL`, `ENOTSUPP`, `EOPNOTSUPP`).

use super::error::MapError;
use super::handle::Map;
use crate::sys::{self, SysError};

/// Elements asked for per `BPF_MAP_LOOKUP_BATCH` call (grown on `ENOSPC`).
const BATCH: u32 = 256;

/// Raw `(key, value)` pairs.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn no_batch(e: &SysError) -> bool {
    e.is_unsupported()
}

impl Map {
    /// Every entry as `(key, value)` pairs, read with `BPF_MAP_LOOKUP_BATCH`.
    pub fn lookup_batch(&self) -> Result<Entries, MapError> {
        self.batch_read(false)
    }

    /// Every entry, removing each (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`).
    pub fn lookup_and_delete_batch(&self) -> Result<Entries, MapError> {
        self.batch_read(true)
    }

    fn batch_read(&self, delete: bool) -> Result<Entries, MapError> {
        let op = if delete {
            "lookup and delete batch in"
        } else {
            "lookup batch in"
        };
        let ks = self.key_size() as usize;
        let vs = self.value_buf_size()?;
        let mut out = Vec::new();
        let mut count = BATCH.min(self.max_entries().max(1));
        // The cursor is opaque: a bucket or index for the kernel's own maps; size it generously.
        let cursor_len = ks.max(8);
        let mut in_batch: Option<Vec<u8>> = None;
        loop {
            let mut out_batch = vec![0u8; cursor_len];
            let mut keys = vec![0u8; ks * count as usize];
            let mut values = vec![0u8; vs * count as usize];
            let r = sys::map_lookup_batch(
                self.fd(),
                in_batch.as_deref(),
                &mut out_batch,
                &mut keys,
                &mut values,
                count,
                delete,
            );
            let res = match r {
                Ok(r) => r,
                Err(e) if e.errno == libc::ENOSPC && count < self.max_entries().max(1) * 2 => {
                    // A hash bucket holds more entries than `count`: ask for more at once.
                    count = count.saturating_mul(2);
                    continue;
                }
                Err(e) if no_batch(&e) && in_batch.is_none() => {
                    tracing::debug!(map = %self.name(), error = %e, "batch lookup unsupported, per element");
                    return self.read_each(delete);
                }
                Err(e) => return Err(self.sys_err(op, e)),
            };
            for i in 0..res.count as usize {
                out.push((
                    keys[i * ks..(i + 1) * ks].to_vec(),
                    values[i * vs..(i + 1) * vs].to_vec(),
                ));
            }
            if res.done {
                return Ok(out);
            }
            in_batch = Some(out_batch);
        }
    }

    fn read_each(&self, delete: bool) -> Result<Entries, MapError> {
        let keys = self.keys().collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let v = if delete {
                self.lookup_and_delete(&k)?
            } else {
                self.lookup(&k)?
            };
            if let Some(v) = v {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Writes `keys[i]` → `values[i]` for all pairs (`BPF_MAP_UPDATE_BATCH`). Returns the count.
    pub fn update_batch(
        &self,
        keys: &[&[u8]],
        values: &[&[u8]],
        flags: u64,
    ) -> Result<usize, MapError> {
        let op = "update batch in";
        if keys.len() != values.len() {
            return Err(MapError::Invalid {
                map: self.name().into(),
                op,
                reason: format!("{} keys but {} values", keys.len(), values.len()),
            });
        }
        let vs = self.value_buf_size()?;
        let mut kb = Vec::with_capacity(keys.len() * self.key_size() as usize);
        let mut vb = Vec::with_capacity(values.len() * vs);
        for (k, v) in keys.iter().zip(values) {
            self.check_size(op, "key", k.len(), self.key_size() as usize)?;
            self.check_size(op, "value", v.len(), vs)?;
            kb.extend_from_slice(k);
            vb.extend_from_slice(v);
        }
        if keys.is_empty() {
            return Ok(0);
        }
        match sys::map_update_batch(self.fd(), &kb, &vb, keys.len() as u32, flags) {
            Ok(n) => Ok(n as usize),
            Err(e) if no_batch(&e) => {
                for (k, v) in keys.iter().zip(values) {
                    self.update(k, v, flags)?;
                }
                Ok(keys.len())
            }
            Err(e) => Err(self.sys_err(op, e)),
        }
    }

    /// Deletes all `keys` (`BPF_MAP_DELETE_BATCH`). Fails with `ENOENT` if one is absent.
    pub fn delete_batch(&self, keys: &[&[u8]]) -> Result<usize, MapError> {
        let op = "delete batch in";
        let mut kb = Vec::with_capacity(keys.len() * self.key_size() as usize);
        for k in keys {
            self.check_size(op, "key", k.len(), self.key_size() as usize)?;
            kb.extend_from_slice(k);
        }
        if keys.is_empty() {
            return Ok(0);
        }
        match sys::map_delete_batch(self.fd(), &kb, keys.len() as u32) {
            Ok(n) => Ok(n as usize),
            Err(e) if no_batch(&e) => {
                for k in keys {
                    if !self.delete(k)? {
                        return Err(
                            self.sys_err(op, SysError::new(sys::Cmd::MapDeleteElem, libc::ENOENT))
                        );
                    }
                }
                Ok(keys.len())
            }
            Err(e) => Err(self.sys_err(op, e)),
        }
    }
}
