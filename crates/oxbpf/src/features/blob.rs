//! Tiny hand-assembled BTF blobs some probes need (local-storage maps demand BTF key/value
//! types with a spin lock).

use crate::sys::{self, attr::BtfLoadAttr, ptr_to_u64, SysError};
use std::os::fd::OwnedFd;

const KIND_INT: u32 = 1;
const KIND_STRUCT: u32 = 4;

fn push(out: &mut Vec<u8>, words: &[u32]) {
    for w in words {
        out.extend_from_slice(&w.to_ne_bytes());
    }
}

/// Raw BTF: `[1] int`, `[2] struct bpf_spin_lock { int val; }`, `[3] struct val { int cnt;
/// struct bpf_spin_lock l; }` — the value type local-storage maps accept.
pub fn local_storage_blob() -> Vec<u8> {
    let strings = b"\0int\0bpf_spin_lock\0val\0cnt\0l\0";
    let (int, lock, val, cnt, l) = (1u32, 5u32, 19u32, 23u32, 27u32);
    let mut types = Vec::new();
    push(&mut types, &[int, KIND_INT << 24, 4, (1 << 24) | 32]);
    push(&mut types, &[lock, (KIND_STRUCT << 24) | 1, 4, val, 1, 0]);
    push(
        &mut types,
        &[val, (KIND_STRUCT << 24) | 2, 8, cnt, 1, 0, l, 2, 32],
    );
    let mut out = Vec::new();
    out.extend_from_slice(&0xeb9fu16.to_ne_bytes());
    out.push(1);
    out.push(0);
    push(
        &mut out,
        &[
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ],
    );
    out.extend_from_slice(&types);
    out.extend_from_slice(strings);
    out
}

/// Loads [`local_storage_blob`].
pub fn local_storage_btf() -> Result<OwnedFd, SysError> {
    let blob = local_storage_blob();
    let mut attr = BtfLoadAttr {
        btf: ptr_to_u64(blob.as_ptr()),
        btf_size: blob.len() as u32,
        ..Default::default()
    };
    sys::btf_load(&mut attr)
}

#[cfg(test)]
mod tests {
    #[test]
    fn blob_parses_as_btf() {
        let btf = crate::btf::Btf::parse(&super::local_storage_blob()).unwrap();
        assert_eq!(btf.name_of(3).unwrap(), "val");
        assert_eq!(btf.resolve_size(3).unwrap(), 8);
    }
}
