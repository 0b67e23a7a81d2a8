//! Reading `task->comm` in the kernel two ways (`bpf/task_comm.bpf.c`): a classic tracepoint
//! (`sched/sched_process_fork`) reading the current task with CO-RE, and a BTF-enabled
//! tracepoint (`tp_btf/sched_process_exec`) with typed arguments. Counts forks and execs per
//! command name.
//!
//! ```text
//! sudo target/debug/examples/task_comm [SECONDS] [COMM]...
//! ```
//!
//! After SECONDS (default 10), prints the counts of the given command names (all if none).

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::HashMap;
use std::process::ExitCode;
use std::time::Duration;

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("task_comm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().map_or(Ok(10), |s| s.parse())?;
    let wanted = &args[1.min(args.len())..];

    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/task_comm.bpf.o"))?;
    // CO-RE relocations and the tp_btf target are resolved against the kernel's BTF here.
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    // Each section names its hook: SEC("tracepoint/sched/sched_process_fork") and
    // SEC("tp_btf/sched_process_exec") (that target was fixed at load, from the section).
    let _fork_link = coll.program("count_forks")?.attach()?;
    let _exec_link = coll.program("count_execs")?.attach()?;
    println!("counting fork() and exec() for {seconds} s");
    std::thread::sleep(Duration::from_secs(seconds));

    for (what, map) in [("fork", "forks"), ("exec", "execs")] {
        // Keys are `struct comm { char name[16]; }`: NUL-padded command names.
        let counts = HashMap::<_, [u8; 16], u64>::new(coll.map(map).unwrap())?;
        for entry in counts.iter() {
            let (comm, n) = entry?;
            let comm = String::from_utf8_lossy(comm.split(|&b| b == 0).next().unwrap_or(&comm));
            if wanted.is_empty() || wanted.iter().any(|w| *w == comm) {
                println!("{what} comm={comm} count={n}");
            }
        }
    }
    Ok(())
}
