//! The decoder: walks a type and the bytes together, every read bounds-checked.

use super::{Field, Value, ValueError, MAX_DEPTH, MAX_PARTS};
use crate::btf::{Array, Btf, BtfError, Composite, Enum, Int, Type, PTR_SIZE};

/// Decoding state: the BTF and the part budget left.
pub(super) struct Decoder<'b> {
    btf: &'b Btf,
    parts: usize,
}

/// `data[off..off + len]`, or [`ValueError::Short`] for `type_id`.
fn take(data: &[u8], off: usize, len: usize, type_id: u32) -> Result<&[u8], ValueError> {
    off.checked_add(len)
        .and_then(|end| data.get(off..end))
        .ok_or(ValueError::Short {
            type_id,
            need: off.saturating_add(len),
            have: data.len(),
        })
}

/// An unsigned integer from up to 16 bytes in host byte order.
fn uint(b: &[u8]) -> u128 {
    let fold = |v: u128, &x: &u8| (v << 8) | x as u128;
    if cfg!(target_endian = "little") {
        b.iter().rev().fold(0, fold)
    } else {
        b.iter().fold(0, fold)
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u128, bits: u32) -> i128 {
    if bits == 0 || bits >= 128 {
        return v as i128;
    }
    let shift = 128 - bits;
    ((v << shift) as i128) >> shift
}

/// `nbits` (at most 128) bits starting `bit_off` bits into `data`, numbered as the host's
/// C compiler lays out bitfields (from the least significant bit of the first byte on
/// little-endian hosts, from the most significant on big-endian ones).
fn bits(data: &[u8], bit_off: u32, nbits: u32, type_id: u32) -> Result<u128, ValueError> {
    let end = bit_off as usize + nbits as usize;
    let b = take(data, 0, end.div_ceil(8), type_id)?;
    let mut v = 0u128;
    for j in 0..nbits.min(128) {
        let p = (bit_off + j) as usize;
        if cfg!(target_endian = "little") {
            v |= (((b[p / 8] >> (p % 8)) & 1) as u128) << j;
        } else {
            v = (v << 1) | ((b[p / 8] >> (7 - p % 8)) & 1) as u128;
        }
    }
    Ok(v)
}

impl<'b> Decoder<'b> {
    pub(super) fn new(btf: &'b Btf) -> Self {
        Decoder {
            btf,
            parts: MAX_PARTS,
        }
    }

    /// A whole value: `data` must hold the type's size.
    pub(super) fn top(&mut self, id: u32, data: &[u8]) -> Result<Value, ValueError> {
        match self.btf.resolve_size(id) {
            Ok(size) if (size as usize) > data.len() => Err(ValueError::Short {
                type_id: id,
                need: size as usize,
                have: data.len(),
            }),
            Ok(_) => self.value(id, data, 0, 0),
            Err(BtfError::NoSize { .. }) => Ok(Value::Bytes(data.to_vec())),
            Err(e) => Err(e.into()),
        }
    }

    /// The value of `id` at `bit_off` (0..8, non-zero only for INT bitfields) into `data`.
    fn value(
        &mut self,
        id: u32,
        data: &[u8],
        bit_off: u32,
        depth: u32,
    ) -> Result<Value, ValueError> {
        if depth > MAX_DEPTH {
            return Err(ValueError::TooDeep { type_id: id });
        }
        if self.parts == 0 {
            return Err(ValueError::TooLarge { type_id: id });
        }
        self.parts -= 1;
        Ok(match self.btf.type_by_id(id)? {
            Type::Int(i) => int(&i, data, bit_off, id)?,
            Type::Ptr(_) => Value::Ptr(uint(take(data, 0, PTR_SIZE as usize, id)?) as u64),
            Type::Array(a) => self.array(&a, data, depth)?,
            Type::Struct(c) => Value::Struct(self.fields(&c, data, depth)?),
            Type::Union(c) => Value::Union(self.fields(&c, data, depth)?),
            Type::Enum(e) | Type::Enum64(e) => enumeration(&e, data, id)?,
            Type::Typedef(r)
            | Type::Volatile(r)
            | Type::Const(r)
            | Type::Restrict(r)
            | Type::TypeTag(r) => self.value(r.type_id, data, bit_off, depth + 1)?,
            Type::Var(v) => self.value(v.type_id, data, bit_off, depth + 1)?,
            Type::DeclTag(d) => self.value(d.type_id, data, bit_off, depth + 1)?,
            Type::Float(f) => match f.size {
                4 => {
                    let b = take(data, 0, 4, id)?;
                    Value::Float(f32::from_bits(uint(b) as u32) as f64)
                }
                8 => Value::Float(f64::from_bits(uint(take(data, 0, 8, id)?) as u64)),
                n => Value::Bytes(take(data, 0, n as usize, id)?.to_vec()),
            },
            Type::Datasec(d) => {
                let mut fields = Vec::with_capacity(d.vlen());
                for v in d.vars() {
                    let bytes = take(data, v.offset as usize, v.size as usize, id)?;
                    let name = self.btf.name_of(v.type_id).unwrap_or_default().to_string();
                    let value = self.value(v.type_id, bytes, 0, depth + 1)?;
                    fields.push(Field { name, value });
                }
                Value::Struct(fields)
            }
            Type::Void | Type::Fwd(_) | Type::Func(_) | Type::FuncProto(_) => {
                Value::Bytes(Vec::new())
            }
        })
    }

    fn array(&mut self, a: &Array, data: &[u8], depth: u32) -> Result<Value, ValueError> {
        let es = self.btf.resolve_size(a.elem_type)? as usize;
        let n = a.nelems as usize;
        let all = take(data, 0, es.saturating_mul(n), a.elem_type)?;
        if let Some(s) = self.string(a, all)? {
            return Ok(Value::Str(s));
        }
        let mut out = Vec::with_capacity(n.min(all.len()).min(4096));
        for i in 0..n {
            let v = self.value(a.elem_type, &all[i * es..], 0, depth + 1)?;
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    /// The text of a `char` array that holds a NUL-terminated run of printable ASCII.
    fn string(&self, a: &Array, data: &[u8]) -> Result<Option<String>, ValueError> {
        let elem = self.btf.skip_mods(a.elem_type)?;
        let is_char = match self.btf.type_by_id(elem)? {
            Type::Int(i) => i.size == 1 && (i.is_char() || i.name == "char"),
            _ => false,
        };
        if !is_char || data.len() != a.nelems as usize {
            return Ok(None);
        }
        let Some(nul) = data.iter().position(|&b| b == 0) else {
            return Ok(None);
        };
        let text = &data[..nul];
        if !text.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(text).into_owned()))
    }

    fn fields(&mut self, c: &Composite, data: &[u8], depth: u32) -> Result<Vec<Field>, ValueError> {
        let mut out = Vec::with_capacity(c.vlen());
        for m in c.members() {
            let value = if m.bitfield_size > 0 {
                Value::Bits(bits(data, m.bit_offset, m.bitfield_size, m.type_id)?)
            } else {
                let at = (m.bit_offset / 8) as usize;
                let sub = data.get(at..).ok_or(ValueError::Short {
                    type_id: m.type_id,
                    need: at,
                    have: data.len(),
                })?;
                self.value(m.type_id, sub, m.bit_offset % 8, depth + 1)?
            };
            if !m.name.is_empty() {
                out.push(Field {
                    name: m.name.to_string(),
                    value,
                });
                continue;
            }
            // Anonymous: a struct/union's members are the parent's (C names them so);
            // anything else is padding (an unnamed bitfield).
            match value {
                Value::Struct(inner) | Value::Union(inner) => out.extend(inner),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// An INT at `bit_off` into `data`.
fn int(i: &Int, data: &[u8], bit_off: u32, id: u32) -> Result<Value, ValueError> {
    let nbits = i.bits as u32;
    if nbits == 0 || nbits > 128 || nbits > i.size.saturating_mul(8) {
        return Ok(Value::Bytes(take(data, 0, i.size as usize, id)?.to_vec()));
    }
    let off = bit_off + i.bit_offset as u32;
    if off != 0 || nbits % 8 != 0 {
        return Ok(Value::Bits(bits(data, off, nbits, id)?));
    }
    let raw = uint(take(data, 0, (nbits / 8) as usize, id)?);
    Ok(if i.is_bool() {
        Value::Bool(raw != 0)
    } else if i.is_signed() {
        Value::Int(sign_extend(raw, nbits))
    } else {
        Value::Uint(raw)
    })
}

/// An ENUM/ENUM64: the matching enumerator's name and the number.
fn enumeration(e: &Enum, data: &[u8], id: u32) -> Result<Value, ValueError> {
    if !matches!(e.size, 1 | 2 | 4 | 8) {
        return Ok(Value::Bytes(take(data, 0, e.size as usize, id)?.to_vec()));
    }
    let raw = uint(take(data, 0, e.size as usize, id)?);
    let value = if e.signed {
        sign_extend(raw, e.size * 8)
    } else {
        raw as i128
    };
    let width_mask = if e.size == 8 {
        u64::MAX
    } else {
        (1u64 << (e.size * 8)) - 1
    };
    let name = e
        .values()
        .find(|v| v.value & width_mask == raw as u64)
        .map(|v| v.name.to_string());
    Ok(Value::Enum { name, value })
}
