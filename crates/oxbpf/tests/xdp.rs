//! XDP attach/replace/detach on real veth pairs in private network namespaces, through both
//! the bpf_link and the netlink path, checked against `ip -d link show` and `query_xdp`.
//!
//! Each test creates its own namespace(s) (unique names, removed by a Drop guard) and runs
//! the attach operations on a dedicated thread that joined the namespace with setns(2).
//! Tests are serialized: fault injection, the probe cache and the env override are
//! process-global.

use oxbpf::asm::Insn;
use oxbpf::link::{
    attach_xdp, query_xdp, xdp_link_supported, AttachPath, LinkError, LinkTarget, XdpAttached,
    XdpLink, XdpMode, XdpOptions, XdpPath,
};
use oxbpf::netlink::xdp::ifindex;
use oxbpf::spec::{LinkType, ProgramType};
use oxbpf::sys::{self, attr::ProgLoadAttr, ObjKind};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;

static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("oxbpf-xdp-{}-{n}-{tag}", std::process::id())
}

/// True if we may load XDP programs and create namespaces; otherwise prints why and, under
/// `OXBPF_REQUIRE_KERNEL=1`, fails.
fn require_kernel() -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("not root".to_string())
    } else {
        match try_load_xdp(XDP_PASS) {
            Ok(_) => None,
            Err(e) if e.is_permission() => Some(format!("cannot load programs: {e}")),
            Err(_) => None, // a real failure: let the test report it
        }
    };
    match reason {
        None => true,
        Some(r) => {
            if std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
                panic!("OXBPF_REQUIRE_KERNEL=1 but kernel tests cannot run: {r}");
            }
            eprintln!("SKIPPED: XDP kernel test needs root/CAP_BPF+CAP_NET_ADMIN: {r}");
            false
        }
    }
}

fn try_load_xdp(action: i32) -> Result<OwnedFd, sys::SysError> {
    let insns = [
        Insn {
            code: 0xb7, // r0 = imm (BPF_ALU64 | BPF_MOV | BPF_K)
            regs: 0,
            off: 0,
            imm: action,
        },
        Insn {
            code: 0x95, // exit
            ..Default::default()
        },
    ];
    let bytes = Insn::encode_all(&insns);
    let license = b"GPL\0";
    let name = if action == XDP_PASS {
        "oxbpf_xdp_pass"
    } else {
        "oxbpf_xdp_drop"
    };
    let mut attr = ProgLoadAttr {
        prog_type: ProgramType::XDP.0,
        insn_cnt: insns.len() as u32,
        insns: sys::ptr_to_u64(bytes.as_ptr()),
        license: sys::ptr_to_u64(license.as_ptr()),
        prog_name: sys::object_name(name),
        ..Default::default()
    };
    sys::prog_load(&mut attr)
}

fn load_xdp(action: i32) -> OwnedFd {
    try_load_xdp(action).expect("load trivial XDP program")
}

fn prog_id(fd: &OwnedFd) -> u32 {
    sys::prog_info(fd.as_fd()).expect("prog info").id
}

