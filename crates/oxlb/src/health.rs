//! Active health checks: TCP connect, or HTTP/1.0 `GET` expecting 2xx/3xx.
//!
//! A small pool of std threads (no async runtime: checks are few, blocking with a deadline, and
//! threads keep the daemon dependency-free) takes due checks from a shared time-ordered queue.
//! Each backend has its own interval, timeout and rise/fall thresholds (from its VIP). Backends
//! start in the state given by the caller (healthy when unknown, so a restart does not drop
//! traffic), go down after `fall` consecutive failures and up after `rise` consecutive successes.
//! Every change is sent as a [`HealthEvent`] so the daemon can re-plan.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{CheckKind, Config, HealthCheck};
use crate::plan::BackendKey;
use crate::planner::HealthMap;

/// Most worker threads a checker starts.
pub const MAX_WORKERS: usize = 8;
/// Most bytes read while looking for the HTTP status line.
const MAX_STATUS_LINE: usize = 1024;

/// One backend to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The backend.
    pub key: BackendKey,
    /// Where to connect.
    pub addr: SocketAddr,
    /// How and how often.
    pub check: HealthCheck,
}

/// A backend changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// The backend.
    pub key: BackendKey,
    /// Its new state.
    pub healthy: bool,
    /// Why: the last check's error when going down.
    pub reason: String,
}

/// Why one check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The TCP connection failed (refused, unreachable, timed out).
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending the request or reading the answer failed.
    #[error("http exchange with {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// No complete answer within the timeout.
    #[error("http check of {addr}: no status line within {timeout:?}")]
    Timeout {
        /// The address.
        addr: SocketAddr,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The answer was not an HTTP/1.x status line.
    #[error("http check of {addr}: not an HTTP/1.x status line: {line:?}")]
    BadResponse {
        /// The address.
        addr: SocketAddr,
        /// What was received (truncated).
        line: String,
    },
    /// The server answered outside 200..=399.
    #[error("http check of {addr}: status {status} (want 2xx or 3xx)")]
    Status {
        /// The address.
        addr: SocketAddr,
        /// The status code.
        status: u16,
    },
}

/// The health-check targets of a config: every backend of every VIP that has a check.
pub fn targets(config: &Config) -> Vec<Target> {
    let mut out = Vec::new();
    for vip in &config.vips {
        let Some(check) = &vip.health else { continue };
        for b in &vip.backends {
            out.push(Target {
                key: vip.backend_key(b),
                addr: SocketAddr::new(b.addr, vip.check_port(b)),
                check: check.clone(),
            });
        }
    }
    out
}

/// Runs one check of `addr` with `kind`, within `timeout`.
pub fn check_once(addr: SocketAddr, kind: &CheckKind, timeout: Duration) -> Result<(), CheckError> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| CheckError::Connect { addr, source })?;
    let CheckKind::Http { path } = kind else {
        return Ok(());
    };
    let io_err = |source| CheckError::Io { addr, source };
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: oxlb-health\r\nConnection: close\r\n\r\n");
    let Some(left) = remaining() else {
        return Err(CheckError::Timeout { addr, timeout });
    };
    stream.set_write_timeout(Some(left)).map_err(io_err)?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| timeout_or(e, addr, timeout))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    let line_end = loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            break pos;
        }
        if buf.len() >= MAX_STATUS_LINE {
            break buf.len();
        }
        let Some(left) = remaining() else {
            return Err(CheckError::Timeout { addr, timeout });
        };
        stream.set_read_timeout(Some(left)).map_err(io_err)?;
        match stream.read(&mut chunk) {
            Ok(0) => break buf.len(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timeout_or(e, addr, timeout)),
        }
    };
    let line = String::from_utf8_lossy(&buf[..line_end.min(buf.len())]).into_owned();
    let status = parse_status_line(&line).ok_or_else(|| CheckError::BadResponse {
        addr,
        line: line.chars().take(80).collect(),
    })?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(CheckError::Status { addr, status })
    }
}

