//! Byte-exact mirrors of `bpf/decap.h` (the decap program's maps and config).

use std::net::IpAddr;

use crate::datapath::abi::addr_bytes;

/// `struct decap_addr`: key of `oxlb_decap_addrs`.
pub fn addr_key(addr: IpAddr) -> [u8; 20] {
    let (bytes, family) = addr_bytes(addr);
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(&bytes);
    k[16] = family;
    k
}

/// `struct decap_config` (`.rodata` variable `oxlb_decap_cfg`).
pub fn config_bytes(gue_port: u16) -> [u8; 4] {
    let p = gue_port.to_be_bytes();
    [p[0], p[1], 0, 0]
}

/// Name of the config variable.
pub const CONFIG_VAR: &str = "oxlb_decap_cfg";
/// Name of the address map.
pub const ADDRS_MAP: &str = "oxlb_decap_addrs";
/// Name of the counter map.
pub const STATS_MAP: &str = "oxlb_decap_stats";
/// `DECAP_MAX_ADDRS`.
pub const MAX_ADDRS: usize = 64;

/// `enum decap_reason`: index into `oxlb_decap_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum DecapReason {
    /// Not IPv4/IPv6 (XDP_PASS).
    PassNotIp = 0,
    /// Not a tunnel packet (XDP_PASS).
    PassNotEncap = 1,
    /// Tunnel packet for another address (XDP_PASS).
    PassNotLocal = 2,
    /// Outer header the program does not take apart (XDP_PASS).
    PassOuter = 3,
    /// Local tunnel packet that is broken (XDP_DROP).
    DropMalformed = 4,
    /// IPIP stripped.
    Ipip = 5,
    /// GUE stripped.
    Gue = 6,
}

impl DecapReason {
    /// Every reason in index order (`DECAP_R_MAX` entries).
    pub const ALL: [DecapReason; 7] = [
        DecapReason::PassNotIp,
        DecapReason::PassNotEncap,
        DecapReason::PassNotLocal,
        DecapReason::PassOuter,
        DecapReason::DropMalformed,
        DecapReason::Ipip,
        DecapReason::Gue,
    ];

    /// Metric-style name.
    pub fn name(self) -> &'static str {
        match self {
            DecapReason::PassNotIp => "pass_not_ip",
            DecapReason::PassNotEncap => "pass_not_encap",
            DecapReason::PassNotLocal => "pass_not_local",
            DecapReason::PassOuter => "pass_outer",
            DecapReason::DropMalformed => "drop_malformed",
            DecapReason::Ipip => "ipip",
            DecapReason::Gue => "gue",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason numbers and sizes match the C header.
    #[test]
    fn matches_the_header() {
        let h = include_str!("../../bpf/decap.h");
        for r in DecapReason::ALL {
            let c = format!("DECAP_R_{} = {},", r.name().to_uppercase(), r as u32);
            assert!(h.contains(&c), "decap.h lacks {c}");
        }
        assert!(h.contains(&format!("DECAP_R_MAX = {},", DecapReason::ALL.len())));
        assert!(h.contains(&format!("#define DECAP_MAX_ADDRS {MAX_ADDRS}")));
        assert!(h.contains("sizeof(struct decap_addr) == 20"));
        assert!(h.contains("sizeof(struct decap_config) == 4"));
        let k = addr_key("fd00::1".parse().unwrap());
        assert_eq!((k[0], k[15], k[16]), (0xfd, 1, 10));
    }
}
