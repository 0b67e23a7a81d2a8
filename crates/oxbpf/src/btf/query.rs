//! Reading a [`Btf`]: records by id, strings, kinds, sizes.

use super::raw::{info_kind, u32_at, Kind, MAX_RESOLVE_DEPTH};
use super::types::{Type, INVALID_NAME};
use super::{Btf, BtfError};

/// Pointer size assumed for `PTR` (BPF and the 64-bit kernels BTF describes).
pub const PTR_SIZE: u32 = 8;

impl Btf {
    /// Highest valid type id + 1 (id 0 is void), base types included.
    pub fn types_len(&self) -> u32 {
        self.start_id + self.offsets.len() as u32
    }

    /// The own type section.
    pub(crate) fn type_bytes(&self) -> &[u8] {
        &self.data[self.types_at..self.strs_at]
    }

    /// The own string section.
    pub(crate) fn str_bytes(&self) -> &[u8] {
        &self.data[self.strs_at..]
    }

    /// The BTF that holds `id` (self or a base) and the record's byte range in its type section.
    pub(crate) fn locate(&self, id: u32) -> Result<(&Btf, usize, usize), BtfError> {
        if id < self.start_id {
            return match &self.base {
                Some(b) if id != 0 => b.locate(id),
                _ => Err(BtfError::VoidType { id }),
            };
        }
        let i = (id - self.start_id) as usize;
        let start = *self
            .offsets
            .get(i)
            .ok_or_else(|| BtfError::TypeIdOutOfRange {
                id,
                types_len: self.types_len(),
            })? as usize;
        let end = match self.offsets.get(i + 1) {
            Some(&e) => e as usize,
            None => self.strs_at - self.types_at,
        };
        Ok((self, start, end))
    }

    /// The raw record bytes of `id` (`struct btf_type` and what follows it).
    pub fn raw_type(&self, id: u32) -> Result<&[u8], BtfError> {
        let (btf, s, e) = self.locate(id)?;
        Ok(&btf.type_bytes()[s..e])
    }

