//! Finding types by name.
//!
//! Two strategies, picked per query:
//! * **scan** (first few queries): find every offset whose string equals the name with one
//!   `memmem` over the string section (needle `name\0`), then compare each type's 32-bit
//!   `name_off` against those offsets. No allocation proportional to the BTF, ~0.2 ms on
//!   vmlinux, so "parse then look up one name" stays cheap.
//! * **index** (after [`SCANS_BEFORE_INDEX`] queries, or [`Btf::build_name_index`]): an
//!   open-addressing hash table from name to the first type with that name, chained through
//!   a per-type `next` array in ascending id order. Two `Vec<u32>`s, built in one pass.
//!
//! No general-purpose hash map crate is used because the keys are offsets into our own
//! string section: storing `(hash, head id)` pairs is half the memory of a `HashMap<&str, _>`.

use super::raw::{u32_at, Kind};
use super::Btf;
use std::sync::atomic::Ordering;

/// Name queries answered by scanning before the index is built.
pub const SCANS_BEFORE_INDEX: u32 = 6;

/// A name → type ids index over one BTF's own types.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameIndex {
    /// `(hash, 1 + own index of the first type)`, 0 = empty slot.
    slots: Vec<(u32, u32)>,
    /// `1 + own index` of the next type with the same name, 0 = end.
    next: Vec<u32>,
    mask: usize,
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29)
}

