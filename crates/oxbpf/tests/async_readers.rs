//! Async ring and perf buffer readers (feature `tokio`) on the running kernel: `next().await`
//! stays pending while the rings are empty, then wakes when a thread runs the ringbuf fixture
//! with BPF_PROG_RUN (pinned to CPU 0, so its perf records land in CPU 0's buffer); records
//! are read as a `#[derive(bytemuck::Pod)]` struct; a too-small record says so.
#![cfg(feature = "tokio")]

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::{AsyncPerfBuffer, AsyncRingBuf, MapError, PerfEventArray, RingBuf};
use oxbpf::prog::{Program, TestRunOpts};
use std::time::Duration;

const MAGIC: u32 = 0x0b9f_0b9f;
const NR: u32 = 3;

/// `struct record` of testdata/ringbuf.bpf.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
struct Record {
    seq: u32,
    magic: u32,
    run: u64,
    value: u64,
}

fn require_kernel() -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let reason = "async reader tests need root (CAP_BPF) to load the ringbuf fixture";
    if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("OXBPF_REQUIRE_KERNEL=1 but the test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    false
}

fn load() -> Collection {
    let path = format!("{}/testdata/ringbuf.bpf.o", env!("CARGO_MANIFEST_DIR"));
    let mut spec = oxbpf::elf::load_collection_spec_from_file(path).unwrap();
    spec.set_variable("nr_records", &NR.to_ne_bytes()).unwrap();
    Collection::load(&spec, &CollectionOptions::default()).unwrap()
}

/// Runs the program once on CPU 0 after `delay`, from another thread.
fn run_later(coll: &Collection, delay: Duration) -> std::thread::JoinHandle<()> {
    let fd = coll.program("ringbuf_emit").unwrap().fd();
    let prog = Program::from_fd(fd.try_clone_to_owned().unwrap()).unwrap();
    std::thread::spawn(move || {
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set),
                0
            );
        }
        std::thread::sleep(delay);
        let out = prog
            .test_run(&TestRunOpts {
                data_in: &[0u8; 32],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(out.retval, 2, "XDP_PASS");
    })
}

fn want(run: u64) -> Vec<Record> {
    (0..NR)
        .map(|seq| Record {
            seq,
            magic: MAGIC,
            run,
            value: u64::from(seq) * 1000,
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn ring_buffer_next_awaits_records() {
    if !require_kernel() {
        return;
    }
    let coll = load();
    let mut rb = AsyncRingBuf::new(RingBuf::new(coll.map("events").unwrap()).unwrap()).unwrap();
    use std::os::fd::AsRawFd;
    assert_eq!(
        rb.get_ref().as_raw_fd(),
        coll.map("events").unwrap().fd().as_raw_fd()
    );
    // Nothing written yet: next() must not complete.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rb.next())
            .await
            .is_err(),
        "next() returned on an empty ring"
    );
    for run in 1..=2u64 {
        let t = run_later(&coll, Duration::from_millis(150));
        let mut got = Vec::new();
        for _ in 0..NR {
            let item = tokio::time::timeout(Duration::from_secs(10), rb.next())
                .await
                .expect("no record within 10 s")
                .unwrap();
            let e = item.read::<[u64; 4]>().unwrap_err();
            assert!(matches!(e, MapError::RecordSize { .. }), "{e:?}");
            assert_eq!(
                e.to_string(),
                "read a [u64; 4] (32 bytes) from a 24-byte record; hint: the Rust type must match \
                 the C struct the program writes (#[repr(C)], same fields)"
            );
            got.push(item.read::<Record>().unwrap());
        }
        t.join().unwrap();
        assert_eq!(got, want(run), "run {run}");
    }
    assert!(!rb.get_ref().has_record());
}

#[tokio::test(flavor = "current_thread")]
async fn perf_buffer_next_awaits_records() {
    if !require_kernel() {
        return;
    }
    let coll = load();
    let perf = PerfEventArray::new(coll.map("perf_events").unwrap()).unwrap();
    let mut buf = AsyncPerfBuffer::new(perf.open(0, 8).unwrap()).unwrap();
    assert_eq!(buf.get_ref().cpu(), 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), buf.next())
            .await
            .is_err(),
        "next() returned on an empty perf buffer"
    );
    let t = run_later(&coll, Duration::from_millis(150));
    let mut got = Vec::new();
    for _ in 0..NR {
        let r = tokio::time::timeout(Duration::from_secs(10), buf.next())
            .await
            .expect("no perf record within 10 s")
            .unwrap();
        got.push(r.read::<Record>().unwrap());
    }
    t.join().unwrap();
    assert_eq!(got, want(1));
    let e = oxbpf::map::PerfRecord::Lost(3)
        .read::<Record>()
        .unwrap_err();
    assert!(e.to_string().contains("3 samples were lost"), "{e}");
}
