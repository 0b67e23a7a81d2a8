//! AF_XDP on the real kernel over a veth pair in throw-away namespaces: receive, transmit,
//! echo with swapped MACs (need-wakeup on and off), two sockets on one UMEM, statistics of
//! drops when the fill ring is empty, teardown releasing everything, and malformed
//! descriptors written into the mapped rings never panicking.
//!
//! Test frames (EtherType 0x88b5, bounded in count) go between the test's own namespaces
//! only: raw AF_PACKET sockets on `x0` (namespace `a`), the AF_XDP socket on `x1` (`b`) in
//! copy mode, behind the default redirect program in driver mode.

mod links_util;
mod xsk_util;

use links_util::{require_kernel, serial};
use oxbpf::link::{XdpLink, XdpMode};
use oxbpf::xsk::{
    BindMode, Frame, Socket, SocketConfig, Umem, UmemConfig, XskRedirect, XDP_PACKET_HEADROOM,
};
use std::time::Duration;
use xsk_util::{rx_frames, seq_of, seqs, test_frame, Lab, Pair, FRAME_LEN};

const WAIT: Duration = Duration::from_secs(3);

/// The socket on `x1` queue 0 with its UMEM, spare frames and redirect program.
struct Xsk {
    umem: Umem,
    sock: Socket,
    spare: Vec<Frame>,
    redirect: XskRedirect,
    _link: XdpLink,
}

/// The tests' lock and a fresh [`Lab`]; `None` (the test skips) without a kernel to test.
fn setup() -> Option<(std::sync::MutexGuard<'static, ()>, Lab)> {
    let g = serial();
    require_kernel().then(|| (g, Lab::new()))
}

fn small_umem() -> UmemConfig {
    UmemConfig {
        frame_count: 256,
        fill_size: 128,
        comp_size: 128,
        ..Default::default()
    }
}

/// Binds on `x1` queue 0 (call inside namespace `b`), fills `fill` frames, redirects.
fn open(ifindex: u32, cfg: &SocketConfig, fill: usize) -> Xsk {
    let (umem, mut spare) = Umem::new(small_umem()).expect("UMEM");
    let mut sock = Socket::bind(&umem, ifindex, 0, cfg).expect("bind x1 queue 0");
    let mut give: Vec<Frame> = spare.drain(..fill).collect();
    let n = sock
        .fill
        .as_mut()
        .expect("fill ring")
        .produce(&mut give)
        .expect("fill");
    assert_eq!(n, fill, "fill ring took {n} of {fill}");
    let redirect = XskRedirect::load(1).expect("load redirect program");
    redirect.insert(&sock).expect("insert into XSKMAP");
    let link = redirect
        .attach(ifindex, XdpMode::Driver)
        .expect("attach to x1");
    Xsk {
        umem,
        sock,
        spare,
        redirect,
        _link: link,
    }
}

fn copy_cfg(need_wakeup: bool) -> SocketConfig {
    SocketConfig {
        rx_size: 128,
        tx_size: 128,
        need_wakeup,
        ..Default::default()
    }
}

#[test]
fn receive_frames_sent_to_the_queue() {
    let Some((_g, lab)) = setup() else {
        return;
    };
    let (pair, x0_mac, x1, x1_mac) = (&lab.pair, lab.x0_mac, lab.x1, lab.x1_mac);
    pair.b.enter(|| {
        let mut x = open(x1, &SocketConfig::default(), 64);
        assert!(!x.sock.zero_copy(), "veth has no zero-copy AF_XDP");
        lab.send(0..48);
        let got = rx_frames(&mut x.sock, 48, WAIT);
        assert_eq!(seqs(&x.umem, &got), (0..48).collect::<Vec<_>>());
        for f in &got {
            assert_eq!(f.len() as usize, FRAME_LEN);
            assert_eq!(
                f.offset(),
                XDP_PACKET_HEADROOM,
                "data after the kernel's headroom"
            );
            assert_eq!(f.umem_id(), x.umem.id());
            let d = x.umem.data(f).expect("own frame");
            assert_eq!(d, &test_frame(x1_mac, x0_mac, seq_of(d).unwrap())[..]);
        }
        assert_eq!(x.sock.rx.as_ref().unwrap().invalid(), 0);
        let st = x.sock.statistics().expect("statistics");
        assert_eq!(st.rx_dropped, 0, "{st:?}");
        drop(got);
        let _ = &x.spare;
        let _ = &x.redirect;
    });
}