#[inline(always)]
fn finish(h: u64, len: usize) -> u32 {
    ((h ^ (len as u64) << 56).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// Hash of `s`: every full 8-byte word mixed, then the zero-padded remainder, then the length.
#[inline(always)]
fn hash(s: &[u8]) -> u32 {
    let mut h = SEED;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        h = mix(
            h,
            u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        );
    }
    let mut tail = [0u8; 8];
    let r = chunks.remainder();
    tail[..r.len()].copy_from_slice(r);
    finish(mix(h, u64::from_le_bytes(tail)), s.len())
}

/// [`hash`] of the NUL-terminated string starting `t`, found and hashed a word at a time;
/// returns the hash and the string's length.
#[inline(always)]
fn hash_cstr(t: &[u8]) -> (u32, usize) {
    let mut h = SEED;
    let mut i = 0;
    while let Some(c) = t.get(i..i + 8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let zero = w.wrapping_sub(ONES) & !w & HIGHS;
        if zero != 0 {
            let nb = (zero.trailing_zeros() / 8) as usize;
            let mask = if nb == 0 {
                0
            } else {
                u64::MAX >> (64 - 8 * nb)
            };
            return (finish(mix(h, w & mask), i + nb), i + nb);
        }
        h = mix(h, w);
        i += 8;
    }
    let rest = &t[i.min(t.len())..];
    let n = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let mut tail = [0u8; 8];
    tail[..n].copy_from_slice(&rest[..n]);
    (finish(mix(h, u64::from_le_bytes(tail)), i + n), i + n)
}

impl NameIndex {
    fn build(btf: &Btf) -> NameIndex {
        let n = btf.offsets.len();
        let mut next = vec![0u32; n];
        let types = btf.type_bytes();
        let strs = btf.str_bytes();
        let start_str = btf.start_str;
        // Pass 1: hash every named type, in reverse id order (push-front below then keeps
        // every chain in ascending id order).
        let mut items: Vec<(u32, u32, u32)> = Vec::with_capacity(n);
        for i in (0..n).rev() {
            let name_off = u32_at(types, btf.offsets[i] as usize);
            let h = if name_off >= start_str {
                let Some(t) = strs.get((name_off - start_str) as usize..) else {
                    continue;
                };
                match hash_cstr(t) {
                    (_, 0) => continue,
                    (h, _) => h,
                }
            } else {
                // A split BTF's type named by a base string.
                match btf.str_bytes_opt(name_off) {
                    Some(s) if !s.is_empty() => hash(s),
                    _ => continue,
                }
            };
            items.push((h, i as u32, name_off));
        }
        // Load factor <= 3/4 (duplicate names share a slot, so usually lower).
        let cap = (items.len() * 4 / 3 + 1).next_power_of_two().max(16);
        let mask = cap - 1;
        let mut slots = vec![(0u32, 0u32); cap];
        // Pass 2: stable counting sort by table region, so pass 3 fills the table one
        // cache-sized region at a time instead of jumping across megabytes.
        let shift = cap.trailing_zeros().saturating_sub(8);
        let region = |h: u32| (h as usize & mask) >> shift;
        let mut starts = [0usize; 257];
        for &(h, _, _) in &items {
            starts[region(h) + 1] += 1;
        }
        for r in 1..257 {
            starts[r] += starts[r - 1];
        }
        let mut sorted = vec![(0u32, 0u32, 0u32); items.len()];
        for &(h, i, o) in &items {
            let r = region(h);
            sorted[starts[r]] = (h, i, o);
            starts[r] += 1;
        }
        drop(items);
        // Pass 3: insert.
        for (h, i, name_off) in sorted {
            let i = i as usize;
            let mut s = h as usize & mask;
            loop {
                let (sh, head) = slots[s];
                if head == 0 {
                    slots[s] = (h, i as u32 + 1);
                    break;
                }
                if sh == h {
                    let hoff = u32_at(types, btf.offsets[head as usize - 1] as usize);
                    if hoff == name_off || btf.str_bytes_opt(hoff) == btf.str_bytes_opt(name_off) {
                        next[i] = head;
                        slots[s].1 = i as u32 + 1;
                        break;
                    }
                }
                s = (s + 1) & mask;
            }
        }
        NameIndex { slots, next, mask }
    }

    /// Own indexes (not ids) of the types named `name`, ascending.
    fn lookup<'a>(&'a self, btf: &'a Btf, name: &[u8]) -> impl Iterator<Item = u32> + 'a {
        let h = hash(name);
        let mut s = h as usize & self.mask;
        let types = btf.type_bytes();
        let mut head = 0;
        loop {
            let (sh, hd) = self.slots[s];
            if hd == 0 {
                break;
            }
            if sh == h {
                let off = u32_at(types, btf.offsets[hd as usize - 1] as usize);
                if btf.str_bytes_opt(off) == Some(name) {
                    head = hd;
                    break;
                }
            }
            s = (s + 1) & self.mask;
        }
        std::iter::successors((head != 0).then_some(head), move |&i| {
            let n = self.next[i as usize - 1];
            (n != 0).then_some(n)
        })
        .map(|i| i - 1)
    }
}

impl Btf {
    /// Ids of all types named `name`, ascending (base types first). Empty for `""`.
    pub fn find_by_name(&self, name: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.for_each_named(name.as_bytes(), &mut |id| {
            out.push(id);
            true
        });
        out
    }

    /// The first type named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Option<u32> {
        let mut found = None;
        self.for_each_named(name.as_bytes(), &mut |id| {
            if self.kind(id).ok() == Some(kind) {
                found = Some(id);
                return false;
            }
            true
        });
        found
    }

    /// Builds the name index now (otherwise built after a few name queries).
    pub fn build_name_index(&self) {
        if let Some(b) = &self.base {
            b.build_name_index();
        }
        self.index.get_or_init(|| NameIndex::build(self));
    }

    /// Calls `f` with each id named `name` in ascending order until it returns false.
    /// Returns false if stopped early.
    fn for_each_named(&self, name: &[u8], f: &mut dyn FnMut(u32) -> bool) -> bool {
        if name.is_empty() {
            return true;
        }
        if let Some(b) = &self.base {
            if !b.for_each_named(name, f) {
                return false;
            }
        }
        if self.index.get().is_none()
            && self.scans.fetch_add(1, Ordering::Relaxed) >= SCANS_BEFORE_INDEX
        {
            self.index.get_or_init(|| NameIndex::build(self));
        }
        if let Some(ix) = self.index.get() {
            for i in ix.lookup(self, name) {
                if !f(self.start_id + i) {
                    return false;
                }
            }
            return true;
        }
        let cands = self.string_offsets_of(name);
        let types = self.type_bytes();
        match cands.as_slice() {
            [] => true,
            [one] => {
                for (i, &off) in self.offsets.iter().enumerate() {
                    if u32_at(types, off as usize) == *one && !f(self.start_id + i as u32) {
                        return false;
                    }
                }
                true
            }
            many => {
                for (i, &off) in self.offsets.iter().enumerate() {
                    if many.contains(&u32_at(types, off as usize)) && !f(self.start_id + i as u32) {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// Every string offset (own and base) whose string is exactly `name`.
    pub(crate) fn string_offsets_of(&self, name: &[u8]) -> Vec<u32> {
        let mut out = match &self.base {
            Some(b) => b.string_offsets_of(name),
            None => Vec::new(),
        };
        let mut needle = Vec::with_capacity(name.len() + 1);
        needle.extend_from_slice(name);
        needle.push(0);
        let strs = self.str_bytes();
        out.extend(memchr::memmem::find_iter(strs, &needle).map(|p| self.start_str + p as u32));
        out
    }

    /// Ids of all types of kind `kind` (base types first).
    pub fn ids_of_kind(&self, kind: Kind) -> impl Iterator<Item = u32> + '_ {
        (1..self.types_len()).filter(move |&id| self.kind(id).ok() == Some(kind))
    }

    /// Drops the name index after an edit that may change names or add types.
    pub(crate) fn invalidate_index(&mut self) {
        self.index = Default::default();
    }
}
