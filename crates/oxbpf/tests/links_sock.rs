//! Socket-level hooks on real sockets: sk_msg / sk_skb on a sockmap holding a TCP pair (link
//! and BPF_PROG_ATTACH paths), a socket filter on a UDP socket, sk_lookup steering a TCP
//! connect to another port in a private netns, and flow_dissector attach/query/detach.

mod links_util;

use links_util::*;
use oxbpf::link::{
    attach_netns, attach_socket_filter, attach_sockmap, open_netns, query_attached, AttachPath,
    LinkTarget, Mechanism,
};
use oxbpf::spec::{AttachType, LinkType};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};

fn put_sock(m: &oxbpf::map::Map, key: u32, fd: i32) {
    m.update(&key.to_ne_bytes(), &(fd as u64).to_ne_bytes(), 0)
        .expect("insert socket in sockmap");
}

/// A connected TCP pair on loopback.
fn tcp_pair() -> (TcpStream, TcpStream, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s, l)
}

/// Sends through `c` (in the sockmap) and reads it back on `s`.
fn exchange(c: &mut TcpStream, s: &mut TcpStream) {
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

/// True when a link-only sockmap attach works on this kernel.
fn sockmap_links_exist() -> bool {
    let coll = load("sock.bpf.o", &["msg_verdict"]).expect("load sock fixture");
    let msg = coll.program("msg_verdict").unwrap();
    let socks = coll.map("socks").unwrap();
    attach_sockmap(
        msg.fd(),
        socks.fd(),
        AttachType::SK_MSG_VERDICT,
        Mechanism::Link,
    )
    .is_ok()
}

fn sockmap_programs(mech: Mechanism, want: AttachPath) {
    let coll = load("sock.bpf.o", &["msg_verdict", "skb_verdict"]).expect("load sock fixture");
    let (msg, skb) = (
        coll.program("msg_verdict").unwrap(),
        coll.program("skb_verdict").unwrap(),
    );
    let socks = coll.map("socks").unwrap();
    let counts = coll.map("counts").unwrap();
    let lm = attach_sockmap(msg.fd(), socks.fd(), AttachType::SK_MSG_VERDICT, mech).unwrap();
    let ls = attach_sockmap(
        skb.fd(),
        socks.fd(),
        AttachType::SK_SKB_STREAM_VERDICT,
        mech,
    )
    .unwrap();
    for (l, p) in [(&lm, msg), (&ls, skb)] {
        assert_eq!(l.path(), want);
        let i = l.info().unwrap();
        assert_eq!(i.prog_id, p.id());
        assert_eq!(i.target, LinkTarget::Map { id: socks.id() });
        if want == AttachPath::Link {
            assert_eq!(i.link_type, Some(LinkType::SOCKMAP));
        }
    }
    let (mut c, mut s, _l) = tcp_pair();
    put_sock(socks, 0, c.as_raw_fd());
    put_sock(socks, 1, s.as_raw_fd());
    let (m0, s0) = (count(counts, 0), count(counts, 1));
    exchange(&mut c, &mut s);
    assert!(count(counts, 0) > m0, "sk_msg verdict did not run");
    assert!(count(counts, 1) > s0, "sk_skb verdict did not run");
    socks.delete(&0u32.to_ne_bytes()).unwrap();
    socks.delete(&1u32.to_ne_bytes()).unwrap();
    lm.detach().unwrap();
    drop(ls);
    // Sockets inserted after detach get no programs.
    let (mut c, mut s, _l) = tcp_pair();
    put_sock(socks, 0, c.as_raw_fd());
    put_sock(socks, 1, s.as_raw_fd());
    let (m0, s0) = (count(counts, 0), count(counts, 1));
    exchange(&mut c, &mut s);
    assert_eq!(
        (count(counts, 0), count(counts, 1)),
        (m0, s0),
        "still running after detach"
    );
}

#[test]
fn sockmap_links_run_and_detach() {
    let _g = serial();
    if require_kernel() {
        // Sockmap links exist since v6.10; older kernels (v6.1 in `xtask vm-test`) must fall back.
        let want = if sockmap_links_exist() {
            AttachPath::Link
        } else {
            AttachPath::ProgAttach
        };
        sockmap_programs(Mechanism::Auto, want);
    }
}

#[test]
fn sockmap_prog_attach_runs_and_detaches() {
    let _g = serial();
    if require_kernel() {
        sockmap_programs(Mechanism::Legacy, AttachPath::ProgAttach);
    }
}

#[test]
fn socket_filter_runs_and_detaches() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("sock.bpf.o", &["sock_filter"]).expect("load sock fixture");
    let p = coll.program("sock_filter").unwrap();
    let counts = coll.map("counts").unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = || {
        tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        let mut b = [0u8; 4];
        rx.recv(&mut b).unwrap();
    };
    let l = attach_socket_filter(p.fd(), rx.as_fd()).unwrap();
    assert_eq!(l.path(), AttachPath::SocketOption);
    let info = l.info().unwrap();
    assert_eq!(info.prog_id, p.id());
    assert!(matches!(info.target, LinkTarget::Socket { cookie } if cookie != 0));
    let before = count(counts, 2);
    send();
    assert!(count(counts, 2) > before, "socket filter did not run");
    l.detach().unwrap();
    let before = count(counts, 2);
    send();
    assert_eq!(
        count(counts, 2),
        before,
        "socket filter still runs after detach"
    );
}

