//! The `[bgp]` section of the oxlb config: raw (as written, with spans) and validated.
//!
//! ```toml
//! [bgp]
//! socket = "/run/bird/bird.ctl"      # BIRD's control socket
//! include = "/etc/bird/oxlb.conf"    # oxlb writes this file; bird.conf must `include` it
//! local_as = 65001
//! router_id = "10.0.0.2"             # optional (else BIRD picks one)
//! hold_time = "3s"                   # BGP hold time, 3s..=65535s (keepalive: a third)
//! bfd = true                         # BFD sessions to every neighbour (dead peer in ~300 ms)
//! bfd_interval = "100ms"             # BFD tx/rx interval; a peer is down after 3 missed
//! communities = ["65000:100"]        # standard communities added to every announced VIP
//!
//! [[bgp.neighbor]]
//! address = "10.0.0.1"
//! as = 65000
//! ```

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Default BIRD control socket (Debian's bird2 package).
pub const DEFAULT_SOCKET: &str = "/run/bird/bird.ctl";
/// Default path of the generated include.
pub const DEFAULT_INCLUDE: &str = "/etc/bird/oxlb.conf";

/// The `[bgp]` section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBgp {
    socket: Option<Spanned<String>>,
    include: Option<Spanned<String>>,
    local_as: Option<Spanned<i64>>,
    router_id: Option<Spanned<String>>,
    hold_time: Option<Spanned<String>>,
    bfd: Option<Spanned<bool>>,
    bfd_interval: Option<Spanned<String>>,
    #[serde(default)]
    communities: Vec<Spanned<String>>,
    #[serde(default, rename = "neighbor")]
    neighbors: Vec<Spanned<RawNeighbor>>,
}

/// One `[[bgp.neighbor]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNeighbor {
    address: Spanned<String>,
    #[serde(rename = "as")]
    asn: Spanned<i64>,
}

/// Validated BGP settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpConfig {
    /// BIRD's control socket.
    pub socket: PathBuf,
    /// The include file oxlb writes.
    pub include: PathBuf,
    /// This node's AS number.
    pub local_as: u32,
    /// BGP router id (an IPv4 address), if set.
    pub router_id: Option<std::net::Ipv4Addr>,
    /// Hold time in seconds.
    pub hold_time: u16,
    /// Whether BFD runs to every neighbour.
    pub bfd: bool,
    /// BFD interval in milliseconds.
    pub bfd_interval_ms: u32,
    /// Standard communities `(asn, value)` added to every announcement.
    pub communities: Vec<(u16, u16)>,
    /// BGP neighbours.
    pub neighbors: Vec<Neighbor>,
}

/// One BGP neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    /// Its address (IPv4 neighbours carry the IPv4 VIPs, IPv6 ones the IPv6 VIPs).
    pub address: IpAddr,
    /// Its AS number.
    pub asn: u32,
}

/// Reports one problem at a byte span of the config file.
pub type Report<'a> = dyn FnMut(&Range<usize>, String) + 'a;

