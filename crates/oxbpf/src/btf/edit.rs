//! Editing a [`Btf`]: fixed-size field writes, same-size record replacement, appends, and
//! marshalling back to the raw format for `BPF_BTF_LOAD`.
//!
//! Only the BTF's own types can be edited (not a split BTF's base). Appending a type inserts
//! its bytes before the string section (a `memmove` of the strings, cheap for object BTF).

use super::parse::validate;
use super::raw::{info_kflag, info_vlen, make_info, put_u32, u32_at, Kind, HEADER_LEN, MAGIC};
use super::{Btf, BtfError, FuncLinkage};

impl Btf {
    /// Absolute byte range in `data` of own type `id`, checking its kind if `want` is given.
    fn own_record(&self, id: u32, want: Option<Kind>) -> Result<(usize, usize), BtfError> {
        if id < self.start_id {
            return Err(if id == 0 {
                BtfError::VoidType { id }
            } else {
                BtfError::BadRecord {
                    reason: format!("type [{id}] belongs to the base BTF and cannot be edited"),
                }
            });
        }
        let (_, s, e) = self.locate(id)?;
        if let Some(want) = want {
            let found = self.kind(id)?;
            if found != want {
                return Err(BtfError::WrongKind {
                    id,
                    expected: want,
                    found,
                });
            }
        }
        Ok((self.types_at + s, self.types_at + e))
    }

    /// Sets the size of DATASEC `id`.
    pub fn set_datasec_size(&mut self, id: u32, size: u32) -> Result<(), BtfError> {
        let (s, _) = self.own_record(id, Some(Kind::Datasec))?;
        put_u32(self.data.to_mut(), s + 8, size);
        Ok(())
    }

    /// Sets offset and size of variable `index` of DATASEC `id`.
    pub fn set_datasec_var(
        &mut self,
        id: u32,
        index: usize,
        offset: u32,
        size: u32,
    ) -> Result<(), BtfError> {
        let (s, _) = self.own_record(id, Some(Kind::Datasec))?;
        let vlen = info_vlen(u32_at(&self.data, s + 4)) as usize;
        if index >= vlen {
            return Err(BtfError::IndexOutOfRange { id, index, vlen });
        }
        let at = s + 12 + 12 * index;
        put_u32(self.data.to_mut(), at + 4, offset);
        put_u32(self.data.to_mut(), at + 8, size);
        Ok(())
    }

    /// Sets the linkage of FUNC `id`.
    pub fn set_func_linkage(&mut self, id: u32, linkage: FuncLinkage) -> Result<(), BtfError> {
        let (s, _) = self.own_record(id, Some(Kind::Func))?;
        let kflag = info_kflag(u32_at(&self.data, s + 4));
        put_u32(
            self.data.to_mut(),
            s + 4,
            make_info(Kind::Func, linkage.raw() & 0xffff, kflag),
        );
        Ok(())
    }

    /// Sets the name offset of own type `id` (see [`Btf::add_string`]).
    pub fn set_name_off(&mut self, id: u32, name_off: u32) -> Result<(), BtfError> {
        let (s, _) = self.own_record(id, None)?;
        if name_off != 0 && name_off >= self.strings_end() {
            return Err(BtfError::StringOffsetOutOfRange {
                offset: name_off,
                strings_len: self.strings_end(),
            });
        }
        put_u32(self.data.to_mut(), s, name_off);
        self.invalidate_index();
        Ok(())
    }

    /// Replaces own type `id` with `rec`, a complete record of the same byte length
    /// (sanitisation: e.g. DATASEC → STRUCT). The record's structure is validated.
    pub fn replace_type(&mut self, id: u32, rec: &[u8]) -> Result<(), BtfError> {
        let (s, e) = self.own_record(id, None)?;
        if rec.len() != e - s {
            return Err(BtfError::BadRecord {
                reason: format!(
                    "replacement for type [{id}] is {} bytes, the record is {}",
                    rec.len(),
                    e - s
                ),
            });
        }
        self.check_record(rec, id)?;
        self.data.to_mut()[s..e].copy_from_slice(rec);
        self.invalidate_index();
        Ok(())
    }

    /// Appends one complete type record and returns its id. Referenced ids are not checked
    /// (forward references are allowed); reads of a bad id fail later with an error.
    pub fn push_type(&mut self, rec: &[u8]) -> Result<u32, BtfError> {
        let id = self.types_len();
        self.check_record(rec, id)?;
        let off = u32::try_from(self.strs_at - self.types_at)
            .ok()
            .filter(|o| o.checked_add(rec.len() as u32).is_some())
            .ok_or_else(|| BtfError::BadRecord {
                reason: "type section would exceed 4 GiB".into(),
            })?;
        let strs_at = self.strs_at;
        self.data
            .to_mut()
            .splice(strs_at..strs_at, rec.iter().copied());
        self.strs_at += rec.len();
        self.offsets.push(off);
        self.invalidate_index();
        Ok(id)
    }

    fn check_record(&self, rec: &[u8], id: u32) -> Result<(), BtfError> {
        let scan = validate(rec, id, self.strings_end())?;
        if scan.offsets.len() != 1 {
            return Err(BtfError::BadRecord {
                reason: format!("expected one record, found {}", scan.offsets.len()),
            });
        }
        Ok(())
    }

    /// Appends an INT type (`encoding`: 1 signed, 2 char, 4 bool) and returns its id.
    pub fn add_int(&mut self, name: &str, size: u32, encoding: u8) -> Result<u32, BtfError> {
        let name_off = self.add_string(name);
        let bits = size.saturating_mul(8).min(128);
        let mut rec = Vec::with_capacity(16);
        for w in [
            name_off,
            make_info(Kind::Int, 0, false),
            size,
            ((encoding as u32 & 0xf) << 24) | bits,
        ] {
            rec.extend_from_slice(&w.to_le_bytes());
        }
        self.push_type(&rec)
    }

    /// Adds `s` to the string section (reusing an equal string if present) and returns its
    /// offset. `s` is cut at its first NUL byte.
    pub fn add_string(&mut self, s: &str) -> u32 {
        let s = s.split('\0').next().unwrap_or("");
        if s.is_empty() {
            if self.base.is_none() && self.str_bytes().is_empty() {
                self.data.to_mut().push(0);
            }
            return 0;
        }
        if let Some(&off) = self.string_offsets_of(s.as_bytes()).first() {
            return off;
        }
        if self.base.is_none() && self.str_bytes().is_empty() {
            self.data.to_mut().push(0);
        }
        let off = self.strings_end();
        self.data.to_mut().extend_from_slice(s.as_bytes());
        self.data.to_mut().push(0);
        off
    }

    /// Marshals to raw BTF (header, types, strings; little-endian). For split BTF, only its
    /// own types and strings, as in `/sys/kernel/btf/<module>`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let types = self.type_bytes();
        let strs = self.str_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN + types.len() + strs.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1);
        out.push(self.flags);
        for w in [
            HEADER_LEN as u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strs.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(types);
        out.extend_from_slice(strs);
        out
    }
}
