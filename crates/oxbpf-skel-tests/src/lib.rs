//! Round-trip tests of `oxbpf gen skeleton`: the build script generates the skeleton of every
//! committed fixture object, and this crate includes them all, so the generated code is
//! really compiled and every layout assertion (size, alignment, offsets from BTF) is
//! checked by the compiler. `tests/kernel.rs` drives some of them on the running kernel.

include!(concat!(env!("OUT_DIR"), "/all.rs"));
