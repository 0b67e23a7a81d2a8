//! End to end, real TCP over veths in namespaces (the demo's topology, TX checksum offload off so
//! every receiver verifies checksums): client → LB (`oxlb run`, XDP generic, `ipip` and `gue`
//! VIPs) → three backends running `oxlb decap` with the VIPs on `lo` → replies straight to the
//! client. The LB drops any forwarded packet from a VIP (nftables, where installed), so a reply
//! that took the way back through it would fail the test.
//!
//! Covered: IPv4 and IPv6 VIPs, 4in4, 6in6, 4in6 and IPv6-in-GUE-over-IPv4, GUE over IPv4 and
//! IPv6; every request answered, each VIP spread over more than one backend, every backend's
//! decap program counting what it stripped; and 200 kB uploads whose full-size segments do not
//! fit the LB's MTU once encapsulated: the LB answers with ICMP fragmentation needed / packet
//! too big, the client's stack lowers its path MTU and the upload completes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::require_kernel;
use oxlb::demo::lab::{backend_name, wait_for};
use oxlb::demo::topology::{in_ns, Topology};
use oxlb::demo::traffic::{self, in_netns, Conn};

const EXE: &str = env!("CARGO_BIN_EXE_oxlb");
const UPLOAD: usize = 200_000;
const SINK_PORT: u16 = 9000;

/// A child process stopped with SIGTERM (by its own pid) and reaped on drop.
struct Proc {
    child: Child,
    out: Option<BufReader<ChildStdout>>,
}

