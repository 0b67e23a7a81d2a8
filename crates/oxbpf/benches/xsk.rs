//! AF_XDP forwarding through veth, packets per second, in one run with interleaved rounds:
//! (a) oxbpf's forwarder (`oxbpf::xsk::forward` + `swap_macs`), (b) the same forwarder in C
//! on Debian's libxdp (`benches/xsk_fwd.c`, compiled here with the system `cc`), (c) the
//! kernel doing the same work with an XDP program (`swap_tx`: swap MACs, `XDP_TX`), the
//! ceiling.
//!
//! Rig, in a throw-away namespace: the veth pair `gen0` <-> `fwd0`, one queue each. The
//! traffic is `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES` on `gen_tx` "received" on
//! `gen0`: each of its frames goes out of `gen0` for real (`XDP_TX`) into `fwd0`. On `fwd0`
//! either `swap_tx` bounces it back, or the default redirect program hands it to the AF_XDP
//! socket of queue 0 (copy mode: veth has no zero-copy), whose forwarder swaps the MACs and
//! sends it back out of `fwd0`. On `gen0`, `count` counts what comes back (per-CPU) and
//! drops it. Programs: `bpf/xsk_bench.bpf.c`.
//!
//! CPUs: the generator runs on the first CPU (and with it, in softirq, `fwd0`'s XDP program
//! and the copy into the UMEM); a forwarder busy-polls on the last CPU (its TX syscalls also
//! run `gen0`'s counter there). So an AF_XDP row's Mpps is what one forwarder core moves; the
//! ceiling row runs on the generator's CPU alone. Mpps = frames counted on `gen0` while the
//! generator ran / its wall time; frames the forwarder cannot keep up with are dropped at its
//! RX ring, as on a real NIC.
//!
//! Run as root: `cargo bench -p oxbpf --bench xsk` (`-- --quick` for fewer frames). Needs
//! `cc` and libxdp-dev for row (b) (left out with a reason otherwise).

#[path = "../tests/links_util/mod.rs"]
mod links_util;

use links_util::Netns;
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::link::{attach_xdp, XdpLink, XdpMode, XdpOptions};
use oxbpf::map::Map;
use oxbpf::prog::{Program, TestRunOpts, BPF_F_TEST_XDP_LIVE_FRAMES};
use oxbpf::xsk::{self, BindMode, Socket, SocketConfig, Umem, UmemConfig, XskRedirect};
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const OBJECT: &[u8] = include_bytes!("../bpf/xsk_bench.bpf.o");
/// Bytes of every generated frame (Ethernet + 46 bytes: the minimum frame).
const FRAME: usize = 60;
/// Frames per forwarder batch, both forwarders.
const BATCH: usize = 64;

/// The CPUs this process may run on.
fn cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; the call gets a valid pointer and size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread (or the child about to exec) to `cpu`.
fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: as in `cpus`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// (ifindex, MAC) of `name` in the calling thread's namespace.
fn link(name: &str) -> (u32, [u8; 6]) {
    let ifindex = oxbpf::netlink::xdp::ifindex(name).expect("ifindex");
    let out = Command::new("ip")
        .args(["-o", "link", "show", name])
        .output()
        .expect("ip link show");
    let text = String::from_utf8_lossy(&out.stdout);
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("link/ether in ip -o link show");
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(mac.split(':')) {
        *d = u8::from_str_radix(p, 16).expect("MAC");
    }
    (ifindex, m)
}

/// The rig's programs, counter and devices.
struct Rig {
    coll: Collection,
    gen0: u32,
    fwd0: u32,
    frame: Vec<u8>,
    frames: u32,
    gen_cpu: usize,
    fwd_cpu: usize,
}

impl Rig {
    fn prog(&self, name: &str) -> &Program {
        self.coll.program(name).expect("program in xsk_bench.bpf.o")
    }

    fn counted(&self) -> u64 {
        let counts: &Map = self.coll.map("counts").expect("counts map");
        let v = counts.lookup(&0u32.to_ne_bytes()).expect("read counts");
        v.expect("slot 0")
            .chunks(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .sum()
    }

    /// Sends `n` live frames from `gen0` on the generator CPU; returns the wall time.
    fn generate(&self, n: u32) -> Duration {
        let md: Vec<u8> = [0, FRAME as u32, 0, self.gen0, 0, 0]
            .iter()
            .flat_map(|v: &u32| v.to_ne_bytes())
            .collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                pin(self.gen_cpu).expect("pin the generator");
                let t = Instant::now();
                self.prog("gen_tx")
                    .test_run(&TestRunOpts {
                        data_in: &self.frame,
                        data_out_size: Some(0),
                        ctx_in: &md,
                        ctx_out_size: Some(0),
                        repeat: n,
                        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
                        ..Default::default()
                    })
                    .unwrap_or_else(|e| panic!("live BPF_PROG_RUN: {e}"));
                t.elapsed()
            })
            .join()
            .expect("generator")
        })
    }

    /// One measurement: warm up, then Mpps counted back on `gen0`.
    fn measure(&self) -> f64 {
        self.generate(20_000);
        std::thread::sleep(Duration::from_millis(20));
        let before = self.counted();
        let took = self.generate(self.frames);
        let got = self.counted() - before;
        assert!(
            got * 100 >= u64::from(self.frames),
            "only {got} of {} frames came back to gen0",
            self.frames
        );
        got as f64 / took.as_secs_f64() / 1e6
    }
}

