//! Prometheus metrics: text exposition format 0.0.4 from a plain [`Snapshot`], and a tiny
//! `GET /metrics` HTTP server on std::net.
//!
//! The server is deliberately minimal (one thread, one connection at a time, requests capped at
//! 8 KiB, 2 s socket timeouts, `Connection: close`): a scrape every few seconds is its only load,
//! and a web framework would dwarf the rest of the daemon.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::plan::{Mode, Plan, VipKey};

/// Content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Largest request the server reads.
const MAX_REQUEST: usize = 8 * 1024;
/// Socket read/write timeout of the server.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes discarded after answering a request that was not read to its end.
const MAX_DRAIN: usize = 64 * 1024;
/// How long the server waits for the client to finish sending after answering.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(200);
/// How often the idle server checks for a stop request.
const POLL: Duration = Duration::from_millis(25);

/// Traffic counters of a VIP or backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// New flows (conntrack entries created).
    pub new_flows: u64,
}

/// Counters and state of one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStats {
    /// Backend id.
    pub id: u32,
    /// Address.
    pub addr: IpAddr,
    /// Port (0 = client's destination port).
    pub port: u16,
    /// Configured weight.
    pub weight: u32,
    /// Health state.
    pub healthy: bool,
    /// Traffic sent to it.
    pub counters: Counters,
}

/// Counters of one VIP and its backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipStats {
    /// VIP id.
    pub id: u32,
    /// The VIP.
    pub key: VipKey,
    /// Forwarding mode.
    pub mode: Mode,
    /// Traffic received for it.
    pub counters: Counters,
    /// Its backends.
    pub backends: Vec<BackendStats>,
}

/// Everything exported at one scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per-VIP and per-backend counters.
    pub vips: Vec<VipStats>,
    /// Datapath packet counters by reason (e.g. `"pass_not_vip"`, `"drop_no_backend"`).
    pub reasons: Vec<(String, u64)>,
    /// The forwarding plan's digest ([`crate::fleet::digest`]): equal on every node of a fleet
    /// that forwards alike.
    pub digest: String,
}

impl Snapshot {
    /// A snapshot with every VIP and backend of `plan` and zero counters, for the datapath to
    /// fill in by id.
    pub fn from_plan(plan: &Plan) -> Snapshot {
        let vips = plan
            .vips
            .iter()
            .map(|v| VipStats {
                id: v.id,
                key: v.key(),
                mode: v.mode,
                counters: Counters::default(),
                backends: v
                    .backends
                    .iter()
                    .map(|b| BackendStats {
                        id: b.id,
                        addr: b.addr,
                        port: b.port,
                        weight: b.weight,
                        healthy: b.healthy,
                        counters: Counters::default(),
                    })
                    .collect(),
            })
            .collect();
        Snapshot {
            vips,
            reasons: Vec::new(),
            digest: crate::fleet::digest(plan),
        }
    }
}

/// Escapes a label value (`\`, `"` and newline).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends one metric family: HELP, TYPE and its samples (`labels` already formatted).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Renders `snapshot` in the Prometheus text format 0.0.4.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let vip_label = |v: &VipStats| {
        format!(
            "vip=\"{}\",mode=\"{}\"",
            escape_label(&v.key.to_string()),
            v.mode
        )
    };
    let vip_counter = |f: fn(&Counters) -> u64| -> Vec<(String, u64)> {
        snapshot
            .vips
            .iter()
            .map(|v| (vip_label(v), f(&v.counters)))
            .collect()
    };
    family(
        &mut out,
        "oxlb_vip_packets_total",
        "counter",
        "Packets received for a VIP.",
        &vip_counter(|c| c.packets),
    );
    family(
        &mut out,
        "oxlb_vip_bytes_total",
        "counter",
        "Bytes received for a VIP.",
        &vip_counter(|c| c.bytes),
    );
    family(
        &mut out,
        "oxlb_vip_new_flows_total",
        "counter",
        "New flows of a VIP.",
        &vip_counter(|c| c.new_flows),
    );

    let backend_samples = |f: &dyn Fn(&BackendStats) -> u64| -> Vec<(String, u64)> {
        snapshot
            .vips
            .iter()
            .flat_map(|v| {
                v.backends.iter().map(move |b| {
                    let backend = SocketAddr::new(b.addr, b.port).to_string();
                    (
                        format!("{},backend=\"{}\"", vip_label(v), escape_label(&backend)),
                        f(b),
                    )
                })
            })
            .collect()
    };
    let help = "Packets sent to a backend.";
    family(
        &mut out,
        "oxlb_backend_packets_total",
        "counter",
        help,
        &backend_samples(&|b| b.counters.packets),
    );
    let help = "Bytes sent to a backend.";
    family(
        &mut out,
        "oxlb_backend_bytes_total",
        "counter",
        help,
        &backend_samples(&|b| b.counters.bytes),
    );
    let help = "New flows sent to a backend.";
    family(
        &mut out,
        "oxlb_backend_new_flows_total",
        "counter",
        help,
        &backend_samples(&|b| b.counters.new_flows),
    );
    let help = "Whether a backend passes its health check (1) or not (0).";
    family(
        &mut out,
        "oxlb_backend_up",
        "gauge",
        help,
        &backend_samples(&|b| u64::from(b.healthy)),
    );
    let help = "Configured weight of a backend.";
    family(
        &mut out,
        "oxlb_backend_weight",
        "gauge",
        help,
        &backend_samples(&|b| u64::from(b.weight)),
    );

    let reasons: Vec<(String, u64)> = snapshot
        .reasons
        .iter()
        .map(|(r, n)| (format!("reason=\"{}\"", escape_label(r)), *n))
        .collect();
    let help = "Packets seen by the datapath, by verdict reason.";
    family(
        &mut out,
        "oxlb_datapath_packets_total",
        "counter",
        help,
        &reasons,
    );
    if !snapshot.digest.is_empty() {
        let help =
            "Always 1; the digest label names the forwarding plan (equal on nodes that agree).";
        let labels = format!("digest=\"{}\"", escape_label(&snapshot.digest));
        family(&mut out, "oxlb_plan_info", "gauge", help, &[(labels, 1)]);
    }
    out
}