impl Proc {
    /// Stops it and returns the rest of its standard output.
    fn stop(&mut self) -> String {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let mut rest = String::new();
        if let Some(out) = self.out.as_mut() {
            let _ = out.read_to_string(&mut rest);
        }
        rest
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// `oxlb decap` on backend namespace `ns`, once it says it is attached.
fn decap(ns: &str) -> Proc {
    let mut child = Command::new(EXE)
        .args([
            "--netns",
            ns,
            "decap",
            "--iface",
            "eth0",
            "--xdp-mode",
            "generic",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start oxlb decap");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read oxlb decap");
    assert!(line.contains("attached"), "oxlb decap on {ns}: {line:?}");
    Proc {
        child,
        out: Some(out),
    }
}

/// Reads every upload to port 9000 to its end and answers with the byte count.
fn sink(ns: &str, stop: Arc<AtomicBool>) {
    let (tx, rx) = std::sync::mpsc::channel();
    in_netns(ns, move || {
        let l = TcpListener::bind(("::", SINK_PORT)).expect("bind sink");
        l.set_nonblocking(true).unwrap();
        let _ = tx.send(());
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    std::thread::spawn(move || {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let mut n = 0usize;
                        let mut buf = [0u8; 65536];
                        while let Ok(k) = s.read(&mut buf) {
                            if k == 0 {
                                break;
                            }
                            n += k;
                        }
                        let _ = s.write_all(n.to_string().as_bytes());
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("sink listening");
}

/// Uploads UPLOAD bytes to `vip:9000` from the client; returns what the backend counted.
fn upload(client: &str, vip: IpAddr) -> Result<usize, String> {
    in_netns(client, move || -> Result<usize, String> {
        let dst = SocketAddr::from((vip, SINK_PORT));
        let mut s = TcpStream::connect_timeout(&dst, Duration::from_secs(3))
            .map_err(|e| format!("connect {dst}: {e}"))?;
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&vec![0x42; UPLOAD])
            .map_err(|e| format!("upload to {dst}: {e}"))?;
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .map_err(|e| format!("answer of {dst}: {e}"))?;
        answer
            .trim()
            .parse()
            .map_err(|_| format!("{dst}: {answer:?}"))
    })
    .join()
    .expect("client thread")?
}

#[test]
fn encapsulated_dsr_end_to_end() {
    if !require_kernel("encapsulated_dsr_end_to_end") {
        return;
    }
    let tag = format!("e{}", std::process::id() % 100_000);
    let t = Topology::build(&tag, true, false).expect("topology");
    let (vip4, vip6) = (IpAddr::from(t.vip), IpAddr::from(t.vip6));
    // Two more VIPs for the mixed families: IPv4 in IPv6 and IPv6 in GUE over IPv4.
    let (vip4b, vip6b): (IpAddr, IpAddr) =
        ("10.77.0.101".parse().unwrap(), "fd77::101".parse().unwrap());
    let lb = t.lb.addr.to_string();
    let lb6 = t.lb.addr6.to_string();
    in_ns(
        &t.client.ns,
        &["ip", "route", "add", "10.77.0.101/32", "via", &lb],
    )
    .unwrap();
    in_ns(
        &t.client.ns,
        &["ip", "-6", "route", "add", "fd77::101/128", "via", &lb6],
    )
    .unwrap();
    for b in &t.backends {
        in_ns(&b.ns, &["ip", "addr", "add", "10.77.0.101/32", "dev", "lo"]).unwrap();
        in_ns(
            &b.ns,
            &["ip", "-6", "addr", "add", "fd77::101/128", "dev", "lo"],
        )
        .unwrap();
    }
    // Replies must not come back through the LB (where nftables exists: not in the CI VM).
    let have_nft = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_nft {
        eprintln!("no nft: the guard against replies through the LB is left out");
    }
    for cmd in have_nft
        .then_some([
            "add table inet oxlbe2e",
            "add chain inet oxlbe2e fw { type filter hook forward priority 0 ; }",
            &format!("add rule inet oxlbe2e fw ip saddr {{ {vip4}, {vip4b} }} drop"),
            &format!("add rule inet oxlbe2e fw ip6 saddr {{ {vip6}, {vip6b} }} drop"),
        ])
        .into_iter()
        .flatten()
    {
        let mut args = vec!["nft"];
        args.extend(cmd.split(' '));
        in_ns(&t.lb.ns, &args).unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    for (i, b) in t.backends.iter().enumerate() {
        traffic::serve(&b.ns, backend_name(i), Arc::clone(&stop)).unwrap();
        sink(&b.ns, Arc::clone(&stop));
    }
    let mut decaps: Vec<Proc> = t.backends.iter().map(|b| decap(&b.ns)).collect();

    // (VIP, port, mode, backends of the VIP's family or the other one)
    let vips: [(IpAddr, u16, &str, bool); 8] = [
        (vip4, 80, "ipip", true),
        (vip4, 8080, "gue", true),
        (vip6, 80, "gue", true),
        (vip6, 8080, "ipip", true),
        (vip4b, 80, "ipip", false),
        (vip6b, 80, "gue", false),
        (vip4, SINK_PORT, "ipip", true),
        (vip6, SINK_PORT, "gue", true),
    ];
    let dir = std::env::temp_dir().join(format!("oxlb-encap-e2e-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let pin_dir = format!("/sys/fs/bpf/oxlb-encap-e2e-{tag}");
    let mut cfg = format!(
        "[global]\nmaglev_table_size = 251\nmetrics_listen = \"off\"\npin_dir = \"{pin_dir}\"\n\n\
         [[interface]]\nname = \"eth0\"\nxdp_mode = \"generic\"\n\n\
         [encap]\nsource4 = \"10.77.1.0/24\"\nsource6 = \"fd77:1::/112\"\n"
    );
    for (vip, port, mode, same) in vips {
        cfg += &format!("\n[[vip]]\naddress = \"{vip}\"\nport = {port}\nmode = \"{mode}\"\n");
        for b in &t.backends {
            let a = if same == vip.is_ipv4() {
                IpAddr::from(b.addr)
            } else {
                IpAddr::from(b.addr6)
            };
            cfg += &format!("[[vip.backend]]\naddress = \"{a}\"\n");
        }
    }
    let cfg_path = dir.join("oxlb.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let log = std::fs::File::create(dir.join("oxlb.log")).unwrap();
    let mut daemon = Proc {
        child: Command::new(EXE)
            .args(["--netns", &t.lb.ns, "run", "-c"])
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start oxlb run"),
        out: None,
    };
    let pid = daemon.child.id() as i32;
    // Up to a minute: loading and verifying takes long under emulation (the CI VM).
    let up = (0..6).any(|_| {
        wait_for("oxlb to attach", || {
            oxlb::daemon::state::running_pid(std::path::Path::new(&pin_dir)) == Some(pid)
        })
        .is_ok()
    });
    let log_text = || std::fs::read_to_string(dir.join("oxlb.log")).unwrap_or_default();
    assert!(up, "oxlb did not attach within 60 s:\n{}", log_text());

    // Requests: every one answered, each VIP over more than one backend.
    let mut answered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (vip, port, mode, _) in &vips[..6] {
        let (vip, port) = (*vip, *port);
        let names = in_netns(&t.client.ns, move || {
            (0..15)
                .map(|_| Conn::open_port(vip, port, None).and_then(|mut c| c.get()))
                .collect::<Result<Vec<String>, String>>()
        })
        .join()
        .unwrap()
        .unwrap();
        let key = format!("{mode} {vip}:{port}");
        let names = names.unwrap_or_else(|e| panic!("{key}: {e}\n{}", log_text()));
        let set: BTreeSet<String> = names.into_iter().collect();
        assert!(
            set.len() > 1,
            "{key}: one backend took 15 connections: {set:?}\n{}",
            log_text()
        );
        answered.insert(key, set);
    }
    // Uploads larger than the path MTU allows once encapsulated.
    for vip in [vip4, vip6] {
        assert_eq!(
            upload(&t.client.ns, vip),
            Ok(UPLOAD),
            "upload to {vip}:{SINK_PORT}"
        );
    }
    let stats = Command::new(EXE)
        .args([
            "--netns",
            &t.lb.ns,
            "stats",
            "--json",
            "--pin-dir",
            &pin_dir,
        ])
        .output()
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let too_big = stats["reasons"]["encap_too_big"].as_u64().unwrap_or(0);
    assert!(
        too_big >= 2,
        "the LB answered too-big packets: {}",
        stats["reasons"]
    );

    daemon.stop();
    let _ = Command::new(EXE)
        .args(["--netns", &t.lb.ns, "down", "--pin-dir", &pin_dir])
        .output();
    stop.store(true, Ordering::Relaxed);
    for (i, d) in decaps.iter_mut().enumerate() {
        let out = d.stop();
        let count = |what: &str| -> u64 {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{what}: ")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        assert!(
            out.contains("detached from eth0") && count("ipip") > 0 && count("gue") > 0,
            "backend {i} decap:\n{out}"
        );
        assert_eq!(count("drop_malformed"), 0, "backend {i} decap:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("answered by: {answered:?}; too-big answers: {too_big}");
}
