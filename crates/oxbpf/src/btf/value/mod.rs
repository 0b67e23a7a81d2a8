//! Values of BTF types: bytes read from a map (or anywhere else) decoded by their BTF type
//! into a [`Value`] tree, printed as C-like text (`{ .pid = 42, .comm = "bash", .flags = 0x3 }`,
//! [`Value::to_c`]) or JSON ([`Value::to_json`]).
//!
//! Decoding follows typedef/const/volatile/restrict/type-tag chains, reads integers in the
//! host's byte order, bitfields (both BTF encodings: `kind_flag` member sizes and INT bit
//! offsets) as raw unsigned bits, enums as their enumerator's name (the number when none
//! matches), pointers as addresses, `char` arrays holding a NUL-terminated printable string
//! as strings (other arrays element by element), unions as every member over the same bytes,
//! anonymous struct/union members flattened into their parent (as C names them), and DATASEC
//! values (global data maps) as one field per variable. Per-CPU values are one value per
//! CPU ([`decode_per_cpu`]).
//!
//! Bad input never panics: a buffer shorter than the type is [`ValueError::Short`], every
//! read is bounds-checked (malformed BTF whose members lie past the struct reads as short),
//! nesting is bounded ([`MAX_DEPTH`]) and so is the number of decoded parts ([`MAX_PARTS`]),
//! which also bounds arrays of zero-sized elements.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use oxbpf::btf::{value, Btf};
//! use oxbpf::map::Map;
//!
//! let map = Map::from_pin("/sys/fs/bpf/tasks")?;
//! let info = map.info()?;
//! let btf = Btf::from_kernel_id(info.btf_id)?;
//! for key in map.keys() {
//!     let key = key?;
//!     if let Some(v) = map.lookup(&key)? {
//!         let k = value::decode(&btf, info.btf_key_type_id, &key)?;
//!         let v = value::decode(&btf, info.btf_value_type_id, &v)?;
//!         println!("{} = {}", k.to_c(), v.to_c());
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Written by hand: no crate decodes values by BTF (bpftool's `btf_dumper` is C). The JSON
//! is written straight into a string so the library needs no JSON dependency for it.

mod decode;
mod json;
#[cfg(feature = "json")]
pub(crate) use json::push_str;
#[cfg(test)]
mod tests;
mod text;

use super::{Btf, BtfError};

/// Deepest nesting of types (struct in struct in array...) decoded.
pub const MAX_DEPTH: u32 = 64;
/// Most parts (scalars, array elements, fields) one value decodes into.
pub const MAX_PARTS: usize = 1 << 20;

/// A decoded value of a BTF type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An unsigned integer (including `char`s outside strings).
    Uint(u128),
    /// A signed integer.
    Int(i128),
    /// The raw bits of a bitfield (or of an INT narrower than its storage), unsigned.
    Bits(u128),
    /// A `_Bool` (any non-zero byte is true).
    Bool(bool),
    /// A 4- or 8-byte floating-point number.
    Float(f64),
    /// An enum value, with the name of the enumerator that has it (if any).
    Enum {
        /// Name of the matching enumerator.
        name: Option<String>,
        /// The number (sign-extended for signed enums).
        value: i128,
    },
    /// A pointer: the address.
    Ptr(u64),
    /// A `char` array holding a NUL-terminated string of printable ASCII.
    Str(String),
    /// An array, element by element.
    Array(Vec<Value>),
    /// A struct (or a DATASEC: one field per variable), members in order.
    Struct(Vec<Field>),
    /// A union: every member, each reading the same bytes.
    Union(Vec<Field>),
    /// Bytes of a type that has no value form (void, forward declaration, function, a float
    /// or integer of an unusual size).
    Bytes(Vec<u8>),
}

/// One named member of a struct or union.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The member's name.
    pub name: String,
    /// Its value.
    pub value: Value,
}

/// Errors from decoding a value.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// The BTF is unusable for this type (bad id, loop...).
    #[error("decoding a value: {0}")]
    Btf(#[from] BtfError),
    /// The bytes end before the type does.
    #[error("value of type [{type_id}] needs {need} bytes, only {have} given; hint: the bytes must be a whole value of the type (check key/value sizes against the BTF)")]
    Short {
        /// The type being read when the bytes ran out.
        type_id: u32,
        /// Bytes it needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// Types nest deeper than [`MAX_DEPTH`] (malformed BTF can loop).
    #[error("type [{type_id}] nests deeper than {MAX_DEPTH} levels; hint: malformed BTF?")]
    TooDeep {
        /// The type at the limit.
        type_id: u32,
    },
    /// The value has more than [`MAX_PARTS`] parts.
    #[error("value of type [{type_id}] has more than {MAX_PARTS} parts; hint: print it as hex")]
    TooLarge {
        /// The type at the limit.
        type_id: u32,
    },
}

/// Decodes `data` as a value of type `type_id` of `btf`. Bytes past the type's size are
/// ignored; a type without a size (void, FWD, FUNC) reads as [`Value::Bytes`] of all of `data`.
pub fn decode(btf: &Btf, type_id: u32, data: &[u8]) -> Result<Value, ValueError> {
    decode::Decoder::new(btf).top(type_id, data)
}

/// Decodes a per-CPU value as the kernel returns it: one value of `value_size` bytes per
/// possible CPU, each in a slot rounded up to 8 bytes. Trailing bytes short of a whole slot
/// are an error.
pub fn decode_per_cpu(
    btf: &Btf,
    type_id: u32,
    data: &[u8],
    value_size: u32,
) -> Result<Vec<Value>, ValueError> {
    let slot = (value_size as usize).max(1).div_ceil(8) * 8;
    if data.len() % slot != 0 {
        return Err(ValueError::Short {
            type_id,
            need: data.len().div_ceil(slot) * slot,
            have: data.len(),
        });
    }
    let mut d = decode::Decoder::new(btf);
    data.chunks(slot)
        .map(|c| d.top(type_id, &c[..(value_size as usize).min(c.len())]))
        .collect()
}

impl Value {
    /// The value as one line of C-like text: `{ .pid = 42, .comm = "bash", .flags = 0x3 }`.
    pub fn to_c(&self) -> String {
        let mut s = String::new();
        text::write(&mut s, self);
        s
    }

    /// C-like text over several lines, indented by two spaces per level: structs, unions
    /// and arrays whose one-line form is longer than `width` get one member per line.
    pub fn to_c_pretty(&self, width: usize) -> String {
        let mut s = String::new();
        text::write_pretty(&mut s, self, 0, width);
        s
    }

    /// The value as JSON text: numbers (integers past 64 bits and floats that are not
    /// finite as strings), `true`/`false`, enumerator names and strings as strings,
    /// pointers as numbers, arrays as arrays, structs/unions as objects, bytes as hex.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        json::write(&mut s, self);
        s
    }
}
