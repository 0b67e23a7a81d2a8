//! Weighted Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
//! Network Load Balancer", NSDI 2016).
//!
//! Each backend gets a permutation of the table slots from two hashes of its stable name
//! (`offset = h1 % M`, `skip = h2 % (M - 1) + 1`, slot `j` of the permutation is
//! `(offset + j · skip) % M`; with `M` prime every permutation visits every slot). Backends then
//! take turns claiming their next still-free slot until the table is full.
//!
//! Weights: backends claim slots in rounds; a backend of weight `w` claims one slot every
//! `max_weight / w` rounds (credit-based, like Katran's weighted Maglev), so slot counts are
//! proportional to weights, and every backend with weight > 0 claims in the first round, so it
//! owns at least one slot.
//!
//! Determinism: the hashes are SipHash-1-3 with fixed keys over the name bytes (never
//! `RandomState`), and backends are ordered by name before filling, so the slot → backend-name
//! mapping depends only on the set of (name, weight) pairs: two nodes with the same config build
//! the same table, whatever the config order. The ids written into the table are whatever the
//! caller passes (node-local datapath indices).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use siphasher::sip::SipHasher13;

/// Fixed SipHash key of the offset hash (any constant works; changing it reshuffles every table).
const OFFSET_KEY: (u64, u64) = (0x6f78_6c62_2d6f_6666, 0x7365_742d_6b65_7931);
/// Fixed SipHash key of the skip hash.
const SKIP_KEY: (u64, u64) = (0x6f78_6c62_2d73_6b69, 0x702d_6b65_7932_2121);

/// One backend as Maglev sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaglevEntry<'a> {
    /// Value written into the slots this backend owns.
    pub id: u32,
    /// Stable name hashed into the permutation, e.g. `"10.0.1.1:8080"`.
    pub name: &'a str,
    /// Relative weight; 0 = no slots.
    pub weight: u32,
}

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaglevError {
    /// The table size is not a prime (permutations would not cover every slot).
    #[error("maglev table size {0} is not a prime ≥ 3 (use e.g. 65537)")]
    SizeNotPrime(u32),
    /// More weighted backends than slots.
    #[error("{backends} backends do not fit a maglev table of {size} slots (use a table > 10 × backends)")]
    TooManyBackends {
        /// Backends with weight > 0.
        backends: usize,
        /// Table size.
        size: u32,
    },
    /// Two backends share a name, so they would share a permutation.
    #[error("backend name {0:?} is used twice; names must be unique within a table")]
    DuplicateName(String),
}

/// The `(offset, skip)` of a backend's permutation in a table of `size` slots.
pub fn permutation(name: &str, size: u32) -> (u32, u32) {
    let h1 = SipHasher13::new_with_keys(OFFSET_KEY.0, OFFSET_KEY.1).hash(name.as_bytes());
    let h2 = SipHasher13::new_with_keys(SKIP_KEY.0, SKIP_KEY.1).hash(name.as_bytes());
    let m = u64::from(size);
    ((h1 % m) as u32, (h2 % (m - 1) + 1) as u32)
}

