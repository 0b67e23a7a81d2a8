//! [`Pod`]: types whose bytes can be copied to and from map keys and values and read out of
//! ring/perf buffer records.
//!
//! `Pod` is [`bytemuck::Pod`] itself, so a `#[repr(C)]` struct without padding gets it with
//! `#[derive(bytemuck::Pod, bytemuck::Zeroable, Clone, Copy)]` (bytemuck's `derive` feature),
//! and bytemuck checks the no-padding rule at compile time: no `unsafe impl` needed.
//!
//! ```
//! #[repr(C)]
//! #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
//! struct Event {
//!     pid: u32,
//!     len: u32,
//!     bytes: u64,
//! }
//! fn takes_pod<T: oxbpf::map::Pod>() {}
//! takes_pod::<Event>();
//! ```

pub use bytemuck::{Pod, Zeroable};

/// The bytes of `v`.
pub(crate) fn bytes_of<T: Pod>(v: &T) -> &[u8] {
    bytemuck::bytes_of(v)
}

/// Reads a `T` from the start of `b` (unaligned). `b` must be at least `size_of::<T>()` long.
pub(crate) fn from_bytes<T: Pod>(b: &[u8]) -> T {
    assert!(b.len() >= std::mem::size_of::<T>(), "buffer shorter than T");
    bytemuck::pod_read_unaligned(&b[..std::mem::size_of::<T>()])
}

/// Reads a `T` from the start of record `b` (unaligned; trailing bytes, such as perf's
/// padding, are ignored); [`MapError::RecordSize`] if `b` is shorter than `T`.
pub(crate) fn read_record<T: Pod>(b: &[u8]) -> Result<T, super::MapError> {
    let n = std::mem::size_of::<T>();
    if b.len() < n {
        return Err(super::MapError::RecordSize {
            ty: std::any::type_name::<T>(),
            want: n,
            got: b.len(),
        });
    }
    Ok(bytemuck::pod_read_unaligned(&b[..n]))
}
