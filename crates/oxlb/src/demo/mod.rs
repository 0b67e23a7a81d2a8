//! `oxlb demo`: a load balancer in network namespaces, exercised with real TCP, in one command.
//!
//! Builds client, lb and three backends on one L2 segment, starts `oxlb run` in the lb
//! namespace, and checks what a user cares about: every request answered, every connection
//! stays on one backend, traffic spread by weight, and removing a backend moves only its share.

mod topology;
mod traffic;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use topology::Topology;
use traffic::{in_netns, Conn};

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// `nat` or `dsr`.
    pub mode: String,
    /// `generic` or `driver`.
    pub xdp_mode: String,
    /// Short connections in the distribution round.
    pub connections: usize,
}

const WEIGHTS: [u32; 3] = [1, 2, 1];
/// Outside the default ephemeral range (32768-60999), so no other connection holds them.
const FIXED_PORTS: std::ops::Range<u16> = 61000..61300;

struct Daemon {
    child: Child,
    pin_dir: PathBuf,
    lb_ns: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let exe = std::env::current_exe().unwrap_or_else(|_| "oxlb".into());
        let _ = Command::new(exe)
            .args(["--netns", &self.lb_ns, "down", "--pin-dir"])
            .arg(&self.pin_dir)
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(t: &Topology, opts: &DemoOptions, pin_dir: &std::path::Path, backends: usize) -> String {
    let mut s = format!(
        "[global]\nmaglev_table_size = 4099\nconntrack_size = 65536\nmetrics_listen = \"off\"\npin_dir = \"{}\"\n\n\
         [[interface]]\nname = \"{}\"\nxdp_mode = \"{}\"\n\n[[vip]]\naddress = \"{}\"\nport = 80\nprotocol = \"tcp\"\nmode = \"{}\"\n",
        pin_dir.display(),
        t.lb.dev,
        opts.xdp_mode,
        t.vip,
        opts.mode
    );
    if opts.mode == "nat" {
        s += &format!("snat = \"{}\"\n", t.lb.addr);
    }
    for (b, w) in t.backends.iter().zip(WEIGHTS).take(backends) {
        let port = if opts.mode == "nat" { 8080 } else { 80 };
        s += &format!(
            "\n[[vip.backend]]\naddress = \"{}\"\nport = {port}\nweight = {w}\n",
            b.addr
        );
    }
    s
}

/// Sends one request per new connection from the client namespace; `ports` fixes the source
/// ports. Returns backend name per connection (or the error).
fn round(
    t: &Topology,
    n: usize,
    ports: Option<std::ops::Range<u16>>,
) -> Result<Vec<Result<String, String>>, String> {
    let vip = t.vip;
    in_netns(&t.client.ns, move || {
        let ports: Vec<Option<u16>> = match ports {
            Some(r) => r.map(Some).collect(),
            None => vec![None; n],
        };
        ports
            .into_iter()
            .map(|p| Conn::open(vip, p).and_then(|mut c| c.get()))
            .collect()
    })
    .join()
    .map_err(|_| "client thread panicked".to_string())?
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("timed out waiting for {what}"))
}

