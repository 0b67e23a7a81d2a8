//! BPF_PROG_RUN: runs the XDP firewall of `xdp_firewall.rs` on a hand-made packet, without
//! attaching it anywhere — how to unit-test a packet program.
//!
//! ```text
//! sudo target/debug/examples/xdp_prog_run SOURCE_ADDRESS [BLOCKED_PREFIX]...
//! sudo target/debug/examples/xdp_prog_run 192.0.2.7 192.0.2.0/24    # prints XDP_DROP
//! ```

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::{LpmTrie, BPF_ANY};
use oxbpf::prog::TestRunOpts;
use std::net::Ipv4Addr;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdp_prog_run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ethernet + IPv4 + UDP headers from `src` to 10.0.0.1:9, with an 8-byte payload.
fn packet(src: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0u8; 14 + 20 + 8 + 8];
    p[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]); // destination MAC
    p[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]); // source MAC
    p[12..14].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    let ip = &mut p[14..34];
    ip[0] = 0x45; // version 4, 20-byte header
    ip[2..4].copy_from_slice(&36u16.to_be_bytes()); // total length
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&[10, 0, 0, 1]);
    p[34..36].copy_from_slice(&12345u16.to_be_bytes());
    p[36..38].copy_from_slice(&9u16.to_be_bytes());
    p[38..40].copy_from_slice(&16u16.to_be_bytes());
    p
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(src) = args.first() else {
        return Err("usage: xdp_prog_run SOURCE_ADDRESS [BLOCKED_PREFIX]...".into());
    };
    let src: Ipv4Addr = src.parse()?;

    let spec = oxbpf::elf::load_collection_spec(include_bytes!("bpf/xdp_firewall.bpf.o"))?;
    let coll = Collection::load(&spec, &CollectionOptions::default())?;
    let blocklist = LpmTrie::<_, [u8; 4], u32>::new(coll.map("blocklist").unwrap())?;
    for prefix in &args[1..] {
        let (addr, len) = prefix.split_once('/').unwrap_or((prefix, "32"));
        blocklist.insert(
            len.parse()?,
            &addr.parse::<Ipv4Addr>()?.octets(),
            &1,
            BPF_ANY,
        )?;
    }

    let prog = coll.program("xdp_firewall")?;
    let input = packet(src);
    let out = prog.test_run(&TestRunOpts {
        data_in: &input,
        ..Default::default()
    })?;
    let verdict = match out.retval {
        1 => "XDP_DROP",
        2 => "XDP_PASS",
        other => return Err(format!("unexpected XDP verdict {other}").into()),
    };
    println!("{src}: {verdict} (ran in {:?})", out.duration);
    Ok(())
}
