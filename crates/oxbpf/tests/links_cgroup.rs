//! cgroup attachment in a fresh cgroup v2 directory: cgroup link and BPF_PROG_ATTACH paths
//! (the latter forced by option and by a fault-injected old kernel), each proven by counters
//! that move while a child process inside the cgroup makes traffic and stop after detach.

mod links_util;

use links_util::*;
use oxbpf::link::{
    attach_cgroup, open_cgroup, query_attached, AttachPath, CgroupAttachMode, CgroupOptions,
    LinkError, LinkTarget, Mechanism,
};
use oxbpf::spec::{AttachType, LinkType};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// A cgroup v2 directory with a unique name, removed on drop.
struct TestCgroup {
    path: PathBuf,
    fd: OwnedFd,
}

impl TestCgroup {
    fn new() -> Option<TestCgroup> {
        let path = new_cgroup(skip)?;
        let fd = open_cgroup(&path).expect("open cgroup");
        Some(TestCgroup { path, fd })
    }

    /// Runs `script` with bash in a child process that first moves itself into the cgroup.
    fn run_inside(&self, script: &str) {
        let procs = self.path.join("cgroup.procs");
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script]);
        unsafe {
            cmd.pre_exec(move || std::fs::write(&procs, b"0"));
        }
        let out = cmd.output().expect("spawn child in cgroup");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// UDP to 127.0.0.1:9 (connect4 + egress), and a TCP connect to a listener we own (sockops).
fn traffic(cg: &TestCgroup, tcp_port: u16) {
    cg.run_inside(&format!(
        "echo x > /dev/udp/127.0.0.1/9; exec 3<>/dev/tcp/127.0.0.1/{tcp_port}; exec 3>&-"
    ));
}

struct Fixture {
    coll: oxbpf::collection::Collection,
    listener: std::net::TcpListener,
}

impl Fixture {
    fn new() -> Fixture {
        let coll = load(
            "cgroup.bpf.o",
            &["skb_egress", "connect4", "sock_create", "count_sockops"],
        )
        .expect("load cgroup fixture");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Fixture { coll, listener }
    }
    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
    fn counts(&self) -> &oxbpf::map::Map {
        self.coll.map("counts").unwrap()
    }
    fn fd(&self, name: &str) -> std::os::fd::BorrowedFd<'_> {
        self.coll.program(name).unwrap().fd()
    }
    fn id(&self, name: &str) -> u32 {
        self.coll.program(name).unwrap().id()
    }
}

const HOOKS: [(&str, AttachType, u32); 4] = [
    ("skb_egress", AttachType::CGROUP_INET_EGRESS, 0),
    ("connect4", AttachType::CGROUP_INET4_CONNECT, 1),
    ("sock_create", AttachType::CGROUP_INET_SOCK_CREATE, 2),
    ("count_sockops", AttachType::CGROUP_SOCK_OPS, 3),
];

fn exercise(mech: Mechanism, want: AttachPath) {
    let Some(cg) = TestCgroup::new() else { return };
    let fx = Fixture::new();
    let mut links = Vec::new();
    for (name, t, _) in HOOKS {
        let l = attach_cgroup(
            fx.fd(name),
            cg.fd.as_fd(),
            t,
            CgroupOptions::default().mechanism(mech),
        )
        .unwrap_or_else(|e| panic!("attach {name}: {e}"));
        assert_eq!(l.path(), want, "{name}");
        let info = l.info().unwrap();
        assert_eq!(info.prog_id, fx.id(name));
        assert_eq!(info.attach_type, Some(t));
        assert!(
            matches!(info.target, LinkTarget::Cgroup { id } if id != 0),
            "{info:?}"
        );
        if want == AttachPath::Link {
            assert_eq!(info.link_type, Some(LinkType::CGROUP));
        }
        assert_eq!(query_attached(cg.fd.as_fd(), t).unwrap(), vec![fx.id(name)]);
        links.push(l);
    }
    let before: Vec<u64> = HOOKS.iter().map(|h| count(fx.counts(), h.2)).collect();
    traffic(&cg, fx.port());
    for (i, (name, _, slot)) in HOOKS.iter().enumerate() {
        assert!(count(fx.counts(), *slot) > before[i], "{name} did not run");
    }
    for l in links {
        l.detach().unwrap();
    }
    for (_, t, _) in HOOKS {
        assert!(query_attached(cg.fd.as_fd(), t).unwrap().is_empty());
    }
    let before: Vec<u64> = HOOKS.iter().map(|h| count(fx.counts(), h.2)).collect();
    traffic(&cg, fx.port());
    let after: Vec<u64> = HOOKS.iter().map(|h| count(fx.counts(), h.2)).collect();
    assert_eq!(before, after, "programs still run after detach");
}

