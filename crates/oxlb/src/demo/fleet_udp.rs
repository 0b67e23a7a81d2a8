//! UDP in the fleet lab: backends answer a datagram on a VIP with their name (from the VIP, as
//! DSR needs), and a client flow is one connected socket, so its 5-tuple never changes.

use super::lab::Flow;
use super::traffic::in_netns;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Answers every datagram to `vips` (port `port`) with `name`, until `stop` is set.
pub fn serve(
    ns: &str,
    name: String,
    vips: Vec<IpAddr>,
    port: u16,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    in_netns(ns, move || {
        // Bound to the VIPs themselves: a wildcard socket would answer from the backend's
        // own address, which the client's connected socket ignores.
        let socks: Result<Vec<UdpSocket>, String> = vips
            .iter()
            .map(|v| {
                let s = UdpSocket::bind((*v, port)).map_err(|e| format!("bind {v}:{port}: {e}"))?;
                s.set_read_timeout(Some(Duration::from_millis(5)))
                    .map_err(|e| e.to_string())?;
                Ok(s)
            })
            .collect();
        let socks = match socks {
            Ok(s) => {
                let _ = tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            for s in &socks {
                if let Ok((_, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(name.as_bytes(), from);
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .map_err(|_| format!("UDP backend {ns}: no answer from its thread"))?
}

/// One client UDP flow to a VIP.
pub struct UdpFlow {
    sock: UdpSocket,
}

/// Tries per request (each waits [`WAIT`]): a flow whose LB node just died is answered once
/// the router has moved it.
const TRIES: usize = 25;
const WAIT: Duration = Duration::from_millis(200);

impl UdpFlow {
    /// A socket connected to `vip:port` from an ephemeral port.
    pub fn open(vip: IpAddr, port: u16) -> Result<UdpFlow, String> {
        let any: IpAddr = if vip.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        let sock = UdpSocket::bind((any, 0)).map_err(|e| e.to_string())?;
        sock.connect(SocketAddr::new(vip, port))
            .map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(WAIT))
            .map_err(|e| e.to_string())?;
        Ok(UdpFlow { sock })
    }
}

impl Flow for UdpFlow {
    fn get(&mut self) -> Result<String, String> {
        let mut buf = [0u8; 512];
        // Answers to earlier, retried requests may still be queued: drop them.
        let _ = self.sock.set_nonblocking(true);
        while self.sock.recv(&mut buf).is_ok() {}
        let _ = self.sock.set_nonblocking(false);
        for _ in 0..TRIES {
            self.sock.send(b"?").map_err(|e| e.to_string())?;
            if let Ok(n) = self.sock.recv(&mut buf) {
                return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        Err(format!(
            "no UDP answer in {:.1} s",
            (WAIT * TRIES as u32).as_secs_f64()
        ))
    }
}
