//! Settings of the encapsulating modes (`ipip`, `gue`): outer source prefixes and the GUE port,
//! written into the datapath's `.rodata` variable `oxlb_encap` before load.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::abi::RawEncapConfig;

/// Default GUE destination port.
pub const DEFAULT_GUE_PORT: u16 = 6080;

/// An address prefix `addr/len`; the host bits of `addr` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// Parses `"10.9.0.0/24"` or `"fd00:9::/64"` (a bare address is a /32 or /128). Host bits
    /// must be zero.
    pub fn parse(text: &str) -> Result<Prefix, String> {
        let (a, l) = match text.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{text:?} is not an address prefix like \"10.9.0.0/24\""))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{text:?}: prefix length must be 0..={max}"))?,
        };
        let p = Prefix { addr, len };
        if p.host_bits() & p.bits() != 0 {
            return Err(format!(
                "{text:?} has host bits set: write the network address"
            ));
        }
        if addr.is_unspecified() || addr.is_multicast() {
            return Err(format!("{text:?} must be a unicast prefix"));
        }
        Ok(p)
    }

    fn bits(&self) -> u128 {
        match self.addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    /// Mask of the host bits, in the low bits of a u128 (32 of them for IPv4).
    fn host_bits(&self) -> u128 {
        let width = if self.addr.is_ipv4() { 32 } else { 128 };
        let host = width - u32::from(self.len);
        if host == 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// How `ipip`/`gue` VIPs build the outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encap {
    /// Outer IPv4 source prefix (towards IPv4 backends); the flow hash picks the host bits.
    pub source4: Option<Prefix>,
    /// Outer IPv6 source prefix (towards IPv6 backends); the hash picks up to 32 low bits.
    pub source6: Option<Prefix>,
    /// GUE destination UDP port.
    pub gue_port: u16,
}

impl Default for Encap {
    fn default() -> Self {
        Encap {
            source4: None,
            source6: None,
            gue_port: DEFAULT_GUE_PORT,
        }
    }
}

impl Encap {
    /// The source prefix for backends of the family of `backend`.
    pub fn source_for(&self, backend: IpAddr) -> Option<Prefix> {
        if backend.is_ipv4() {
            self.source4
        } else {
            self.source6
        }
    }

    /// The `oxlb_encap` value: prefixes and host masks in network byte order.
    pub fn raw(&self) -> RawEncapConfig {
        let mut raw = RawEncapConfig {
            gue_port: self.gue_port.to_be_bytes(),
            ..RawEncapConfig::default()
        };
        if let Some(
            p @ Prefix {
                addr: IpAddr::V4(a),
                ..
            },
        ) = self.source4
        {
            raw.src4 = a.octets();
            raw.mask4 = (p.host_bits() as u32).to_be_bytes();
        }
        if let Some(
            p @ Prefix {
                addr: IpAddr::V6(a),
                ..
            },
        ) = self.source6
        {
            raw.src6 = a.octets();
            raw.mask6 = ((p.host_bits() & u128::from(u32::MAX)) as u32).to_be_bytes();
        }
        raw
    }

    /// The outer source the datapath gives a flow of hash `hash` towards `backend` (tests and
    /// tools: the same arithmetic as `encap_source()` in `bpf/encap.h`).
    pub fn outer_source(&self, backend: IpAddr, hash: u32) -> Option<IpAddr> {
        let raw = self.raw();
        let h = hash.to_ne_bytes();
        match backend {
            IpAddr::V4(_) => {
                self.source4?;
                let mut a = raw.src4;
                for i in 0..4 {
                    a[i] |= h[i] & raw.mask4[i];
                }
                Some(Ipv4Addr::from(a).into())
            }
            IpAddr::V6(_) => {
                self.source6?;
                let mut a = raw.src6;
                for i in 0..4 {
                    a[12 + i] |= h[i] & raw.mask6[i];
                }
                Some(Ipv6Addr::from(a).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_map_the_modes_and_need_a_source_per_backend_family() {
        use crate::datapath::abi::{RawVipKey, MODE_GUE, MODE_IPIP};
        use crate::datapath::{entries, DatapathError, Layout};
        use crate::plan::{BackendPlan, Mode, Plan, Proto, VipPlan};
        let vip = |id: u32, addr: &str, mode: Mode, backend: &str| VipPlan {
            id,
            addr: addr.parse().unwrap(),
            port: 80,
            proto: Proto::Tcp,
            mode,
            snat_addr: None,
            backends: vec![BackendPlan {
                id,
                addr: backend.parse().unwrap(),
                port: 0,
                weight: 1,
                healthy: true,
            }],
            table: vec![id; 11],
        };
        let plan = Plan {
            table_size: 11,
            vips: vec![
                vip(0, "10.0.1.1", Mode::Ipip, "10.9.0.1"),
                vip(1, "10.0.1.2", Mode::Gue, "fd00:9::1"),
            ],
        };
        let layout = |encap: Encap| Layout {
            max_vips: 4,
            max_backends: 4,
            table_size: 11,
            encap,
            ..Layout::default()
        };
        let both = Encap {
            source4: Some(Prefix::parse("10.200.0.0/24").unwrap()),
            source6: Some(Prefix::parse("fd00:200::/112").unwrap()),
            gue_port: 6080,
        };
        let e = entries(&plan, &layout(both)).unwrap();
        let mode = |a: &str| e.vips[&RawVipKey::new(a.parse().unwrap(), 80, 6)].mode;
        assert_eq!((mode("10.0.1.1"), mode("10.0.1.2")), (MODE_IPIP, MODE_GUE));
        let no6 = Encap {
            source6: None,
            ..both
        };
        assert!(matches!(
            entries(&plan, &layout(no6)),
            Err(DatapathError::NoEncapSource { vip: 1, .. })
        ));
    }

    #[test]
    fn prefixes_parse_and_reject_host_bits() {
        assert_eq!(Prefix::parse("10.9.0.0/24").unwrap().len, 24);
        assert_eq!(Prefix::parse("10.9.0.7").unwrap().len, 32);
        assert_eq!(Prefix::parse("fd00:9::/64").unwrap().len, 64);
        assert!(Prefix::parse("10.9.0.1/24")
            .unwrap_err()
            .contains("host bits"));
        assert!(Prefix::parse("10.9.0.0/33").unwrap_err().contains("0..=32"));
        assert!(Prefix::parse("nonsense").is_err());
        assert!(Prefix::parse("224.0.0.0/8").is_err());
    }

    #[test]
    fn outer_source_stays_inside_the_prefix_and_spreads() {
        let e = Encap {
            source4: Some(Prefix::parse("10.9.0.0/24").unwrap()),
            source6: Some(Prefix::parse("fd00:9::/112").unwrap()),
            gue_port: 6080,
        };
        let b4: IpAddr = "10.1.0.1".parse().unwrap();
        let b6: IpAddr = "fd00:1::1".parse().unwrap();
        let mut seen4 = std::collections::HashSet::new();
        let mut seen6 = std::collections::HashSet::new();
        for h in 0..1000u32 {
            let h = h.wrapping_mul(0x9e37_79b9);
            let IpAddr::V4(a) = e.outer_source(b4, h).unwrap() else {
                panic!("family")
            };
            assert_eq!(a.octets()[..3], [10, 9, 0]);
            seen4.insert(a);
            let IpAddr::V6(a) = e.outer_source(b6, h).unwrap() else {
                panic!("family")
            };
            assert_eq!(a.segments()[..7], [0xfd00, 9, 0, 0, 0, 0, 0]);
            seen6.insert(a);
        }
        assert!(
            seen4.len() > 200 && seen6.len() > 900,
            "{} {}",
            seen4.len(),
            seen6.len()
        );
        let none = Encap::default();
        assert_eq!(none.outer_source(b4, 1), None);
        assert_eq!(none.raw().gue_port, 6080u16.to_be_bytes());
    }
}
