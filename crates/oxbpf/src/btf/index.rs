//! Finding types by name.
//!
//! One index per BTF kind, built on the first query that needs that kind, in one pass over
//! the types of that kind only (a CO-RE load against vmlinux touches structs, unions,
//! typedefs and a few others: ~15% of vmlinux's types, not all of them, and never scans the
//! string section). Each is an open-addressing hash table keyed by the *essential* name
//! (the name without a `___flavor` suffix), whose slots head a chain of every type of that
//! kind with that essential name, in ascending id order, through a per-type `next` array:
//! an exact-name query walks the chain comparing full names, and a CO-RE candidate search
//! (`task_struct` must also find `task_struct___old`) takes the whole chain.
//!
//! No general-purpose hash map crate is used because the keys are offsets into our own
//! string section: storing `(hash, head id)` pairs is half the memory of a `HashMap<&str, _>`.

use super::core::{essential_len, essential_len_bytes};
use super::raw::{info_kind, u32_at, Kind};
use super::Btf;
use std::sync::OnceLock;

/// Name → type ids indexes over one BTF's own types, one per kind, each built on first use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    /// Own indexes of the types of each raw kind, ascending (one pass over all types).
    by_kind: OnceLock<Vec<Vec<u32>>>,
    /// Per raw kind: essential name → chain of own indexes.
    names: [OnceLock<NameIndex>; 32],
}

impl Indexes {
    /// Indexes whose per-kind type lists the parse pass already made.
    pub(crate) fn with_kinds(by_kind: Vec<Vec<u32>>) -> Self {
        let ix = Indexes::default();
        let _ = ix.by_kind.set(by_kind);
        ix
    }
}

/// An essential name → type ids index over one BTF's own types of one kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameIndex {
    /// `(hash, 1 + own index of the first type)`, 0 = empty slot.
    slots: Vec<(u32, u32)>,
    /// `1 + own index` of the next type with the same name, 0 = end.
    next: Vec<u32>,
    mask: usize,
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

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

/// The essential part of the name at string offset `off` (`None`: no name). One scalar
/// pass finds the end and whether a `___` occurs (names are short; most have none).
fn essential_at(btf: &Btf, off: u32) -> Option<&[u8]> {
    let t = btf.str_tail_opt(off)?;
    let (mut n, mut run, mut triple) = (0, 0, false);
    while let Some(&b) = t.get(n) {
        if b == 0 {
            break;
        }
        run = if b == b'_' { run + 1 } else { 0 };
        triple |= run == 3;
        n += 1;
    }
    let s = &t[..n];
    match (n, triple) {
        (0, _) => None,
        (_, false) => Some(s),
        (_, true) => Some(&s[..essential_len_bytes(s)]),
    }
}

impl NameIndex {
    /// Indexes the own types at indexes `ids` (ascending) by essential name.
    fn build(btf: &Btf, ids: &[u32]) -> NameIndex {
        let n = btf.offsets.len();
        let mut next = vec![0u32; n];
        let types = btf.type_bytes();
        // Pass 1: hash every named type, in reverse id order (push-front below then keeps
        // every chain in ascending id order).
        let mut items: Vec<(u32, u32, u32)> = Vec::with_capacity(ids.len());
        for &i in ids.iter().rev() {
            let name_off = u32_at(types, btf.offsets[i as usize] as usize);
            if let Some(e) = essential_at(btf, name_off) {
                items.push((hash(e), i, name_off));
            }
        }
        // Load factor <= 3/4 (names sharing an essential name share a slot).
        let cap = (items.len() * 4 / 3 + 1).next_power_of_two().max(16);
        let mask = cap - 1;
        let mut slots = vec![(0u32, 0u32); cap];
        for (h, i, name_off) in items {
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
                    if hoff == name_off || essential_at(btf, hoff) == essential_at(btf, name_off) {
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

    /// Own indexes (not ids) of the types whose essential name is `ess`, ascending.
    fn lookup<'a>(&'a self, btf: &'a Btf, ess: &[u8]) -> impl Iterator<Item = u32> + 'a {
        let h = hash(ess);
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
                if essential_at(btf, off) == Some(ess) {
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
        for k in 0..32 {
            self.for_each_essential(essential_bytes(name), k, &mut |id| {
                if self.name_of(id).ok() == Some(name) {
                    out.push(id);
                }
                true
            });
        }
        out.sort_unstable();
        out
    }

    /// The first type named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Option<u32> {
        let mut found = None;
        self.for_each_essential(essential_bytes(name), kind.raw(), &mut |id| {
            if self.name_of(id).ok() == Some(name) {
                found = Some(id);
                return false;
            }
            true
        });
        found
    }

    /// Ids of the types of kind `kind` whose essential name (the name without a `___flavor`
    /// suffix) is `ess`, ascending, base types first: CO-RE's candidates for a local type.
    pub fn find_by_essential_name(&self, ess: &str, kind: Kind) -> Vec<u32> {
        let mut out = Vec::new();
        self.for_each_essential(ess.as_bytes(), kind.raw(), &mut |id| {
            out.push(id);
            true
        });
        out
    }

    /// Builds every kind's name index now (otherwise each is built on its first query).
    pub fn build_name_index(&self) {
        if let Some(b) = &self.base {
            b.build_name_index();
        }
        for k in 0..32 {
            self.kind_index(k);
        }
    }

    fn kind_index(&self, kind: u32) -> &NameIndex {
        self.index.names[kind as usize & 31].get_or_init(|| {
            let by_kind = self.index.by_kind.get_or_init(|| {
                let types = self.type_bytes();
                let mut v = vec![Vec::new(); 32];
                for (i, &off) in self.offsets.iter().enumerate() {
                    let k = info_kind(u32_at(types, off as usize + 4)) as usize & 31;
                    v[k].push(i as u32);
                }
                v
            });
            NameIndex::build(self, &by_kind[kind as usize & 31])
        })
    }

    /// Calls `f` with each id of kind `kind` whose essential name is `ess`, ascending, until
    /// it returns false. Returns false if stopped early.
    fn for_each_essential(&self, ess: &[u8], kind: u32, f: &mut dyn FnMut(u32) -> bool) -> bool {
        if ess.is_empty() {
            return true;
        }
        if let Some(b) = &self.base {
            if !b.for_each_essential(ess, kind, f) {
                return false;
            }
        }
        for i in self.kind_index(kind).lookup(self, ess) {
            if !f(self.start_id + i) {
                return false;
            }
        }
        true
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

    /// Drops the name indexes after an edit that may change names or add types.
    pub(crate) fn invalidate_index(&mut self) {
        self.index = Default::default();
    }
}

fn essential_bytes(name: &str) -> &[u8] {
    &name.as_bytes()[..essential_len(name)]
}
