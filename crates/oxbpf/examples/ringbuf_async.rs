//! Ring buffer, async reader (feature `tokio`): prints every `execve()` on the system as a
//! typed record, awaited on tokio, from the same program as `ringbuf.rs`
//! (`bpf/execsnoop.bpf.c`), attached by its section alone.
//!
//! ```text
//! cargo build --example ringbuf_async --features tokio
//! sudo target/debug/examples/ringbuf_async [SECONDS] [MAX_EVENTS]
//! ```
//!
//! Stops after SECONDS (default 10) or MAX_EVENTS events, whichever comes first.

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::{AsyncRingBuf, RingBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `struct event` of the C source; deriving `bytemuck::Pod` makes it readable from a record.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Event {
    pid: u32,
    uid: u32,
    comm: [u8; 16],
}

#[tokio::main(flavor = "current_thread")]
pub async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringbuf_async: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().map_or(Ok(10), |s| s.parse())?;
    let max_events: usize = args.get(1).map_or(Ok(usize::MAX), |s| s.parse())?;

    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/execsnoop.bpf.o"))?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    let map = coll.map("events").ok_or("the object has no map `events`")?;
    let mut events = AsyncRingBuf::new(RingBuf::new(map)?)?;
    // SEC("tracepoint/sched/sched_process_exec") says where: no target to repeat here.
    let _link = coll.program("on_exec")?.attach()?;
    println!("watching exec() for {seconds} s");

    let mut seen = 0;
    let watch = async {
        while seen < max_events {
            let record = events.next().await?;
            let e: Event = record.read()?;
            let comm = e.comm.split(|&b| b == 0).next().unwrap_or(&e.comm);
            let comm = String::from_utf8_lossy(comm);
            println!("exec pid={} uid={} comm={comm}", e.pid, e.uid);
            seen += 1;
        } // each record's space goes back to the kernel when it is dropped
        Ok::<_, oxbpf::map::MapError>(())
    };
    // Other tasks could run on this thread meanwhile; here only the deadline does.
    if let Ok(result) = tokio::time::timeout(Duration::from_secs(seconds), watch).await {
        result?;
    }
    println!("{seen} events");
    Ok(())
}
