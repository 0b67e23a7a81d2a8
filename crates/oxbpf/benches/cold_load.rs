//! Cold and warm CO-RE loads, oxbpf vs libbpf, on three libbpf-tools-like fixtures
//! (`testdata/cold`: runqlat, biotop, tcptracer; 20-30 CO-RE relocations, tp_btf and raw_tp
//! programs, against the running kernel's vmlinux BTF).
//!
//! * cold: the first load in a fresh process. Each sample is a child process (this binary
//!   re-run with `OXBPF_COLD_CHILD=oxbpf|libbpf:PATH`) timing parse + load from its own
//!   start, process start-up not counted; oxbpf and libbpf children alternate.
//! * warm: repeated loads in this process (vmlinux BTF and feature probes cached).
//!
//! Prints the median and minimum of each and the ratio oxbpf / libbpf (medians).
//! Run as root: `cargo bench -p oxbpf --bench cold_load` (`-- --rounds N`, default 30).

use oxbpf::collection::{Collection, CollectionOptions};
use std::process::Command;
use std::time::{Duration, Instant};

const FIXTURES: [&str; 3] = ["runqlat", "biotop", "tcptracer"];
const CHILD: &str = "OXBPF_COLD_CHILD";

fn ours(data: &[u8]) {
    let spec = oxbpf::elf::load_collection_spec(data).expect("parse");
    let coll = Collection::load(&spec, &CollectionOptions::default()).expect("oxbpf load");
    assert!(!coll.programs().is_empty());
}

fn libbpf(data: &[u8]) {
    unsafe {
        let mut opts: libbpf_sys::bpf_object_open_opts = std::mem::zeroed();
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_object_open_opts>() as _;
        opts.object_name = c"cold".as_ptr();
        let obj = libbpf_sys::bpf_object__open_mem(data.as_ptr().cast(), data.len() as _, &opts);
        assert!(
            libbpf_sys::libbpf_get_error(obj.cast()) == 0 && !obj.is_null(),
            "libbpf open"
        );
        assert_eq!(libbpf_sys::bpf_object__load(obj), 0, "libbpf load");
        libbpf_sys::bpf_object__close(obj);
    }
}

fn run(which: &str, data: &[u8]) -> Duration {
    let t = Instant::now();
    match which {
        "oxbpf" => ours(data),
        _ => libbpf(data),
    }
    t.elapsed()
}

/// Child mode: one load, its time in nanoseconds on stdout.
fn child(spec: &str) {
    let (which, path) = spec.split_once(':').expect("which:path");
    let data = std::fs::read(path).expect("fixture");
    unsafe { libbpf_sys::libbpf_set_print(None) };
    println!("{}", run(which, &data).as_nanos());
}

fn cold_sample(which: &str, path: &str) -> Duration {
    let out = Command::new(std::env::current_exe().expect("self"))
        .env(CHILD, format!("{which}:{path}"))
        .output()
        .expect("spawn child");
    assert!(
        out.status.success(),
        "{which} child: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ns: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ns");
    Duration::from_nanos(ns)
}

fn med_min(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64() * 1e3, v[0].as_secs_f64() * 1e3)
}

fn report(label: &str, name: &str, ox: &mut [Duration], lb: &mut [Duration]) -> f64 {
    let (om, on) = med_min(ox);
    let (lm, ln) = med_min(lb);
    println!(
        "{label:<5} {name:<10} oxbpf {om:7.2} / {on:7.2}   libbpf {lm:7.2} / {ln:7.2}   ratio {:.2}",
        om / lm
    );
    om / lm
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("cold_load benchmark: SKIPPED (needs root to load programs)");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(30usize);
    unsafe { libbpf_sys::libbpf_set_print(None) };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/cold");
    println!("CO-RE loads against vmlinux, {rounds} interleaved rounds (median / min, ms)");
    let mut cold = Vec::new();
    for name in FIXTURES {
        let path = format!("{dir}/{name}.bpf.o");
        let (mut ox, mut lb) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            // Alternate which goes first, so neither always runs on a warmer machine.
            if r % 2 == 0 {
                ox.push(cold_sample("oxbpf", &path));
                lb.push(cold_sample("libbpf", &path));
            } else {
                lb.push(cold_sample("libbpf", &path));
                ox.push(cold_sample("oxbpf", &path));
            }
        }
        cold.push(report("cold", name, &mut ox, &mut lb));
    }
    for name in FIXTURES {
        let data = std::fs::read(format!("{dir}/{name}.bpf.o")).expect("fixture");
        run("oxbpf", &data);
        run("libbpf", &data);
        let (mut ox, mut lb) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            ox.push(run("oxbpf", &data));
            lb.push(run("libbpf", &data));
        }
        report("warm", name, &mut ox, &mut lb);
    }
    let worst = cold.iter().cloned().fold(0.0, f64::max);
    println!("cold: worst ratio {worst:.2} (target <= 0.80)");
}