/// Produces a fresh snapshot for each scrape.
pub type SnapshotSource = Box<dyn Fn() -> Snapshot + Send + 'static>;

/// A running `GET /metrics` server; stops on [`MetricsServer::stop`] or drop.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `listen` (port 0 = any free port) and serves snapshots from `source`.
    pub fn start(listen: SocketAddr, source: SnapshotSource) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("oxlb-metrics".into())
            .spawn(move || serve(&listener, &flag, &source))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving, closes the listener and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool, source: &SnapshotSource) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, peer)) => {
                if let Err(e) = handle(conn, source) {
                    tracing::debug!(%peer, error = %e, "metrics request failed");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Answers one request.
fn handle(mut conn: TcpStream, source: &SnapshotSource) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    let complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if buf.len() > MAX_REQUEST {
            break false;
        }
        match conn.read(&mut chunk)? {
            0 => break false,
            n => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let (status, content_type, body) = if !complete {
        (
            "400 Bad Request",
            "text/plain",
            "incomplete or oversized request\n".to_string(),
        )
    } else {
        let head = String::from_utf8_lossy(&buf);
        let mut parts = head.lines().next().unwrap_or("").split(' ');
        let (method, target, version) = (parts.next(), parts.next(), parts.next());
        match (
            method,
            target.map(|t| t.split('?').next().unwrap_or(t)),
            version,
        ) {
            (Some("GET"), Some("/metrics"), Some(v)) if v.starts_with("HTTP/1.") => {
                ("200 OK", CONTENT_TYPE, render(&source()))
            }
            (Some("GET"), Some(_), Some(v)) if v.starts_with("HTTP/1.") => (
                "404 Not Found",
                "text/plain",
                "only /metrics is served\n".to_string(),
            ),
            (Some(_), Some(_), Some(v)) if v.starts_with("HTTP/1.") => (
                "405 Method Not Allowed",
                "text/plain",
                "only GET is allowed\n".to_string(),
            ),
            _ => (
                "400 Bad Request",
                "text/plain",
                "malformed request line\n".to_string(),
            ),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if status.starts_with("405") { "Allow: GET\r\n" } else { "" }
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()?;
    // Closing with unread input would reset the connection and could destroy the answer in
    // flight: half-close, then discard what the client still sends (bounded in size and time).
    conn.shutdown(std::net::Shutdown::Write)?;
    conn.set_read_timeout(Some(DRAIN_TIMEOUT))?;
    let mut drained = 0;
    while drained < MAX_DRAIN {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Proto;
    use std::sync::atomic::AtomicU64;

    fn snapshot() -> Snapshot {
        let key = VipKey {
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
            proto: Proto::Tcp,
        };
        let backend = |id, addr: &str, healthy, n: u64| BackendStats {
            id,
            addr: addr.parse().unwrap(),
            port: 8080,
            weight: 10,
            healthy,
            counters: Counters {
                packets: n,
                bytes: n * 100,
                new_flows: n / 10,
            },
        };
        Snapshot {
            vips: vec![VipStats {
                id: 0,
                key,
                mode: Mode::Nat,
                counters: Counters {
                    packets: 30,
                    bytes: 3000,
                    new_flows: 3,
                },
                backends: vec![
                    backend(0, "10.1.0.1", true, 20),
                    backend(1, "fd00::1", false, 10),
                ],
            }],
            reasons: vec![("pass_not_vip".into(), 7), ("drop \"odd\"\\\n".into(), 1)],
            digest: "0123abcd".into(),
        }
    }

    #[test]
    fn renders_exposition_format() {
        let text = render(&snapshot());
        let expected_lines = [
            "# HELP oxlb_vip_packets_total Packets received for a VIP.",
            "# TYPE oxlb_vip_packets_total counter",
            "oxlb_vip_packets_total{vip=\"10.0.0.1:80/tcp\",mode=\"nat\"} 30",
            "oxlb_vip_bytes_total{vip=\"10.0.0.1:80/tcp\",mode=\"nat\"} 3000",
            "oxlb_vip_new_flows_total{vip=\"10.0.0.1:80/tcp\",mode=\"nat\"} 3",
            "oxlb_backend_packets_total{vip=\"10.0.0.1:80/tcp\",mode=\"nat\",backend=\"10.1.0.1:8080\"} 20",
            "oxlb_backend_bytes_total{vip=\"10.0.0.1:80/tcp\",mode=\"nat\",backend=\"[fd00::1]:8080\"} 1000",
            "oxlb_backend_new_flows_total{vip=\"10.0.0.1:80/tcp\",mode=\"nat\",backend=\"10.1.0.1:8080\"} 2",
            "# TYPE oxlb_backend_up gauge",
            "oxlb_backend_up{vip=\"10.0.0.1:80/tcp\",mode=\"nat\",backend=\"10.1.0.1:8080\"} 1",
            "oxlb_backend_up{vip=\"10.0.0.1:80/tcp\",mode=\"nat\",backend=\"[fd00::1]:8080\"} 0",
            "oxlb_backend_weight{vip=\"10.0.0.1:80/tcp\",mode=\"nat\",backend=\"[fd00::1]:8080\"} 10",
            "oxlb_datapath_packets_total{reason=\"pass_not_vip\"} 7",
            "# TYPE oxlb_plan_info gauge",
            "oxlb_plan_info{digest=\"0123abcd\"} 1",
            "oxlb_datapath_packets_total{reason=\"drop \\\"odd\\\"\\\\\\n\"} 1",
        ];
        let lines: Vec<&str> = text.lines().collect();
        for want in expected_lines {
            assert!(lines.contains(&want), "missing line {want:?} in:\n{text}");
        }
        // Structure: every sample line is `name{labels} integer`, and each family's samples
        // directly follow its TYPE line (families are never interleaved).
        let mut current = String::new();
        let mut families = Vec::new();
        for line in &lines {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                families.push(current.clone());
            } else if !line.starts_with("# HELP ") {
                let (name, rest) = line.split_once('{').unwrap();
                assert_eq!(name, current, "{line}");
                let value = rest.rsplit_once("} ").unwrap().1;
                value.parse::<u64>().unwrap();
            }
        }
        let unique: std::collections::HashSet<_> = families.iter().collect();
        assert_eq!(unique.len(), families.len(), "a family appears twice");
        assert!(text.ends_with('\n'));
        assert_eq!(lines.len(), 10 * 2 + 3 + 5 * 2 + 2 + 1);
    }

    #[test]
    fn from_plan_lists_everything_with_zero_counters() {
        let src = "[[interface]]\nname = \"lo\"\n[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.1.0.1\" }, { address = \"10.1.0.2\", weight = 0 }]\n";
        let c = crate::config::Config::parse(src, "t.toml").unwrap();
        let plan = crate::planner::plan(&c, &Default::default(), None).unwrap();
        let s = Snapshot::from_plan(&plan);
        assert_eq!(s.vips.len(), 1);
        assert_eq!(s.vips[0].backends.len(), 2);
        assert_eq!(s.vips[0].backends[1].weight, 0);
        assert!(s.vips.iter().all(|v| v.counters == Counters::default()));
        assert!(render(&s).contains(
            "oxlb_backend_weight{vip=\"10.0.0.1:0/tcp\",mode=\"dsr\",backend=\"10.1.0.2:0\"} 0"
        ));
    }

    /// Sends `request` and returns the whole response.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(request).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_over_http() {
        let scrapes = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&scrapes);
        let source: SnapshotSource = Box::new(move || {
            let mut s = snapshot();
            s.vips[0].counters.packets = counter.fetch_add(1, Ordering::Relaxed) + 1;
            s
        });
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), source).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);

        for n in 1..=2 {
            let resp = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let (head, body) = resp.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert!(
                head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
                "{head}"
            );
            assert!(
                head.contains(&format!("Content-Length: {}", body.len())),
                "{head}"
            );
            assert!(body.contains(&format!(
                "oxlb_vip_packets_total{{vip=\"10.0.0.1:80/tcp\",mode=\"nat\"}} {n}"
            )));
        }
        let resp = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        let resp = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(
            resp.starts_with("HTTP/1.1 405") && resp.contains("Allow: GET"),
            "{resp}"
        );
        assert!(exchange(addr, b"hello\r\n\r\n").starts_with("HTTP/1.1 400"));
        // Oversized header: answered with 400 after 8 KiB instead of reading forever.
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.extend(vec![b'a'; 9000]);
        assert!(exchange(addr, &big).starts_with("HTTP/1.1 400"));
        // A client that connects and says nothing does not block the server for good.
        let idle = TcpStream::connect(addr).unwrap();
        let resp = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        drop(idle);
        assert_eq!(scrapes.load(Ordering::Relaxed), 4);

        server.stop();
        assert!(
            TcpStream::connect(addr).is_err(),
            "listener must be closed after stop"
        );
    }

    #[test]
    fn bind_errors_are_reported() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = MetricsServer::start(taken.local_addr().unwrap(), Box::new(Snapshot::default))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
