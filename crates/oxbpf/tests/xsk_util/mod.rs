//! Helpers of the AF_XDP tests: a veth pair across two throw-away namespaces (`x0` in `a`,
//! `x1` in `b`), raw AF_PACKET sockets to inject and capture test frames on `x0`, frame
//! builders, and counts of the process's fds and mappings.
#![allow(dead_code)]

use crate::links_util::Netns;
use oxbpf::xsk::{Frame, Socket, Umem};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// An IEEE "local experimental" EtherType: nothing else in the namespaces sends it.
pub const ETHERTYPE: u16 = 0x88b5;
/// Test frames carry this after the Ethernet header, then a `u32` sequence number.
pub const MAGIC: &[u8; 4] = b"oxsk";
/// Bytes of a test frame.
pub const FRAME_LEN: usize = 64;

/// Two namespaces joined by a veth pair: `x0` in `a`, `x1` in `b`, both up, no IPv6 chatter.
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
}

impl Pair {
    /// Creates the pair; `queues` RX/TX queues on each end.
    pub fn new(queues: u32) -> Pair {
        let a = Netns::new("a");
        let b = Netns::new("b");
        for ns in [&a, &b] {
            ns.exec_ok("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            ns.exec_ok("sysctl", &["-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        }
        let q = queues.to_string();
        a.ip(&[
            "link",
            "add",
            "x0",
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "x1",
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ]);
        a.ip(&["link", "set", "x1", "netns", &b.name]);
        a.ip(&["link", "set", "x0", "up"]);
        b.ip(&["link", "set", "x1", "up"]);
        wait_up(&a, "x0");
        wait_up(&b, "x1");
        Pair { a, b }
    }

    /// (ifindex, MAC) of `x0` (in `a`).
    pub fn x0(&self) -> (u32, [u8; 6]) {
        self.a.enter(|| link("x0"))
    }

    /// (ifindex, MAC) of `x1` (in `b`).
    pub fn x1(&self) -> (u32, [u8; 6]) {
        self.b.enter(|| link("x1"))
    }

    /// A raw packet socket on `x0` for [`ETHERTYPE`] frames.
    pub fn tap(&self) -> Tap {
        self.a.enter(|| Tap::open("x0"))
    }
}

/// A [`Pair`] with what most tests need: the MACs, `x1`'s ifindex and a tap on `x0`.
pub struct Lab {
    pub pair: Pair,
    pub x0_mac: [u8; 6],
    pub x1: u32,
    pub x1_mac: [u8; 6],
    pub tap: Tap,
}

impl Lab {
    /// A one-queue pair and its tap.
    pub fn new() -> Lab {
        let pair = Pair::new(1);
        let (_, x0_mac) = pair.x0();
        let (x1, x1_mac) = pair.x1();
        let tap = pair.tap();
        Lab {
            pair,
            x0_mac,
            x1,
            x1_mac,
            tap,
        }
    }

    /// Sends the test frames numbered `seqs` from `x0` to `x1`.
    pub fn send(&self, seqs: impl IntoIterator<Item = u32>) {
        for seq in seqs {
            self.tap.send(&test_frame(self.x1_mac, self.x0_mac, seq));
        }
    }
}

/// Waits (up to 2 s) until `dev` in `ns` is operationally up: the kernel activates a device's
/// queueing discipline from its link-watch work, and frames sent before are dropped.
pub fn wait_up(ns: &Netns, dev: &str) {
    let up = crate::links_util::eventually(|| ns.ip(&["link", "show", dev]).contains("state UP"));
    assert!(up, "{dev} did not come up");
}

/// (ifindex, MAC) of `name` in the calling thread's namespace.
pub fn link(name: &str) -> (u32, [u8; 6]) {
    let ifindex = oxbpf::netlink::xdp::ifindex(name).expect("ifindex");
    // sysfs shows the mounting namespace's devices: the MAC comes from an ioctl instead.
    (ifindex, mac_of(name))
}

fn mac_of(name: &str) -> [u8; 6] {
    // SAFETY: a plain socket for the ioctl; ifreq is zeroed plain data.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket for SIOCGIFHWADDR");
        let fd = OwnedFd::from_raw_fd(fd);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        assert_eq!(
            libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req),
            0,
            "SIOCGIFHWADDR {name}"
        );
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(req.ifr_ifru.ifru_hwaddr.sa_data.iter()) {
            *d = *s as u8;
        }
        mac
    }
}

