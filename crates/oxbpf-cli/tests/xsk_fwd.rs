//! `oxbpf xsk fwd`: the forwarder runs in namespace `b` on `x1` queue 0 (copy mode); test
//! frames sent from `x0` in namespace `a` come back with their MACs swapped, and the report
//! counts them. Uses the AF_XDP tests' veth lab (crates/oxbpf/tests/xsk_util).

#[path = "../../oxbpf/tests/links_util/mod.rs"]
mod links_util;
#[path = "../../oxbpf/tests/xsk_util/mod.rs"]
mod xsk_util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use xsk_util::{seq_of, Lab};

#[test]
fn xsk_fwd_swaps_macs_and_sends_frames_back() {
    if !links_util::require_kernel() {
        return;
    }
    let lab = Lab::new();
    let mut child = Command::new("nsenter")
        .arg(format!("--net={}", lab.pair.b.path()))
        .arg(env!("CARGO_BIN_EXE_oxbpf"))
        .args(["--json", "xsk", "fwd", "--iface", "x1", "--queue", "0"])
        .args(["--copy", "--xdp-mode", "driver", "--seconds", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run oxbpf xsk fwd");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("read stderr");
    assert!(
        line.starts_with("forwarding x1 queue 0 (copy mode"),
        "{line}"
    );
    lab.send(0..32);
    let back = lab.tap.recv(32, Duration::from_secs(2));
    let out = child.wait_with_output().expect("wait for oxbpf");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(out.status.success(), "oxbpf xsk fwd failed: {rest}");
    let mut seqs: Vec<u32> = back.iter().filter_map(|f| seq_of(f)).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..32).collect::<Vec<_>>(), "every frame came back");
    for f in &back {
        assert_eq!(&f[..6], &lab.x0_mac, "destination swapped to the sender");
        assert_eq!(&f[6..12], &lab.x1_mac, "source swapped to x1");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(v["rx"].as_u64().unwrap() >= 32, "{v}");
    assert!(v["tx"].as_u64().unwrap() >= 32, "{v}");
    assert_eq!(v["zero_copy"], false, "{v}");
}