/// A network namespace, deleted (with its devices) on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = unique(tag);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> args...`, panicking with its stderr on failure.
    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `f` on a thread that has joined this namespace.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns");
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }

    fn link_show(&self, dev: &str) -> String {
        self.ip(&["-d", "link", "show", "dev", dev])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace with an up veth pair `veth0` <-> `veth1`.
fn veth_ns() -> Netns {
    let ns = Netns::new("v");
    ns.ip(&[
        "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    ns.ip(&["link", "set", "veth0", "up"]);
    ns.ip(&["link", "set", "veth1", "up"]);
    ns
}

fn opts(path: XdpPath) -> XdpOptions {
    XdpOptions::default().path(path)
}

/// Checks `ip -d link show` and `query_xdp` agree that `id` is attached in `mode`.
fn assert_attached(ns: &Netns, mode: XdpMode, id: u32) {
    let out = ns.link_show("veth0");
    let first = out.lines().next().unwrap_or_default();
    let marker = match mode {
        XdpMode::Generic => " xdpgeneric ",
        _ => " xdp ",
    };
    assert!(first.contains(marker), "expected {marker:?} in {out}");
    assert!(
        out.contains(&format!("prog/xdp id {id} ")),
        "id {id} not in {out}"
    );
    let info = ns.enter(|| query_xdp(ifindex("veth0").unwrap()).unwrap());
    assert_eq!(info.prog_id, Some(id), "{info:?}");
    assert_eq!(info.mode(), Some(mode), "{info:?}");
    match mode {
        XdpMode::Generic => assert_eq!(info.generic_prog_id, Some(id)),
        _ => assert_eq!(info.driver_prog_id, Some(id)),
    }
}

fn assert_detached(ns: &Netns) {
    let out = ns.link_show("veth0");
    assert!(!out.contains("prog/xdp"), "still attached: {out}");
    let info = ns.enter(|| query_xdp(ifindex("veth0").unwrap()).unwrap());
    assert_eq!(info.attached, XdpAttached::None, "{info:?}");
    assert_eq!(info.prog_id, None);
    assert_eq!(info.link_id, None);
}

fn attach_in(ns: &Netns, prog: &OwnedFd, mode: XdpMode, path: XdpPath) -> XdpLink {
    ns.enter(|| {
        let idx = ifindex("veth0").unwrap();
        attach_xdp(prog.as_fd(), idx, mode, opts(path)).unwrap()
    })
}

#[test]
fn attach_query_detach_both_paths_and_modes() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    let id = prog_id(&prog);
    for path in [XdpPath::Auto, XdpPath::Netlink] {
        for mode in [XdpMode::Generic, XdpMode::Driver] {
            let ns = veth_ns();
            let link = attach_in(&ns, &prog, mode, path);
            let want = if path == XdpPath::Netlink {
                AttachPath::Netlink
            } else {
                AttachPath::Link // this kernel has XDP links
            };
            assert_eq!(link.path(), want, "{path:?} {mode:?}");
            assert_attached(&ns, mode, id);

            let info = link.info().unwrap();
            assert_eq!(info.prog_id, id);
            assert_eq!(info.target, LinkTarget::Ifindex(link.ifindex()));
            let q = ns.enter(|| query_xdp(link.ifindex()).unwrap());
            if want == AttachPath::Link {
                assert_eq!(info.link_type, Some(LinkType::XDP));
                assert!(info.id.is_some());
                assert_eq!(q.link_id, info.id, "query_xdp finds the owning link");
            } else {
                assert_eq!(info.id, None);
                assert_eq!(q.link_id, None);
            }

            link.detach().unwrap();
            assert_detached(&ns);
        }
    }
}

#[test]
fn auto_mode_on_veth_picks_driver() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    for path in [XdpPath::Auto, XdpPath::Netlink] {
        let ns = veth_ns();
        let link = attach_in(&ns, &prog, XdpMode::Auto, path);
        assert_attached(&ns, XdpMode::Driver, prog_id(&prog));
        drop(link);
        assert_detached(&ns);
    }
}

#[test]
fn env_var_forces_netlink() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    let ns = veth_ns();
    std::env::set_var("OXBPF_FORCE_XDP_NETLINK", "1");
    let forced = ns.enter(|| {
        attach_xdp(
            prog.as_fd(),
            ifindex("veth0").unwrap(),
            XdpMode::Generic,
            XdpOptions::default(),
        )
    });
    std::env::remove_var("OXBPF_FORCE_XDP_NETLINK");
    let link = forced.unwrap();
    assert_eq!(link.path(), AttachPath::Netlink);
    assert_attached(&ns, XdpMode::Generic, prog_id(&prog));
    drop(link);
    assert_detached(&ns);
}

