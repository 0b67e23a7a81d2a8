//! The demo's network: namespaces `client`, `lb` and three backends on one L2 segment (a bridge
//! in its own namespace), dual-stack (10.77.0.0/24 and fd77::/64), all removed on drop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

/// Runs a command, failing with its stderr.
pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command inside network namespace `ns`.
pub fn in_ns(ns: &str, args: &[&str]) -> Result<String, String> {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    sh(&full)
}

/// One host on the segment.
pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// Interface name inside it.
    pub dev: String,
    /// IPv4 address.
    pub addr: Ipv4Addr,
    /// IPv6 address.
    pub addr6: Ipv6Addr,
}

impl Host {
    /// Its address of the family of `like`.
    pub fn addr_like(&self, like: IpAddr) -> IpAddr {
        match like {
            IpAddr::V4(_) => self.addr.into(),
            IpAddr::V6(_) => self.addr6.into(),
        }
    }
}

/// The whole topology.
pub struct Topology {
    /// The switch namespace holding the bridge.
    pub sw: String,
    /// The client.
    pub client: Host,
    /// The load balancer.
    pub lb: Host,
    /// The backends.
    pub backends: Vec<Host>,
    /// The IPv4 VIP.
    pub vip: Ipv4Addr,
    /// The IPv6 VIP.
    pub vip6: Ipv6Addr,
    /// Keeps an XDP_PASS program on the LB's bridge port (driver mode only, see [`Topology::build`]).
    _peer_xdp: Option<oxbpf::link::xdp::XdpLink>,
}

const NET: [u8; 3] = [10, 77, 0];

fn addr(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(NET[0], NET[1], NET[2], last)
}

fn addr6(last: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, last as u16)
}

impl Topology {
    /// Builds it; `dsr` puts the VIPs on the backends' loopback. `xdp_driver`: the LB will
    /// run XDP in driver mode, whose `XDP_TX` on a veth hands frames to the peer's NAPI
    /// queue, which exists only while the peer runs an XDP program — so the LB's bridge port
    /// gets a plain `XDP_PASS` program (any real NIC needs nothing of the kind).
    pub fn build(tag: &str, dsr: bool, xdp_driver: bool) -> Result<Topology, String> {
        let sw = format!("oxd{tag}sw");
        let host = |role: &str, last: u8| Host {
            ns: format!("oxd{tag}{role}"),
            dev: "eth0".into(),
            addr: addr(last),
            addr6: addr6(last),
        };
        let mut t = Topology {
            sw: sw.clone(),
            client: host("c", 10),
            lb: host("lb", 1),
            backends: (1..=3)
                .map(|i| host(&format!("b{i}"), 10 + i as u8))
                .collect(),
            vip: addr(100),
            vip6: addr6(100),
            _peer_xdp: None,
        };
        sh(&["ip", "netns", "add", &sw])?;
        in_ns(&sw, &["ip", "link", "add", "br0", "type", "bridge"])?;
        in_ns(&sw, &["ip", "link", "set", "br0", "up"])?;
        for (i, h) in t.hosts().enumerate() {
            sh(&["ip", "netns", "add", &h.ns])?;
            let peer = format!("p{i}");
            sh(&[
                "ip", "-n", &h.ns, "link", "add", &h.dev, "type", "veth", "peer", "name", &peer,
                "netns", &sw,
            ])?;
            in_ns(&sw, &["ip", "link", "set", &peer, "master", "br0", "up"])?;
            in_ns(
                &h.ns,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", h.addr),
                    "dev",
                    &h.dev,
                ],
            )?;
            in_ns(
                &h.ns,
                &[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/64", h.addr6),
                    "dev",
                    &h.dev,
                    "nodad",
                ],
            )?;
            in_ns(&h.ns, &["ip", "link", "set", &h.dev, "up"])?;
            in_ns(&h.ns, &["ip", "link", "set", "lo", "up"])?;
            // Full checksums on the wire: every receiver verifies what XDP rewrote.
            let _ = in_ns(&h.ns, &["ethtool", "-K", &h.dev, "tx", "off"]);
        }
        let (vip, lb) = (format!("{}/32", t.vip), t.lb.addr.to_string());
        in_ns(&t.client.ns, &["ip", "route", "add", &vip, "via", &lb])?;
        let (vip6, lb6) = (format!("{}/128", t.vip6), t.lb.addr6.to_string());
        in_ns(
            &t.client.ns,
            &["ip", "-6", "route", "add", &vip6, "via", &lb6],
        )?;
        if dsr {
            for b in &t.backends {
                in_ns(&b.ns, &["ip", "addr", "add", &vip, "dev", "lo"])?;
                in_ns(&b.ns, &["ip", "-6", "addr", "add", &vip6, "dev", "lo"])?;
                in_ns(&b.ns, &["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"])?;
                in_ns(
                    &b.ns,
                    &["sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"],
                )?;
            }
        }
        // The datapath takes next-hop MACs from the kernel's neighbour table: fill it.
        for h in t.hosts().filter(|h| h.ns != t.lb.ns) {
            let addrs = [h.addr.into(), h.addr6.into()];
            learn_neighbour(&t.lb.ns, &t.lb.dev, &h.ns, &h.dev, &addrs)?;
        }
        if xdp_driver {
            t._peer_xdp = Some(pass_program_on(&sw, "p1")?);
        }
        Ok(t)
    }

    /// Every host.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        std::iter::once(&self.client)
            .chain(std::iter::once(&self.lb))
            .chain(self.backends.iter())
    }
}

