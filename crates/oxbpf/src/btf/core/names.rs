//! Flavors (`task_struct___old`) and the candidate search by essential name.

use super::CoreTarget;
use crate::btf::{Btf, Kind};

/// Length of the "essential" part of a name: everything before the last `X___Y` flavor
/// separator (X and Y not underscores), or the whole name.
pub fn essential_len(name: &str) -> usize {
    let b = name.as_bytes();
    let n = b.len();
    if n < 5 {
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
        let mut ids = btf.find_by_name(ess);
        for full in flavored_names(btf, ess, min_id) {
            ids.extend(btf.find_by_name(&full));
        }
        ids.retain(|&id| id >= min_id && kinds_compat(btf.kind(id).ok(), lkind));
        ids.sort_unstable();
        ids.dedup();
        out.extend(ids.into_iter().map(|id| Cand { btf: bi, id }));
    }
    out
}

/// Distinct strings of `btf` (and its bases, if types below its own start are wanted) that
/// are `ess___flavor` with essential name exactly `ess`.
fn flavored_names(btf: &Btf, ess: &str, min_id: u32) -> Vec<String> {
    let mut needle = Vec::with_capacity(ess.len() + 3);
    needle.extend_from_slice(ess.as_bytes());
    needle.extend_from_slice(b"___");
    let mut out: Vec<String> = Vec::new();
    let mut cur = Some(btf);
    while let Some(b) = cur {
        let strs = b.str_bytes();
        for pos in memchr::memmem::find_iter(strs, &needle) {
            if pos > 0 && strs[pos - 1] != 0 {
                continue;
            }
            let tail = &strs[pos..];
            let end = memchr::memchr(0, tail).unwrap_or(tail.len());
            let Ok(full) = std::str::from_utf8(&tail[..end]) else {
                continue;
            };
            if essential_len(full) == ess.len() && !out.iter().any(|o| o == full) {
                out.push(full.to_string());
            }
        }
        cur = match b.base() {
            Some(base) if min_id < b.start_id() => Some(base.as_ref()),
            _ => None,
        };
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
