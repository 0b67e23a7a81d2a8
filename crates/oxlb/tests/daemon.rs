//! The daemon against the kernel, in a throw-away network namespace: a taken metrics port
//! fails the start before anything is attached, and the forwarding sysctls the datapath needs
//! are set on the XDP interface only and restored by `oxlb down`. Misuse (issue 16): a failed
//! start leaves nothing behind and an adopted datapath as it was, a second daemon on the same
//! pin dir is refused, an `xdp_mode` change re-attaches, and `oxlb reload` reports the
//! daemon's verdict.

mod common;

use common::{require_kernel, sh};
use std::path::PathBuf;
use std::process::{Command, Output};

/// A namespace with veth `lb0` (10.99.0.1/24, fd99::1/64), a config for it, and a pin dir;
/// `oxlb down` and namespace removal on drop.
struct Setup {
    ns: String,
    dir: PathBuf,
    pin_dir: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let ns = format!("oxlbd{tag}{}", std::process::id());
        sh(&["ip", "netns", "add", &ns]);
        sh(&[
            "ip", "-n", &ns, "link", "add", "lb0", "type", "veth", "peer", "name", "lb1",
        ]);
        sh(&["ip", "-n", &ns, "addr", "add", "10.99.0.1/24", "dev", "lb0"]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "-6",
            "addr",
            "add",
            "fd99::1/64",
            "dev",
            "lb0",
            "nodad",
        ]);
        sh(&["ip", "-n", &ns, "link", "set", "lb0", "up"]);
        sh(&["ip", "-n", &ns, "link", "set", "lb1", "up"]);
        let dir = std::env::temp_dir().join(&ns);
        std::fs::create_dir_all(&dir).unwrap();
        Setup {
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/{ns}")),
            ns,
            dir,
        }
    }

    fn config(&self, metrics: &str) -> PathBuf {
        let text = format!(
            "[global]\nmaglev_table_size = 251\nconntrack_size = 1024\nmetrics_listen = \"{metrics}\"\n\
             pin_dir = \"{}\"\n\n[[interface]]\nname = \"lb0\"\nxdp_mode = \"generic\"\n\n\
             [[vip]]\naddress = \"10.99.0.100\"\nport = 80\nmode = \"dsr\"\n\
             backend = [{{ address = \"10.99.0.11\" }}]\n\n\
             [[vip]]\naddress = \"fd99::100\"\nport = 80\nmode = \"dsr\"\n\
             backend = [{{ address = \"fd99::11\" }}]\n",
            self.pin_dir.display()
        );
        let path = self.dir.join("oxlb.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn oxlb(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_oxlb"))
            .args(["--netns", &self.ns])
            .args(args)
            .output()
            .unwrap()
    }

    /// `oxlb reload`, which must succeed; its output.
    fn reload_ok(&self) -> String {
        let pin = self.pin_dir.to_string_lossy().into_owned();
        let out = self.oxlb(&["reload", "--pin-dir", &pin]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sysctl(&self, key: &str) -> String {
        sh(&["ip", "netns", "exec", &self.ns, "sysctl", "-n", key])
            .trim()
            .to_string()
    }

    fn xdp_attached(&self) -> bool {
        sh(&["ip", "-n", &self.ns, "link", "show", "lb0"]).contains("xdp")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let pin = self.pin_dir.to_string_lossy().into_owned();
        let _ = self.oxlb(&["down", "--pin-dir", &pin]);
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn taken_metrics_port_fails_before_anything_is_attached() {
    if !require_kernel("taken_metrics_port_fails_before_anything_is_attached") {
        return;
    }
    let s = Setup::new("m");
    // Hold the port inside the namespace, where the daemon will try to bind it.
    sh(&["ip", "-n", &s.ns, "link", "set", "lo", "up"]);
    let _holder =
        oxlb::demo::traffic::in_netns(&s.ns, || std::net::TcpListener::bind("127.0.0.1:9199"))
            .join()
            .unwrap()
            .unwrap()
            .expect("hold the metrics port");
    let cfg = s.config("127.0.0.1:9199");
    let out = s.oxlb(&["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("metrics server on 127.0.0.1:9199") && err.contains("metrics_listen"),
        "{err}"
    );
    assert!(!s.xdp_attached(), "XDP attached although the start failed");
    assert!(!s.pin_dir.exists(), "maps pinned although the start failed");
    assert_eq!(s.sysctl("net.ipv4.conf.lb0.forwarding"), "0");
}

#[test]
fn forwarding_sysctls_are_set_on_the_xdp_interface_and_restored() {
    if !require_kernel("forwarding_sysctls_are_set_on_the_xdp_interface_and_restored") {
        return;
    }
    let s = Setup::new("s");
    sh(&[
        "ip",
        "netns",
        "exec",
        &s.ns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.lb0.accept_ra=1",
    ]);
    let cfg = s.config("off");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_oxlb"))
        .args(["--netns", &s.ns, "run", "-c", cfg.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ok = false;
    // Generous: under TCG (the 6.1 VM) with the suite's tests in parallel, loading and
    // verifying the datapath takes many seconds.
    for _ in 0..1200 {
        if s.xdp_attached() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ok, "oxlb did not attach");
    assert_eq!(s.sysctl("net.ipv4.conf.lb0.forwarding"), "1");
    assert_eq!(s.sysctl("net.ipv6.conf.lb0.forwarding"), "1");
    assert_eq!(s.sysctl("net.ipv6.conf.lb0.accept_ra"), "2");
    // Only the XDP interface: the peer and the global switches stay as they were.
    assert_eq!(s.sysctl("net.ipv4.conf.lb1.forwarding"), "0");
    assert_eq!(s.sysctl("net.ipv4.ip_forward"), "0");
    let pin = s.pin_dir.to_string_lossy().into_owned();
    let down = s.oxlb(&["down", "--pin-dir", &pin]);
    assert!(down.status.success());
    let text = String::from_utf8_lossy(&down.stdout);
    assert!(
        text.contains("restored net.ipv6.conf.lb0.forwarding = 0"),
        "{text}"
    );
    let _ = daemon.wait();
    let log = {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut s);
        s
    };
    assert!(
        log.contains("set net.ipv6.conf.lb0.forwarding = 1 (was 0)"),
        "{log}"
    );
    assert_eq!(s.sysctl("net.ipv4.conf.lb0.forwarding"), "0");
    assert_eq!(s.sysctl("net.ipv6.conf.lb0.forwarding"), "0");
    assert_eq!(s.sysctl("net.ipv6.conf.lb0.accept_ra"), "1");
    assert!(!s.xdp_attached());
}

/// The config of [`Setup::config`] on other interfaces (`(name, xdp_mode)`), with a third
/// VIP when `extra_vip`.
fn config_on(s: &Setup, ifaces: &[(&str, &str)], extra_vip: bool) -> PathBuf {
    let mut text = format!(
        "[global]\nmaglev_table_size = 251\nconntrack_size = 1024\nmetrics_listen = \"off\"\n\
         pin_dir = \"{}\"\n",
        s.pin_dir.display()
    );
    for (name, mode) in ifaces {
        text += &format!("\n[[interface]]\nname = \"{name}\"\nxdp_mode = \"{mode}\"\n");
    }
    text += "\n[[vip]]\naddress = \"10.99.0.100\"\nport = 80\nmode = \"dsr\"\n\
             backend = [{ address = \"10.99.0.11\" }]\n\n\
             [[vip]]\naddress = \"fd99::100\"\nport = 80\nmode = \"dsr\"\n\
             backend = [{ address = \"fd99::11\" }]\n";
    if extra_vip {
        text += "\n[[vip]]\naddress = \"10.99.0.101\"\nport = 80\nmode = \"dsr\"\n\
                 backend = [{ address = \"10.99.0.12\" }]\n";
    }
    let path = s.dir.join("oxlb.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A daemon started in the background, its log in a file.
struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(s: &Setup, cfg: &std::path::Path, tag: &str) -> Daemon {
        let log = s.dir.join(format!("daemon-{tag}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_oxlb"))
            .args(["--netns", &s.ns, "run", "-c", cfg.to_str().unwrap()])
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most 120 s: the 6.1 VM is slow) until the log contains `text`.
    fn wait_log(&self, text: &str) {
        for _ in 0..2400 {
            if self.log().contains(text) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{text:?} not logged: {}", self.log());
    }

    /// Exit status within `secs`, else `None` (the daemon is still running).
    fn exit_within(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        for _ in 0..secs * 20 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM and wait: the datapath stays.
    fn stop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert!(self.exit_within(60).is_some(), "daemon did not stop");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `(mode, program id)` of the XDP program on `dev`: mode 1 driver, 2 generic (iproute2's
/// `XDP_ATTACHED_*`); `None` without one.
fn xdp_of(s: &Setup, dev: &str) -> Option<(u64, u64)> {
    let out = sh(&["ip", "-n", &s.ns, "-j", "link", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let x = &v[0]["xdp"];
    Some((x["mode"].as_u64()?, x["prog"]["id"].as_u64()?))
}

/// The state directory of `pin_dir` (see `oxlb::daemon::state::dir`).
fn state_dir(s: &Setup) -> PathBuf {
    oxlb::daemon::state::dir(&s.pin_dir)
}

/// Keys in the pinned VIP map.
fn pinned_vips(s: &Setup) -> usize {
    let m = oxbpf::map::Map::from_pin(s.pin_dir.join("oxlb_vips")).unwrap();
    m.keys().count()
}

/// Attaches a foreign `XDP_PASS` program (generic mode) to `dev`; attached while held.
fn foreign_xdp(s: &Setup, dev: &str) -> oxbpf::link::xdp::XdpLink {
    use oxbpf::asm::Insn;
    use oxbpf::link::xdp::{attach_xdp, XdpMode, XdpOptions};
    let dev = dev.to_string();
    oxlb::demo::traffic::in_netns(&s.ns, move || {
        let insns = [Insn::mov64_imm(0, 2), Insn::exit()];
        let req =
            oxbpf::prog::LoadRequest::new("not_oxlb", oxbpf::spec::ProgramType::XDP, &insns, "GPL");
        let prog = oxbpf::prog::load(&req).unwrap();
        let idx = oxbpf::netlink::xdp::ifindex(&dev).unwrap();
        attach_xdp(prog.fd(), idx, XdpMode::Generic, XdpOptions::default()).unwrap()
    })
    .join()
    .unwrap()
    .unwrap()
}

#[test]
fn failed_start_leaves_nothing_pinned_or_attached() {
    if !require_kernel("failed_start_leaves_nothing_pinned_or_attached") {
        return;
    }
    let s = Setup::new("f");
    // A missing interface: refused before anything is created (this left 9 maps, ~39 MB).
    let cfg = config_on(&s, &[("nope0", "generic")], false);
    let out = s.oxlb(&["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("nope0"), "{err}");
    assert!(!s.pin_dir.exists(), "maps pinned although the start failed");
    assert!(!state_dir(&s).exists(), "state files left behind");
    // A failure after the maps, lb0's attachment and its sysctls: lb1 runs someone else's
    // program. Everything is taken back; the foreign program stays.
    let foreign = foreign_xdp(&s, "lb1");
    let foreign_id = xdp_of(&s, "lb1").unwrap().1;
    let cfg = config_on(&s, &[("lb0", "generic"), ("lb1", "generic")], false);
    let out = s.oxlb(&["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("another XDP program is attached"), "{err}");
    assert!(!s.pin_dir.exists(), "maps pinned although the start failed");
    assert!(!state_dir(&s).exists(), "state files left behind");
    assert_eq!(xdp_of(&s, "lb0"), None, "lb0 left attached");
    assert_eq!(s.sysctl("net.ipv4.conf.lb0.forwarding"), "0");
    assert_eq!(xdp_of(&s, "lb1").unwrap().1, foreign_id);
    // Over an adopted datapath: the earlier daemon's pins, entries and program stay as they were.
    let cfg = config_on(&s, &[("lb0", "generic")], false);
    let mut first = Daemon::spawn(&s, &cfg, "first");
    first.wait_log("oxlb: serving 2 VIPs on lb0");
    first.stop();
    let (mode, prog) = xdp_of(&s, "lb0").expect("the datapath keeps running");
    let state = std::fs::read_to_string(state_dir(&s).join("oxlb.state")).unwrap();
    assert_eq!(pinned_vips(&s), 2);
    let cfg = config_on(&s, &[("lb0", "generic"), ("lb1", "generic")], true);
    let out = s.oxlb(&["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(
        xdp_of(&s, "lb0"),
        Some((mode, prog)),
        "lb0 must run the earlier program again"
    );
    assert_eq!(pinned_vips(&s), 2, "the third VIP was not taken out again");
    assert!(s.pin_dir.join("oxlb_ct").exists() && s.pin_dir.join("link_lb0").exists());
    assert_eq!(
        std::fs::read_to_string(state_dir(&s).join("oxlb.state")).unwrap(),
        state
    );
    assert_eq!(
        s.sysctl("net.ipv4.conf.lb0.forwarding"),
        "1",
        "the earlier daemon's"
    );
    drop(foreign);
}

#[test]
fn second_daemon_on_the_same_pin_dir_is_refused() {
    if !require_kernel("second_daemon_on_the_same_pin_dir_is_refused") {
        return;
    }
    let s = Setup::new("l");
    let cfg = config_on(&s, &[("lb0", "generic")], false);
    let first = Daemon::spawn(&s, &cfg, "first");
    first.wait_log("oxlb: serving 2 VIPs on lb0");
    let prog = xdp_of(&s, "lb0").unwrap().1;
    let mut second = Daemon::spawn(&s, &cfg, "second");
    let status = second.exit_within(60);
    let log = second.log();
    assert!(
        status.is_some_and(|st| !st.success()),
        "a second daemon ran on the same pin dir: {log}"
    );
    assert!(
        log.contains(&format!("is in use by oxlb pid {}", first.child.id())),
        "{log}"
    );
    assert!(!log.contains("adopted"), "it touched the datapath: {log}");
    assert_eq!(xdp_of(&s, "lb0").unwrap().1, prog, "program swapped");
    // The first daemon is still the one `oxlb reload` reaches.
    let text = s.reload_ok();
    assert!(
        text.contains(&format!("oxlb (pid {}) reloaded", first.child.id())),
        "{text}"
    );
}

#[test]
fn xdp_mode_changes_reattach_and_reload_reports_its_outcome() {
    if !require_kernel("xdp_mode_changes_reattach_and_reload_reports_its_outcome") {
        return;
    }
    let s = Setup::new("x");
    let cfg = config_on(&s, &[("lb0", "driver")], false);
    let mut first = Daemon::spawn(&s, &cfg, "first");
    first.wait_log("oxlb: serving 2 VIPs on lb0");
    first.stop();
    assert_eq!(xdp_of(&s, "lb0").unwrap().0, 1, "driver mode");
    // Restart in generic mode over the driver-mode datapath: re-attached, and what is
    // logged and recorded is the mode the kernel reports.
    config_on(&s, &[("lb0", "generic")], false);
    let second = Daemon::spawn(&s, &cfg, "second");
    second.wait_log("oxlb: serving 2 VIPs on lb0");
    assert_eq!(xdp_of(&s, "lb0").unwrap().0, 2, "still in driver mode");
    assert!(
        second
            .log()
            .contains("in generic mode via link (re-attached: driver -> generic mode)"),
        "{}",
        second.log()
    );
    let state = std::fs::read_to_string(state_dir(&s).join("oxlb.state")).unwrap();
    assert!(state.contains("\"mode\": \"generic\""), "{state}");
    // A reload back to driver mode applies it and says so.
    config_on(&s, &[("lb0", "driver")], false);
    let text = s.reload_ok();
    assert!(
        text.contains("lb0: driver mode via link (re-attached: generic -> driver mode)"),
        "{text}"
    );
    assert_eq!(xdp_of(&s, "lb0").unwrap().0, 1);
    // A config the daemon refuses: `oxlb reload` fails with its reason; nothing changes.
    let pin = s.pin_dir.to_string_lossy().into_owned();
    let prog = xdp_of(&s, "lb0").unwrap().1;
    std::fs::write(
        &cfg,
        "[[interface]]\nname = \"lb0\"\nxdp_mode = \"sideways\"\n",
    )
    .unwrap();
    let out = s.oxlb(&["reload", "--pin-dir", &pin]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "reload of a bad config exited 0");
    assert!(
        err.contains("kept the running config") && err.contains("sideways"),
        "{err}"
    );
    assert_eq!(xdp_of(&s, "lb0").unwrap(), (1, prog));
}

#[test]
fn mode_change_that_cannot_be_made_is_refused_and_the_old_attachment_kept() {
    if !require_kernel("mode_change_that_cannot_be_made_is_refused_and_the_old_attachment_kept") {
        return;
    }
    let s = Setup::new("r");
    // A bridge has no native XDP: driver mode fails there.
    sh(&["ip", "-n", &s.ns, "link", "add", "br0", "type", "bridge"]);
    sh(&["ip", "-n", &s.ns, "link", "set", "br0", "up"]);
    let cfg = config_on(&s, &[("lb0", "generic"), ("br0", "generic")], false);
    let mut first = Daemon::spawn(&s, &cfg, "first");
    first.wait_log("oxlb: serving 2 VIPs on br0");
    let before = (xdp_of(&s, "lb0").unwrap(), xdp_of(&s, "br0").unwrap());
    assert_eq!(before.1 .0, 2, "generic mode");
    config_on(&s, &[("lb0", "generic"), ("br0", "driver")], false);
    let pin = s.pin_dir.to_string_lossy().into_owned();
    let out = s.oxlb(&["reload", "--pin-dir", &pin]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the reload claimed success");
    assert!(
        err.contains("kept the running config")
            && err.contains("br0: cannot attach in driver mode")
            && err.contains("it stays in generic mode"),
        "{err}"
    );
    let after = (xdp_of(&s, "lb0").unwrap(), xdp_of(&s, "br0").unwrap());
    assert_eq!(after, before);
    // The same change at a restart: refused, and the earlier attachment runs on.
    first.stop();
    let out = s.oxlb(&["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("br0: cannot attach in driver mode"), "{err}");
    assert_eq!(
        (xdp_of(&s, "lb0").unwrap(), xdp_of(&s, "br0").unwrap()),
        before
    );
    assert!(s.pin_dir.join("link_br0").exists());
}
