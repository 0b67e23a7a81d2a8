//! Generates the skeleton of the committed datapath object `bpf/oxlb.bpf.o` (oxbpf-build,
//! `oxbpf gen skeleton`) into OUT_DIR: `datapath::skel` takes the datapath's types from it,
//! laid out as the compiled object's BTF says, with layout assertions. The object itself is
//! built by `cargo xtask build-bpf` and committed; nothing is compiled here.

fn main() {
    oxbpf_build::Builder::new()
        .source_dir(None)
        .object("bpf/oxlb.bpf.o", "oxlb")
        .build()
        .unwrap_or_else(|e| panic!("generate the oxlb.bpf.o skeleton: {e}"));
}
