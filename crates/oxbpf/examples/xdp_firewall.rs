//! XDP with maps: counts packets per IPv4 source address in an LRU hash and drops sources
//! covered by a prefix of an LPM-trie blocklist (`bpf/xdp_firewall.bpf.c`).
//!
//! ```text
//! cargo run --example xdp_firewall -- IFACE [SECONDS] [BLOCKED_PREFIX]...
//! sudo target/debug/examples/xdp_firewall eth0 10 192.0.2.0/24 198.51.100.7/32
//! ```
//!
//! Runs for SECONDS (default 10), then prints one line per source address seen.

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::link::XdpMode;
use oxbpf::map::{LpmTrie, LruHashMap, BPF_ANY};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

/// The value type of the `stats` map: the same layout as `struct counters` in the C source;
/// deriving `bytemuck::Pod` makes it a map value (no unsafe code).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Counters {
    passed: u64,
    dropped: u64,
}

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdp_firewall: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(iface) = args.first() else {
        return Err("usage: xdp_firewall IFACE [SECONDS] [BLOCKED_PREFIX]...".into());
    };
    let seconds: u64 = args.get(1).map_or(Ok(10), |s| s.parse())?;

    // The object is compiled by `clang -g -O2 -target bpf` and embedded in the binary.
    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/xdp_firewall.bpf.o"))?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;

    // LPM trie key: prefix length in bits, then the address bytes in network byte order.
    let blocklist = LpmTrie::<_, [u8; 4], u32>::new(coll.map("blocklist").unwrap())?;
    for prefix in &args[2.min(args.len())..] {
        let (addr, len) = prefix.split_once('/').unwrap_or((prefix, "32"));
        let addr: Ipv4Addr = addr.parse()?;
        blocklist.insert(len.parse()?, &addr.octets(), &1, BPF_ANY)?;
    }

    // By interface name; Auto: native (driver) mode where the driver has it, else generic.
    let link = coll
        .program("xdp_firewall")?
        .attach_xdp(iface, XdpMode::Auto)?;
    println!("attached to {iface} ({:?}) for {seconds} s", link.path());
    std::thread::sleep(Duration::from_secs(seconds));
    drop(link); // detaches

    // Keys are source addresses as the program saw them: network byte order.
    let stats = LruHashMap::<_, [u8; 4], Counters>::new(coll.map("stats").unwrap())?;
    for entry in stats.iter() {
        let (src, c) = entry?;
        let src = Ipv4Addr::from(src);
        println!("{src} passed={} dropped={}", c.passed, c.dropped);
    }
    Ok(())
}
