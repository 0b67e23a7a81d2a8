//! Perf buffer: prints every process exit on the system with its exit code, read by a CO-RE
//! tracepoint program and sent through a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (one ring per CPU;
//! `bpf/exitsnoop.bpf.c`).
//!
//! ```text
//! sudo target/debug/examples/perfbuf [SECONDS]
//! ```

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::{poll_buffers, PerfEventArray, PerfRecord};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perfbuf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one sample laid out as `struct event` of the C source: pid, exit_code, comm[16].
fn print_event(data: &[u8]) {
    if data.len() < 24 {
        return eprintln!("short sample ({} bytes)", data.len());
    }
    let pid = u32::from_ne_bytes(data[0..4].try_into().unwrap());
    let code = i32::from_ne_bytes(data[4..8].try_into().unwrap());
    let comm = &data[8..24];
    let comm = String::from_utf8_lossy(comm.split(|&b| b == 0).next().unwrap_or(comm));
    // wait(2) encoding: exit status in bits 8-15, or the signal number in bits 0-6.
    println!(
        "exit pid={pid} comm={comm} status={} signal={}",
        code >> 8,
        code & 0x7f
    );
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;

    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/exitsnoop.bpf.o"))?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    // One buffer of 8 pages per online CPU.
    let mut buffers = PerfEventArray::new(coll.map("events").unwrap())?.open_all(8)?;
    // SEC("tracepoint/sched/sched_process_exit") names the target.
    let _link = coll.program("on_exit")?.attach()?;
    println!("watching exit() for {seconds} s");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Indices of the buffers with data (poll on their perf event fds).
        for i in poll_buffers(&buffers, left)? {
            while let Some(record) = buffers[i].next() {
                match record {
                    PerfRecord::Sample(data) => print_event(&data),
                    PerfRecord::Lost(n) => eprintln!("lost {n} samples"),
                }
            }
        }
    }
    Ok(())
}
