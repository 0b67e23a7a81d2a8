//! Pinning: a map pinned on bpffs outlives the process, and the next run reuses it.
//! `bpf/pin_counter.bpf.c` declares `runs` with `LIBBPF_PIN_BY_NAME`, so loading the object
//! with a pin directory opens `DIR/runs` if it exists (checking it matches) or creates and
//! pins it. Each run increments the counter once, with BPF_PROG_RUN.
//!
//! ```text
//! sudo target/debug/examples/pin_counter /sys/fs/bpf/pin_counter          # runs=1, runs=2, ...
//! sudo target/debug/examples/pin_counter /sys/fs/bpf/pin_counter --unpin  # and remove the pin
//! ```

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::Array;
use oxbpf::prog::TestRunOpts;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pin_counter: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        return Err("usage: pin_counter BPFFS_DIR [--unpin]".into());
    };
    let unpin = args.get(1).is_some_and(|a| a == "--unpin");

    std::fs::create_dir_all(dir)?; // must be on a bpffs mount (e.g. under /sys/fs/bpf)
    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/pin_counter.bpf.o"))?;
    let opts = CollectionOptions {
        pin_dir: Some(dir.into()),
        ..Default::default()
    };
    let mut coll = Collection::load(&spec, &opts)?;
    coll.program("count_run")?
        .test_run(&TestRunOpts::default())?;

    let runs = Array::<_, u64>::new(coll.map("runs").unwrap())?;
    println!("runs={} (map pinned at {dir}/runs)", runs.get(0)?);
    if unpin {
        coll.take_map("runs").unwrap().unpin()?;
        println!("unpinned");
    }
    Ok(())
}
