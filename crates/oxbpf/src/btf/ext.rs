//! `.BTF.ext`: per-section `func_info`, `line_info` and CO-RE relocation records.
//!
//! Layout (kernel `Documentation/bpf/btf.rst`): a header with the offset and length of each
//! info block (offsets relative to the header's end); each block starts with a `u32`
//! record size followed by `{ sec_name_off, num_info, records[num_info] }` groups. Records
//! longer than we know are accepted (the known prefix is read); shorter ones are an error.
//!
//! `insn_off` in every record is kept as in the file: a **byte** offset from the start of
//! the ELF section. The ELF reader converts it to instruction slots (`/ 8`) when it links
//! programs.

use super::raw::{u32_at, MAGIC};
use super::{Btf, BtfError};
use crate::spec::{CoreRelo, FuncInfo, LineInfo};
use std::collections::BTreeMap;

/// Minimum `.BTF.ext` header length (no CO-RE block).
const EXT_HEADER_MIN: usize = 24;
/// Header length that includes the CO-RE block fields.
const EXT_HEADER_CORE: usize = 32;

/// Parsed `.BTF.ext`, keyed by ELF section name. `insn_off` values are **bytes**.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    /// `func_info` records per section.
    pub func_info: BTreeMap<String, Vec<FuncInfo>>,
    /// `line_info` records per section.
    pub line_info: BTreeMap<String, Vec<LineInfo>>,
    /// CO-RE relocation records per section.
    pub core_relos: BTreeMap<String, Vec<CoreRelo>>,
    /// Record size of the `func_info` block in the file (0 if absent).
    pub func_info_rec_size: u32,
    /// Record size of the `line_info` block in the file (0 if absent).
    pub line_info_rec_size: u32,
    /// Record size of the CO-RE block in the file (0 if absent).
    pub core_relo_rec_size: u32,
}

impl BtfExt {
    /// Parses `.BTF.ext`, resolving section names through `btf`'s string section.
    pub fn parse(raw: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let bad = |reason: String| BtfError::BadExt { reason };
        if raw.len() < EXT_HEADER_MIN {
            return Err(bad(format!(
                "{} bytes is shorter than the {EXT_HEADER_MIN}-byte header",
                raw.len()
            )));
        }
        let magic = u16::from_le_bytes([raw[0], raw[1]]);
        if magic != MAGIC {
            return Err(if magic == MAGIC.swap_bytes() {
                bad("big-endian .BTF.ext is not supported (object built for bpfeb?)".into())
            } else {
                bad(format!("bad magic {magic:#06x} (want 0xeb9f)"))
            });
        }
        if raw[2] != 1 {
            return Err(bad(format!("unsupported version {}", raw[2])));
        }
        let hdr_len = u32_at(raw, 4) as usize;
        if hdr_len < EXT_HEADER_MIN || hdr_len > raw.len() {
            return Err(bad(format!("hdr_len {hdr_len} outside 24..={}", raw.len())));
        }
        let body = &raw[hdr_len..];
        let mut ext = BtfExt::default();
        let block = |off_at: usize| -> Result<&[u8], BtfError> {
            let off = u32_at(raw, off_at) as usize;
            let len = u32_at(raw, off_at + 4) as usize;
            body.get(off..off.saturating_add(len)).ok_or_else(|| {
                bad(format!(
                    "block {off}+{len} exceeds the {} bytes after the header",
                    body.len()
                ))
            })
        };
        let fi = block(8)?;
        ext.func_info_rec_size = parse_block(fi, 8, "func_info", btf, |name, recs| {
            let v = ext.func_info.entry(name.to_string()).or_default();
            v.extend(recs.map(|r| FuncInfo {
                insn_off: u32_at(r, 0),
                type_id: u32_at(r, 4),
            }))
        })?;
        let li = block(16)?;
        ext.line_info_rec_size = parse_block(li, 16, "line_info", btf, |name, recs| {
            let v = ext.line_info.entry(name.to_string()).or_default();
            v.extend(recs.map(|r| LineInfo {
                insn_off: u32_at(r, 0),
                file_name_off: u32_at(r, 4),
                line_off: u32_at(r, 8),
                line_col: u32_at(r, 12),
            }))
        })?;
        if hdr_len >= EXT_HEADER_CORE {
            let cr = block(24)?;
            ext.core_relo_rec_size = parse_block(cr, 16, "core_relo", btf, |name, recs| {
                let v = ext.core_relos.entry(name.to_string()).or_default();
                v.extend(recs.map(|r| CoreRelo {
                    insn_off: u32_at(r, 0),
                    type_id: u32_at(r, 4),
                    access_str_off: u32_at(r, 8),
                    kind: u32_at(r, 12),
                }))
            })?;
        }
        Ok(ext)
    }
}

/// Walks one info block, calling `group` with each section name and an iterator over that
/// section's records; returns the block's record size (0 for an empty block).
fn parse_block(
    b: &[u8],
    min_rec: usize,
    what: &'static str,
    btf: &Btf,
    mut group: impl FnMut(&str, std::slice::ChunksExact<'_, u8>),
) -> Result<u32, BtfError> {
    let bad = |reason: String| BtfError::BadExt {
        reason: format!("{what}: {reason}"),
    };
    if b.is_empty() {
        return Ok(0);
    }
    if b.len() < 4 {
        return Err(bad("block shorter than its record size word".into()));
    }
    let rec_size = u32_at(b, 0) as usize;
    if rec_size < min_rec || rec_size % 4 != 0 {
        return Err(bad(format!(
            "record size {rec_size} (need a multiple of 4, at least {min_rec})"
        )));
    }
    let mut off = 4;
    while off < b.len() {
        if b.len() - off < 8 {
            return Err(bad(format!("truncated section header at offset {off}")));
        }
        let name_off = u32_at(b, off);
        let n = u32_at(b, off + 4) as usize;
        off += 8;
        let name = btf
            .str_at(name_off)
            .map_err(|e| bad(format!("section name at string offset {name_off}: {e}")))?;
        if n == 0 {
            return Err(bad(format!("section {name:?} has zero records")));
        }
        let bytes = n
            .checked_mul(rec_size)
            .filter(|&len| len <= b.len() - off)
            .ok_or_else(|| {
                bad(format!(
                    "section {name:?}: {n} records of {rec_size} bytes exceed the block"
                ))
            })?;
        group(name, b[off..off + bytes].chunks_exact(rec_size));
        off += bytes;
    }
    Ok(rec_size as u32)
}
