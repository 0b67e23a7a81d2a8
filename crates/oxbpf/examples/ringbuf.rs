//! Ring buffer, blocking reader: prints every `execve()` on the system, sent by a tracepoint
//! program through a `BPF_MAP_TYPE_RINGBUF` (`bpf/execsnoop.bpf.c`).
//!
//! ```text
//! sudo target/debug/examples/ringbuf [SECONDS] [MAX_EVENTS]
//! ```
//!
//! Stops after SECONDS (default 10) or MAX_EVENTS events, whichever comes first.

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::RingBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringbuf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one record laid out as `struct event` of the C source: pid, uid, comm[16].
fn print_event(data: &[u8]) {
    if data.len() < 24 {
        return eprintln!("short record ({} bytes)", data.len());
    }
    let pid = u32::from_ne_bytes(data[0..4].try_into().unwrap());
    let uid = u32::from_ne_bytes(data[4..8].try_into().unwrap());
    let comm = &data[8..24];
    let comm = String::from_utf8_lossy(comm.split(|&b| b == 0).next().unwrap_or(comm));
    println!("exec pid={pid} uid={uid} comm={comm}");
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().map_or(Ok(10), |s| s.parse())?;
    let max_events: usize = args.get(1).map_or(Ok(usize::MAX), |s| s.parse())?;

    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/execsnoop.bpf.o"))?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    let mut ring = RingBuf::new(coll.map("events").unwrap())?;
    // SEC("tracepoint/sched/sched_process_exec") names the target.
    let _link = coll.program("on_exec")?.attach()?;
    println!("watching exec() for {seconds} s");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut seen = 0;
    while seen < max_events {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Blocks (epoll) until a record arrives or the time is up.
        if let Some(record) = ring.next_timeout(left)? {
            print_event(&record);
            seen += 1;
        } // dropping the record hands its space back to the kernel
    }
    println!("{seen} events");
    Ok(())
}