    /// The type with id `id` (0 gives [`Type::Void`]).
    pub fn type_by_id(&self, id: u32) -> Result<Type<'_>, BtfError> {
        if id == 0 {
            return Ok(Type::Void);
        }
        let (btf, s, e) = self.locate(id)?;
        let rec = &btf.type_bytes()[s..e];
        let kind = record_kind(rec);
        Ok(Type::decode(btf, kind, rec))
    }

    /// The kind of `id` (an error for void, which has no kind).
    pub fn kind(&self, id: u32) -> Result<Kind, BtfError> {
        let (btf, s, _) = self.locate(id)?;
        Ok(record_kind(&btf.type_bytes()[s..]))
    }

    /// The raw name offset of `id`.
    pub fn name_off(&self, id: u32) -> Result<u32, BtfError> {
        let (btf, s, _) = self.locate(id)?;
        Ok(u32_at(btf.type_bytes(), s))
    }

    /// The name of `id` (`""` for void and anonymous types).
    pub fn name_of(&self, id: u32) -> Result<&str, BtfError> {
        if id == 0 {
            return Ok("");
        }
        self.str_at(self.name_off(id)?)
    }

    /// The NUL-terminated string at `off` in the string section (base strings included).
    pub fn str_at(&self, off: u32) -> Result<&str, BtfError> {
        let b = self.str_bytes_at(off)?;
        std::str::from_utf8(b).map_err(|_| BtfError::InvalidUtf8 { offset: off })
    }

    /// The raw bytes of the string at `off`, without the NUL.
    pub fn str_bytes_at(&self, off: u32) -> Result<&[u8], BtfError> {
        self.str_bytes_opt(off)
            .ok_or_else(|| BtfError::StringOffsetOutOfRange {
                offset: off,
                strings_len: self.strings_end(),
            })
    }

    /// [`Btf::str_bytes_at`] without an error value (hot paths).
    #[inline]
    pub(crate) fn str_bytes_opt(&self, off: u32) -> Option<&[u8]> {
        if off < self.start_str {
            return self.base.as_ref()?.str_bytes_opt(off);
        }
        let strs = self.str_bytes();
        let local = (off - self.start_str) as usize;
        if local >= strs.len() {
            return (off == 0).then_some(&[]);
        }
        let tail = &strs[local..];
        // The section ends with NUL (checked at parse and kept by every edit).
        let n = memchr::memchr(0, tail).unwrap_or(tail.len());
        Some(&tail[..n])
    }

    /// The string section from `off` to its end (the string at `off` is its NUL-terminated
    /// prefix), base strings included; `None` past the end.
    #[inline]
    pub(crate) fn str_tail_opt(&self, off: u32) -> Option<&[u8]> {
        if off < self.start_str {
            return self.base.as_ref()?.str_tail_opt(off);
        }
        self.str_bytes().get((off - self.start_str) as usize..)
    }

    /// A name for views: the string, or [`INVALID_NAME`] if it is not UTF-8.
    pub(crate) fn name_or_invalid(&self, off: u32) -> &str {
        match self.str_bytes_opt(off).map(std::str::from_utf8) {
            Some(Ok(s)) => s,
            _ => INVALID_NAME,
        }
    }

    /// Follows TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG to the first other type.
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<u32, BtfError> {
        self.skip_while(id, |k| {
            matches!(
                k,
                Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
            )
        })
    }

    /// Follows VOLATILE, CONST, RESTRICT and TYPE_TAG (not typedefs).
    pub fn skip_mods(&self, id: u32) -> Result<u32, BtfError> {
        self.skip_while(id, |k| {
            matches!(
                k,
                Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
            )
        })
    }

    fn skip_while(&self, mut id: u32, skip: impl Fn(Kind) -> bool) -> Result<u32, BtfError> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            if id == 0 {
                return Ok(0);
            }
            let (btf, s, _) = self.locate(id)?;
            let t = btf.type_bytes();
            if !skip(record_kind(&t[s..])) {
                return Ok(id);
            }
            id = u32_at(t, s + 8);
        }
        Err(BtfError::LoopDetected { id })
    }

    /// Size in bytes of `id`, following typedefs, modifiers, VAR, DECL_TAG and arrays
    /// (pointers are [`PTR_SIZE`]). Errors for void, FWD, FUNC and FUNC_PROTO.
    pub fn resolve_size(&self, id: u32) -> Result<u32, BtfError> {
        let start = id;
        let mut id = id;
        let mut mult: u64 = 1;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let size = match self.type_by_id(id)? {
                Type::Ptr(_) => PTR_SIZE,
                Type::Array(a) => {
                    mult = mult.saturating_mul(a.nelems as u64);
                    id = a.elem_type;
                    continue;
                }
                t => match (t.size(), t.ref_type()) {
                    (Some(s), _) => s,
                    (None, Some(r))
                        if matches!(
                            t.kind(),
                            Some(
                                Kind::Typedef
                                    | Kind::Volatile
                                    | Kind::Const
                                    | Kind::Restrict
                                    | Kind::TypeTag
                                    | Kind::Var
                                    | Kind::DeclTag
                            )
                        ) =>
                    {
                        id = r;
                        continue;
                    }
                    _ => {
                        return Err(BtfError::NoSize {
                            id: start,
                            kind: t.kind().map_or("void", Kind::name),
                        })
                    }
                },
            };
            let total = mult.saturating_mul(size as u64);
            return u32::try_from(total).map_err(|_| BtfError::SizeOverflow { id: start });
        }
        Err(BtfError::LoopDetected { id: start })
    }

    /// Alignment in bytes of `id` (natural alignment; packed structs report 1).
    pub fn resolve_align(&self, id: u32) -> Result<u32, BtfError> {
        self.resolve_align_depth(id, 0)
    }

    /// [`Btf::resolve_align`] with nesting bounded (a struct containing itself by value, in
    /// malformed BTF, would otherwise recurse without end).
    fn resolve_align_depth(&self, id: u32, depth: u32) -> Result<u32, BtfError> {
        if depth > 64 {
            return Err(BtfError::LoopDetected { id });
        }
        let id = self.skip_mods_and_typedefs(id)?;
        match self.type_by_id(id)? {
            Type::Int(i) => Ok(i.size.clamp(1, PTR_SIZE)),
            Type::Ptr(_) => Ok(PTR_SIZE),
            Type::Enum(e) | Type::Enum64(e) => Ok(e.size.clamp(1, PTR_SIZE)),
            Type::Float(f) => Ok(f.size.clamp(1, PTR_SIZE)),
            Type::Array(a) => self.resolve_align_depth(a.elem_type, depth + 1),
            Type::Struct(c) | Type::Union(c) => {
                let mut max = 1;
                for m in c.members() {
                    let a = self.resolve_align_depth(m.type_id, depth + 1)?;
                    if m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0 {
                        return Ok(1); // packed
                    }
                    max = max.max(a);
                }
                if c.size % max != 0 {
                    return Ok(1);
                }
                Ok(max)
            }
            t => Err(BtfError::NoSize {
                id,
                kind: t.kind().map_or("void", Kind::name),
            }),
        }
    }

    /// Iterates `(id, Type)` over every type, base types first (void excluded).
    pub fn iter(&self) -> impl Iterator<Item = (u32, Type<'_>)> + '_ {
        (1..self.types_len()).filter_map(move |id| self.type_by_id(id).ok().map(|t| (id, t)))
    }
}

/// The kind of a validated record.
#[inline(always)]
pub(crate) fn record_kind(rec: &[u8]) -> Kind {
    // Records were validated: the kind is known. Fall back to Int defensively.
    Kind::from_raw(info_kind(u32_at(rec, 4))).unwrap_or(Kind::Int)
}
