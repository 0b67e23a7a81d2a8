//! Flavors (`task_struct___old`) and the candidate search by essential name.

use super::CoreTarget;
use crate::btf::{Btf, Kind};

/// Length of the "essential" part of a name: everything before the last `X___Y` flavor
/// separator (X and Y not underscores), or the whole name.
pub fn essential_len(name: &str) -> usize {
    essential_len_bytes(name.as_bytes())
}

/// [`essential_len`] of raw name bytes (the separator is ASCII, so any bytes work).
pub fn essential_len_bytes(b: &[u8]) -> usize {
    let n = b.len();
    // Most names have no `___` at all.
    if n < 5 || memchr::memmem::find(b, b"___").is_none() {
        return n;
    }
    for i in (0..=n - 5).rev() {
        if b[i] != b'_'
            && b[i + 1] == b'_'
            && b[i + 2] == b'_'
            && b[i + 3] == b'_'
            && b[i + 4] != b'_'
        {
            return i + 1;
        }
    }
    n
}

/// The name without its flavor suffix.
pub fn essential(name: &str) -> &str {
    &name[..essential_len(name)]
}

/// A target type a local type may correspond to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cand {
    /// Index into [`CoreTarget::btfs`].
    pub btf: usize,
    /// Type id in that BTF.
    pub id: u32,
}

/// Kinds CO-RE treats as the same: equal, or both enums (ENUM and ENUM64).
pub fn kinds_compat(a: Option<Kind>, b: Option<Kind>) -> bool {
    a == b || (is_enum(a) && is_enum(b))
}

fn is_enum(k: Option<Kind>) -> bool {
    matches!(k, Some(Kind::Enum | Kind::Enum64))
}

/// Candidates for local type `local_id` (named `name`): types of a compatible kind whose
/// essential name equals the local one, in the first target BTF; only if there are none, in
/// the others (module BTFs, own types only). Ascending ids within each BTF.
pub fn find_cands(local: &Btf, local_id: u32, name: &str, target: &CoreTarget) -> Vec<Cand> {
    let lkind = local.kind(local_id).ok();
    let ess = essential(name);
    let mut out = Vec::new();
    for (bi, btf) in target.btfs.iter().enumerate() {
        if bi == 1 && !out.is_empty() {
            break;
        }
        let min_id = if bi == 0 { 1 } else { btf.start_id() };
        // The index chains every type of a kind by essential name: flavors come with it.
        let kinds: &[Kind] = match lkind {
            Some(Kind::Enum | Kind::Enum64) => &[Kind::Enum, Kind::Enum64],
            Some(k) => &[k][..],
            None => &[],
        };
        let mut ids: Vec<u32> = kinds
            .iter()
            .flat_map(|&k| btf.find_by_essential_name(ess, k))
            .filter(|&id| id >= min_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        out.extend(ids.into_iter().map(|id| Cand { btf: bi, id }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names_follow_flavor_rules() {
        assert_eq!(essential("task_struct"), "task_struct");
        assert_eq!(essential("task_struct___old"), "task_struct");
        assert_eq!(essential("a___b___c"), "a___b");
        assert_eq!(essential("foo____x"), "foo____x");
        assert_eq!(essential("___x"), "___x");
        assert_eq!(essential("x___"), "x___");
        assert_eq!(essential("ab___1"), "ab");
        assert_eq!(essential(""), "");
    }
}
