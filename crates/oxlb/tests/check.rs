//! `oxlb check` on generated configs far beyond the datapath's limits: it answers in seconds
//! with bounded memory, and the limit errors carry a position (issue 16, finding 7).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// `count` DSR VIPs with `backends` `[[vip.backend]]` tables each.
fn generated(count: usize, backends: usize) -> String {
    let mut s =
        String::from("[global]\nmaglev_table_size = 65537\n\n[[interface]]\nname = \"eth0\"\n");
    for v in 0..count {
        s += &format!(
            "\n[[vip]]\naddress = \"10.{}.{}.1\"\nport = 80\nmode = \"dsr\"\n",
            v / 256,
            v % 256
        );
        for b in 0..backends {
            s += &format!(
                "[[vip.backend]]\naddress = \"172.{}.{}.{}\"\n",
                16 + b / 256,
                b % 256,
                v % 250 + 2
            );
        }
    }
    s
}

/// Runs `oxlb check` on `text`; returns its stderr and how long it took.
fn check(name: &str, text: &str) -> (String, Duration) {
    let dir = std::env::temp_dir().join(format!("oxlb-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_oxlb"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let took = t.elapsed();
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success(), "{name} should be refused");
    (String::from_utf8_lossy(&out.stderr).into_owned(), took)
}

/// Largest resident set of the children waited for so far, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage writes into a zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss
}

#[test]
fn huge_configs_are_checked_in_seconds_with_positions() {
    // 1,000 VIPs x 100 backends (4.2 MB): parsed in full, both limits reported at the first
    // item over them. The quadratic version took 216 s (and 100 x 100 took 4.1 s).
    let (err, took) = check("c1k.toml", &generated(1000, 100));
    eprintln!("oxlb check, 1000 x 100 backends: {took:?}");
    assert!(
        err.contains("c1k.toml:104967:1: 1000 VIPs exceed the datapath limit of 512"),
        "{err}"
    );
    assert!(
        err.contains(
            "c1k.toml:8403:1: 100000 backends (over all VIPs) exceed the datapath limit of 4096"
        ),
        "{err}"
    );
    assert_eq!(
        err.lines().count(),
        2,
        "one error per limit, not one per item: {err}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    // 10,000 x 100 (42 MB): more than any config within the limits can be, refused by size
    // before parsing (parsing it took 27 s and 1.8 GB in a debug build).
    let (err, took) = check("c10k.toml", &generated(10_000, 100));
    let rss_mib = children_max_rss_kib() / 1024;
    eprintln!("oxlb check, 10000 x 100 backends: {took:?}; largest child RSS {rss_mib} MiB");
    assert!(
        err.contains("c10k.toml: config is") && err.contains("reads at most 8388608"),
        "{err}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(rss_mib < 512, "{rss_mib} MiB");
}

#[test]
fn device_files_are_refused_without_reading_them() {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_oxlb"))
        .args(["check", "-c", "/dev/zero"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not a regular file"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn small_conntrack_for_the_nat_port_range_is_a_warning() {
    let text = |size: u32| {
        format!(
            "[global]\nconntrack_size = {size}\n[[interface]]\nname = \"eth0\"\n[[vip]]\n\
             address = \"10.0.0.1\"\nport = 80\nsnat = \"10.0.0.254\"\n\
             backend = [{{ address = \"10.0.1.1\" }}, {{ address = \"10.0.1.2\" }}]\n"
        )
    };
    let dir = std::env::temp_dir().join(format!("oxlb-check-ct-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ct.toml");
    let run = |size: u32| {
        std::fs::write(&path, text(size)).unwrap();
        Command::new(env!("CARGO_BIN_EXE_oxlb"))
            .args(["check", "-c", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run(1024);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning is not an error: {err}");
    assert!(
        err.contains("warning: conntrack_size 1024 is below the 32768 concurrent NAT flows")
            && err.contains("evict"),
        "{err}"
    );
    let out = run(65536);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let _ = std::fs::remove_dir_all(&dir);
}