#[test]
fn replace_is_atomic_and_checked() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let pass = load_xdp(XDP_PASS);
    let drop_prog = load_xdp(XDP_DROP);
    let third = load_xdp(XDP_PASS);
    for path in [XdpPath::Auto, XdpPath::Netlink] {
        let ns = veth_ns();
        let mut link = attach_in(&ns, &pass, XdpMode::Generic, path);
        assert_attached(&ns, XdpMode::Generic, prog_id(&pass));
        link.replace(drop_prog.as_fd()).unwrap();
        assert_attached(&ns, XdpMode::Generic, prog_id(&drop_prog));
        assert_eq!(link.info().unwrap().prog_id, prog_id(&drop_prog));
        if path == XdpPath::Netlink {
            // Someone else swaps the program behind our back: our replace must refuse.
            let obj = ns.ip(&["link", "show", "dev", "veth0"]);
            assert!(obj.contains("xdpgeneric"));
            ns.enter(|| {
                let sock = oxbpf::netlink::Socket::route().unwrap();
                let change = oxbpf::netlink::xdp::SetXdp {
                    fd: third.as_raw_fd(),
                    flags: oxbpf::netlink::xdp::XDP_FLAGS_SKB_MODE,
                    expected_fd: None,
                };
                oxbpf::netlink::xdp::set_xdp(&sock, link.ifindex(), "veth0", change).unwrap();
            });
            let err = link.replace(pass.as_fd()).unwrap_err();
            assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
            assert_attached(&ns, XdpMode::Generic, prog_id(&third));
            // ... and drop must leave the other program in place.
            drop(link);
            assert_attached(&ns, XdpMode::Generic, prog_id(&third));
            ns.ip(&["link", "set", "dev", "veth0", "xdpgeneric", "off"]);
        } else {
            link.detach().unwrap();
        }
        assert_detached(&ns);
    }
}

#[test]
fn drop_detaches_and_keep_leaves_attached() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    let id = prog_id(&prog);
    for path in [XdpPath::Auto, XdpPath::Netlink] {
        let ns = veth_ns();
        drop(attach_in(&ns, &prog, XdpMode::Generic, path));
        assert_detached(&ns);

        let link = attach_in(&ns, &prog, XdpMode::Generic, path);
        let link_id = link.info().unwrap().id;
        link.keep();
        assert_attached(&ns, XdpMode::Generic, id);
        // Clean up by hand, as another process would.
        match link_id {
            Some(lid) => {
                let q = ns.enter(|| query_xdp(ifindex("veth0").unwrap()).unwrap());
                assert_eq!(q.link_id, Some(lid));
                let fd = sys::get_fd_by_id(ObjKind::Link, lid).unwrap();
                sys::link_detach(fd.as_fd()).unwrap();
            }
            None => {
                ns.ip(&["link", "set", "dev", "veth0", "xdpgeneric", "off"]);
            }
        }
        assert_detached(&ns);
    }
}

#[test]
fn attaching_twice_reports_kernel_reason() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let a = load_xdp(XDP_PASS);
    let b = load_xdp(XDP_DROP);
    // netlink over netlink: EBUSY with the kernel's extended-ack text.
    let ns = veth_ns();
    let first = attach_in(&ns, &a, XdpMode::Generic, XdpPath::Netlink);
    let err = ns
        .enter(|| {
            attach_xdp(
                b.as_fd(),
                first.ifindex(),
                XdpMode::Generic,
                opts(XdpPath::Netlink),
            )
        })
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{msg}");
    assert!(
        msg.starts_with("netlink: set XDP on veth0: device or resource busy: "),
        "{msg}"
    );
    let LinkError::Netlink(ne) = &err else {
        panic!("not a netlink error: {err:?}")
    };
    assert!(ne.ext_ack().is_some_and(|m| !m.is_empty()), "{msg}");
    eprintln!("kernel said: {msg}");
    assert_attached(&ns, XdpMode::Generic, prog_id(&a));
    drop(first);

    // link over link: EBUSY from BPF_LINK_CREATE; netlink over a link: refused with a reason.
    let first = attach_in(&ns, &a, XdpMode::Generic, XdpPath::Link);
    let err = ns
        .enter(|| {
            attach_xdp(
                b.as_fd(),
                first.ifindex(),
                XdpMode::Generic,
                opts(XdpPath::Link),
            )
        })
        .unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
    assert!(err.to_string().contains("via bpf_link"), "{err}");
    let err = ns
        .enter(|| {
            attach_xdp(
                b.as_fd(),
                first.ifindex(),
                XdpMode::Generic,
                opts(XdpPath::Netlink),
            )
        })
        .unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
    eprintln!("kernel said: {err}");
    assert_attached(&ns, XdpMode::Generic, prog_id(&a));
    drop(first);
    assert_detached(&ns);
}