/// A forwarder running on `fwd0` queue 0 until stopped.
trait Forwarder {
    /// Stops it; returns (received, sent) as it counted them.
    fn stop(self: Box<Self>) -> (u64, u64);
}

/// (a): `oxbpf::xsk::forward` on a thread pinned to the forwarder CPU.
struct Ours {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Ours {
    fn start(rig: &Rig, redirect: &Arc<XskRedirect>) -> Ours {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (fwd0, cpu, redirect, flag) = (rig.fwd0, rig.fwd_cpu, redirect.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            pin(cpu).expect("pin the forwarder");
            let (umem, frames) = Umem::new(UmemConfig::default()).expect("UMEM");
            let cfg = SocketConfig {
                mode: BindMode::Copy,
                ..Default::default()
            };
            let mut sock = Socket::bind(&umem, fwd0, 0, &cfg).expect("bind fwd0 queue 0");
            redirect.insert(&sock).expect("XSKMAP");
            ready_tx.send(()).expect("ready");
            let st = xsk::forward(&umem, &mut sock, frames, BATCH, &flag, xsk::swap_macs)
                .expect("forward");
            (st.rx, st.tx)
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("oxbpf forwarder ready");
        Ours { stop, thread }
    }
}

impl Forwarder for Ours {
    fn stop(self: Box<Self>) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("oxbpf forwarder")
    }
}

/// (b): the libxdp forwarder, a child process in the namespace, pinned to the forwarder CPU.
struct Theirs {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

/// The fd number the C forwarder finds the XSKMAP at.
const MAP_FD: i32 = 10;

impl Theirs {
    fn start(bin: &Path, ns: &Netns, rig: &Rig, redirect: &XskRedirect) -> Theirs {
        let netns = std::fs::File::open(ns.path()).expect("open netns");
        let (ns_fd, map_fd, cpu) = (
            netns.as_raw_fd(),
            redirect.map().fd().as_raw_fd(),
            rig.fwd_cpu,
        );
        let mut cmd = Command::new(bin);
        cmd.args(["fwd0", "0", &MAP_FD.to_string()])
            .stdout(Stdio::piped());
        // SAFETY: only async-signal-safe calls (setns, dup2, sched_setaffinity) in the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 || libc::dup2(map_fd, MAP_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                pin(cpu)
            });
        }
        let mut child = cmd.spawn().expect("start the libxdp forwarder");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line)
            .expect("read from the libxdp forwarder");
        assert_eq!(line.trim(), "ready", "libxdp forwarder did not start");
        Theirs { child, out }
    }
}

impl Forwarder for Theirs {
    fn stop(mut self: Box<Self>) -> (u64, u64) {
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut line = String::new();
        self.out
            .read_line(&mut line)
            .expect("libxdp forwarder counts");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "libxdp forwarder: {status}");
        let mut w = line.split_whitespace().map(|x| x.parse().unwrap_or(0));
        (w.next().unwrap_or(0), w.next().unwrap_or(0))
    }
}

/// Compiles `benches/xsk_fwd.c` against libxdp; `Err` says why row (b) is left out.
fn build_c() -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/xsk_fwd.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xsk_fwd");
    let r = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .args(["-lxdp", "-lbpf"])
        .output()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !r.status.success() {
        return Err(format!(
            "cc failed (is libxdp-dev installed? `bash .ci/setup`): {}",
            String::from_utf8_lossy(&r.stderr)
        ));
    }
    Ok(out)
}

