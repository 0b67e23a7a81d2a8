//! A `NETLINK_ROUTE` socket with extended acks: send one request, collect its replies.

use super::msg::{
    align, attr_string, attrs, frames, Reply, Request, NLMSGERR_ATTR_MSG, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_HDRLEN, NLMSG_NOOP, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};
use super::NetlinkError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
/// Receive buffer: rtnetlink replies never exceed 32 KiB per datagram.
const RECV_BUF: usize = 64 * 1024;

/// A `NETLINK_ROUTE` socket bound to the network namespace of the thread that opened it.
///
/// Keeping one socket is how an attachment stays tied to its namespace: requests sent later,
/// from any thread, still reach the devices of the namespace the socket was opened in.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    seq: AtomicU32,
    lock: Mutex<()>,
}

impl Socket {
    /// Opens a `NETLINK_ROUTE` socket in the calling thread's network namespace, with
    /// `NETLINK_EXT_ACK` (kernel error texts) and `NETLINK_CAP_ACK` (short error echoes).
    pub fn route() -> Result<Self, NetlinkError> {
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(NetlinkError::socket("open NETLINK_ROUTE socket"));
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Both options are best-effort: kernels before 4.12 lack them and still work, just
        // without the kernel's error text.
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            unsafe {
                libc::setsockopt(
                    raw,
                    SOL_NETLINK,
                    opt,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of_val(&one) as libc::socklen_t,
                )
            };
        }
        // A request the kernel never answers must not hang the caller forever.
        let tv = libc::timeval {
            tv_sec: 10,
            tv_usec: 0,
        };
        unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of_val(&tv) as libc::socklen_t,
            )
        };
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let rc = unsafe {
            libc::bind(
                raw,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of_val(&addr) as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(NetlinkError::socket("bind NETLINK_ROUTE socket"));
        }
        Ok(Socket {
            fd,
            seq: AtomicU32::new(1),
            lock: Mutex::new(()),
        })
    }

    /// Sends `req` (with `NLM_F_REQUEST | NLM_F_ACK`) and returns every reply message up to
    /// the acknowledgement (or `NLMSG_DONE` for dumps). A negative ack becomes
    /// [`NetlinkError::Request`] carrying the kernel's extended-ack text, if any.
    pub fn send_request(&self, req: &Request) -> Result<Vec<Reply>, NetlinkError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let bytes = req.encode(seq);
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = loop {
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                    0,
                    &kernel as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&kernel) as libc::socklen_t,
                )
            };
            if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break n;
            }
        };
        if sent < 0 {
            return Err(NetlinkError::io(req.what(), "send"));
        }
        let mut buf = vec![0u8; RECV_BUF];
        let mut replies = Vec::new();
        loop {
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetlinkError::io(req.what(), "receive"));
            }
            let n = n as usize;
            if n > buf.len() {
                return Err(NetlinkError::malformed(
                    req.what(),
                    format!("reply of {n} bytes truncated to {}", buf.len()),
                ));
            }
            let msgs = frames(&buf[..n]).map_err(|e| NetlinkError::malformed(req.what(), e))?;
            for f in msgs {
                if f.seq != seq {
                    continue; // a late reply to an earlier, abandoned request
                }
                match f.msg_type {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR | NLMSG_DONE => {
                        let code = f
                            .payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                            .unwrap_or(0);
                        let msg = ext_ack_message(f.msg_type, f.flags, f.payload);
                        if code < 0 {
                            return Err(NetlinkError::Request {
                                what: req.what().to_string(),
                                errno: -code,
                                ext_ack: msg,
                            });
                        }
                        if let Some(m) = msg {
                            tracing::debug!("netlink: {}: kernel warning: {m}", req.what());
                        }
                        return Ok(replies);
                    }
                    _ => replies.push(Reply {
                        msg_type: f.msg_type,
                        flags: f.flags,
                        payload: f.payload.to_vec(),
                    }),
                }
            }
        }
    }
}

/// The `NLMSGERR_ATTR_MSG` text of an `NLMSG_ERROR` / `NLMSG_DONE` payload, if present.
fn ext_ack_message(msg_type: u16, flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let tlv_start = if msg_type == NLMSG_DONE {
        4
    } else if flags & NLM_F_CAPPED != 0 {
        4 + NLMSG_HDRLEN
    } else {
        // The whole request is echoed; its own header says how long it is.
        let echoed = payload.get(4..8)?;
        4 + align(u32::from_ne_bytes(echoed.try_into().ok()?) as usize)
    };
    let tlvs = payload.get(tlv_start..)?;
    attrs(tlvs)
        .find(|(ty, _)| *ty == NLMSGERR_ATTR_MSG)
        .map(|(_, p)| attr_string(p))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_payload(code: i32, flags: u16, msg: &str) -> Vec<u8> {
        let mut p = code.to_ne_bytes().to_vec();
        let echoed_len = if flags & NLM_F_CAPPED != 0 { 16u32 } else { 24 };
        p.extend_from_slice(&echoed_len.to_ne_bytes());
        p.extend_from_slice(&[0; 12]);
        if flags & NLM_F_CAPPED == 0 {
            p.extend_from_slice(&[0; 8]);
        }
        let mut r = Request::new(0, 0, "");
        r.attr_str(NLMSGERR_ATTR_MSG, msg);
        p.extend_from_slice(&r.encode(0)[NLMSG_HDRLEN..]);
        p
    }

    #[test]
    fn ext_ack_capped_and_full_echo() {
        let capped = error_payload(-16, NLM_F_CAPPED | NLM_F_ACK_TLVS, "busy here");
        let got = ext_ack_message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, &capped);
        assert_eq!(got.as_deref(), Some("busy here"));
        let full = error_payload(-16, NLM_F_ACK_TLVS, "full echo");
        let got = ext_ack_message(NLMSG_ERROR, NLM_F_ACK_TLVS, &full);
        assert_eq!(got.as_deref(), Some("full echo"));
        assert_eq!(ext_ack_message(NLMSG_ERROR, 0, &full), None);
        assert_eq!(ext_ack_message(NLMSG_ERROR, NLM_F_ACK_TLVS, &[1, 2]), None);
    }

    #[test]
    fn error_text_includes_ext_ack() {
        let e = NetlinkError::Request {
            what: "set XDP on veth0".into(),
            errno: libc::EBUSY,
            ext_ack: Some("XDP program already attached".into()),
        };
        assert_eq!(
            e.to_string(),
            "netlink: set XDP on veth0: device or resource busy: XDP program already attached"
        );
        assert_eq!(e.errno(), Some(libc::EBUSY));
    }
}