/// Validates `raw` (at `span` in the file); `None` when anything was reported.
pub fn validate(raw: &RawBgp, span: &Range<usize>, report: &mut Report) -> Option<BgpConfig> {
    let mut problems = 0;
    let mut counted = |s: &Range<usize>, m: String| {
        problems += 1;
        report(s, m)
    };
    let err: &mut Report = &mut counted;
    let path = |raw: &Option<Spanned<String>>, default: &str, what: &str, err: &mut Report| {
        let Some(p) = raw else {
            return Some(PathBuf::from(default));
        };
        let path = PathBuf::from(p.get_ref());
        if path.is_absolute() {
            Some(path)
        } else {
            err(
                &p.span(),
                format!("bgp {what} {:?} must be an absolute path", p.get_ref()),
            );
            None
        }
    };
    let socket = path(&raw.socket, DEFAULT_SOCKET, "socket", err);
    let include = path(&raw.include, DEFAULT_INCLUDE, "include", err);
    let local_as = match &raw.local_as {
        None => {
            err(
                span,
                "[bgp] needs local_as = <this node's AS number>".into(),
            );
            None
        }
        Some(a) => asn(a, "bgp local_as", err),
    };
    let router_id = raw.router_id.as_ref().and_then(|r| {
        let parsed = r.get_ref().trim().parse::<std::net::Ipv4Addr>();
        match parsed {
            Ok(a) if !a.is_unspecified() => Some(a),
            _ => {
                err(
                    &r.span(),
                    format!(
                        "bgp router_id {:?} must be a non-zero IPv4 address (e.g. \"10.0.0.2\")",
                        r.get_ref()
                    ),
                );
                None
            }
        }
    });
    let hold_time = match &raw.hold_time {
        None => 3,
        Some(h) => match crate::config::parse_duration(h.get_ref()) {
            Some(d) if d.subsec_nanos() == 0 && (3..=65535).contains(&d.as_secs()) => {
                d.as_secs() as u16
            }
            _ => {
                err(
                    &h.span(),
                    format!(
                        "bgp hold_time {:?} must be whole seconds within 3s..=65535s (e.g. \"3s\")",
                        h.get_ref()
                    ),
                );
                3
            }
        },
    };
    let bfd_interval_ms = match &raw.bfd_interval {
        None => 100,
        Some(i) => match crate::config::parse_duration(i.get_ref()) {
            Some(d) if (Duration::from_millis(10)..=Duration::from_secs(10)).contains(&d) => {
                d.as_millis() as u32
            }
            _ => {
                err(
                    &i.span(),
                    format!(
                        "bgp bfd_interval {:?} must be like \"100ms\" or \"1s\", within 10ms..=10s",
                        i.get_ref()
                    ),
                );
                100
            }
        },
    };
    let mut communities = Vec::new();
    for c in &raw.communities {
        match community(c.get_ref()) {
            Some(pair) => communities.push(pair),
            None => err(&c.span(),
                format!(
                    "bgp community {:?} must be \"ASN:VALUE\" with both parts in 0..=65535 (e.g. \"65000:100\")",
                    c.get_ref()
                )),
        }
    }
    let mut neighbors = Vec::new();
    let mut seen = HashSet::new();
    if raw.neighbors.is_empty() {
        err(
            span,
            "[bgp] has no neighbours: add [[bgp.neighbor]] with address and as".into(),
        );
    }
    for n in &raw.neighbors {
        let address = match n.get_ref().address.get_ref().trim().parse::<IpAddr>() {
            Ok(a) if !a.is_unspecified() && !a.is_multicast() => Some(a),
            _ => {
                err(
                    &n.get_ref().address.span(),
                    format!(
                        "bgp neighbor address {:?} must be a unicast IP address (no port)",
                        n.get_ref().address.get_ref()
                    ),
                );
                None
            }
        };
        let peer_as = asn(&n.get_ref().asn, "bgp neighbor as", err);
        if let (Some(address), Some(asn)) = (address, peer_as) {
            if !seen.insert(address) {
                err(&n.span(), format!("bgp neighbor {address} is listed twice"));
            }
            neighbors.push(Neighbor { address, asn });
        }
    }
    let (socket, include, local_as) = (socket?, include?, local_as?);
    (problems == 0).then_some(BgpConfig {
        socket,
        include,
        local_as,
        router_id,
        hold_time,
        bfd: raw.bfd.as_ref().is_none_or(|b| *b.get_ref()),
        bfd_interval_ms,
        communities,
        neighbors,
    })
}

/// A 4-byte AS number other than 0 and 4294967295 (reserved).
fn asn(raw: &Spanned<i64>, what: &str, err: &mut Report) -> Option<u32> {
    match u32::try_from(*raw.get_ref()) {
        Ok(n) if n != 0 && n != u32::MAX => Some(n),
        _ => {
            err(
                &raw.span(),
                format!(
                    "{what} {} must be an AS number in 1..=4294967294",
                    raw.get_ref()
                ),
            );
            None
        }
    }
}

/// `"65000:100"` → `(65000, 100)`.
fn community(text: &str) -> Option<(u16, u16)> {
    let (a, v) = text.trim().split_once(':')?;
    Some((a.parse().ok()?, v.parse().ok()?))
}