#[test]
fn transmit_frames_built_in_the_umem() {
    let Some((_g, lab)) = setup() else {
        return;
    };
    let (pair, x0_mac, x1, x1_mac, tap) = (&lab.pair, lab.x0_mac, lab.x1, lab.x1_mac, &lab.tap);
    pair.b.enter(|| {
        let mut x = open(x1, &SocketConfig::default(), 0);
        let mut out: Vec<Frame> = x.spare.drain(..40).collect();
        for (seq, f) in out.iter_mut().enumerate() {
            let buf = x.umem.buffer_mut(f).expect("own frame");
            buf[100..100 + FRAME_LEN].copy_from_slice(&test_frame(x0_mac, x1_mac, seq as u32));
            x.umem.set_data(f, 100, FRAME_LEN as u32).expect("set data");
        }
        assert!(
            x.umem.set_data(&mut out[0], 2000, 100).is_err(),
            "past the frame"
        );
        let tx = x.sock.tx.as_mut().unwrap();
        assert_eq!(tx.produce(&mut out).expect("tx"), 40);
        assert!(out.is_empty(), "queued frames were taken");
        // Copy mode sends a batch (32 frames) per wakeup: kick until all completed.
        let mut done = Vec::new();
        for _ in 0..100 {
            x.sock.kick_tx().expect("kick");
            x.sock.comp.as_mut().unwrap().consume(&mut done, 64);
            if done.len() == 40 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(done.len(), 40, "every sent frame completes");
        let got = tap.recv(40, WAIT);
        let mut s: Vec<u32> = got.iter().filter_map(|f| seq_of(f)).collect();
        s.sort_unstable();
        assert_eq!(s, (0..40).collect::<Vec<_>>());
        assert!(got.iter().all(|f| f[..6] == x0_mac && f[6..12] == x1_mac));
        assert_eq!(x.sock.comp.as_ref().unwrap().invalid(), 0);
        assert_eq!(x.sock.statistics().unwrap().tx_invalid_descs, 0);
    });
}

/// Sends 64 frames to x1; the AF_XDP socket swaps their MACs and sends them back out.
fn echo(need_wakeup: bool) {
    let lab = Lab::new();
    let (pair, x0_mac, x1, x1_mac, tap) = (&lab.pair, lab.x0_mac, lab.x1, lab.x1_mac, &lab.tap);
    pair.b.enter(|| {
        let mut x = open(x1, &copy_cfg(need_wakeup), 128);
        assert_eq!(x.sock.uses_need_wakeup(), need_wakeup);
        lab.send(0..64);
        let mut echoed = 0;
        let mut batch = Vec::new();
        let mut done = Vec::new();
        let end = std::time::Instant::now() + WAIT;
        while echoed < 64 && std::time::Instant::now() < end {
            x.sock.rx.as_mut().unwrap().consume(&mut batch, 32);
            if batch.is_empty() {
                x.sock.poll_rx(20).expect("poll");
                continue;
            }
            for f in batch.iter_mut() {
                let d = x.umem.data_mut(f).unwrap();
                let (dst, src) = d.split_at_mut(6);
                dst.swap_with_slice(&mut src[..6]);
            }
            echoed += batch.len();
            x.sock.tx.as_mut().unwrap().produce(&mut batch).expect("tx");
            x.sock.kick_tx().expect("kick");
            x.sock.comp.as_mut().unwrap().consume(&mut done, 64);
            x.sock
                .fill
                .as_mut()
                .unwrap()
                .produce(&mut done)
                .expect("refill");
        }
        assert_eq!(echoed, 64);
        let back = tap.recv(64, WAIT);
        let mut s: Vec<u32> = back.iter().filter_map(|f| seq_of(f)).collect();
        s.sort_unstable();
        assert_eq!(s, (0..64).collect::<Vec<_>>(), "every frame came back");
        for f in &back {
            assert_eq!(&f[..6], &x0_mac, "destination is the sender");
            assert_eq!(&f[6..12], &x1_mac, "source is x1");
        }
    });
}

#[test]
fn echo_with_mac_swap_need_wakeup() {
    let _g = serial();
    if require_kernel() {
        echo(true);
    }
}

#[test]
fn echo_with_mac_swap_without_need_wakeup() {
    let _g = serial();
    if require_kernel() {
        echo(false);
    }
}

#[test]
fn two_sockets_share_one_umem() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let p = Pair::new(1);
    let q = Pair::new(1);
    let (_, p0_mac) = p.x0();
    let (p1, p1_mac) = p.x1();
    let (_, q0_mac) = q.x0();
    let (q1, q1_mac) = q.x1();
    let (p_tap, q_tap) = (p.tap(), q.tap());
    // The second pair's x1 moves into p's namespace b (as y1), so one thread sees both.
    // Linux 6.1 renames only interfaces that are down.
    q.b.ip(&["link", "set", "x1", "down"]);
    q.b.ip(&["link", "set", "x1", "name", "y1"]);
    q.b.ip(&["link", "set", "y1", "netns", &p.b.name]);
    p.b.ip(&["link", "set", "y1", "up"]);
    xsk_util::wait_up(&q.a, "x0");
    xsk_util::wait_up(&p.b, "y1");
    let _ = q1;
    p.b.enter(|| {
        let (y1, _) = xsk_util::link("y1");
        let (umem, mut spare) = Umem::new(small_umem()).expect("UMEM");
        let mut a = Socket::bind(&umem, p1, 0, &copy_cfg(true)).expect("first socket");
        let mut b = Socket::bind(&umem, y1, 0, &copy_cfg(true)).expect("socket sharing the UMEM");
        assert!(
            a.fill.is_some() && b.fill.is_some(),
            "another device: own fill rings"
        );
        let mut fa: Vec<Frame> = spare.drain(..32).collect();
        let mut fb: Vec<Frame> = spare.drain(..32).collect();
        a.fill.as_mut().unwrap().produce(&mut fa).unwrap();
        b.fill.as_mut().unwrap().produce(&mut fb).unwrap();
        let ra = XskRedirect::load(1).unwrap();
        let rb = XskRedirect::load(1).unwrap();
        ra.insert(&a).unwrap();
        rb.insert(&b).unwrap();
        let _la = ra.attach(p1, XdpMode::Driver).unwrap();
        let _lb = rb.attach(y1, XdpMode::Driver).unwrap();
        for seq in 0..16 {
            p_tap.send(&test_frame(p1_mac, p0_mac, seq));
            q_tap.send(&test_frame(q1_mac, q0_mac, 100 + seq));
        }
        let ga = rx_frames(&mut a, 16, WAIT);
        let gb = rx_frames(&mut b, 16, WAIT);
        assert_eq!(seqs(&umem, &ga), (0..16).collect::<Vec<_>>());
        assert_eq!(seqs(&umem, &gb), (100..116).collect::<Vec<_>>());
        let mut addrs: Vec<u64> = ga.iter().chain(&gb).map(|f| f.addr()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), 32, "distinct frames of one UMEM");
        // A third socket on a's queue shares a's fill and completion rings.
        let mut c = Socket::bind(&umem, p1, 0, &copy_cfg(true)).expect("socket on the same queue");
        assert!(
            c.fill.is_none() && c.comp.is_none(),
            "same queue: shared fill ring"
        );
        ra.insert(&c).unwrap();
        for seq in 200..208 {
            p_tap.send(&test_frame(p1_mac, p0_mac, seq));
        }
        let gc = rx_frames(&mut c, 8, WAIT);
        assert_eq!(seqs(&umem, &gc), (200..208).collect::<Vec<_>>());
        // A frame of this UMEM is refused by another UMEM's rings, and stays with the caller.
        let (other, _) = Umem::new(small_umem()).unwrap();
        let mut d = Socket::bind(&other, p1, 0, &copy_cfg(true)).map(Some);
        if let Ok(Some(d)) = d.as_mut() {
            let mut mine = vec![spare.pop().unwrap()];
            assert!(d.fill.as_mut().unwrap().produce(&mut mine).is_err());
            assert_eq!(mine.len(), 1);
        }
        assert!(
            other.data(&ga[0]).is_none(),
            "another UMEM's frame has no data here"
        );
    });
}

