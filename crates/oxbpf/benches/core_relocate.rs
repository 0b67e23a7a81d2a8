//! CO-RE relocation speed: a program with ~100 relocations (a fixture program's code and
//! relocations repeated), against a small target BTF and against the running kernel's vmlinux
//! BTF (candidate search over ~100k types). Prints ns per relocation (min and median of runs).

use oxbpf::btf::core::{relocate, CoreTarget};
use oxbpf::btf::Btf;
use oxbpf::spec::{CoreRelo, ProgramSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn spec(name: &str) -> oxbpf::spec::CollectionSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/core")
        .join(name);
    oxbpf::elf::load_collection_spec_from_file(p).expect("fixture")
}

/// The program's code repeated until it carries at least `n` relocations.
fn repeated(p: &ProgramSpec, n: usize) -> (Vec<oxbpf::asm::Insn>, Vec<CoreRelo>) {
    let (mut insns, mut relos) = (Vec::new(), Vec::new());
    while relos.len() < n {
        let base = insns.len() as u32;
        insns.extend_from_slice(&p.instructions);
        relos.extend(p.core_relos.iter().map(|r| CoreRelo {
            insn_off: r.insn_off + base,
            ..*r
        }));
    }
    (insns, relos)
}

fn bench(label: &str, p: &ProgramSpec, local: &Btf, target: &[Arc<Btf>]) {
    let (insns, relos) = repeated(p, 100);
    let t = CoreTarget { btfs: target };
    let mut times = Vec::new();
    for _ in 0..30 {
        let mut work = insns.clone();
        let start = Instant::now();
        let res = relocate(&p.name, &relos, &mut work, local, &t).expect("relocates");
        let el = start.elapsed();
        assert_eq!(res.len(), relos.len());
        times.push(el.as_nanos() as f64 / relos.len() as f64);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{label}: {} relocations, {:.0} ns/relocation min, {:.0} median",
        relos.len(),
        times[0],
        times[times.len() / 2]
    );
}

fn main() {
    let local = spec("layouts.bpf.o");
    let target = spec("layouts.target.bpf.o").btf.expect("target BTF");
    bench(
        "object BTF target (core_main)",
        &local.programs["core_main"],
        local.btf.as_ref().unwrap(),
        &[target],
    );
    match oxbpf::btf::kernel::vmlinux() {
        Ok(vmlinux) => {
            vmlinux.build_name_index();
            let k = spec("kernel.bpf.o");
            bench(
                "vmlinux target (kernel_core)",
                &k.programs["kernel_core"],
                k.btf.as_ref().unwrap(),
                &[vmlinux],
            );
        }
        Err(e) => println!("vmlinux target: skipped ({e})"),
    }
}
