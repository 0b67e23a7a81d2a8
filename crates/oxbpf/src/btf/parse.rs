//! The [`Btf`] container and its single validating parse pass.
//!
//! Layout: the blob is kept as one owned `Vec<u8>` whose tail is `[type section][string
//! section]`; a `Vec<u32>` maps each own type id to its record's byte offset. Parsing is one
//! pass over the type section that checks every record's kind, length, `vlen`, name offsets
//! and referenced type ids, so later reads only need the cheap bounds they already imply.

use super::index::Indexes;
use super::raw::{info_kind, info_vlen, u32_at, Header, Kind, TYPE_LEN};
use super::storage::{Bytes, Mapping};
use super::BtfError;
use std::sync::Arc;

/// Parsed BTF: a base (e.g. vmlinux, an object's `.BTF`) or split BTF on top of a base.
pub struct Btf {
    /// Owned bytes; `data[types_at..strs_at]` is the type section, `data[strs_at..]` strings.
    pub(crate) data: Bytes,
    pub(crate) types_at: usize,
    pub(crate) strs_at: usize,
    /// Byte offset (relative to `types_at`) of own type `start_id + i`.
    pub(crate) offsets: Vec<u32>,
    /// First own type id (1 for base BTF, `base.types_len()` for split BTF).
    pub(crate) start_id: u32,
    /// First own string offset (0 for base BTF, the base's total string length for split).
    pub(crate) start_str: u32,
    pub(crate) base: Option<Arc<Btf>>,
    /// `flags` from the header.
    pub(crate) flags: u8,
    /// True if the input was big-endian (it is kept converted to little-endian).
    pub(crate) was_big_endian: bool,
    /// Name → ids indexes, one per kind, each built on first use (see [`super::index`]).
    pub(crate) index: Indexes,
}

impl Clone for Btf {
    fn clone(&self) -> Self {
        Btf {
            data: self.data.clone(),
            types_at: self.types_at,
            strs_at: self.strs_at,
            offsets: self.offsets.clone(),
            start_id: self.start_id,
            start_str: self.start_str,
            base: self.base.clone(),
            flags: self.flags,
            was_big_endian: self.was_big_endian,
            index: self.index.clone(),
        }
    }
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("types_len", &self.types_len())
            .field("start_id", &self.start_id)
            .field("type_bytes", &(self.strs_at - self.types_at))
            .field("string_bytes", &(self.data.len() - self.strs_at))
            .field("split", &self.base.is_some())
            .finish()
    }
}

impl Btf {
    /// Parses base BTF (a `.BTF` section or `/sys/kernel/btf/vmlinux`), copying `raw`.
    pub fn parse(raw: &[u8]) -> Result<Btf, BtfError> {
        Self::parse_owned(raw.to_vec(), None)
    }

    /// Parses split BTF (e.g. `/sys/kernel/btf/<module>`) whose ids and string offsets
    /// continue after `base`'s.
    pub fn parse_split(raw: &[u8], base: Arc<Btf>) -> Result<Btf, BtfError> {
        Self::parse_owned(raw.to_vec(), Some(base))
    }

    /// Parses BTF from a buffer it takes over (no copy of the sections when the blob has the
    /// usual `[header][types][strings]` layout).
    pub fn parse_vec(raw: Vec<u8>, base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        Self::parse_owned(raw, base)
    }