#[test]
fn statistics_count_drops_when_the_fill_ring_is_empty() {
    let Some((_g, lab)) = setup() else {
        return;
    };
    let (pair, x1) = (&lab.pair, lab.x1);
    pair.b.enter(|| {
        let mut x = open(x1, &copy_cfg(true), 0);
        lab.send(0..32);
        assert!(rx_frames(&mut x.sock, 1, Duration::from_millis(300)).is_empty());
        let st = x.sock.statistics().unwrap();
        assert!(st.rx_dropped >= 32, "32 frames, no fill frame: {st:?}");
        assert!(st.rx_fill_ring_empty_descs >= 1, "{st:?}");
        let mut give: Vec<Frame> = x.spare.drain(..16).collect();
        x.sock.fill.as_mut().unwrap().produce(&mut give).unwrap();
        lab.send(100..108);
        let got = rx_frames(&mut x.sock, 8, WAIT);
        assert_eq!(seqs(&x.umem, &got), (100..108).collect::<Vec<_>>());
        let after = x.sock.statistics().unwrap();
        assert_eq!(after.rx_dropped, st.rx_dropped, "no drop once filled");
    });
}

#[test]
fn teardown_releases_everything() {
    let Some((_g, lab)) = setup() else {
        return;
    };
    let (pair, x1) = (&lab.pair, lab.x1);
    pair.b.enter(|| {
        // Warm up lazily created process state (probe caches, the netlink socket) first.
        drop(open(x1, &copy_cfg(true), 8));
        let (fds, maps) = (xsk_util::fd_count(), xsk_util::map_count());
        let socks = xsk_util::xdp_sockets();
        {
            let mut x = open(x1, &copy_cfg(true), 8);
            lab.send([1]);
            assert_eq!(rx_frames(&mut x.sock, 1, WAIT).len(), 1);
            assert!(xsk_util::fd_count() > fds);
            assert!(xsk_util::map_count() > maps);
            assert_eq!(
                xsk_util::xdp_sockets(),
                socks + 1,
                "the kernel counts the socket"
            );
        }
        assert_eq!(xsk_util::fd_count(), fds, "fds after teardown");
        assert_eq!(xsk_util::map_count(), maps, "mappings after teardown");
        assert_eq!(
            xsk_util::xdp_sockets(),
            socks,
            "AF_XDP sockets after teardown"
        );
        // The queue and the interface are free again: a new socket binds on the same queue, and no XDP program is left on x1.
        let info = pair.b.ip(&["-d", "link", "show", "x1"]);
        assert!(!info.contains("prog/xdp"), "program left on x1: {info}");
        let (umem, _) = Umem::new(small_umem()).unwrap();
        Socket::bind(
            &umem,
            x1,
            0,
            &SocketConfig {
                mode: BindMode::Copy,
                ..copy_cfg(true)
            },
        )
        .expect("the queue is free after teardown");
    });
}

