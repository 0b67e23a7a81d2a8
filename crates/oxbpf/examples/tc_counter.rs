//! tc: counts packets and bytes entering and leaving an interface with two `SEC("tc")`
//! programs (`bpf/tc_counter.bpf.c`), attached with tcx on Linux >= 6.6 and as `clsact`
//! filters over netlink on older kernels.
//!
//! ```text
//! sudo target/debug/examples/tc_counter IFACE [SECONDS]
//! ```

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::link::{TcDirection, TcOptions};
use oxbpf::map::PerCpuArray;
use std::process::ExitCode;
use std::time::Duration;

/// The value type of the `traffic` map: `struct counters` of the C source.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Counters {
    packets: u64,
    bytes: u64,
}

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tc_counter: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(iface) = args.first() else {
        return Err("usage: tc_counter IFACE [SECONDS]".into());
    };
    let seconds: u64 = args.get(1).map_or(Ok(10), |s| s.parse())?;

    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/tc_counter.bpf.o"))?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    let mut links = Vec::new();
    for (prog, dir) in [
        ("count_ingress", TcDirection::Ingress),
        ("count_egress", TcDirection::Egress),
    ] {
        // SEC("tc") names no direction, so it is given here (SEC("tc/ingress") would say it and
        // attach_tc(iface) would do). Mechanism::Auto (the default): tcx if the kernel has it,
        // else a netlink clsact filter.
        let link = coll
            .program(prog)?
            .attach_tc_with(iface, dir, TcOptions::default())?;
        println!("{dir:?} attached to {iface} via {:?}", link.path());
        links.push(link);
    }
    std::thread::sleep(Duration::from_secs(seconds));
    drop(links); // detaches both

    // A per-CPU array holds one value per possible CPU: sum them.
    let traffic = PerCpuArray::<_, Counters>::new(coll.map("traffic").unwrap())?;
    for (slot, dir) in ["ingress", "egress"].iter().enumerate() {
        let per_cpu = traffic.get(slot as u32)?;
        let packets: u64 = per_cpu.iter().map(|c| c.packets).sum();
        let bytes: u64 = per_cpu.iter().map(|c| c.bytes).sum();
        println!("{dir} packets={packets} bytes={bytes}");
    }
    Ok(())
}