#[test]
fn cgroup_links_run_and_detach() {
    let _g = serial();
    if require_kernel() {
        exercise(Mechanism::Auto, AttachPath::Link);
    }
}

#[test]
fn prog_attach_path_runs_and_detaches() {
    let _g = serial();
    if require_kernel() {
        exercise(Mechanism::Legacy, AttachPath::ProgAttach);
    }
}

#[test]
fn drop_detaches_and_pin_rules() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let Some(cg) = TestCgroup::new() else { return };
    let fx = Fixture::new();
    let t = AttachType::CGROUP_INET4_CONNECT;
    let mut l = attach_cgroup(
        fx.fd("connect4"),
        cg.fd.as_fd(),
        t,
        CgroupOptions::default(),
    )
    .unwrap();
    let pin = format!("/sys/fs/bpf/{}", unique("cg"));
    l.pin(&pin).unwrap();
    drop(l);
    // Pinned: still attached after drop; reopening and unpinning releases it.
    assert_eq!(
        query_attached(cg.fd.as_fd(), t).unwrap(),
        vec![fx.id("connect4")]
    );
    let mut again = oxbpf::link::Link::from_pin(&pin).unwrap();
    again.unpin().unwrap();
    drop(again);
    assert!(query_attached(cg.fd.as_fd(), t).unwrap().is_empty());

    // Legacy: no pin; exclusive mode refuses a second program.
    let mut l = attach_cgroup(
        fx.fd("connect4"),
        cg.fd.as_fd(),
        t,
        CgroupOptions::default()
            .mechanism(Mechanism::Legacy)
            .mode(CgroupAttachMode::Exclusive),
    )
    .unwrap();
    let e = l.pin(&pin).unwrap_err();
    assert!(matches!(e, LinkError::NoLinkObject { .. }), "{e}");
    let second = attach_cgroup(
        fx.fd("connect4"),
        cg.fd.as_fd(),
        t,
        CgroupOptions::default().mechanism(Mechanism::Legacy),
    );
    assert!(
        second.is_err(),
        "exclusive attach must refuse a second program"
    );
    drop(l);
    assert!(query_attached(cg.fd.as_fd(), t).unwrap().is_empty());
}

#[cfg(feature = "fault-injection")]
#[test]
fn old_kernel_without_cgroup_links_uses_prog_attach() {
    use oxbpf::link::support::{link_known, reset_link_probes};
    use oxbpf::sys::{fault::Guard, Cmd};
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let Some(cg) = TestCgroup::new() else { return };
    let fx = Fixture::new();
    reset_link_probes();
    let t = AttachType::CGROUP_INET4_CONNECT;
    let l = {
        let _f = Guard::fail(Cmd::LinkCreate, libc::EINVAL);
        attach_cgroup(
            fx.fd("connect4"),
            cg.fd.as_fd(),
            t,
            CgroupOptions::default(),
        )
        .unwrap()
    };
    assert_eq!(l.path(), AttachPath::ProgAttach);
    assert_eq!(link_known(t), Some(false));
    let before = count(fx.counts(), 1);
    traffic(&cg, fx.port());
    assert!(count(fx.counts(), 1) > before);
    drop(l);
    let before = count(fx.counts(), 1);
    traffic(&cg, fx.port());
    assert_eq!(count(fx.counts(), 1), before);
    reset_link_probes();
}