fn timeout_or(e: io::Error, addr: SocketAddr, timeout: Duration) -> CheckError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            CheckError::Timeout { addr, timeout }
        }
        _ => CheckError::Io { addr, source: e },
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status_line(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts
        .next()
        .filter(|m| m.len() == 1 && m.chars().all(|c| c.is_ascii_digit()))?;
    let code = parts.next()?;
    (code.len() == 3 && code.chars().all(|c| c.is_ascii_digit())).then(|| code.parse().ok())?
}

/// Rise/fall bookkeeping of one backend.
#[derive(Debug, Clone, Copy)]
struct State {
    healthy: bool,
    streak: u32,
}

impl State {
    /// Records one result; returns the new state when it flipped.
    fn record(&mut self, ok: bool, check: &HealthCheck) -> Option<bool> {
        if ok == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { check.rise } else { check.fall };
        if self.streak >= needed {
            self.healthy = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }
}

struct Sched {
    queue: BinaryHeap<Reverse<(Instant, usize)>>,
    stop: bool,
}

struct Shared {
    targets: Vec<Target>,
    states: Mutex<Vec<State>>,
    sched: Mutex<Sched>,
    wake: Condvar,
    events: Sender<HealthEvent>,
}

/// Locks a mutex even if a thread panicked while holding it (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Running health checks; stops (and joins its threads) on [`HealthChecker::stop`] or drop.
pub struct HealthChecker {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl HealthChecker {
    /// Starts checking `targets`. Initial states come from `initial` (healthy when absent);
    /// state changes are sent on `events`. First checks are spread over the first interval.
    pub fn start(
        targets: Vec<Target>,
        initial: &HealthMap,
        events: Sender<HealthEvent>,
    ) -> io::Result<Self> {
        let states = targets
            .iter()
            .map(|t| State {
                healthy: initial.get(&t.key).copied().unwrap_or(true),
                streak: 0,
            })
            .collect();
        let now = Instant::now();
        let n = targets.len().max(1) as u32;
        let queue = targets
            .iter()
            .enumerate()
            .map(|(i, t)| Reverse((now + t.check.interval * i as u32 / n, i)))
            .collect();
        let worker_count = targets.len().clamp(1, MAX_WORKERS);
        let shared = Arc::new(Shared {
            targets,
            states: Mutex::new(states),
            sched: Mutex::new(Sched { queue, stop: false }),
            wake: Condvar::new(),
            events,
        });
        let mut checker = HealthChecker {
            shared,
            workers: Vec::new(),
        };
        for i in 0..worker_count {
            let shared = Arc::clone(&checker.shared);
            let handle = std::thread::Builder::new()
                .name(format!("oxlb-health-{i}"))
                .spawn(move || worker(&shared))?;
            checker.workers.push(handle);
        }
        Ok(checker)
    }

    /// The current state of every target.
    pub fn states(&self) -> HealthMap {
        let states = lock(&self.shared.states);
        self.shared
            .targets
            .iter()
            .zip(states.iter())
            .map(|(t, s)| (t.key, s.healthy))
            .collect()
    }

