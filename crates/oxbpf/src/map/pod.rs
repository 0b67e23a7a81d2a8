//! [`Pod`]: types whose bytes can be copied to and from map keys and values.

/// Plain old data: any bit pattern is a valid value and there is no padding the kernel could
/// read uninitialised.
///
/// # Safety
/// Implement only for `#[repr(C)]` (or `#[repr(transparent)]`) types made of `Pod` fields with
/// no padding bytes, for which every bit pattern is valid.
pub unsafe trait Pod: Copy + 'static {}

macro_rules! pod {
    ($($t:ty),*) => { $(unsafe impl Pod for $t {})* };
}
pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, usize, isize, f32, f64);
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

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