    /// Reads and parses a BTF file (e.g. `/sys/kernel/btf/vmlinux`). Files under
    /// `/sys/kernel/btf/` are mapped read-only rather than copied when the kernel allows it.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Btf, BtfError> {
        Self::from_file_split(path, None)
    }

    /// Like [`Btf::from_file`], for split BTF on top of `base` (`/sys/kernel/btf/<module>`).
    pub fn from_file_split(
        path: impl AsRef<std::path::Path>,
        base: Option<Arc<Btf>>,
    ) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        if let Some(m) = Mapping::kernel_btf(path) {
            return Self::parse_bytes(Bytes::Mapped(Arc::new(m)), base);
        }
        let raw = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_owned(raw, base)
    }

    fn parse_owned(raw: Vec<u8>, base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        Self::parse_bytes(Bytes::Owned(raw), base)
    }

    fn parse_bytes(mut raw: Bytes, base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        let h = Header::parse(&raw)?;
        let hdr = h.hdr_len as usize;
        let t0 = hdr + h.type_off as usize;
        let t1 = t0 + h.type_len as usize;
        let s0 = hdr + h.str_off as usize;
        let s1 = s0 + h.str_len as usize;
        if h.big_endian {
            for w in raw.to_mut()[t0..t1].chunks_exact_mut(4) {
                w.reverse();
            }
        }
        let (data, types_at, strs_at) = if s0 == t1 && s1 == raw.len() {
            (raw, t0, s0)
        } else {
            let mut d = Vec::with_capacity(h.type_len as usize + h.str_len as usize);
            d.extend_from_slice(&raw[t0..t1]);
            d.extend_from_slice(&raw[s0..s1]);
            (Bytes::Owned(d), 0, h.type_len as usize)
        };
        let strs = &data[strs_at..];
        let (start_id, start_str) = match &base {
            Some(b) => (b.types_len(), b.strings_end()),
            None => (1, 0),
        };
        if base.is_none() && strs.first().is_some_and(|&b| b != 0) {
            return Err(BtfError::BadStrings {
                reason: "the string section does not start with an empty string".into(),
            });
        }
        if strs.last().is_some_and(|&b| b != 0) {
            return Err(BtfError::BadStrings {
                reason: "the string section does not end with a NUL byte".into(),
            });
        }
        let str_end = start_str as u64 + strs.len() as u64;
        if str_end > u32::MAX as u64 {
            return Err(BtfError::BadStrings {
                reason: "string offsets overflow 32 bits".into(),
            });
        }
        let scan = validate(&data[types_at..strs_at], start_id, str_end as u32)?;
        let types_len = start_id as u64 + scan.offsets.len() as u64;
        if types_len > u32::MAX as u64 {
            return Err(BtfError::BadHeader {
                reason: "more than 2^32 types".into(),
            });
        }
        if scan.max_ref as u64 >= types_len {
            return Err(BtfError::BadTypeId {
                id: ref_culprit(
                    &data[types_at..strs_at],
                    start_id,
                    &scan.offsets,
                    scan.max_ref,
                ),
                refers_to: scan.max_ref,
                types_len: types_len as u32,
            });
        }
        let offsets = scan.offsets;
        let index = Indexes::with_kinds(scan.by_kind);
        Ok(Btf {
            data,
            types_at,
            strs_at,
            offsets,
            start_id,
            start_str,
            base,
            flags: h.flags,
            was_big_endian: h.big_endian,
            index,
        })
    }

    /// One past the highest string offset (base strings included).
    pub(crate) fn strings_end(&self) -> u32 {
        self.start_str + (self.data.len() - self.strs_at) as u32
    }

    /// True if the input blob was big-endian (it is held, and marshalled, little-endian).
    pub fn was_big_endian(&self) -> bool {
        self.was_big_endian
    }

    /// The base this split BTF sits on.
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }

    /// First type id defined by this BTF itself (1 unless split).
    pub fn start_id(&self) -> u32 {
        self.start_id
    }

    /// First string offset defined by this BTF itself (0 unless split).
    pub fn start_str_off(&self) -> u32 {
        self.start_str
    }
}

/// Result of [`validate`]: the offset table and the highest referenced type id.
pub(crate) struct Scan {
    pub offsets: Vec<u32>,
    pub max_ref: u32,
    /// Own indexes of each raw kind's types, ascending.
    pub by_kind: Vec<Vec<u32>>,
}

/// Id of the first record in `types` referring to type id `max_ref` (error reporting).
pub(crate) fn ref_culprit(types: &[u8], start_id: u32, offsets: &[u32], max_ref: u32) -> u32 {
    culprit(types, start_id, offsets, |_, r| r == max_ref).map_or(start_id, |(id, _)| id)
}

/// Largest valid `vlen` per kind number (FUNC's vlen is its linkage, 0..=2).
const VLEN_MAX: [u32; 20] = {
    let mut t = [0u32; 20];
    t[Kind::Struct as usize] = 0xffff;
    t[Kind::Union as usize] = 0xffff;
    t[Kind::Enum as usize] = 0xffff;
    t[Kind::Enum64 as usize] = 0xffff;
    t[Kind::FuncProto as usize] = 0xffff;
    t[Kind::Datasec as usize] = 0xffff;
    t[Kind::Func as usize] = 2;
    t
};

/// Bytes after `struct btf_type` independent of `vlen`, per kind number.
const FIXED_EXTRA: [u8; 20] = {
    let mut t = [0u8; 20];
    t[Kind::Int as usize] = 4;
    t[Kind::Var as usize] = 4;
    t[Kind::DeclTag as usize] = 4;
    t[Kind::Array as usize] = 12;
    t
};

/// Bytes per `vlen` entry, per kind number.
const PER_VLEN: [u8; 20] = {
    let mut t = [0u8; 20];
    t[Kind::Struct as usize] = 12;
    t[Kind::Union as usize] = 12;
    t[Kind::Datasec as usize] = 12;
    t[Kind::Enum64 as usize] = 12;
    t[Kind::Enum as usize] = 8;
    t[Kind::FuncProto as usize] = 8;
    t
};