/// A test frame: `dst`, `src`, [`ETHERTYPE`], [`MAGIC`], `seq`, zero padding.
pub fn test_frame(dst: [u8; 6], src: [u8; 6], seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(FRAME_LEN);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend_from_slice(MAGIC);
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(FRAME_LEN, 0);
    f
}

/// The sequence number of a test frame, if `f` is one.
pub fn seq_of(f: &[u8]) -> Option<u32> {
    if f.len() < 22 || f[12..14] != ETHERTYPE.to_be_bytes() || &f[14..18] != MAGIC {
        return None;
    }
    Some(u32::from_be_bytes(f[18..22].try_into().ok()?))
}

/// A raw AF_PACKET socket bound to one interface, for [`ETHERTYPE`] frames.
pub struct Tap {
    fd: OwnedFd,
    ifindex: u32,
}

impl Tap {
    /// Opens it on `name` in the calling thread's namespace; reads time out after 50 ms.
    pub fn open(name: &str) -> Tap {
        let ifindex = oxbpf::netlink::xdp::ifindex(name).expect("ifindex");
        let proto = ETHERTYPE.to_be() as i32;
        // SAFETY: plain syscalls on a fresh fd; sockaddr_ll and timeval are plain data.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto);
            assert!(
                fd >= 0,
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            );
            let fd = OwnedFd::from_raw_fd(fd);
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETHERTYPE.to_be();
            sll.sll_ifindex = ifindex as i32;
            let rc = libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(rc, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 50_000,
            };
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            Tap { fd, ifindex }
        }
    }

    /// Sends one frame out of the interface.
    pub fn send(&self, frame: &[u8]) {
        // SAFETY: frame is a live buffer of its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "AF_PACKET send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Frames received (incoming only) until `n` test frames arrived or `wait` passed.
    pub fn recv(&self, n: usize, wait: Duration) -> Vec<Vec<u8>> {
        let end = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16384];
        while got.len() < n && Instant::now() < end {
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buf and from are live buffers of the sizes given.
            let r = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if r > 0
                && from.sll_pkttype != libc::PACKET_OUTGOING
                && seq_of(&buf[..r as usize]).is_some()
            {
                got.push(buf[..r as usize].to_vec());
            }
        }
        got
    }

    /// The interface.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

/// Receives on `sock` until `n` frames arrived or `wait` passed (polling, so the kernel is
/// woken when the fill ring asks for it).
pub fn rx_frames(sock: &mut Socket, n: usize, wait: Duration) -> Vec<Frame> {
    let end = Instant::now() + wait;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < end {
        if let Some(rx) = sock.rx.as_mut() {
            let want = n - got.len();
            if rx.consume(&mut got, want) > 0 {
                continue;
            }
        }
        sock.poll_rx(20).expect("poll");
    }
    got
}

/// The sequence numbers of `frames`, sorted.
pub fn seqs(umem: &Umem, frames: &[Frame]) -> Vec<u32> {
    let mut s: Vec<u32> = frames
        .iter()
        .filter_map(|f| seq_of(umem.data(f).expect("own UMEM")))
        .collect();
    s.sort_unstable();
    s
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Mappings of this process.
pub fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count()
}

/// AF_XDP sockets open in the calling thread's namespace (the `sockets` column of the `XDP`
/// line of `/proc/thread-self/net/protocols`).
pub fn xdp_sockets() -> usize {
    let text = std::fs::read_to_string("/proc/thread-self/net/protocols").expect("protocols");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("XDP"))
        .expect("an XDP line in /proc/net/protocols");
    line.split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .expect("socket count")
}
