//! The skeleton of `bpf/oxlb.bpf.o`, generated at build time from the committed object's BTF
//! (`build.rs`, `oxbpf::gen`): `#[repr(C)]` types of every struct the datapath's maps and
//! `.rodata` use, with size/alignment/offset assertions, typed map views and the `.rodata`
//! struct. [`super::abi`] takes the types that need no conversion from here (stats, guard,
//! next hop, config) instead of keeping mirrors by hand; the others (addresses as bytes) are
//! checked against these in `tests.rs`.

include!(concat!(env!("OUT_DIR"), "/oxlb.skel.rs"));
