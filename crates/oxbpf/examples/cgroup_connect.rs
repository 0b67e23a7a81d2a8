//! cgroup: refuses IPv4 `connect()` to one port for every process in a cgroup v2 directory
//! (`bpf/cgroup_connect.bpf.c`), counting allowed and refused calls.
//!
//! ```text
//! sudo target/debug/examples/cgroup_connect CGROUP_DIR PORT [SECONDS]
//! sudo target/debug/examples/cgroup_connect /sys/fs/cgroup/user.slice 443 30
//! ```

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::Array;
use std::process::ExitCode;
use std::time::Duration;

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cgroup_connect: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cgroup, port, rest @ ..] = args.as_slice() else {
        return Err("usage: cgroup_connect CGROUP_DIR PORT [SECONDS]".into());
    };
    let port: u16 = port.parse()?;
    let seconds: u64 = rest.first().map_or(Ok(10), |s| s.parse())?;

    let mut spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/cgroup_connect.bpf.o"))?;
    // A `const volatile` global: set before load, a constant for the verifier afterwards.
    spec.set_variable("blocked_port", &port.to_ne_bytes())?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    // SEC("cgroup/connect4") names the attach type; the cgroup is given here.
    let link = coll.program("block_port")?.attach_cgroup(cgroup)?;
    println!(
        "refusing connect() to port {port} in {cgroup} ({:?}) for {seconds} s",
        link.path()
    );
    std::thread::sleep(Duration::from_secs(seconds));
    drop(link);

    let verdicts = Array::<_, u64>::new(coll.map("verdicts").unwrap())?;
    println!("allowed={} refused={}", verdicts.get(0)?, verdicts.get(1)?);
    Ok(())
}
