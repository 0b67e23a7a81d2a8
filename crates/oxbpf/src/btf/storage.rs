//! The bytes behind a [`super::Btf`]: an owned buffer, or a read-only mapping of a kernel BTF
//! file that is copied into an owned buffer on the first edit.
//!
//! Only files under `/sys/kernel/btf/` are mapped: the kernel serves them from immutable
//! memory (Linux 6.15+ supports `mmap` there), so the mapping cannot change or shrink under
//! us — the usual hazard of mapping files another process may truncate.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

/// Owned or mapped BTF bytes.
#[derive(Clone)]
pub(crate) enum Bytes {
    /// A heap buffer.
    Owned(Vec<u8>),
    /// A shared read-only mapping.
    Mapped(Arc<Mapping>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m.as_slice(),
        }
    }
}

impl Bytes {
    /// The bytes as a mutable buffer, copying a mapping first.
    pub(crate) fn to_mut(&mut self) -> &mut Vec<u8> {
        if let Bytes::Mapped(m) = self {
            *self = Bytes::Owned(m.as_slice().to_vec());
        }
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(_) => unreachable!("converted to owned above"),
        }
    }
}

/// A private read-only `mmap` of a whole file.
pub(crate) struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and never mutated after creation; only kernel-owned
// immutable files are mapped (see the module doc).
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the file at `path` if it is under `/sys/kernel/btf/`; `None` if it is elsewhere,
    /// empty, or the kernel does not support mapping it (then the caller reads it).
    pub(crate) fn kernel_btf(path: &Path) -> Option<Mapping> {
        use std::os::fd::AsRawFd;
        if !path.starts_with("/sys/kernel/btf/") {
            return None;
        }
        let file = std::fs::File::open(path).ok()?;
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: a fresh private read-only mapping of an open fd; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapping { ptr, len })
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr/len describe a live read-only mapping owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `kernel_btf`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}
