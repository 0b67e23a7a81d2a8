//! The demo's network: namespaces `client`, `lb` and three backends on one L2 segment (a bridge
//! in its own namespace), all removed on drop.

use std::net::Ipv4Addr;
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
    /// Address.
    pub addr: Ipv4Addr,
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
    /// The VIP.
    pub vip: Ipv4Addr,
}

const NET: [u8; 3] = [10, 77, 0];

fn addr(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(NET[0], NET[1], NET[2], last)
}

impl Topology {
    /// Builds it; `dsr` puts the VIP on the backends' loopback.
    pub fn build(tag: &str, dsr: bool) -> Result<Topology, String> {
        let sw = format!("oxd{tag}sw");
        let host = |role: &str, last: u8| Host {
            ns: format!("oxd{tag}{role}"),
            dev: "eth0".into(),
            addr: addr(last),
        };
        let t = Topology {
            sw: sw.clone(),
            client: host("c", 10),
            lb: host("lb", 1),
            backends: (1..=3)
                .map(|i| host(&format!("b{i}"), 10 + i as u8))
                .collect(),
            vip: addr(100),
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
            // NAPI on the bridge side lets frames sent back with XDP_TX (driver mode) arrive.
            let _ = in_ns(&sw, &["ethtool", "-K", &peer, "gro", "on"]);
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
            in_ns(&h.ns, &["ip", "link", "set", &h.dev, "up"])?;
            in_ns(&h.ns, &["ip", "link", "set", "lo", "up"])?;
            // Full checksums on the wire: every receiver verifies what XDP rewrote.
            let _ = in_ns(&h.ns, &["ethtool", "-K", &h.dev, "tx", "off"]);
        }
        in_ns(&t.lb.ns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        in_ns(
            &t.client.ns,
            &[
                "ip",
                "route",
                "add",
                &format!("{}/32", t.vip),
                "via",
                &t.lb.addr.to_string(),
            ],
        )?;
        if dsr {
            for b in &t.backends {
                in_ns(
                    &b.ns,
                    &["ip", "addr", "add", &format!("{}/32", t.vip), "dev", "lo"],
                )?;
                in_ns(&b.ns, &["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"])?;
                in_ns(
                    &b.ns,
                    &["sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"],
                )?;
            }
        }
        // The datapath takes next-hop MACs from the kernel's neighbour table: fill it.
        for h in t.hosts().filter(|h| h.ns != t.lb.ns) {
            let mac = in_ns(
                &h.ns,
                &["cat", &format!("/sys/class/net/{}/address", h.dev)],
            )?;
            in_ns(
                &t.lb.ns,
                &[
                    "ip",
                    "neigh",
                    "replace",
                    &h.addr.to_string(),
                    "lladdr",
                    mac.trim(),
                    "dev",
                    &t.lb.dev,
                    "nud",
                    "permanent",
                ],
            )?;
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