#[test]
fn sk_lookup_steers_connections_until_detached() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("sock.bpf.o", &["steer"]).expect("load sock fixture");
    let p = coll.program("steer").unwrap();
    let target = coll.map("target").unwrap();
    let counts = coll.map("counts").unwrap();
    let ns = Netns::new("lk");
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:7001").unwrap();
        put_sock(target, 0, listener.as_raw_fd());
        let netns = open_netns("/proc/thread-self/ns/net").unwrap();
        let l = attach_netns(
            p.fd(),
            netns.as_fd(),
            AttachType::SK_LOOKUP,
            Mechanism::Auto,
        )
        .unwrap();
        assert_eq!(l.path(), AttachPath::Link);
        let info = l.info().unwrap();
        assert_eq!(info.link_type, Some(LinkType::NETNS));
        assert_eq!(info.attach_type, Some(AttachType::SK_LOOKUP));
        assert!(matches!(info.target, LinkTarget::Netns { ino } if ino != 0));
        let before = count(counts, 3);
        // Nothing listens on 7002: only the steering makes this connect work.
        let c = TcpStream::connect("127.0.0.1:7002").expect("steered connect");
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(accepted.local_addr().unwrap().port(), 7002);
        assert!(count(counts, 3) > before);
        drop((c, accepted));
        drop(l);
        let e = TcpStream::connect("127.0.0.1:7002").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        // No legacy path exists for sk_lookup.
        let e = attach_netns(
            p.fd(),
            netns.as_fd(),
            AttachType::SK_LOOKUP,
            Mechanism::Legacy,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("only be attached with a link"),
            "{e}"
        );
    });
}

#[test]
fn flow_dissector_attach_query_detach_both_paths() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("sock.bpf.o", &["dissect"]).expect("load sock fixture");
    let p = coll.program("dissect").unwrap();
    let ns = Netns::new("fd");
    ns.enter(|| {
        let netns = open_netns("/proc/thread-self/ns/net").unwrap();
        let t = AttachType::FLOW_DISSECTOR;
        for (mech, want) in [
            (Mechanism::Auto, AttachPath::Link),
            (Mechanism::Legacy, AttachPath::ProgAttach),
        ] {
            let l = attach_netns(p.fd(), netns.as_fd(), t, mech).unwrap();
            assert_eq!(l.path(), want);
            assert_eq!(query_attached(netns.as_fd(), t).unwrap(), vec![p.id()]);
            drop(l);
            assert!(
                query_attached(netns.as_fd(), t).unwrap().is_empty(),
                "{want:?}"
            );
        }
    });
}

#[test]
fn flow_dissector_runs_on_traffic_until_detached() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("sock.bpf.o", &["dissect"]).expect("load sock fixture");
    let p = coll.program("dissect").unwrap();
    let counts = coll.map("counts").unwrap();
    let pair = VethPair::new();
    // With RPS on veth0, every packet it receives is hashed (skb_get_hash) to pick a CPU,
    // which runs the receiving namespace's flow dissector.
    let rps = "/sys/class/net/veth0/queues/rx-0/rps_cpus";
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.a.name,
            "sh",
            "-c",
            &format!("echo 1 > {rps}"),
        ])
        .status()
        .expect("run ip netns exec");
    assert!(out.success(), "enable RPS on veth0");
    for mech in [Mechanism::Auto, Mechanism::Legacy] {
        let l = pair.a.enter(|| {
            let netns = open_netns("/proc/thread-self/ns/net").unwrap();
            attach_netns(p.fd(), netns.as_fd(), AttachType::FLOW_DISSECTOR, mech).unwrap()
        });
        let before = count(counts, 4);
        assert!(
            eventually(|| {
                pair.traffic();
                count(counts, 4) > before
            }),
            "{mech:?}: flow dissector never ran"
        );
        drop(l);
        let after = count(counts, 4);
        for _ in 0..5 {
            pair.traffic();
        }
        assert_eq!(count(counts, 4), after, "{mech:?}: runs after detach");
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn old_kernel_without_sockmap_links_uses_prog_attach() {
    use oxbpf::link::support::reset_link_probes;
    use oxbpf::sys::{fault::Guard, Cmd};
    let _g = serial();
    if !require_kernel() {
        return;
    }
    reset_link_probes();
    let coll = load("sock.bpf.o", &["msg_verdict"]).expect("load sock fixture");
    let msg = coll.program("msg_verdict").unwrap();
    let socks = coll.map("socks").unwrap();
    let l = {
        let _f = Guard::fail(Cmd::LinkCreate, libc::EINVAL);
        attach_sockmap(
            msg.fd(),
            socks.fd(),
            AttachType::SK_MSG_VERDICT,
            Mechanism::Auto,
        )
        .unwrap()
    };
    assert_eq!(l.path(), AttachPath::ProgAttach);
    let counts = coll.map("counts").unwrap();
    let (mut c, mut s, _l) = tcp_pair();
    put_sock(socks, 0, c.as_raw_fd());
    let before = count(counts, 0);
    exchange(&mut c, &mut s);
    assert!(count(counts, 0) > before);
    drop(l);
    reset_link_probes();
}