/// Adds permanent neighbour entries in `ns` (on `dev`) for `addrs`, the addresses of `host_dev`
/// in namespace `host_ns`, with that device's MAC.
pub fn learn_neighbour(
    ns: &str,
    dev: &str,
    host_ns: &str,
    host_dev: &str,
    addrs: &[IpAddr],
) -> Result<(), String> {
    let mac = in_ns(
        host_ns,
        &["cat", &format!("/sys/class/net/{host_dev}/address")],
    )?;
    for a in addrs {
        let a = a.to_string();
        in_ns(
            ns,
            &[
                "ip",
                "neigh",
                "replace",
                &a,
                "lladdr",
                mac.trim(),
                "dev",
                dev,
                "nud",
                "permanent",
            ],
        )?;
    }
    Ok(())
}

/// Attaches an `XDP_PASS` program (driver mode) to `dev` in namespace `ns`.
fn pass_program_on(ns: &str, dev: &str) -> Result<oxbpf::link::xdp::XdpLink, String> {
    use oxbpf::asm::Insn;
    use oxbpf::link::xdp::{attach_xdp, XdpMode, XdpOptions};
    let (ns, dev) = (ns.to_string(), dev.to_string());
    super::traffic::in_netns(&ns, move || {
        let insns = [Insn::mov64_imm(0, 2 /* XDP_PASS */), Insn::exit()];
        let req = oxbpf::prog::LoadRequest::new(
            "oxlb_demo_pass",
            oxbpf::spec::ProgramType::XDP,
            &insns,
            "GPL",
        );
        let prog = oxbpf::prog::load(&req).map_err(|e| e.to_string())?;
        let idx = oxbpf::netlink::xdp::ifindex(&dev).map_err(|e| e.to_string())?;
        attach_xdp(prog.fd(), idx, XdpMode::Driver, XdpOptions::default())
            .map_err(|e| format!("XDP_PASS on the LB's bridge port {dev}: {e}"))
    })
    .join()
    .map_err(|_| "netns thread panicked".to_string())??
}

impl Drop for Topology {
    fn drop(&mut self) {
        let names: Vec<String> = self
            .hosts()
            .map(|h| h.ns.clone())
            .chain([self.sw.clone()])
            .collect();
        for ns in names {
            let _ = sh(&["ip", "netns", "del", &ns]);
        }
    }
}