/// The address of this process's mapping of socket `fd` at page offset `pgoff`: the ring
/// the library mapped, found in /proc/self/maps (Linux 6.1 maps rings only before bind, so
/// the test cannot make a second view of its own).
fn find_ring(fd: i32, pgoff: u64) -> *mut u8 {
    // SAFETY: st is plain data filled by fstat.
    let ino = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd, &mut st), 0, "fstat");
        st.st_ino
    };
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    for l in maps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 6
            && f[5] == format!("socket:[{ino}]")
            && u64::from_str_radix(f[2], 16) == Ok(pgoff)
        {
            let start = f[0].split('-').next().expect("range");
            return usize::from_str_radix(start, 16).expect("address") as *mut u8;
        }
    }
    panic!("no mapping of socket inode {ino} at offset {pgoff:#x} in:\n{maps}");
}

#[test]
fn malformed_descriptors_never_panic() {
    use std::os::fd::{AsFd, AsRawFd};
    use std::sync::atomic::{AtomicU32, Ordering};
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let pair = Pair::new(1);
    let (x1, _) = pair.x1();
    pair.b.enter(|| {
        // Frames 0..16 go to the kernel through the fill ring; the rest stay with us.
        let mut x = open(x1, &copy_cfg(true), 16);
        let fd = x.sock.as_fd().as_raw_fd();
        // struct xdp_mmap_offsets: rx, tx, fr, cr; each producer, consumer, desc, flags.
        let mut off = [0u64; 16];
        let mut len = std::mem::size_of_val(&off) as u32;
        // SAFETY: off is a live buffer of `len` bytes.
        let rc = unsafe { libc::getsockopt(fd, 283, 1, off.as_mut_ptr().cast(), &mut len) };
        assert_eq!(rc, 0, "XDP_MMAP_OFFSETS");
        let rx = find_ring(fd, 0);
        // SAFETY: offsets from the kernel, inside the RX ring mapping the socket holds.
        let prod = unsafe { &*(rx.add(off[0] as usize) as *const AtomicU32) };
        let desc = |i: u32, addr: u64, len: u32| unsafe {
            let d = rx.add(off[2] as usize + (i as usize & 127) * 16);
            (d as *mut u64).write(addr);
            (d.add(8) as *mut u32).write(len);
            (d.add(12) as *mut u32).write(0);
        };
        let p = prod.load(Ordering::Acquire);
        let held = x.spare[0].addr();
        let bad = [
            (x.umem.len() as u64 + 4096, 64), // outside the UMEM
            (3 * 2048 + 2000, 100),           // across two frames
            (held, 64),                       // a frame user space holds
            (u64::MAX, u32::MAX),             // nonsense
            (2048 + 256, 60),                 // frame 1, which the kernel holds: valid
            (2048 + 256, 60),                 // ... handed over twice: the second is not
        ];
        for (i, &(a, l)) in bad.iter().enumerate() {
            desc(p + i as u32, a, l);
        }
        prod.store(p + bad.len() as u32, Ordering::Release);
        let rxq = x.sock.rx.as_mut().unwrap();
        let mut got = Vec::new();
        assert_eq!(rxq.consume(&mut got, 64), bad.len());
        assert_eq!(got.len(), 1, "only the one valid descriptor became a frame");
        assert_eq!(
            (got[0].addr(), got[0].offset(), got[0].len()),
            (2048, 256, 60)
        );
        assert_eq!(rxq.invalid(), 5);
        // A producer index far ahead of the consumer: at most a ring's worth is read.
        prod.store(p.wrapping_add(1_000_000), Ordering::Release);
        let n = rxq.consume(&mut got, 1000);
        assert!(n <= 128, "read {n} descriptors from a 128-entry ring");
        // The completion ring: an address outside the UMEM and one the user holds.
        let cr = find_ring(fd, 0x1_8000_0000);
        // SAFETY: as above, in the completion ring's mapping.
        let cprod = unsafe { &*(cr.add(off[12] as usize) as *const AtomicU32) };
        let cp = cprod.load(Ordering::Acquire);
        for (i, a) in [1u64 << 40, held].into_iter().enumerate() {
            unsafe {
                (cr.add(off[14] as usize + ((cp as usize + i) & 127) * 8) as *mut u64).write(a)
            };
        }
        cprod.store(cp + 2, Ordering::Release);
        let comp = x.sock.comp.as_mut().unwrap();
        let mut done = Vec::new();
        assert_eq!(comp.consume(&mut done, 64), 2);
        assert!(done.is_empty(), "no frame from malformed completions");
        assert_eq!(comp.invalid(), 2);
    });
}