#[test]
fn missing_device_is_a_clear_error() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    let ns = veth_ns();
    for path in [XdpPath::Auto, XdpPath::Netlink] {
        let err = ns
            .enter(|| attach_xdp(prog.as_fd(), 999_999, XdpMode::Generic, opts(path)))
            .unwrap_err();
        assert!(
            matches!(err, LinkError::NoSuchDevice { ifindex: 999_999 }),
            "{path:?}: {err}"
        );
    }
    let err = ns.enter(|| ifindex("nope0")).unwrap_err();
    assert!(err
        .to_string()
        .contains("no network interface named \"nope0\""));
}

#[test]
fn pin_and_reopen() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    let id = prog_id(&prog);
    let ns = veth_ns();
    let pin = std::path::PathBuf::from(format!("/sys/fs/bpf/{}", unique("pin")));
    struct Unpin(std::path::PathBuf);
    impl Drop for Unpin {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _unpin = Unpin(pin.clone());

    let mut link = attach_in(&ns, &prog, XdpMode::Generic, XdpPath::Link);
    link.pin(&pin).unwrap();
    let lid = link.info().unwrap().id;
    drop(link); // the pin keeps it attached
    assert_attached(&ns, XdpMode::Generic, id);

    let mut reopened = oxbpf::link::Link::from_pin(&pin).unwrap();
    assert_eq!(reopened.pin_path(), Some(pin.as_path()));
    assert_eq!(reopened.info().unwrap().id, lid);
    reopened.unpin().unwrap();
    assert!(!pin.exists());
    reopened.detach().unwrap();
    assert_detached(&ns);

    // A program pin is not a link.
    sys::obj_pin(prog.as_fd(), &pin).unwrap();
    let err = oxbpf::link::Link::from_pin(&pin).unwrap_err();
    assert!(matches!(err, LinkError::NotALink { .. }), "{err}");
    std::fs::remove_file(&pin).unwrap();

    // netlink attachments have nothing to pin.
    let mut nl = attach_in(&ns, &prog, XdpMode::Generic, XdpPath::Netlink);
    let err = nl.pin(&pin).unwrap_err();
    assert!(matches!(err, LinkError::NotPinnable { .. }), "{err}");
    drop(nl);
    assert_detached(&ns);
}

