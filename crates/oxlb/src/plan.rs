//! The desired datapath state computed from a config: plain values, no kernel access.
//!
//! The control plane builds a [`Plan`]; the datapath module writes it into the BPF maps
//! (only the entries that changed since the previous plan).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Transport protocol of a VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// How a VIP forwards packets to its backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Full NAT: destination → backend, source → the LB's address and a per-flow port;
    /// replies are translated back.
    Nat,
    /// Direct server return: only the destination MAC changes; backends own the VIP.
    Dsr,
    /// Encapsulated DSR: the packet is wrapped in IP-in-IP towards the backend, which
    /// strips it (`oxlb decap`) and owns the VIP.
    Ipip,
    /// Encapsulated DSR: the packet is wrapped in UDP (GUE) towards the backend.
    Gue,
}

impl Mode {
    /// Backends own the VIP and answer clients directly (every mode but NAT); the packet
    /// reaches them unchanged, so ports cannot be rewritten.
    pub fn is_dsr(self) -> bool {
        self != Mode::Nat
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Nat => "nat",
            Mode::Dsr => "dsr",
            Mode::Ipip => "ipip",
            Mode::Gue => "gue",
        })
    }
}

/// Identity of a VIP: what makes two VIPs the same across reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VipKey {
    /// VIP address.
    pub addr: IpAddr,
    /// VIP port; 0 = any.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
}

impl fmt::Display for VipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            SocketAddr::new(self.addr, self.port),
            self.proto
        )
    }
}

/// Identity of a backend of one VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendKey {
    /// The VIP this backend serves.
    pub vip: VipKey,
    /// Backend address.
    pub addr: IpAddr,
    /// Backend port; 0 = keep the client's destination port.
    pub port: u16,
}

impl BackendKey {
    /// The stable name used as Maglev hash input: `addr:port` (`[v6]:port` for IPv6).
    pub fn name(&self) -> String {
        SocketAddr::new(self.addr, self.port).to_string()
    }
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}",
            self.vip,
            SocketAddr::new(self.addr, self.port)
        )
    }
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipPlan {
    /// Stable id (index into the datapath's per-VIP arrays).
    pub id: u32,
    /// VIP address.
    pub addr: IpAddr,
    /// VIP port; 0 = any port.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// Forwarding mode.
    pub mode: Mode,
    /// For NAT: the LB address used as the source towards backends (same family as `addr`).
    pub snat_addr: Option<IpAddr>,
    /// Backends of this VIP, in config order.
    pub backends: Vec<BackendPlan>,
    /// Maglev lookup table: each slot holds a global backend id (see [`BackendPlan::id`]).
    /// Empty when no backend is usable (the datapath then drops new flows and counts it).
    pub table: Vec<u32>,
}

impl VipPlan {
    /// The identity of this VIP.
    pub fn key(&self) -> VipKey {
        VipKey {
            addr: self.addr,
            port: self.port,
            proto: self.proto,
        }
    }

    /// The identity of one of this VIP's backends.
    pub fn backend_key(&self, backend: &BackendPlan) -> BackendKey {
        BackendKey {
            vip: self.key(),
            addr: backend.addr,
            port: backend.port,
        }
    }
}

/// One backend of a VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendPlan {
    /// Stable global id (index into the datapath's backend array).
    pub id: u32,
    /// Backend address (same family as the VIP for NAT; any for DSR on one L2 segment).
    pub addr: IpAddr,
    /// Backend port; 0 = keep the client's destination port.
    pub port: u16,
    /// Weight; 0 drains (no new flows, existing flows stay).
    pub weight: u32,
    /// Health-check state; unhealthy backends get no new flows.
    pub healthy: bool,
}

/// The whole desired state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Size of every Maglev table (a prime).
    pub table_size: u32,
    /// VIPs by id order.
    pub vips: Vec<VipPlan>,
}