/// Runs the demo; `Ok` only when every check passed.
pub fn run(opts: &DemoOptions) -> Result<(), String> {
    let start = Instant::now();
    let tag = format!("{}", std::process::id() % 100_000);
    println!("oxlb demo: {} mode, XDP {} mode", opts.mode, opts.xdp_mode);
    let t = Topology::build(&tag, opts.mode == "dsr")?;
    let stop = Arc::new(AtomicBool::new(false));
    for (i, b) in t.backends.iter().enumerate() {
        traffic::serve(&b.ns, format!("backend-{}", i + 1), Arc::clone(&stop))?;
    }
    let pin_dir = PathBuf::from(format!("/sys/fs/bpf/oxlb-demo-{tag}"));
    let dir = std::env::temp_dir().join(format!("oxlb-demo-{tag}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cfg = dir.join("oxlb.toml");
    std::fs::write(&cfg, config(&t, opts, &pin_dir, 3)).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(&exe)
        .args(["--netns", &t.lb.ns, "run", "-c"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("oxlb.log")).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("start oxlb: {e}"))?;
    let daemon = Daemon {
        child,
        pin_dir: pin_dir.clone(),
        lb_ns: t.lb.ns.clone(),
    };
    wait_for("oxlb to attach", || {
        crate::daemon::state::read(&pin_dir).is_some()
    })?;
    let log = std::fs::read_to_string(dir.join("oxlb.log")).unwrap_or_default();
    if let Some(line) = log.lines().find(|l| l.contains("serving")) {
        println!("  {}", line.split("oxlb: ").last().unwrap_or(line));
    }
    let result = exercise(&t, opts, &cfg, &pin_dir);
    stop.store(true, Ordering::Relaxed);
    drop(daemon);
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
    match &result {
        Ok(()) => println!(
            "\nPASS: every check held ({:.1} s); topology torn down",
            start.elapsed().as_secs_f64()
        ),
        Err(e) => println!("\nFAIL: {e}"),
    }
    result
}

fn exercise(
    t: &Topology,
    opts: &DemoOptions,
    cfg: &std::path::Path,
    pin_dir: &std::path::Path,
) -> Result<(), String> {
    // Long-lived keep-alive connections, opened first and used throughout.
    let vip = t.vip;
    let (ka_tx, ka_rx) =
        std::sync::mpsc::channel::<(usize, std::sync::mpsc::Sender<Result<String, String>>)>();
    let keepalive = in_netns(&t.client.ns, move || {
        let mut conns: Vec<Result<Conn, String>> = (0..10).map(|_| Conn::open(vip, None)).collect();
        while let Ok((n, reply)) = ka_rx.recv() {
            for c in conns.iter_mut() {
                let r = match c {
                    Ok(c) => (0..n)
                        .map(|_| c.get())
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| v.join(",")),
                    Err(e) => Err(e.clone()),
                };
                let _ = reply.send(r);
            }
        }
    });
    let ask = |n: usize| -> Vec<Result<String, String>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = ka_tx.send((n, tx));
        rx.iter().take(10).collect()
    };
    let first = ask(5);

    println!(
        "\n1. {} new connections, one request each:",
        opts.connections
    );
    let res = round(t, opts.connections, None)?;
    let failed = res.iter().filter(|r| r.is_err()).count();
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for r in res.iter().flatten() {
        *per.entry(r.clone()).or_default() += 1;
    }
    let total_w: u32 = WEIGHTS.iter().sum();
    println!(
        "   {:<12} {:>6} {:>8} {:>8}",
        "backend", "conns", "share", "weight"
    );
    for (i, w) in WEIGHTS.iter().enumerate() {
        let name = format!("backend-{}", i + 1);
        let n = per.get(&name).copied().unwrap_or(0);
        println!(
            "   {name:<12} {n:>6} {:>7.1}% {:>7.1}%",
            100.0 * n as f64 / opts.connections as f64,
            100.0 * *w as f64 / total_w as f64
        );
    }
    println!("   failed requests: {failed}");
    if failed > 0 {
        return Err(format!(
            "{failed} of {} requests failed: {:?}",
            res.len(),
            res.iter().find(|r| r.is_err())
        ));
    }

    println!("\n2. 10 keep-alive connections, 5 requests each:");
    let mut ka_backend = Vec::new();
    for (i, r) in first.iter().enumerate() {
        let r = r
            .as_ref()
            .map_err(|e| format!("keep-alive connection {i}: {e}"))?;
        let names: Vec<&str> = r.split(',').collect();
        if names.iter().any(|n| *n != names[0]) {
            return Err(format!("keep-alive connection {i} changed backend: {r}"));
        }
        ka_backend.push(names[0].to_string());
    }
    println!(
        "   every connection stayed on one backend: {}",
        ka_backend.join(" ")
    );

    println!(
        "\n3. remove backend-3 (config reload) and compare {} fixed client ports:",
        FIXED_PORTS.len()
    );
    let before = round(t, 0, Some(FIXED_PORTS))?;
    std::fs::write(cfg, config(t, opts, pin_dir, 2)).map_err(|e| e.to_string())?;
    let pid = crate::daemon::state::running_pid(pin_dir).ok_or("oxlb is not running")?;
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_for("the reload", || {
        crate::daemon::state::read(pin_dir).is_some_and(|s| {
            s["vips"][0]["backends"]
                .as_array()
                .is_some_and(|b| b.len() == 2)
        })
    })?;
    // Conntrack pins the fixed ports' old flows; forget those (only those: established
    // keep-alive flows keep their entries) so the second round shows where the Maglev table
    // sends each port now.
    let ct = oxbpf::map::Map::from_pin(pin_dir.join("oxlb_ct")).map_err(|e| e.to_string())?;
    for k in ct.keys().filter_map(Result::ok).collect::<Vec<_>>() {
        let fixed = crate::datapath::abi::RawFlowKey::from_bytes(&k)
            .is_some_and(|f| FIXED_PORTS.contains(&u16::from_be_bytes(f.sport)));
        if fixed {
            let _ = ct.delete(&k);
        }
    }
    let after = round(t, 0, Some(FIXED_PORTS))?;
    let (mut moved, mut moved_wrongly, mut on_removed) = (0, 0, 0);
    for (b, a) in before.iter().zip(&after) {
        let (Ok(b), Ok(a)) = (b, a) else {
            return Err(format!("a fixed-port request failed: {b:?} / {a:?}"));
        };
        on_removed += usize::from(b == "backend-3");
        if a != b {
            moved += 1;
            moved_wrongly += usize::from(b != "backend-3");
        }
    }
    println!(
        "   moved: {moved} of {} ports; {on_removed} were on backend-3; moved between surviving backends: {moved_wrongly}",
        FIXED_PORTS.len()
    );
    // Maglev is near-minimal, not exactly minimal: a few slots may change hands between the
    // surviving backends. Every port of the removed backend must move; others barely.
    let allowed = FIXED_PORTS.len() / 50;
    if moved - moved_wrongly != on_removed || moved_wrongly > allowed {
        return Err(format!(
            "removing one backend moved {moved_wrongly} connections between surviving backends (allowed {allowed})"
        ));
    }

    let later = ask(5);
    let mut survived = 0;
    for (i, r) in later.iter().enumerate() {
        if ka_backend[i] == "backend-3" {
            continue;
        }
        let r = r
            .as_ref()
            .map_err(|e| format!("keep-alive connection {i} on {} broke: {e}", ka_backend[i]))?;
        if r.split(',').any(|n| n != ka_backend[i]) {
            return Err(format!(
                "keep-alive connection {i} moved from {} after the reload: {r}",
                ka_backend[i]
            ));
        }
        survived += 1;
    }
    println!("   keep-alive connections on surviving backends still answered by the same backend: {survived}");
    drop(ka_tx);
    let _ = keepalive.join();
    let stats = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["stats", "--pin-dir"])
        .arg(pin_dir)
        .output()
        .map_err(|e| e.to_string())?;
    println!(
        "\n4. oxlb stats:\n{}",
        String::from_utf8_lossy(&stats.stdout)
            .trim_end()
            .lines()
            .map(|l| format!("   {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}
