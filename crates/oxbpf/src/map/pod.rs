//! [`Pod`]: types whose bytes can be copied to and from map keys and values and read out of
//! ring/perf buffer records.
//!
//! Every [`bytemuck::Pod`] type is `Pod`, so a `#[repr(C)]` struct without padding gets it
//! with `#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]` (bytemuck's `derive`
//! feature), which checks the no-padding rule at compile time. `unsafe impl Pod for T {}`
//! remains possible for a type that cannot derive bytemuck's.
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

/// Plain old data: any bit pattern is a valid value and there is no padding the kernel could
/// read uninitialised. Implemented for every [`bytemuck::Pod`] type: derive that.
///
/// # Safety
/// Implement only for `#[repr(C)]` (or `#[repr(transparent)]`) types made of `Pod` fields with
/// no padding bytes, for which every bit pattern is valid.
pub unsafe trait Pod: Copy + 'static {}

// SAFETY: bytemuck::Pod promises exactly this (no padding, any bit pattern valid, 'static).
unsafe impl<T: bytemuck::Pod> Pod for T {}

/// The bytes of `v`.
pub(crate) fn bytes_of<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: T is Pod: no padding, fully initialised.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}

/// Reads a `T` from the start of `b` (unaligned). `b` must be at least `size_of::<T>()` long.
pub(crate) fn from_bytes<T: Pod>(b: &[u8]) -> T {
    assert!(b.len() >= std::mem::size_of::<T>(), "buffer shorter than T");
    // SAFETY: length checked; any bit pattern is a valid T.
    unsafe { std::ptr::read_unaligned(b.as_ptr() as *const T) }
}

/// Reads a `T` from the start of record `b` (unaligned; trailing bytes, such as perf's
/// padding, are ignored); [`MapError::RecordSize`](super::MapError::RecordSize) if `b` is
/// shorter than `T`.
pub(crate) fn read_record<T: Pod>(b: &[u8]) -> Result<T, super::MapError> {
    let n = std::mem::size_of::<T>();
    if b.len() < n {
        return Err(super::MapError::RecordSize {
            ty: std::any::type_name::<T>(),
            want: n,
            got: b.len(),
        });
    }
    Ok(from_bytes(b))
}
