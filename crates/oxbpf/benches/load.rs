//! Parse and load fixture objects into the kernel: oxbpf vs libbpf (`bpf_object__open_mem` +
//! `bpf_object__load`), interleaved in the same process. Prints medians, minimums and ratios.
//!
//! Run as root: `cargo bench -p oxbpf --bench load`.

use oxbpf::collection::{Collection, CollectionOptions};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;
const FIXTURES: [&str; 3] = ["xdp.bpf.o", "calls.bpf.o", "maps.bpf.o"];

fn ours(data: &[u8]) -> usize {
    let spec = oxbpf::elf::load_collection_spec(data).expect("parse");
    let coll = Collection::load(&spec, &CollectionOptions::default()).expect("load");
    coll.programs().len()
}

fn libbpf(data: &[u8], name: &std::ffi::CStr) -> usize {
    unsafe {
        let mut opts: libbpf_sys::bpf_object_open_opts = std::mem::zeroed();
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_object_open_opts>() as _;
        opts.object_name = name.as_ptr();
        let obj = libbpf_sys::bpf_object__open_mem(data.as_ptr().cast(), data.len() as _, &opts);
        assert!(
            libbpf_sys::libbpf_get_error(obj.cast()) == 0 && !obj.is_null(),
            "libbpf open"
        );
        let err = libbpf_sys::bpf_object__load(obj);
        assert_eq!(err, 0, "libbpf load");
        let mut n = 0;
        let mut p = libbpf_sys::bpf_object__next_program(obj, std::ptr::null_mut());
        while !p.is_null() {
            n += 1;
            p = libbpf_sys::bpf_object__next_program(obj, p);
        }
        libbpf_sys::bpf_object__close(obj);
        n
    }
}

fn time(f: impl FnOnce() -> usize) -> (Duration, usize) {
    let t = Instant::now();
    let n = f();
    (t.elapsed(), n)
}

fn stats(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64() * 1e3, v[0].as_secs_f64() * 1e3)
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("load benchmark: SKIPPED (needs root to load programs)");
        return;
    }
    unsafe { libbpf_sys::libbpf_set_print(None) };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    println!("parse + load into the kernel, {ROUNDS} interleaved rounds (median / min, ms)");
    println!(
        "{:<14} {:>16} {:>16} {:>14}",
        "object", "oxbpf", "libbpf 1.x", "ratio (med)"
    );
    for f in FIXTURES {
        let data = std::fs::read(format!("{dir}/{f}")).expect("fixture");
        let name = std::ffi::CString::new(f.trim_end_matches(".bpf.o")).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (d, n1) = time(|| ours(&data));
            a.push(d);
            let (d, n2) = time(|| libbpf(&data, &name));
            b.push(d);
            assert_eq!(n1, n2, "{f}: program counts differ");
        }
        let (am, amin) = stats(&mut a);
        let (bm, bmin) = stats(&mut b);
        println!(
            "{f:<14} {:>16} {:>16} {:>13.2}x",
            format!("{am:.2} / {amin:.2}"),
            format!("{bm:.2} / {bmin:.2}"),
            am / bm
        );
    }
}
