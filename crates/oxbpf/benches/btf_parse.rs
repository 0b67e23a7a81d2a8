//! Parse `/sys/kernel/btf/vmlinux` and look up a name: oxbpf vs libbpf's `btf__parse`, in the
//! same process, interleaved. Prints medians and minimums, the ratio, and peak RSS.
//!
//! Run: `cargo bench -p oxbpf --bench btf_parse`.

use oxbpf::btf::{Btf, Kind};
use std::ffi::CString;
use std::hint::black_box;
use std::time::{Duration, Instant};

const PATH: &str = "/sys/kernel/btf/vmlinux";
const ROUNDS: usize = 60;
const NAMES: [&str; 8] = [
    "task_struct",
    "sk_buff",
    "xdp_md",
    "bpf_map",
    "file",
    "mm_struct",
    "pt_regs",
    "sock",
];

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(-1)
}

/// Resets the peak-RSS mark (`VmHWM`) to the current RSS.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS growth in KiB while running `f`.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (i64, T) {
    reset_peak();
    let before = status_kib("VmRSS:");
    let r = f();
    (status_kib("VmHWM:") - before, r)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn min(v: &[Duration]) -> Duration {
    *v.iter().min().unwrap()
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ours_parse_query() -> u32 {
    let btf = Btf::from_file(PATH).expect("parse vmlinux");
    btf.find_by_name_kind("task_struct", Kind::Struct)
        .expect("task_struct")
}

fn ours_read_parse_query() -> u32 {
    let raw = std::fs::read(PATH).unwrap();
    let btf = Btf::parse_vec(raw, None).expect("parse vmlinux");
    btf.find_by_name_kind("task_struct", Kind::Struct)
        .expect("task_struct")
}

fn libbpf_parse_query(path: &CString, name: &CString) -> u32 {
    unsafe {
        let btf = libbpf_sys::btf__parse(path.as_ptr(), std::ptr::null_mut());
        assert!(!btf.is_null(), "libbpf btf__parse failed");
        let id =
            libbpf_sys::btf__find_by_name_kind(btf, name.as_ptr(), libbpf_sys::BTF_KIND_STRUCT);
        libbpf_sys::btf__free(btf);
        id as u32
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let r = black_box(f());
    (t.elapsed(), r)
}

fn main() {
    if std::fs::metadata(PATH).is_err() {
        eprintln!("SKIPPED: {PATH} not present");
        return;
    }
    let path = CString::new(PATH).unwrap();
    let name = CString::new("task_struct").unwrap();

    // Peak RSS growth of parse + one query (each measured while the object is alive).
    let (rss_map, btf) = peak_growth(|| {
        let b = Btf::from_file(PATH).unwrap();
        b.find_by_name_kind("task_struct", Kind::Struct).unwrap();
        b
    });
    let (rss_index, _) = peak_growth(|| btf.build_name_index());
    let id = btf.find_by_name_kind("task_struct", Kind::Struct).unwrap();
    println!(
        "vmlinux: {} bytes, {} types; task_struct = [{id}]",
        std::fs::metadata(PATH).unwrap().len(),
        btf.types_len()
    );
    drop(btf);
    let (rss_read, btf) = peak_growth(|| {
        let b = Btf::parse_vec(std::fs::read(PATH).unwrap(), None).unwrap();
        b.find_by_name_kind("task_struct", Kind::Struct).unwrap();
        b
    });
    drop(btf);
    let (rss_libbpf, _) = peak_growth(|| unsafe {
        let b = libbpf_sys::btf__parse(path.as_ptr(), std::ptr::null_mut());
        libbpf_sys::btf__find_by_name_kind(b, name.as_ptr(), libbpf_sys::BTF_KIND_STRUCT);
        libbpf_sys::btf__free(b);
    });
    println!("peak RSS growth, parse + one query:");
    println!("  oxbpf (mmap of sysfs file) {rss_map:>7} KiB (+{rss_index} KiB once the name index is built)");
    println!("  oxbpf (read into a Vec)    {rss_read:>7} KiB");
    println!("  libbpf btf__parse          {rss_libbpf:>7} KiB");

    assert_eq!(
        libbpf_parse_query(&path, &name),
        id,
        "libbpf and oxbpf disagree"
    );
    assert_eq!(ours_read_parse_query(), id);

    let (mut ours, mut ours_read, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(time(ours_parse_query).0);
        theirs.push(time(|| libbpf_parse_query(&path, &name)).0);
        ours_read.push(time(ours_read_parse_query).0);
    }
    println!("parse {PATH} + find_by_name_kind(task_struct) ({ROUNDS} rounds, interleaved):");
    println!("                              median        min   ratio(median, min)");
    for (label, v) in [
        ("oxbpf Btf::from_file (mmap)", &ours),
        ("oxbpf fs::read + parse_vec ", &ours_read),
        ("libbpf btf__parse          ", &theirs),
    ] {
        println!(
            "  {label} {:>8.3} ms {:>8.3} ms   {:.3} {:.3}",
            ms(median(v)),
            ms(min(v)),
            median(v).as_secs_f64() / median(&theirs).as_secs_f64(),
            min(v).as_secs_f64() / min(&theirs).as_secs_f64(),
        );
    }

    // Breakdown.
    let raw = std::fs::read(PATH).unwrap();
    let (mut read, mut parse_vec, mut parse, mut scan_q, mut index, mut indexed_q) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        read.push(time(|| std::fs::read(PATH).unwrap().len()).0);
        let copy = raw.clone();
        parse_vec.push(time(|| Btf::parse_vec(copy, None).unwrap().types_len()).0);
        let (d, btf) = time(|| Btf::parse(&raw).unwrap());
        parse.push(d);
        scan_q.push(time(|| btf.find_by_name("sk_buff")).0);
        index.push(time(|| btf.build_name_index()).0);
        let (d, n) = time(|| {
            NAMES
                .iter()
                .map(|n| btf.find_by_name(n).len())
                .sum::<usize>()
        });
        assert!(n >= NAMES.len());
        indexed_q.push(d / NAMES.len() as u32);
    }
    println!("breakdown (median, min):");
    for (label, v) in [
        ("fs::read of the file       ", &read),
        ("parse_vec (validating pass)", &parse_vec),
        ("parse(&[u8]) (copy + pass) ", &parse),
        ("one name query by scan     ", &scan_q),
        ("build the name index       ", &index),
    ] {
        println!("  {label} {:>8.3} ms {:>8.3} ms", ms(median(v)), ms(min(v)));
    }
    println!(
        "  one indexed name query      {:>8.3} us {:>8.3} us",
        ms(median(&indexed_q)) * 1e3,
        ms(min(&indexed_q)) * 1e3
    );
}