/// A row of the table.
struct Row {
    name: &'static str,
    mpps: Vec<f64>,
    rx_tx: (u64, u64),
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the AF_XDP benchmark needs root (namespaces, XDP, AF_XDP)");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, frames) = if quick { (3, 500_000) } else { (7, 2_000_000) };
    let all = cpus();
    let (gen_cpu, fwd_cpu) = (all[0], all[all.len() - 1]);
    let c_bin = build_c();
    if let Err(e) = &c_bin {
        eprintln!("row (b) left out: {e}");
    }
    let ns = Netns::new("xskb");
    for s in ["all", "default"] {
        ns.exec_ok(
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{s}.disable_ipv6=1")],
        );
    }
    ns.ip(&[
        "link", "add", "gen0", "type", "veth", "peer", "name", "fwd0",
    ]);
    ns.ip(&["link", "set", "gen0", "up"]);
    ns.ip(&["link", "set", "fwd0", "up"]);
    ns.enter(|| {
        let (gen0, gen_mac) = link("gen0");
        let (fwd0, fwd_mac) = link("fwd0");
        let mut frame = Vec::with_capacity(FRAME);
        frame.extend_from_slice(&fwd_mac);
        frame.extend_from_slice(&gen_mac);
        frame.extend_from_slice(&0x88b5u16.to_be_bytes());
        frame.resize(FRAME, 0x61);
        let spec = oxbpf::elf::load_collection_spec(OBJECT).expect("xsk_bench.bpf.o");
        let coll = Collection::load(&spec, &CollectionOptions::default()).expect("load");
        let rig = Rig {
            coll,
            gen0,
            fwd0,
            frame,
            frames,
            gen_cpu,
            fwd_cpu,
        };
        let _count = attach_xdp(
            rig.prog("count").fd(),
            gen0,
            XdpMode::Driver,
            XdpOptions::default(),
        )
        .expect("attach count to gen0");
        let redirect = Arc::new(XskRedirect::load(1).expect("redirect program"));
        let mut rows = vec![
            Row {
                name: "(a) oxbpf AF_XDP forwarder",
                mpps: vec![],
                rx_tx: (0, 0),
            },
            Row {
                name: "(b) libxdp AF_XDP forwarder (C)",
                mpps: vec![],
                rx_tx: (0, 0),
            },
            Row {
                name: "(c) XDP_TX in the kernel (ceiling)",
                mpps: vec![],
                rx_tx: (0, 0),
            },
        ];
        println!(
            "AF_XDP forwarding through veth: Mpps counted back on gen0 ({FRAME}-byte frames, \
             {frames} live frames per run, {rounds} interleaved rounds, generator on CPU \
             {gen_cpu}, forwarders on CPU {fwd_cpu}, copy mode, need-wakeup, batch {BATCH})"
        );
        for round in 0..rounds {
            for (i, row) in rows.iter_mut().enumerate() {
                let on_fwd0 = |p: &Program| -> XdpLink {
                    attach_xdp(p.fd(), fwd0, XdpMode::Driver, XdpOptions::default())
                        .expect("attach to fwd0")
                };
                let fwd: Option<Box<dyn Forwarder>> = match i {
                    0 => Some(Box::new(Ours::start(&rig, &redirect))),
                    1 => match &c_bin {
                        Ok(bin) => Some(Box::new(Theirs::start(bin, &ns, &rig, &redirect))),
                        Err(_) => continue,
                    },
                    _ => None,
                };
                let link = match fwd {
                    Some(_) => on_fwd0(redirect.program()),
                    None => on_fwd0(rig.prog("swap_tx")),
                };
                let mpps = rig.measure();
                drop(link);
                if let Some(f) = fwd {
                    let (rx, tx) = f.stop();
                    row.rx_tx.0 += rx;
                    row.rx_tx.1 += tx;
                }
                row.mpps.push(mpps);
                eprintln!("round {round}: {} {mpps:.3} Mpps", row.name);
            }
        }
        report(&rows);
    });
}

fn report(rows: &[Row]) {
    println!(
        "{:<38} {:>12} {:>8} {:>8} {:>10}",
        "forwarder", "median Mpps", "min", "max", "x ceiling"
    );
    let ceiling = median(&rows[2].mpps);
    for r in rows.iter().filter(|r| !r.mpps.is_empty()) {
        let m = median(&r.mpps);
        let min = r.mpps.iter().copied().fold(f64::MAX, f64::min);
        let max = r.mpps.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<38} {m:>12.3} {min:>8.3} {max:>8.3} {:>10.2}",
            r.name,
            m / ceiling
        );
    }
    if !rows[1].mpps.is_empty() {
        let per_round: Vec<f64> = rows[0]
            .mpps
            .iter()
            .zip(&rows[1].mpps)
            .map(|(a, b)| a / b)
            .collect();
        let ratio = median(&rows[0].mpps) / median(&rows[1].mpps);
        println!(
            "oxbpf / libxdp: {ratio:.3} (median of per-round ratios {:.3}); goal >= 1.0: {}",
            median(&per_round),
            if ratio >= 1.0 { "met" } else { "NOT met" }
        );
    }
}
