//! Real TCP in the demo's namespaces: tiny HTTP backends that answer with their name, and
//! clients that send requests on new or kept-alive connections.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `f` on a new thread inside network namespace `ns`.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<Result<T, String>> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns on a valid namespace fd affects only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        Ok(f())
    })
}

/// Serves `HTTP/1.1 200` with body `name` on ports 80 and 8080 (IPv4 and IPv6) until `stop`
/// is set.
pub fn serve(ns: &str, name: String, stop: Arc<AtomicBool>) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    in_netns(ns, move || {
        let listeners: Vec<TcpListener> = [80u16, 8080]
            .iter()
            // Dual-stack: IPv4 clients arrive as v4-mapped addresses.
            .filter_map(|p| TcpListener::bind(("::", *p)).ok())
            .collect();
        let _ = tx.send(listeners.len());
        for l in &listeners {
            let _ = l.set_nonblocking(true);
        }
        while !stop.load(Ordering::Relaxed) {
            let mut idle = true;
            for l in &listeners {
                if let Ok((s, _)) = l.accept() {
                    idle = false;
                    let name = name.clone();
                    std::thread::spawn(move || handle(s, &name));
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(format!("backend {ns}: could not listen")),
    }
}

fn handle(s: TcpStream, name: &str) {
    let _ = s.set_nonblocking(false);
    // Idle keep-alive connections are held across the demo's steps (minutes on a slow VM).
    let _ = s.set_read_timeout(Some(Duration::from_secs(300)));
    let mut w = match s.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        // Request line, then headers up to the blank line.
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A client connection to the VIP.
pub struct Conn {
    stream: TcpStream,
}

impl Conn {
    /// Connects to `vip:80`, from `src_port` when given (closing with RST, so the port is free
    /// again at once).
    pub fn open(vip: IpAddr, src_port: Option<u16>) -> Result<Conn, String> {
        Self::open_port(vip, 80, src_port)
    }

    /// Like [`Conn::open`], to any port.
    pub fn open_port(vip: IpAddr, port: u16, src_port: Option<u16>) -> Result<Conn, String> {
        let dst = SocketAddr::from((vip, port));
        let stream = match src_port {
            None => TcpStream::connect_timeout(&dst, Duration::from_secs(3))
                .map_err(|e| e.to_string())?,
            Some(p) => connect_from(p, dst)?,
        };
        Ok(Conn::ready(stream, Duration::from_secs(3)))
    }

    /// Connects to `vip:80` from an ephemeral port, waiting up to `timeout` for the handshake
    /// and for each answer (TCP resends a lost SYN after 1, 3, 7 s...).
    pub fn open_patient(vip: IpAddr, timeout: Duration) -> Result<Conn, String> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((vip, 80)), timeout)
            .map_err(|e| e.to_string())?;
        Ok(Conn::ready(stream, timeout))
    }

    /// A connected stream that waits up to `timeout` for each answer, without Nagle delays.
    fn ready(stream: TcpStream, timeout: Duration) -> Conn {
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_nodelay(true);
        Conn { stream }
    }

    /// Sends one request; returns the responding backend's name.
    pub fn get(&mut self) -> Result<String, String> {
        self.stream
            .write_all(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut r = BufReader::new(&self.stream);
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).map_err(|e| e.to_string())? == 0 {
                return Err("connection closed".into());
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if h == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

fn connect_from(port: u16, dst: SocketAddr) -> Result<TcpStream, String> {
    // SAFETY: plain socket syscalls on an fd we own; the struct layouts are libc's.
    unsafe {
        let family = if dst.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let stream = <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        );
        let tv = libc::timeval {
            tv_sec: 3,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let (src, dst, len) = sockaddrs(port, dst);
        if libc::bind(fd, (&src as *const libc::sockaddr_storage).cast(), len) != 0 {
            return Err(format!("bind :{port}: {}", std::io::Error::last_os_error()));
        }
        if libc::connect(fd, (&dst as *const libc::sockaddr_storage).cast(), len) != 0 {
            return Err(format!(
                "connect from :{port}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(stream)
    }
}

/// (wildcard source with `port`, `dst`, length) as C socket addresses of `dst`'s family.
fn sockaddrs(
    port: u16,
    dst: SocketAddr,
) -> (
    libc::sockaddr_storage,
    libc::sockaddr_storage,
    libc::socklen_t,
) {
    // SAFETY: all-zero is a valid sockaddr_storage; the casts below write within its size.
    let (mut src, mut out) = unsafe {
        (
            std::mem::zeroed::<libc::sockaddr_storage>(),
            std::mem::zeroed::<libc::sockaddr_storage>(),
        )
    };
    match dst {
        SocketAddr::V4(d) => {
            let fill = |sa: &mut libc::sockaddr_storage, port: u16, ip: [u8; 4]| {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                let sin = unsafe {
                    &mut *(sa as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                sin.sin_family = libc::AF_INET as u16;
                sin.sin_port = port.to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(ip);
            };
            fill(&mut src, port, [0; 4]);
            fill(&mut out, d.port(), d.ip().octets());
            (src, out, std::mem::size_of::<libc::sockaddr_in>() as u32)
        }
        SocketAddr::V6(d) => {
            let fill = |sa: &mut libc::sockaddr_storage, port: u16, ip: [u8; 16]| {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                let sin6 = unsafe {
                    &mut *(sa as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                sin6.sin6_family = libc::AF_INET6 as u16;
                sin6.sin6_port = port.to_be();
                sin6.sin6_addr.s6_addr = ip;
            };
            fill(&mut src, port, [0; 16]);
            fill(&mut out, d.port(), d.ip().octets());
            (src, out, std::mem::size_of::<libc::sockaddr_in6>() as u32)
        }
    }
}