/// Highest name offset and highest referenced type id in one record: `st` is its third
/// header word and `rest` its trailing entries (already length-checked for kind and vlen).
#[inline(always)]
fn record_maxes(kind: Kind, st: u32, rest: &[u8]) -> (u32, u32) {
    let (mut n, mut r) = (0u32, 0u32);
    match kind {
        Kind::Int | Kind::Float => {}
        Kind::Ptr
        | Kind::Fwd
        | Kind::Typedef
        | Kind::Volatile
        | Kind::Const
        | Kind::Restrict
        | Kind::TypeTag
        | Kind::Var
        | Kind::DeclTag
        | Kind::Func => r = st,
        Kind::Array => r = u32_at(rest, 0).max(u32_at(rest, 4)),
        Kind::Struct | Kind::Union => {
            for m in rest.chunks_exact(12) {
                n = n.max(u32_at(m, 0));
                r = r.max(u32_at(m, 4));
            }
        }
        Kind::Enum => {
            for e in rest.chunks_exact(8) {
                n = n.max(u32_at(e, 0));
            }
        }
        Kind::Enum64 => {
            for e in rest.chunks_exact(12) {
                n = n.max(u32_at(e, 0));
            }
        }
        Kind::FuncProto => {
            r = st;
            for p in rest.chunks_exact(8) {
                n = n.max(u32_at(p, 0));
                r = r.max(u32_at(p, 4));
            }
        }
        Kind::Datasec => {
            for v in rest.chunks_exact(12) {
                r = r.max(u32_at(v, 0));
            }
        }
    }
    (n, r)
}

/// Checks every record of `types` (kind, length, vlen, name offsets) and returns the
/// id → offset table plus the highest type id referenced, which the caller checks against the
/// final type count (forward references are legal).
///
/// `start_id` is the id of the first record; `str_end` bounds every name offset. The hot
/// loop only accumulates maxima; on failure a second pass finds the culprit record.
pub(crate) fn validate(types: &[u8], start_id: u32, str_end: u32) -> Result<Scan, BtfError> {
    let len = types.len();
    let mut offsets: Vec<u32> = Vec::with_capacity(len / 24 + 1);
    let mut off = 0usize;
    let (mut max_ref, mut max_name) = (0u32, 0u32);
    // Own indexes per raw kind, for the name indexes (one pass instead of two).
    let mut by_kind: Vec<Vec<u32>> = vec![Vec::new(); 32];
    while off < len {
        let id = start_id.wrapping_add(offsets.len() as u32);
        let Some(hdr) = types[off..].first_chunk::<TYPE_LEN>() else {
            return Err(BtfError::TruncatedType {
                id,
                offset: off,
                need: TYPE_LEN,
                have: len - off,
            });
        };
        let (name_off, info, st) = (u32_at(hdr, 0), u32_at(hdr, 4), u32_at(hdr, 8));
        let raw_kind = info_kind(info);
        let Some(kind) = Kind::from_raw(raw_kind) else {
            return Err(BtfError::UnknownKind { id, kind: raw_kind });
        };
        let vlen = info_vlen(info);
        // Table lookups instead of matches: one indirect branch per record (record_maxes).
        let k = raw_kind as usize;
        if vlen > VLEN_MAX[k] {
            return Err(BtfError::BadVlen { id, kind, vlen });
        }
        let extra = FIXED_EXTRA[k] as usize + PER_VLEN[k] as usize * vlen as usize;
        let end = off + TYPE_LEN + extra;
        let Some(rest) = types.get(off + TYPE_LEN..end) else {
            return Err(BtfError::TruncatedType {
                id,
                offset: off,
                need: TYPE_LEN + extra,
                have: len - off,
            });
        };
        let (n, r) = record_maxes(kind, st, rest);
        max_name = max_name.max(n).max(name_off);
        max_ref = max_ref.max(r);
        by_kind[k].push(offsets.len() as u32);
        offsets.push(off as u32);
        off = end;
    }
    if max_name != 0 && max_name >= str_end {
        let (id, offset) =
            culprit(types, start_id, &offsets, |n, _| n >= str_end).unwrap_or((start_id, max_name));
        return Err(BtfError::BadNameOffset {
            id,
            offset,
            strings_len: str_end,
        });
    }
    Ok(Scan {
        offsets,
        max_ref,
        by_kind,
    })
}

/// The first record whose (max name offset, max ref) satisfies `bad`, with the name offset.
/// Only used on the error path (and once for the max-ref holder).
fn culprit(
    types: &[u8],
    start_id: u32,
    offsets: &[u32],
    bad: impl Fn(u32, u32) -> bool,
) -> Option<(u32, u32)> {
    for (i, &o) in offsets.iter().enumerate() {
        let o = o as usize;
        let info = u32_at(types, o + 4);
        let kind = Kind::from_raw(info_kind(info))?;
        let end = o + TYPE_LEN + kind.extra_len(info_vlen(info));
        let (n, r) = record_maxes(kind, u32_at(types, o + 8), &types[o + TYPE_LEN..end]);
        let n = n.max(u32_at(types, o));
        if bad(n, r) {
            return Some((start_id + i as u32, n));
        }
    }
    None
}

#[cfg(test)]
mod tables {
    use super::*;

    #[test]
    fn tables_match_kind_extra_len() {
        for k in 1..20u32 {
            let kind = Kind::from_raw(k).unwrap();
            for vlen in [0, 1, 7] {
                let t = FIXED_EXTRA[k as usize] as usize + PER_VLEN[k as usize] as usize * vlen;
                assert_eq!(t, kind.extra_len(vlen as u32), "{kind}");
            }
        }
    }
}
