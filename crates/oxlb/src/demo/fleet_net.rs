//! The fleet lab's network: a client behind a router, and a fabric segment (a bridge in its
//! own namespace) holding the router, the LB nodes and the backends, dual-stack.
//!
//! ```text
//! client 10.78.1.10 ── router 10.78.1.254 | 10.78.0.254 ── fabric ── lb1..lb4 10.78.0.1-4
//!        fd78:1::10           fd78:1::fe  | fd78::fe               └─ backends 10.78.0.11-14
//! ```
//!
//! The router forwards with ECMP over L4 hashes (`fib_multipath_hash_policy=1`, IPv4 and
//! IPv6); the VIPs (10.78.100.1, fd78:100::1) reach it only by BGP. Backends own the VIPs on
//! `lo` (DSR) and answer the client straight through the router. All removed on drop.

use super::topology::{in_ns, learn_neighbour, sh};
use std::net::{Ipv4Addr, Ipv6Addr};

/// LB nodes in the lab (the last one joins later).
pub const NODES: usize = 4;
/// Backends in the lab (the last one is added later).
pub const BACKENDS: usize = 4;
/// The IPv4 VIP.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(10, 78, 100, 1);
/// The IPv6 VIP.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0x100, 0, 0, 0, 0, 0, 1);
/// The router's fabric addresses.
pub const ROUTER4: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 254);
/// The router's fabric IPv6 address.
pub const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 0xfe);

/// A host on the fabric.
pub struct FabricHost {
    /// Namespace.
    pub ns: String,
    /// IPv4 address.
    pub addr: Ipv4Addr,
    /// IPv6 address.
    pub addr6: Ipv6Addr,
}

/// The namespaces and their addresses.
pub struct FleetNet {
    /// The switch namespace.
    pub sw: String,
    /// The router namespace.
    pub router: String,
    /// The client namespace.
    pub client: String,
    /// LB nodes (interface `eth0`).
    pub nodes: Vec<FabricHost>,
    /// Backends.
    pub backends: Vec<FabricHost>,
}

fn fabric(last: u8) -> (Ipv4Addr, Ipv6Addr) {
    (
        Ipv4Addr::new(10, 78, 0, last),
        Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, last as u16),
    )
}

fn sysctl(ns: &str, kv: &str) -> Result<(), String> {
    in_ns(ns, &["sysctl", "-qw", kv]).map(|_| ())
}

fn addrs(ns: &str, dev: &str, a4: &str, a6: &str) -> Result<(), String> {
    sh(&["ip", "-n", ns, "addr", "add", a4, "dev", dev])?;
    sh(&["ip", "-n", ns, "-6", "addr", "add", a6, "dev", dev, "nodad"])?;
    sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
    // Full checksums on the wire: every receiver verifies what XDP forwarded.
    let _ = in_ns(ns, &["ethtool", "-K", dev, "tx", "off"]);
    Ok(())
}

fn routes(ns: &str, via4: &str, via6: &str) -> Result<(), String> {
    sh(&["ip", "-n", ns, "route", "add", "default", "via", via4])?;
    sh(&["ip", "-n", ns, "-6", "route", "add", "default", "via", via6])?;
    Ok(())
}

impl FleetNet {
    /// Builds it; names end in `tag`.
    pub fn build(tag: &str) -> Result<FleetNet, String> {
        let name = |role: &str| format!("oxf{tag}{role}");
        let host = |role: String, last: u8| {
            let (addr, addr6) = fabric(last);
            FabricHost {
                ns: role,
                addr,
                addr6,
            }
        };
        let net = FleetNet {
            sw: name("sw"),
            router: name("r"),
            client: name("c"),
            nodes: (1..=NODES)
                .map(|i| host(name(&format!("lb{i}")), i as u8))
                .collect(),
            backends: (1..=BACKENDS)
                .map(|i| host(name(&format!("b{i}")), 10 + i as u8))
                .collect(),
        };
        for ns in net.all() {
            sh(&["ip", "netns", "add", ns])?;
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        sh(&["ip", "-n", &net.sw, "link", "add", "br0", "type", "bridge"])?;
        sh(&["ip", "-n", &net.sw, "link", "set", "br0", "up"])?;
        let fabric_hosts = std::iter::once((net.router.as_str(), ROUTER4, ROUTER6))
            .chain(net.nodes.iter().map(|h| (h.ns.as_str(), h.addr, h.addr6)))
            .chain(
                net.backends
                    .iter()
                    .map(|h| (h.ns.as_str(), h.addr, h.addr6)),
            );
        for (i, (ns, a4, a6)) in fabric_hosts.enumerate() {
            let port = format!("p{i}");
            sh(&[
                "ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port,
                "netns", &net.sw,
            ])?;
            sh(&[
                "ip", "-n", &net.sw, "link", "set", &port, "master", "br0", "up",
            ])?;
            addrs(ns, "eth0", &format!("{a4}/24"), &format!("{a6}/64"))?;
        }
        // Client ── router.
        sh(&[
            "ip",
            "-n",
            &net.client,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "c0",
            "netns",
            &net.router,
        ])?;
        addrs(&net.client, "eth0", "10.78.1.10/24", "fd78:1::10/64")?;
        addrs(&net.router, "c0", "10.78.1.254/24", "fd78:1::fe/64")?;
        routes(&net.client, "10.78.1.254", "fd78:1::fe")?;
        for kv in [
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.fib_multipath_hash_policy=1",
            "net.ipv6.fib_multipath_hash_policy=1",
        ] {
            sysctl(&net.router, kv)?;
        }
        for b in &net.backends {
            routes(&b.ns, &ROUTER4.to_string(), &ROUTER6.to_string())?;
            sh(&[
                "ip",
                "-n",
                &b.ns,
                "addr",
                "add",
                &format!("{VIP4}/32"),
                "dev",
                "lo",
            ])?;
            sh(&[
                "ip",
                "-n",
                &b.ns,
                "-6",
                "addr",
                "add",
                &format!("{VIP6}/128"),
                "dev",
                "lo",
            ])?;
            sysctl(&b.ns, "net.ipv4.conf.all.arp_ignore=1")?;
            sysctl(&b.ns, "net.ipv4.conf.all.arp_announce=2")?;
        }
        // The datapath takes next-hop MACs from the neighbour table: fill the nodes' tables.
        for b in &net.backends {
            for n in &net.nodes {
                learn_neighbour(
                    &n.ns,
                    "eth0",
                    &b.ns,
                    "eth0",
                    &[b.addr.into(), b.addr6.into()],
                )?;
            }
        }
        Ok(net)
    }

    /// Every namespace.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        [self.sw.as_str(), self.router.as_str(), self.client.as_str()]
            .into_iter()
            .chain(self.nodes.iter().map(|h| h.ns.as_str()))
            .chain(self.backends.iter().map(|h| h.ns.as_str()))
    }
}

impl Drop for FleetNet {
    fn drop(&mut self) {
        let names: Vec<String> = self.all().map(String::from).collect();
        for ns in names {
            let _ = sh(&["ip", "netns", "del", &ns]);
        }
    }
}