/// Two namespaces joined by a veth pair: `a` has veth0 10.199.0.1, `b` has veth1 10.199.0.2.
fn ns_pair() -> (Netns, Netns) {
    let a = Netns::new("a");
    let b = Netns::new("b");
    a.ip(&[
        "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "10.199.0.1/24", "dev", "veth0"]);
    b.ip(&["addr", "add", "10.199.0.2/24", "dev", "veth1"]);
    a.ip(&["link", "set", "veth0", "up"]);
    b.ip(&["link", "set", "veth1", "up"]);
    (a, b)
}

/// True if a UDP datagram sent from `a` arrives in `b` (ARP included) within ~1.5 s.
fn udp_gets_through(a: &Netns, b: &Netns) -> bool {
    let sock = b.enter(|| UdpSocket::bind("10.199.0.2:0").unwrap());
    let port = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let sender = a.enter(|| UdpSocket::bind("10.199.0.1:0").unwrap());
    let to: SocketAddr = format!("10.199.0.2:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut buf = [0u8; 16];
    while Instant::now() < deadline {
        let _ = sender.send_to(b"oxbpf", to);
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if &buf[..n] == b"oxbpf" {
                return true;
            }
        }
    }
    false
}

#[test]
fn programs_really_run_on_the_receiving_veth() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let pass = load_xdp(XDP_PASS);
    let drop_prog = load_xdp(XDP_DROP);
    for path in [XdpPath::Auto, XdpPath::Netlink] {
        for mode in [XdpMode::Generic, XdpMode::Driver] {
            let (a, b) = ns_pair();
            assert!(udp_gets_through(&a, &b), "no traffic before attaching");
            let mut link = b.enter(|| {
                let idx = ifindex("veth1").unwrap();
                attach_xdp(drop_prog.as_fd(), idx, mode, opts(path)).unwrap()
            });
            // Forget any neighbour entry so the drop program sees ARP too.
            a.ip(&["neigh", "flush", "dev", "veth0"]);
            assert!(
                !udp_gets_through(&a, &b),
                "{path:?} {mode:?}: XDP_DROP let traffic through"
            );
            link.replace(pass.as_fd()).unwrap();
            assert!(
                udp_gets_through(&a, &b),
                "{path:?} {mode:?}: XDP_PASS blocked traffic"
            );
            link.replace(drop_prog.as_fd()).unwrap();
            a.ip(&["neigh", "flush", "dev", "veth0"]);
            assert!(!udp_gets_through(&a, &b));
            drop(link);
            assert!(udp_gets_through(&a, &b), "traffic blocked after detach");
        }
    }
}

/// Waits until the kernel has freed object `id` (freeing is deferred).
fn gone(kind: ObjKind, id: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match sys::get_fd_by_id(kind, id) {
            Err(e) if e.errno == libc::ENOENT => return true,
            _ if Instant::now() > deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn no_links_or_programs_leak() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let ns = veth_ns();
    let mut prog_ids = Vec::new();
    let mut link_ids = Vec::new();
    {
        let a = load_xdp(XDP_PASS);
        let b = load_xdp(XDP_DROP);
        prog_ids.extend([prog_id(&a), prog_id(&b)]);
        for path in [XdpPath::Link, XdpPath::Netlink] {
            let mut l = attach_in(&ns, &a, XdpMode::Generic, path);
            link_ids.extend(l.info().unwrap().id);
            l.replace(b.as_fd()).unwrap();
            drop(l);
            let l = attach_in(&ns, &a, XdpMode::Driver, path);
            link_ids.extend(l.info().unwrap().id);
            l.detach().unwrap();
        }
    }
    assert_eq!(link_ids.len(), 2);
    for id in prog_ids {
        assert!(gone(ObjKind::Prog, id), "program {id} leaked");
    }
    for id in link_ids {
        assert!(gone(ObjKind::Link, id), "link {id} leaked");
    }
    assert_detached(&ns);
}

#[test]
fn probe_says_this_kernel_has_xdp_links() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    #[cfg(feature = "fault-injection")]
    oxbpf::link::xdp::reset_xdp_link_probe();
    assert!(xdp_link_supported().unwrap());
}

/// Resets the v5.4 netlink emulation even if the test panics.
#[cfg(feature = "fault-injection")]
struct NoReplace;

#[cfg(feature = "fault-injection")]
impl NoReplace {
    fn on() -> Self {
        oxbpf::netlink::xdp::fault::set_no_replace(true);
        NoReplace
    }
}

#[cfg(feature = "fault-injection")]
impl Drop for NoReplace {
    fn drop(&mut self) {
        oxbpf::netlink::xdp::fault::set_no_replace(false);
    }
}

/// Before v5.7 netlink has no `XDP_FLAGS_REPLACE`: replace and drop still act only on our own
/// program (checked by id first).
#[cfg(feature = "fault-injection")]
#[test]
fn netlink_without_xdp_flags_replace_still_removes_only_ours() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let pass = load_xdp(XDP_PASS);
    let drop_prog = load_xdp(XDP_DROP);
    let other = load_xdp(XDP_PASS);
    let ns = veth_ns();
    let _old = NoReplace::on();
    let mut link = attach_in(&ns, &pass, XdpMode::Generic, XdpPath::Netlink);
    link.replace(drop_prog.as_fd()).unwrap();
    assert_attached(&ns, XdpMode::Generic, prog_id(&drop_prog));
    drop(link);
    assert_detached(&ns);

    // Someone else replaced ours: neither replace nor drop may touch theirs.
    let mut link = attach_in(&ns, &pass, XdpMode::Driver, XdpPath::Netlink);
    ns.ip(&["link", "set", "dev", "veth0", "xdpdrv", "off"]);
    ns.enter(|| {
        let sock = oxbpf::netlink::Socket::route().unwrap();
        let change = oxbpf::netlink::xdp::SetXdp {
            fd: other.as_raw_fd(),
            flags: oxbpf::netlink::xdp::XDP_FLAGS_DRV_MODE,
            expected_fd: None,
        };
        oxbpf::netlink::xdp::set_xdp(&sock, link.ifindex(), "veth0", change).unwrap();
    });
    let err = link.replace(drop_prog.as_fd()).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
    drop(link);
    assert_attached(&ns, XdpMode::Driver, prog_id(&other));
    ns.ip(&["link", "set", "dev", "veth0", "xdpdrv", "off"]);
    assert_detached(&ns);
}

