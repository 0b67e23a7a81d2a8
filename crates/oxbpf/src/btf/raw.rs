//! On-disk BTF layout facts: header, kind numbers, record sizes, little-endian readers.
//!
//! Written from the kernel's documented format (`Documentation/bpf/btf.rst`): every field of
//! the type section is a 32-bit word, so a record is `12 + extra` bytes where `extra` depends
//! only on the kind and `vlen`.

use super::BtfError;

/// `BTF_MAGIC` as read little-endian.
pub(crate) const MAGIC: u16 = 0xeb9f;
/// `BTF_MAGIC` of a big-endian blob read little-endian.
pub(crate) const MAGIC_SWAPPED: u16 = 0x9feb;
/// Size of `struct btf_header`.
pub(crate) const HEADER_LEN: usize = 24;
/// Size of `struct btf_type`.
pub(crate) const TYPE_LEN: usize = 12;
/// Deepest chain of typedefs/modifiers/arrays followed before giving up (loops).
pub(crate) const MAX_RESOLVE_DEPTH: usize = 32;

/// The kind of a BTF type (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// `BTF_KIND_INT`.
    Int = 1,
    /// `BTF_KIND_PTR`.
    Ptr = 2,
    /// `BTF_KIND_ARRAY`.
    Array = 3,
    /// `BTF_KIND_STRUCT`.
    Struct = 4,
    /// `BTF_KIND_UNION`.
    Union = 5,
    /// `BTF_KIND_ENUM`.
    Enum = 6,
    /// `BTF_KIND_FWD`.
    Fwd = 7,
    /// `BTF_KIND_TYPEDEF`.
    Typedef = 8,
    /// `BTF_KIND_VOLATILE`.
    Volatile = 9,
    /// `BTF_KIND_CONST`.
    Const = 10,
    /// `BTF_KIND_RESTRICT`.
    Restrict = 11,
    /// `BTF_KIND_FUNC`.
    Func = 12,
    /// `BTF_KIND_FUNC_PROTO`.
    FuncProto = 13,
    /// `BTF_KIND_VAR`.
    Var = 14,
    /// `BTF_KIND_DATASEC`.
    Datasec = 15,
    /// `BTF_KIND_FLOAT`.
    Float = 16,
    /// `BTF_KIND_DECL_TAG`.
    DeclTag = 17,
    /// `BTF_KIND_TYPE_TAG`.
    TypeTag = 18,
    /// `BTF_KIND_ENUM64`.
    Enum64 = 19,
}

impl Kind {
    /// The kind for a `BTF_KIND_*` number, `None` for 0 (void/unknown) and unknown numbers.
    pub fn from_raw(v: u32) -> Option<Kind> {
        use Kind::*;
        Some(match v {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// The `BTF_KIND_*` number.
    pub fn raw(self) -> u32 {
        self as u32
    }

    /// The kernel's name for the kind (`"STRUCT"`, `"FUNC_PROTO"`...), as bpftool prints it.
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Int => "INT",
            Ptr => "PTR",
            Array => "ARRAY",
            Struct => "STRUCT",
            Union => "UNION",
            Enum => "ENUM",
            Fwd => "FWD",
            Typedef => "TYPEDEF",
            Volatile => "VOLATILE",
            Const => "CONST",
            Restrict => "RESTRICT",
            Func => "FUNC",
            FuncProto => "FUNC_PROTO",
            Var => "VAR",
            Datasec => "DATASEC",
            Float => "FLOAT",
            DeclTag => "DECL_TAG",
            TypeTag => "TYPE_TAG",
            Enum64 => "ENUM64",
        }
    }

    /// Bytes that follow the 12-byte `struct btf_type` for this kind with `vlen` entries.
    pub(crate) fn extra_len(self, vlen: u32) -> usize {
        use Kind::*;
        let vlen = vlen as usize;
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec | Enum64 => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
            Ptr | Fwd | Typedef | Volatile | Const | Restrict | Func | Float | TypeTag => 0,
        }
    }

