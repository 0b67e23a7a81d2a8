//! The daemon against the kernel, in a throw-away network namespace: a taken metrics port
//! fails the start before anything is attached, and the forwarding sysctls the datapath needs
//! are set on the XDP interface only and restored by `oxlb down`.

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
    for _ in 0..100 {
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