/// Builds a Maglev table of `size` slots (a prime), each holding the `id` of an entry.
///
/// Entries with weight 0 get no slots; when no entry has weight > 0 the table is empty.
pub fn build_table(entries: &[MaglevEntry<'_>], size: u32) -> Result<Vec<u32>, MaglevError> {
    if size < 3 || !crate::config::is_prime(size) {
        return Err(MaglevError::SizeNotPrime(size));
    }
    let mut names = HashSet::with_capacity(entries.len());
    for e in entries {
        if !names.insert(e.name) {
            return Err(MaglevError::DuplicateName(e.name.to_string()));
        }
    }
    let mut active: Vec<&MaglevEntry<'_>> = entries.iter().filter(|e| e.weight > 0).collect();
    if active.is_empty() {
        return Ok(Vec::new());
    }
    if active.len() > size as usize {
        return Err(MaglevError::TooManyBackends {
            backends: active.len(),
            size,
        });
    }
    active.sort_unstable_by(|a, b| a.name.cmp(b.name));

    let max_weight = u64::from(active.iter().map(|e| e.weight).max().unwrap_or(1));
    let (mut next, skip): (Vec<u32>, Vec<u32>) =
        active.iter().map(|e| permutation(e.name, size)).unzip();
    // Claim schedule: backend i claims its k-th slot (k = 0, 1, ...) in round
    // 1 + ceil(k · max_weight / weight_i); within a round backends go in name order. Every
    // weighted backend claims in round 1, so each gets at least one slot. A min-heap of
    // (round, index) replays the rounds without visiting backends that claim nothing.
    let round = |k: u64, w: u64| 1 + (k * max_weight).div_ceil(w);
    let mut claimed = vec![0u64; active.len()];
    let mut queue: BinaryHeap<Reverse<(u64, u32)>> =
        (0..active.len() as u32).map(|i| Reverse((1, i))).collect();
    const EMPTY: u32 = u32::MAX;
    let mut slots = vec![EMPTY; size as usize];
    for _ in 0..size {
        let Some(Reverse((_, i))) = queue.pop() else {
            break;
        };
        let i = i as usize;
        // Walk this backend's permutation to its next free slot; the permutation visits every
        // slot and at least one is still free, so this terminates.
        loop {
            let c = next[i];
            next[i] = add_mod(c, skip[i], size);
            if slots[c as usize] == EMPTY {
                slots[c as usize] = i as u32;
                break;
            }
        }
        claimed[i] += 1;
        queue.push(Reverse((
            round(claimed[i], u64::from(active[i].weight)),
            i as u32,
        )));
    }
    Ok(slots.into_iter().map(|i| active[i as usize].id).collect())
}

/// `(a + b) % m` for `a, b < m` without overflow.
fn add_mod(a: u32, b: u32, m: u32) -> u32 {
    let s = u64::from(a) + u64::from(b);
    let m = u64::from(m);
    (if s >= m { s - m } else { s }) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Instant;

    const M: u32 = 65537;

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("10.{}.{}.{}:8080", i / 65536, (i / 256) % 256, i % 256))
            .collect()
    }

    fn entries(names: &[String], weight: impl Fn(usize) -> u32) -> Vec<MaglevEntry<'_>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| MaglevEntry {
                id: i as u32,
                name: n,
                weight: weight(i),
            })
            .collect()
    }

    fn counts(table: &[u32]) -> HashMap<u32, usize> {
        let mut c = HashMap::new();
        for &id in table {
            *c.entry(id).or_default() += 1;
        }
        c
    }

    /// Fraction of slots whose backend *name* differs between two tables.
    fn moved(a: &[u32], a_names: &[String], b: &[u32], b_names: &[String]) -> f64 {
        let changed = a
            .iter()
            .zip(b)
            .filter(|(x, y)| a_names[**x as usize] != b_names[**y as usize])
            .count();
        changed as f64 / a.len() as f64
    }

    #[test]
    fn permutation_is_a_full_cycle() {
        let size = 101;
        let (offset, skip) = permutation("10.0.0.1:80", size);
        assert!(offset < size && (1..size).contains(&skip));
        let mut seen = HashSet::new();
        let mut c = offset;
        for _ in 0..size {
            seen.insert(c);
            c = add_mod(c, skip, size);
        }
        assert_eq!(seen.len(), size as usize);
    }

    #[test]
    fn deterministic_and_order_independent() {
        let n = names(50);
        let a = build_table(&entries(&n, |i| 1 + (i % 3) as u32), M).unwrap();
        let b = build_table(&entries(&n, |i| 1 + (i % 3) as u32), M).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), M as usize);
        // Reversed config order with other ids: same slot → name mapping.
        let rev: Vec<String> = n.iter().rev().cloned().collect();
        let c = build_table(&entries(&rev, |i| 1 + ((49 - i) % 3) as u32), M).unwrap();
        assert!(a
            .iter()
            .zip(&c)
            .all(|(x, y)| n[*x as usize] == rev[*y as usize]));
    }

    #[test]
    fn golden_table_is_stable_across_builds() {
        // Guards the hash keys and fill order: changing them would make nodes running different
        // oxlb versions disagree on where flows go during a rolling upgrade.
        let n = names(3);
        let t = build_table(&entries(&n, |i| i as u32 + 1), 13).unwrap();
        assert_eq!(t, GOLDEN_13);
    }
    const GOLDEN_13: [u32; 13] = [2, 0, 2, 2, 1, 1, 2, 1, 0, 2, 0, 2, 1];

    #[test]
    fn equal_weights_spread_evenly() {
        let n = names(100);
        let t = build_table(&entries(&n, |_| 1), M).unwrap();
        let c = counts(&t);
        assert_eq!(c.len(), 100);
        let (min, max) = (c.values().min().unwrap(), c.values().max().unwrap());
        assert!(max - min <= 1, "min {min} max {max}");
    }

    #[test]
    fn weights_are_respected() {
        let n = names(40);
        let weight = |i: usize| [1u32, 2, 5, 100][i % 4];
        let t = build_table(&entries(&n, weight), M).unwrap();
        let c = counts(&t);
        let total: u32 = (0..40).map(weight).sum();
        let mut worst = 0f64;
        for i in 0..40 {
            let want = f64::from(M) * f64::from(weight(i)) / f64::from(total);
            let got = c.get(&(i as u32)).copied().unwrap_or(0) as f64;
            worst = worst.max((got - want).abs() / want);
        }
        eprintln!(
            "weights 1/2/5/100: worst relative deviation {:.4}%",
            worst * 100.0
        );
        assert!(worst < 0.02, "worst relative deviation {worst}");
    }

    #[test]
    fn weight_zero_gets_nothing() {
        let n = names(10);
        let t = build_table(&entries(&n, |i| if i == 3 { 0 } else { 7 }), M).unwrap();
        assert!(!t.contains(&3));
        assert_eq!(counts(&t).len(), 9);
        assert!(build_table(&entries(&n, |_| 0), M).unwrap().is_empty());
        let one = build_table(&entries(&n[..1], |_| 1), 13).unwrap();
        assert_eq!(one, vec![0; 13]);
    }

    /// Worst fraction of slots that change backend when one of `count` backends is removed
    /// (trying the first, middle and last), and the fraction moved when one is added.
    fn disruption(count: usize, size: u32) -> (f64, f64) {
        let all = names(count + 1);
        let base = &all[..count];
        let full = build_table(&entries(base, |_| 1), size).unwrap();
        let mut worst_removal = 0f64;
        for removed in [0, count / 2, count - 1] {
            let rest: Vec<String> = base
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != removed)
                .map(|(_, s)| s.clone())
                .collect();
            let t = build_table(&entries(&rest, |_| 1), size).unwrap();
            let frac = moved(&full, base, &t, &rest);
            // At least the removed backend's own slots move.
            assert!(
                frac >= 0.9 / count as f64,
                "removal of 1 of {count} moved only {frac}"
            );
            worst_removal = worst_removal.max(frac);
        }
        let grown = build_table(&entries(&all, |_| 1), size).unwrap();
        (worst_removal, moved(&full, base, &grown, &all))
    }

    #[test]
    fn removal_and_addition_move_about_one_nth() {
        // (backends, table size, allowed multiple of the ideal 1/N resp. 1/(N+1)). Maglev trades
        // some extra disruption for balance; it shrinks as slots per backend grow (the paper and
        // Katran recommend tables ≥ 100 × backends; config validation demands > 10 ×).
        for (count, size, factor) in [
            (10, M, 1.2),
            (100, M, 2.0),
            (1000, M, 8.0),
            (1000, 655_373, 5.0),
        ] {
            let (removal, addition) = disruption(count, size);
            let (ideal_rm, ideal_add) = (1.0 / count as f64, 1.0 / (count + 1) as f64);
            eprintln!(
                "N={count} M={size}: remove 1 moves {:.3}% (ideal {:.3}%), add 1 moves {:.3}% (ideal {:.3}%)",
                removal * 100.0,
                ideal_rm * 100.0,
                addition * 100.0,
                ideal_add * 100.0
            );
            assert!(
                removal <= ideal_rm * factor,
                "N={count} M={size}: removal moved {removal}"
            );
            assert!(
                addition >= ideal_add * 0.9,
                "N={count} M={size}: addition moved {addition}"
            );
            assert!(
                addition <= ideal_add * factor,
                "N={count} M={size}: addition moved {addition}"
            );
        }
    }

    #[test]
    fn errors() {
        let n = names(3);
        assert_eq!(
            build_table(&entries(&n, |_| 1), 65536),
            Err(MaglevError::SizeNotPrime(65536))
        );
        assert_eq!(
            build_table(&entries(&n, |_| 1), 2),
            Err(MaglevError::SizeNotPrime(2))
        );
        assert_eq!(
            build_table(&entries(&names(20), |_| 1), 13),
            Err(MaglevError::TooManyBackends {
                backends: 20,
                size: 13
            })
        );
        let dup = vec![n[0].clone(), n[0].clone()];
        assert!(matches!(
            build_table(&entries(&dup, |_| 1), 13),
            Err(MaglevError::DuplicateName(_))
        ));
    }

    #[test]
    fn fast_enough() {
        let n = names(1000);
        let e = entries(&n, |i| 1 + (i % 100) as u32);
        let start = Instant::now();
        let t = build_table(&e, M).unwrap();
        let took = start.elapsed();
        eprintln!("65537 slots × 1000 weighted backends: {took:?}");
        assert_eq!(t.len(), M as usize);
        // Generous in unoptimized test builds; the release figure is reported separately.
        assert!(
            took.as_secs_f64() < if cfg!(debug_assertions) { 5.0 } else { 0.5 },
            "{took:?}"
        );
        let start = Instant::now();
        build_table(&e, 655_373).unwrap();
        eprintln!(
            "655373 slots × 1000 weighted backends: {:?}",
            start.elapsed()
        );
        // Extreme skew: one heavy backend, 999 of weight 1 (many rounds where few claim a slot).
        let skew = entries(&n, |i| if i == 0 { 65535 } else { 1 });
        let start = Instant::now();
        let t = build_table(&skew, M).unwrap();
        let took = start.elapsed();
        eprintln!("65537 slots × 1000 backends, weights 65535 + 999 × 1: {took:?}");
        assert_eq!(counts(&t).len(), 1000, "every weighted backend gets a slot");
        let limit = if cfg!(debug_assertions) { 10.0 } else { 1.0 };
        assert!(took.as_secs_f64() < limit, "{took:?}");
    }
}