    /// True if the third word of the record is a size (else it is a type id).
    pub fn has_size(self) -> bool {
        use Kind::*;
        matches!(self, Int | Struct | Union | Enum | Datasec | Float | Enum64)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads the little-endian `u32` at `off`; the caller has checked the bounds.
#[inline(always)]
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Writes the little-endian `u32` at `off` (bounds checked by slicing).
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// `info` word: kind in bits 24..29, vlen in bits 0..16, kind_flag in bit 31.
#[inline(always)]
pub(crate) fn info_kind(info: u32) -> u32 {
    (info >> 24) & 0x1f
}

/// `vlen` of an `info` word.
#[inline(always)]
pub(crate) fn info_vlen(info: u32) -> u32 {
    info & 0xffff
}

/// `kind_flag` of an `info` word.
#[inline(always)]
pub(crate) fn info_kflag(info: u32) -> bool {
    info >> 31 != 0
}

/// Builds an `info` word.
pub(crate) fn make_info(kind: Kind, vlen: u32, kflag: bool) -> u32 {
    ((kflag as u32) << 31) | (kind.raw() << 24) | (vlen & 0xffff)
}

/// The parsed `struct btf_header`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub flags: u8,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
    pub big_endian: bool,
}

impl Header {
    /// Parses and checks the header (magic, version, section bounds).
    pub(crate) fn parse(raw: &[u8]) -> Result<Header, BtfError> {
        if raw.len() < HEADER_LEN {
            return Err(BtfError::Truncated {
                what: "BTF header",
                need: HEADER_LEN,
                have: raw.len(),
            });
        }
        let magic = u16::from_le_bytes([raw[0], raw[1]]);
        let big_endian = match magic {
            MAGIC => false,
            MAGIC_SWAPPED => true,
            _ => return Err(BtfError::BadMagic { magic }),
        };
        let word = |off: usize| {
            let w = u32_at(raw, off);
            if big_endian {
                w.swap_bytes()
            } else {
                w
            }
        };
        if raw[2] != 1 {
            return Err(BtfError::UnsupportedVersion { version: raw[2] });
        }
        let h = Header {
            flags: raw[3],
            hdr_len: word(4),
            type_off: word(8),
            type_len: word(12),
            str_off: word(16),
            str_len: word(20),
            big_endian,
        };
        let hdr_len = h.hdr_len as usize;
        if hdr_len < HEADER_LEN || hdr_len > raw.len() {
            return Err(BtfError::BadHeader {
                reason: format!("hdr_len {} outside 24..={}", h.hdr_len, raw.len()),
            });
        }
        // A longer header (from a newer format) is accepted only if the unknown tail is zero.
        if raw[HEADER_LEN..hdr_len].iter().any(|&b| b != 0) {
            return Err(BtfError::BadHeader {
                reason: format!("unknown non-zero header bytes past 24 (hdr_len {hdr_len})"),
            });
        }
        let body = raw.len() - hdr_len;
        let in_body = |off: u32, len: u32| (off as u64 + len as u64) <= body as u64;
        if !in_body(h.type_off, h.type_len) || !in_body(h.str_off, h.str_len) {
            return Err(BtfError::BadHeader {
                reason: format!(
                    "sections [type {}+{}, str {}+{}] exceed the {} bytes after the header",
                    h.type_off, h.type_len, h.str_off, h.str_len, body
                ),
            });
        }
        if h.type_off % 4 != 0 || h.type_len % 4 != 0 {
            return Err(BtfError::BadHeader {
                reason: format!(
                    "type section {}+{} is not 4-byte aligned",
                    h.type_off, h.type_len
                ),
            });
        }
        let (t0, t1) = (h.type_off as u64, h.type_off as u64 + h.type_len as u64);
        let (s0, s1) = (h.str_off as u64, h.str_off as u64 + h.str_len as u64);
        if t0 < s1 && s0 < t1 {
            return Err(BtfError::BadHeader {
                reason: "type and string sections overlap".into(),
            });
        }
        Ok(h)
    }
}
