//! [`GlobalData`]: a `.data`/`.bss` section map mapped into this process, so generated
//! skeletons read and write BPF global variables live, without a syscall. The loader creates
//! writable data-section maps with `BPF_F_MMAPABLE` when the kernel has it (v5.5+).

use super::SkelError;
use crate::features::map_flags::BPF_F_MMAPABLE;
use crate::map::mmap::{page_size, Mmap};
use crate::map::{Map, MapError, Pod};

/// A shared, writable mapping of a global-data section map's value.
#[derive(Debug)]
pub struct GlobalData {
    mmap: Mmap,
    len: usize,
}

impl GlobalData {
    /// Maps `map` (a data-section array created with `BPF_F_MMAPABLE`); `size` is the
    /// section size the caller's type expects.
    pub fn new(map: &Map, size: usize) -> Result<GlobalData, SkelError> {
        if map.flags() & BPF_F_MMAPABLE == 0 {
            return Err(MapError::Invalid {
                map: map.name().into(),
                op: "mmap",
                reason: "the section map was created without BPF_F_MMAPABLE (kernel older than v5.5?); hint: read it with Map::lookup instead".into(),
            }
            .into());
        }
        if map.value_size() as usize != size {
            return Err(SkelError::Layout {
                section: map.name().into(),
                want: map.value_size() as usize,
                got: size,
            });
        }
        let len = size.div_ceil(page_size()).max(1) * page_size();
        let mmap = Mmap::new(map.fd(), len, 0, true).map_err(|source| MapError::Io {
            map: map.name().into(),
            op: "mmap",
            source,
        })?;
        Ok(GlobalData { mmap, len: size })
    }

    /// Section size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty section.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `T` at byte `off`, read with one volatile load when aligned (so a counter the
    /// program updates is never torn); `T::default`-like zeroes if out of bounds.
    pub fn read<T: Pod>(&self, off: usize) -> T {
        let n = std::mem::size_of::<T>();
        if off.checked_add(n).is_none_or(|end| end > self.len) {
            return super::read_pod(&[], 0);
        }
        // SAFETY: in bounds of a live shared mapping; T is Pod so any bytes are a valid T.
        unsafe {
            let p = self.mmap.ptr().add(off);
            if p as usize % std::mem::align_of::<T>() == 0 {
                std::ptr::read_volatile(p.cast::<T>())
            } else {
                std::ptr::read_unaligned(p.cast::<T>())
            }
        }
    }

    /// Writes `value` at byte `off` (one volatile store when aligned); ignored if out of
    /// bounds.
    pub fn write<T: Pod>(&self, off: usize, value: &T) {
        let n = std::mem::size_of::<T>();
        if off.checked_add(n).is_none_or(|end| end > self.len) {
            return;
        }
        // SAFETY: in bounds of a live, writable shared mapping that Rust code never borrows.
        unsafe {
            let p = self.mmap.ptr().add(off);
            if p as usize % std::mem::align_of::<T>() == 0 {
                std::ptr::write_volatile(p.cast::<T>(), *value)
            } else {
                std::ptr::write_unaligned(p.cast::<T>(), *value)
            }
        }
    }
}