    /// Stops the workers and waits for them (at most one check timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        lock(&self.shared.sched).stop = true;
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker(shared: &Shared) {
    let mut sched = lock(&shared.sched);
    loop {
        if sched.stop {
            return;
        }
        let Some(&Reverse((due, idx))) = sched.queue.peek() else {
            sched = shared.wake.wait(sched).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let now = Instant::now();
        if due > now {
            sched = shared
                .wake
                .wait_timeout(sched, due - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        sched.queue.pop();
        drop(sched);

        let target = &shared.targets[idx];
        let result = check_once(target.addr, &target.check.kind, target.check.timeout);
        let flipped = lock(&shared.states)[idx].record(result.is_ok(), &target.check);
        if let Some(healthy) = flipped {
            let reason = match &result {
                Ok(()) => format!("{} consecutive successful checks", target.check.rise),
                Err(e) => format!("{} consecutive failed checks, last: {e}", target.check.fall),
            };
            tracing::info!(backend = %target.key, healthy, %reason, "health state changed");
            // A closed receiver only means nobody listens any more; keep the state current.
            let _ = shared.events.send(HealthEvent {
                key: target.key,
                healthy,
                reason,
            });
        }

        sched = lock(&shared.sched);
        let next = (due + target.check.interval).max(Instant::now());
        sched.queue.push(Reverse((next, idx)));
        shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Proto, VipKey};
    use std::net::{IpAddr, Ipv4Addr, TcpListener};
    use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
    use std::sync::mpsc::{channel, Receiver};

    const WAIT: Duration = Duration::from_secs(10);

    fn key(port: u16) -> BackendKey {
        let vip = VipKey {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
            proto: Proto::Tcp,
        };
        BackendKey {
            vip,
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        }
    }

    fn target(port: u16, kind: CheckKind) -> Target {
        Target {
            key: key(port),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            check: HealthCheck {
                kind,
                port: None,
                interval: Duration::from_millis(30),
                timeout: Duration::from_millis(300),
                rise: 2,
                fall: 2,
            },
        }
    }

    fn next_event(rx: &Receiver<HealthEvent>) -> HealthEvent {
        rx.recv_timeout(WAIT).expect("no health event within 10s")
    }

    /// A free loopback port (bound then released).
    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// An HTTP server on 127.0.0.1 answering `GET /ready` with the current `status`.
    struct HttpServer {
        port: u16,
        status: Arc<AtomicU16>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl HttpServer {
        fn start(status: u16) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let status = Arc::new(AtomicU16::new(status));
            let stop = Arc::new(AtomicBool::new(false));
            let (s, st) = (Arc::clone(&status), Arc::clone(&stop));
            let thread = std::thread::spawn(move || {
                while !st.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            conn.set_nonblocking(false).unwrap();
                            conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                            let mut req = [0u8; 512];
                            let n = conn.read(&mut req).unwrap_or(0);
                            // A plain TCP check sends nothing; a wrong request gets 400.
                            let good = req[..n].starts_with(b"GET /ready HTTP/1.0\r\n");
                            let code = if good { s.load(Ordering::Relaxed) } else { 400 };
                            let _ = write!(conn, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
            HttpServer {
                port,
                status,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for HttpServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
        }
    }

    #[test]
    fn tcp_backend_goes_down_and_up_with_its_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = channel();
        let checker =
            HealthChecker::start(vec![target(port, CheckKind::Tcp)], &HealthMap::new(), tx)
                .unwrap();
        // Healthy from the start, and stays so while the listener is open.
        std::thread::sleep(Duration::from_millis(150));
        assert!(rx.try_recv().is_err(), "no change expected while listening");
        assert!(checker.states()[&key(port)]);

        drop(listener);
        let down = next_event(&rx);
        assert_eq!((down.key, down.healthy), (key(port), false));
        assert!(
            down.reason.contains("connect to 127.0.0.1"),
            "{}",
            down.reason
        );
        assert!(!checker.states()[&key(port)]);

        let _listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let up = next_event(&rx);
        assert_eq!((up.key, up.healthy), (key(port), true));
        checker.stop();
    }

    #[test]
    fn initially_down_backend_comes_up_after_rise_checks() {
        let port = free_port();
        let (tx, rx) = channel();
        let initial = HealthMap::from([(key(port), false)]);
        let checker =
            HealthChecker::start(vec![target(port, CheckKind::Tcp)], &initial, tx).unwrap();
        assert!(!checker.states()[&key(port)]);
        let _listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert!(next_event(&rx).healthy);
    }

    #[test]
    fn http_status_drives_state() {
        let server = HttpServer::start(200);
        let (tx, rx) = channel();
        let kind = CheckKind::Http {
            path: "/ready".into(),
        };
        let _checker =
            HealthChecker::start(vec![target(server.port, kind)], &HealthMap::new(), tx).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        assert!(rx.try_recv().is_err());
        server.status.store(503, Ordering::Relaxed);
        let down = next_event(&rx);
        assert!(!down.healthy);
        assert!(down.reason.contains("status 503"), "{}", down.reason);
        server.status.store(302, Ordering::Relaxed);
        assert!(next_event(&rx).healthy);
    }

    #[test]
    fn check_once_errors() {
        let kind = CheckKind::Http {
            path: "/ready".into(),
        };
        let closed = SocketAddr::from(([127, 0, 0, 1], free_port()));
        assert!(matches!(
            check_once(closed, &CheckKind::Tcp, WAIT),
            Err(CheckError::Connect { .. })
        ));

        // A server that accepts but never answers: timeout, within about the deadline.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let err = check_once(
            silent.local_addr().unwrap(),
            &kind,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(err, CheckError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
        // TCP check only needs the handshake.
        check_once(silent.local_addr().unwrap(), &CheckKind::Tcp, WAIT).unwrap();

        // Garbage instead of HTTP.
        let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = garbage.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = garbage.accept().unwrap();
            let _ = c.write_all(b"SSH-2.0-OpenSSH\r\n");
        });
        let err = check_once(addr, &kind, WAIT).unwrap_err();
        assert!(matches!(err, CheckError::BadResponse { .. }), "{err}");
        t.join().unwrap();
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 404"), Some(404));
        assert_eq!(parse_status_line("HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line("HTTP/2 200"), None);
        assert_eq!(parse_status_line("HTTP/1.1 abc"), None);
        assert_eq!(parse_status_line(""), None);
    }

    #[test]
    fn rise_and_fall_thresholds() {
        let check = target(1, CheckKind::Tcp).check;
        let check = HealthCheck {
            rise: 3,
            fall: 2,
            ..check
        };
        let mut s = State {
            healthy: true,
            streak: 0,
        };
        assert_eq!(s.record(false, &check), None);
        assert_eq!(
            s.record(true, &check),
            None,
            "a success resets the failure streak"
        );
        assert_eq!(s.record(false, &check), None);
        assert_eq!(s.record(false, &check), Some(false));
        assert_eq!(s.record(true, &check), None);
        assert_eq!(s.record(true, &check), None);
        assert_eq!(s.record(true, &check), Some(true));
    }

    #[test]
    fn targets_from_config() {
        let src = "[[interface]]\nname = \"lo\"\n[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\nhealth = { type = \"tcp\" }\nbackend = [{ address = \"10.1.0.1\" }, { address = \"10.1.0.2\", port = 80 }]\n[[vip]]\naddress = \"10.0.0.2\"\nmode = \"dsr\"\nbackend = [{ address = \"10.1.0.1\" }]\n";
        let c = Config::parse(src, "t.toml").unwrap();
        let t = targets(&c);
        assert_eq!(t.len(), 2, "the VIP without a check has no targets");
        assert_eq!(t[0].addr, "10.1.0.1:80".parse().unwrap());
        assert_eq!(t[1].key, c.vips[0].backend_key(&c.vips[0].backends[1]));
    }

    #[test]
    fn many_targets_share_few_threads_and_stop_promptly() {
        let server = HttpServer::start(200);
        let port = server.port;
        let mut ts = Vec::new();
        for i in 0..50u16 {
            let mut t = target(port, CheckKind::Tcp);
            t.key.port = i; // distinct keys, same listener
            ts.push(t);
        }
        let (tx, rx) = channel();
        let checker = HealthChecker::start(ts, &HealthMap::new(), tx).unwrap();
        assert_eq!(checker.workers.len(), MAX_WORKERS);
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        checker.stop();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(rx.try_recv().is_err());
    }
}