/// Kernel 5.4 answers `BPF_LINK_CREATE` with `EINVAL`: attach_xdp must fall back to netlink
/// by itself, and an explicit link-only request must say what is missing.
#[cfg(feature = "fault-injection")]
#[test]
fn old_kernel_without_xdp_links_falls_back_to_netlink() {
    use oxbpf::sys::{fault::Guard, Cmd};
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let prog = load_xdp(XDP_PASS);
    let drop_prog = load_xdp(XDP_DROP);
    let ns = veth_ns();
    oxbpf::link::xdp::reset_xdp_link_probe();
    {
        // Like v5.4: no BPF_LINK_CREATE, no XDP_FLAGS_REPLACE.
        let _fault = Guard::fail(Cmd::LinkCreate, libc::EINVAL);
        let _old = NoReplace::on();
        let mut link = attach_in(&ns, &prog, XdpMode::Generic, XdpPath::Auto);
        assert_eq!(link.path(), AttachPath::Netlink);
        assert!(!xdp_link_supported().unwrap(), "answer is remembered");
        assert_attached(&ns, XdpMode::Generic, prog_id(&prog));
        link.replace(drop_prog.as_fd()).unwrap();
        assert_attached(&ns, XdpMode::Generic, prog_id(&drop_prog));
        drop(link);
        assert_detached(&ns);

        let err = ns
            .enter(|| {
                attach_xdp(
                    prog.as_fd(),
                    ifindex("veth0").unwrap(),
                    XdpMode::Generic,
                    opts(XdpPath::Link),
                )
            })
            .unwrap_err();
        assert!(matches!(err, LinkError::NotSupported { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("XDP bpf_link not supported (requires >= v5.9)"),
            "{err}"
        );
        assert_detached(&ns);
    }
    oxbpf::link::xdp::reset_xdp_link_probe();
    // A real error on a kernel that has XDP links is not mistaken for "no XDP links":
    // offload mode on veth fails and there is no silent netlink fallback.
    let err = ns
        .enter(|| {
            attach_xdp(
                prog.as_fd(),
                ifindex("veth0").unwrap(),
                XdpMode::Offload,
                XdpOptions::default(),
            )
        })
        .unwrap_err();
    assert!(matches!(err, LinkError::Sys { .. }), "{err:?}");
    assert!(xdp_link_supported().unwrap());
    assert_detached(&ns);
}
