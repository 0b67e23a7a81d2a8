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
//! run `gen0`'s counter there). Both forwarders are single-threaded child processes started
//! alike (oxbpf's is this benchmark re-run with `--xsk-forwarder`), so they compete equally
//! with whatever else runs. So an AF_XDP row's Mpps is what one forwarder core moves, and
//! "Mpps/CPU-s" divides by the forwarder's own CPU time (`/proc/PID/schedstat`), which
//! discounts time other processes took from that core (softirq work on it is not counted). The ceiling row runs on the
//! generator's CPU alone. Mpps = frames counted on `gen0` while the
//! generator ran / its wall time; frames the forwarder cannot keep up with are dropped at its
//! RX ring, as on a real NIC.
//!
//! Run as root: `cargo bench -p oxbpf --bench xsk` (`-- --quick` for fewer frames and rounds,
//! `-- --rounds N` for more rounds). Needs
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
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const OBJECT: &[u8] = include_bytes!("../bpf/xsk_bench.bpf.o");
/// Bytes of every generated frame (Ethernet + 46 bytes: the minimum frame).
const FRAME: usize = 60;
/// Frames per forwarder batch, both forwarders.
const BATCH: usize = 32;

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

    /// One measurement: warm up, then (Mpps counted back on `gen0`, Mpps per second of CPU
    /// time of the forwarder process `tid`, if any).
    fn measure(&self, tid: Option<u32>) -> (f64, Option<f64>) {
        self.generate(20_000);
        std::thread::sleep(Duration::from_millis(20));
        let before = self.counted();
        let cpu_before = tid.map(cpu_ns);
        let took = self.generate(self.frames);
        let got = self.counted() - before;
        let cpu = tid.zip(cpu_before).map(|(t, b)| cpu_ns(t) - b);
        assert!(
            got * 200 >= u64::from(self.frames),
            "only {got} of {} frames came back to gen0",
            self.frames
        );
        (
            got as f64 / took.as_secs_f64() / 1e6,
            cpu.map(|ns| got as f64 / ns as f64 * 1e3),
        )
    }
}

/// CPU time process `pid` (single-threaded) has run, in ns (`/proc/PID/schedstat`).
fn cpu_ns(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/schedstat");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat run time")
}

/// The fd number a forwarder child finds the XSKMAP at.
const MAP_FD: i32 = 10;

/// A forwarder child process on `fwd0` queue 0 in the namespace, pinned to the forwarder
/// CPU, the XSKMAP inherited as fd [`MAP_FD`]: the libxdp one (`xsk_fwd`), or this
/// benchmark re-run as oxbpf's (`--xsk-forwarder`), so both run alike.
struct Forwarder {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Forwarder {
    fn start(mut cmd: Command, ns: &Netns, rig: &Rig, redirect: &XskRedirect) -> Forwarder {
        let netns = std::fs::File::open(ns.path()).expect("open netns");
        let (ns_fd, map_fd, cpu) = (
            netns.as_raw_fd(),
            redirect.map().fd().as_raw_fd(),
            rig.fwd_cpu,
        );
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
        let mut child = cmd.spawn().expect("start a forwarder");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read from the forwarder");
        assert_eq!(line.trim(), "ready", "the forwarder did not start");
        Forwarder { child, out }
    }

