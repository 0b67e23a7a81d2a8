//! Byte-level helpers for generated types: bitfields and union members, read and written
//! through the bytes that hold them (so no reference to a misaligned or inactive field is
//! ever made).

use crate::map::Pod;

/// The `bits`-wide field starting `bit_off` bits into `bytes` (little-endian bit order, as
/// on bpfel), zero-extended. `bits` is at most 64; bits past the end of `bytes` read as 0.
pub fn bits_get(bytes: &[u8], bit_off: u32, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..bits.min(64) {
        let b = (bit_off + i) as usize;
        let set = bytes
            .get(b / 8)
            .is_some_and(|byte| byte >> (b % 8) & 1 == 1);
        v |= (set as u64) << i;
    }
    v
}

/// Writes the low `bits` bits of `value` at `bit_off` bits into `bytes`, leaving the other
/// bits as they are. Bits past the end of `bytes` are dropped.
pub fn bits_set(bytes: &mut [u8], bit_off: u32, bits: u32, value: u64) {
    for i in 0..bits.min(64) {
        let b = (bit_off + i) as usize;
        if let Some(byte) = bytes.get_mut(b / 8) {
            let mask = 1u8 << (b % 8);
            if value >> i & 1 == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// A `T` read from `bytes[off..]`; bytes past the end read as 0.
pub fn read_pod<T: Pod>(bytes: &[u8], off: usize) -> T {
    let n = std::mem::size_of::<T>();
    let mut buf = vec![0u8; n];
    if let Some(src) = bytes.get(off..) {
        let k = src.len().min(n);
        buf[..k].copy_from_slice(&src[..k]);
    }
    // SAFETY: `buf` holds size_of::<T>() bytes and T is Pod (any bit pattern is valid).
    unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) }
}

/// A record (e.g. a ring-buffer item) as `T`: `None` when it is shorter than `T`.
pub fn record<T: Pod>(bytes: &[u8]) -> Option<T> {
    (bytes.len() >= std::mem::size_of::<T>()).then(|| read_pod(bytes, 0))
}

/// Writes `value` at `bytes[off..]`; bytes past the end are dropped.
pub fn write_pod<T: Pod>(bytes: &mut [u8], off: usize, value: &T) {
    // SAFETY: T is Pod: no padding, fully initialised.
    let src = unsafe {
        std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
    };
    if let Some(dst) = bytes.get_mut(off..) {
        let k = dst.len().min(src.len());
        dst[..k].copy_from_slice(&src[..k]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfields_round_trip_across_bytes() {
        let mut b = [0u8; 4];
        bits_set(&mut b, 3, 9, 0x1ab);
        assert_eq!(bits_get(&b, 3, 9), 0x1ab);
        assert_eq!(b, [0x58, 0x0d, 0, 0]);
        bits_set(&mut b, 12, 4, 0xf);
        assert_eq!(bits_get(&b, 3, 9), 0x1ab, "neighbour kept");
        assert_eq!(bits_get(&b, 12, 4), 0xf);
        assert_eq!(bits_get(&b, 30, 8), 0, "past the end reads 0");
    }

    #[test]
    fn pod_reads_and_writes_at_offsets() {
        let mut b = [0u8; 6];
        write_pod(&mut b, 1, &0x0102_0304u32);
        assert_eq!(read_pod::<u32>(&b, 1), 0x0102_0304);
        assert_eq!(
            read_pod::<u32>(&b, 4) & 0xff00_0000,
            0,
            "short tail zero-filled"
        );
        write_pod(&mut b, 5, &0xffffu16);
        assert_eq!(b[5], 0xff);
        assert_eq!(record::<u32>(&b[..3]), None, "short record");
        assert_eq!(
            record::<u16>(&b[4..]),
            Some(u16::from_ne_bytes([b[4], b[5]]))
        );
    }
}