/// (major, minor) of the running kernel.
fn kernel_version() -> (u32, u32) {
    // SAFETY: utsname is plain data filled by uname.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let mut n = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

#[test]
fn multi_buffer_frames_span_descriptors() {
    let Some((_g, lab)) = setup() else {
        return;
    };
    lab.pair.a.ip(&["link", "set", "x0", "mtu", "9000"]);
    lab.pair.b.ip(&["link", "set", "x1", "mtu", "9000"]);
    const BIG: usize = 6000;
    let mut sent = test_frame(lab.x1_mac, lab.x0_mac, 7);
    sent.extend((0..BIG - FRAME_LEN).map(|i| (i % 251) as u8));
    lab.pair.b.enter(|| {
        let (umem, mut spare) = Umem::new(UmemConfig {
            frame_size: 4096,
            ..small_umem()
        })
        .expect("UMEM");
        let cfg = SocketConfig {
            multi_buffer: true,
            ..copy_cfg(true)
        };
        let mut sock = match Socket::bind(&umem, lab.x1, 0, &cfg) {
            Err(oxbpf::xsk::XskError::Sys {
                op: "bind", source, ..
            }) if source.raw_os_error() == Some(libc::EINVAL) && kernel_version() < (6, 6) => {
                links_util::skip_kernel(
                    "XDP_USE_SG (multi-buffer AF_XDP) needs Linux 6.6+: bind says EINVAL",
                );
                return;
            }
            r => r.expect("bind with XDP_USE_SG"),
        };
        let mut give: Vec<Frame> = spare.drain(..64).collect();
        sock.fill.as_mut().unwrap().produce(&mut give).unwrap();
        let redirect = XskRedirect::load_with(1, true).expect("frags redirect program");
        redirect.insert(&sock).unwrap();
        let _link = redirect
            .attach(lab.x1, XdpMode::Driver)
            .expect("attach the frags program at MTU 9000");
        lab.tap.send(&sent);
        // Receive: descriptors until one without XDP_PKT_CONTD.
        let mut chain = Vec::new();
        let end = std::time::Instant::now() + WAIT;
        while chain.last().is_none_or(|f: &Frame| f.more()) && std::time::Instant::now() < end {
            let mut one = Vec::new();
            if sock.rx.as_mut().unwrap().consume(&mut one, 1) == 0 {
                sock.poll_rx(20).unwrap();
            }
            chain.extend(one);
        }
        assert!(
            chain.len() >= 2,
            "a {BIG}-byte frame in 4096-byte frames: {} descriptors",
            chain.len()
        );
        let got: Vec<u8> = chain
            .iter()
            .flat_map(|f| umem.data(f).unwrap().to_vec())
            .collect();
        assert_eq!(got, sent, "the frame reassembled from its descriptors");
        // Transmit: two chained frames leave as one.
        let mut out: Vec<Frame> = spare.drain(..2).collect();
        let back = test_frame(lab.x0_mac, lab.x1_mac, 8);
        let mut whole = back.clone();
        whole.extend((0..BIG - FRAME_LEN).map(|i| (i % 13) as u8));
        for (k, (f, part)) in out.iter_mut().zip(whole.chunks(3500)).enumerate() {
            umem.buffer_mut(f).unwrap()[..part.len()].copy_from_slice(part);
            umem.set_data(f, 0, part.len() as u32).unwrap();
            f.set_more(k == 0);
        }
        assert_eq!(sock.tx.as_mut().unwrap().produce(&mut out).unwrap(), 2);
        sock.kick_tx().unwrap();
        let rcvd = lab.tap.recv(1, WAIT);
        assert_eq!(rcvd.len(), 1, "one frame out of x1");
        assert_eq!(rcvd[0], whole, "the chained frames as one");
    });
}

#[test]
fn bad_configurations_fail_with_reasons() {
    use oxbpf::xsk::XskError;
    let Some((_g, lab)) = setup() else {
        return;
    };
    lab.pair.b.enter(|| {
        let (umem, _) = Umem::new(small_umem()).expect("UMEM");
        let odd = SocketConfig {
            rx_size: 1000,
            ..copy_cfg(true)
        };
        assert!(matches!(
            Socket::bind(&umem, lab.x1, 0, &odd),
            Err(XskError::Config {
                what: "rx_size",
                ..
            })
        ));
        let none = SocketConfig {
            rx_size: 0,
            tx_size: 0,
            ..copy_cfg(true)
        };
        assert!(matches!(
            Socket::bind(&umem, lab.x1, 0, &none),
            Err(XskError::Config { .. })
        ));
        // veth has no zero-copy AF_XDP: forcing it fails with the reason ...
        let (umem, _) = Umem::new(small_umem()).expect("UMEM");
        let zc = SocketConfig {
            mode: BindMode::ZeroCopy,
            ..copy_cfg(true)
        };
        let e = Socket::bind(&umem, lab.x1, 0, &zc).expect_err("zero-copy on veth");
        assert!(matches!(e, XskError::ZeroCopyRefused { .. }), "{e}");
        assert!(e.to_string().contains("BindMode::Auto"), "{e}");
        // ... and Auto falls back to copy mode on the same socket.
        let (umem, _) = Umem::new(small_umem()).expect("UMEM");
        let auto = Socket::bind(&umem, lab.x1, 0, &copy_cfg(true)).expect("auto mode");
        assert!(!auto.zero_copy());
        let why = auto.copy_mode_reason().expect("the reason for copy mode");
        assert!(why.contains("refused zero-copy"), "{why}");
        drop(auto);
        // A queue the interface does not have.
        let (umem, _) = Umem::new(small_umem()).expect("UMEM");
        let e = Socket::bind(&umem, lab.x1, 5, &copy_cfg(true)).expect_err("queue 5 of 1");
        assert!(matches!(e, XskError::Sys { op: "bind", .. }), "{e}");
        assert!(e.to_string().contains("hint"), "{e}");
        // Bad UMEM shapes never reach the kernel.
        let bad = UmemConfig {
            frame_size: 3000,
            ..small_umem()
        };
        assert!(matches!(
            Umem::new(bad),
            Err(XskError::Config {
                what: "frame_size",
                ..
            })
        ));
    });
}