    /// Stops it; returns (received, sent) as it counted them.
    fn stop(mut self) -> (u64, u64) {
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut line = String::new();
        self.out.read_line(&mut line).expect("forwarder counts");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "forwarder: {status}");
        let mut w = line.split_whitespace().map(|x| x.parse().unwrap_or(0));
        (w.next().unwrap_or(0), w.next().unwrap_or(0))
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// `--xsk-forwarder IFNAME QUEUE MAP_FD`: oxbpf's forwarder, the same work as `xsk_fwd.c`.
fn forwarder_child(args: &[String]) {
    let [ifname, queue, map_fd] = args else {
        panic!("usage: --xsk-forwarder IFNAME QUEUE MAP_FD");
    };
    // SAFETY: the handler only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };
    let ifindex = oxbpf::netlink::xdp::ifindex(ifname).expect("ifindex");
    let queue: u32 = queue.parse().expect("queue");
    // SAFETY: the parent put the XSKMAP at this fd for us.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(map_fd.parse().expect("fd")) };
    let map = Map::from_fd(fd).expect("the inherited XSKMAP");
    let (umem, mut frames) = Umem::new(UmemConfig::default()).expect("UMEM");
    let cfg = SocketConfig {
        mode: BindMode::Copy,
        ..Default::default()
    };
    let mut sock = Socket::bind(&umem, ifindex, queue, &cfg).expect("bind");
    sock.fill
        .as_mut()
        .expect("fill ring")
        .produce(&mut frames)
        .expect("fill");
    xsk::insert(&map, queue, &sock).expect("XSKMAP");
    println!("ready");
    let st = xsk::forward(&umem, &mut sock, frames, BATCH, &STOP, xsk::swap_macs).expect("forward");
    println!("{} {}", st.rx, st.tx);
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
    /// Mpps by wall time, per round.
    mpps: Vec<f64>,
    /// Mpps per second of forwarder CPU time, per round.
    per_cpu: Vec<f64>,
    /// Frames the forwarder received and sent, all rounds.
    rx_tx: (u64, u64),
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--xsk-forwarder") {
        return forwarder_child(&args[i + 1..]);
    }
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the AF_XDP benchmark needs root (namespaces, XDP, AF_XDP)");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (mut rounds, frames) = if quick { (3, 500_000) } else { (9, 1_000_000) };
    if let Some(n) = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
    {
        rounds = n.parse().expect("--rounds N");
    }
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
        let redirect = XskRedirect::load(1).expect("redirect program");
        let row = |name| Row {
            name,
            mpps: vec![],
            per_cpu: vec![],
            rx_tx: (0, 0),
        };
        let mut rows = vec![
            row("(a) oxbpf AF_XDP forwarder"),
            row("(b) libxdp AF_XDP forwarder (C)"),
            row("(c) XDP_TX in the kernel (ceiling)"),
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
                let cmd = match (i, &c_bin) {
                    (0, _) => {
                        let mut c = Command::new(std::env::current_exe().expect("own path"));
                        c.arg("--xsk-forwarder");
                        Some(c)
                    }
                    (1, Ok(bin)) => Some(Command::new(bin)),
                    (1, Err(_)) => continue,
                    _ => None,
                };
                let fwd = cmd.map(|c| Forwarder::start(c, &ns, &rig, &redirect));
                let link = match fwd {
                    Some(_) => on_fwd0(redirect.program()),
                    None => on_fwd0(rig.prog("swap_tx")),
                };
                let (mpps, per_cpu) = rig.measure(fwd.as_ref().map(|f| f.child.id()));
                drop(link);
                if let Some(f) = fwd {
                    let (rx, tx) = f.stop();
                    row.rx_tx.0 += rx;
                    row.rx_tx.1 += tx;
                }
                row.mpps.push(mpps);
                row.per_cpu.extend(per_cpu);
                eprintln!(
                    "round {round}: {} {mpps:.3} Mpps, {} Mpps per forwarder CPU-second",
                    row.name,
                    per_cpu.map_or("-".into(), |c| format!("{c:.3}"))
                );
            }
        }
        report(&rows);
    });
}

fn report(rows: &[Row]) {
    println!(
        "{:<38} {:>11} {:>7} {:>7} {:>9} {:>14} {:>22}",
        "forwarder", "median Mpps", "min", "max", "x ceiling", "Mpps/CPU-s", "forwarder rx / tx"
    );
    let ceiling = median(&rows[2].mpps);
    for r in rows.iter().filter(|r| !r.mpps.is_empty()) {
        let m = median(&r.mpps);
        let min = r.mpps.iter().copied().fold(f64::MAX, f64::min);
        let max = r.mpps.iter().copied().fold(0.0, f64::max);
        let cpu = if r.per_cpu.is_empty() {
            "-".to_string()
        } else {
            format!("{:.3}", median(&r.per_cpu))
        };
        let rx_tx = if r.per_cpu.is_empty() {
            "-".to_string()
        } else {
            format!("{} / {}", r.rx_tx.0, r.rx_tx.1)
        };
        println!(
            "{:<38} {m:>11.3} {min:>7.3} {max:>7.3} {:>9.2} {cpu:>14} {rx_tx:>22}",
            r.name,
            m / ceiling
        );
    }
    if !rows[1].mpps.is_empty() {
        let ratios =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
        let wall = median(&ratios(&rows[0].mpps, &rows[1].mpps));
        let cpu = median(&ratios(&rows[0].per_cpu, &rows[1].per_cpu));
        let verdict = |r: f64| if r >= 1.0 { "met" } else { "NOT met" };
        println!(
            "oxbpf / libxdp (goal >= 1.0), median of per-round ratios: {wall:.3} by wall time \
             ({}), {cpu:.3} per forwarder CPU-second ({})",
            verdict(wall),
            verdict(cpu)
        );
    }
}
