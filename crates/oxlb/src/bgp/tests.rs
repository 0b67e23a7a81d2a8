//! Unit tests of the `[bgp]` section and the generated BIRD include.

use super::bird::render;
use crate::config::{Config, ConfigError};
use std::collections::BTreeSet;
use std::net::IpAddr;

const BASE: &str = "[[interface]]\nname = \"eth0\"\n\n[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\nbackend = [{ address = \"10.0.1.1\" }]\n\n";

const GOOD: &str = r#"[bgp]
socket = "/run/bird-a/bird.ctl"
include = "/etc/bird-a/oxlb.conf"
local_as = 65001
router_id = "10.0.0.2"
hold_time = "6s"
bfd = true
bfd_interval = "50ms"
communities = ["65000:100", "65000:200"]

[[bgp.neighbor]]
address = "10.0.0.254"
as = 65000

[[bgp.neighbor]]
address = "fd00::fe"
as = 4200000000
"#;

fn parse(bgp: &str) -> Result<Config, ConfigError> {
    Config::parse(&format!("{BASE}{bgp}"), "oxlb.toml")
}

/// Every diagnostic as `line:column: message`.
fn errors(bgp: &str) -> Vec<String> {
    let err = parse(bgp).expect_err("config should be rejected");
    err.diagnostics()
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect()
}

#[test]
fn good_section_parses() {
    let c = parse(GOOD).expect("valid");
    let b = c.bgp.expect("bgp");
    assert_eq!(b.socket.to_str(), Some("/run/bird-a/bird.ctl"));
    assert_eq!(b.include.to_str(), Some("/etc/bird-a/oxlb.conf"));
    assert_eq!(b.local_as, 65001);
    assert_eq!(b.router_id, Some("10.0.0.2".parse().unwrap()));
    assert_eq!((b.hold_time, b.bfd, b.bfd_interval_ms), (6, true, 50));
    assert_eq!(b.communities, vec![(65000, 100), (65000, 200)]);
    assert_eq!(b.neighbors.len(), 2);
    assert_eq!(b.neighbors[1].asn, 4_200_000_000);
    assert!(parse("").expect("no bgp").bgp.is_none());
}

#[test]
fn defaults() {
    let b =
        parse("[bgp]\nlocal_as = 65001\nneighbor = [{ address = \"10.0.0.254\", as = 65000 }]\n")
            .expect("valid")
            .bgp
            .expect("bgp");
    assert_eq!(b.socket.to_str(), Some(super::config::DEFAULT_SOCKET));
    assert_eq!(b.include.to_str(), Some(super::config::DEFAULT_INCLUDE));
    assert_eq!((b.hold_time, b.bfd, b.bfd_interval_ms), (3, true, 100));
    assert!(b.router_id.is_none() && b.communities.is_empty());
}

#[test]
fn malformed_neighbours_get_positioned_errors() {
    // BASE has 9 lines; [bgp] is line 10.
    let cases: &[(&str, &str)] = &[
        (
            "[bgp]\nlocal_as = 65001\n[[bgp.neighbor]]\naddress = \"10.0.0.300\"\nas = 65000\n",
            "13:11: bgp neighbor address \"10.0.0.300\" must be a unicast IP address (no port)",
        ),
        (
            "[bgp]\nlocal_as = 65001\n[[bgp.neighbor]]\naddress = \"10.0.0.254\"\nas = 0\n",
            "14:6: bgp neighbor as 0 must be an AS number in 1..=4294967294",
        ),
        (
            "[bgp]\nlocal_as = 65001\n[[bgp.neighbor]]\naddress = \"10.0.0.254:179\"\nas = 65000\n",
            "13:11: bgp neighbor address \"10.0.0.254:179\" must be a unicast IP address (no port)",
        ),
        (
            "[bgp]\nlocal_as = 65001\nneighbor = [{ address = \"10.0.0.254\", as = 1 }, { address = \"10.0.0.254\", as = 2 }]\n",
            "12:49: bgp neighbor 10.0.0.254 is listed twice",
        ),
        (
            "[bgp]\nlocal_as = 65001\n",
            "10:1: [bgp] has no neighbours: add [[bgp.neighbor]] with address and as",
        ),
        (
            "[bgp]\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "10:1: [bgp] needs local_as = <this node's AS number>",
        ),
        (
            "[bgp]\nlocal_as = 4294967296\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "11:12: bgp local_as 4294967296 must be an AS number in 1..=4294967294",
        ),
        (
            "[bgp]\nlocal_as = 1\nhold_time = \"2s\"\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "12:13: bgp hold_time \"2s\" must be whole seconds within 3s..=65535s (e.g. \"3s\")",
        ),
        (
            "[bgp]\nlocal_as = 1\ncommunities = [\"65000:100\", \"65000\"]\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "12:29: bgp community \"65000\" must be \"ASN:VALUE\" with both parts in 0..=65535 (e.g. \"65000:100\")",
        ),
        (
            "[bgp]\nlocal_as = 1\nsocket = \"bird.ctl\"\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "12:10: bgp socket \"bird.ctl\" must be an absolute path",
        ),
        (
            "[bgp]\nlocal_as = 1\nrouter_id = \"fd00::1\"\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "12:13: bgp router_id \"fd00::1\" must be a non-zero IPv4 address (e.g. \"10.0.0.2\")",
        ),
        (
            "[bgp]\nlocal_as = 1\nbfd_interval = \"5ms\"\nneighbor = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "12:16: bgp bfd_interval \"5ms\" must be like \"100ms\" or \"1s\", within 10ms..=10s",
        ),
    ];
    for (bgp, want) in cases {
        assert_eq!(errors(bgp), vec![want.to_string()], "for:\n{bgp}");
    }
}

#[test]
fn wrong_types_and_unknown_keys_are_syntax_errors() {
    for (bgp, want) in [
        (
            "[bgp]\nlocal_as = 1\nneighbor = [{ address = \"10.0.0.254\" }]\n",
            "missing field `as`",
        ),
        (
            "[bgp]\nlocal_as = 1\nneighbor = [{ address = \"10.0.0.254\", as = \"65000\" }]\n",
            "invalid type",
        ),
        (
            "[bgp]\nlocal_as = 1\nneighbour = [{ address = \"10.0.0.254\", as = 1 }]\n",
            "unknown field `neighbour`",
        ),
        (
            "[bgp]\nlocal_as = 1\nneighbor = \"10.0.0.254\"\n",
            "invalid type",
        ),
    ] {
        let err = parse(bgp).expect_err("rejected");
        let text = err.to_string();
        assert!(
            matches!(err, ConfigError::Syntax(_))
                && text.contains(want)
                && text.starts_with("oxlb.toml:1"),
            "for {bgp:?}: {text}"
        );
    }
}

#[test]
fn include_announces_exactly_the_given_addresses() {
    let b = parse(GOOD).expect("valid").bgp.expect("bgp");
    let addrs: BTreeSet<IpAddr> = ["10.0.0.1", "fd00::1", "10.0.0.9"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let text = render(&b, &addrs);
    for want in [
        "router id 10.0.0.2;",
        "protocol static oxlb_vip4 {\n  ipv4;\n  route 10.0.0.1/32 blackhole;\n  route 10.0.0.9/32 blackhole;\n}",
        "protocol static oxlb_vip6 {\n  ipv6;\n  route fd00::1/128 blackhole;\n}",
        "    bgp_community.add((65000,100));\n    bgp_community.add((65000,200));\n    accept;",
        "min rx interval 50 ms;",
        "protocol bgp oxlb_peer1 {\n  local as 65001;\n  neighbor 10.0.0.254 as 65000;\n  hold time 6;\n  keepalive time 2;",
        "neighbor fd00::fe as 4200000000;",
        "bfd on;",
        "  ipv4 { import none; export filter oxlb_export; };",
        "  ipv6 { import none; export filter oxlb_export; };",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert_eq!(text.matches("route ").count(), 3);
    let none = render(&b, &BTreeSet::new());
    assert_eq!(none.matches("route ").count(), 0);
    // Withdrawing changes only the static routes: the sessions' text stays the same, so
    // BIRD's reconfigure keeps them up.
    let sessions = |t: &str| t[t.find("filter oxlb_export").unwrap()..].to_string();
    assert_eq!(sessions(&text), sessions(&none));
    let off = parse(&GOOD.replace("bfd = true", "bfd = false"))
        .expect("valid")
        .bgp
        .expect("bgp");
    let text = render(&off, &addrs);
    assert!(text.contains("bfd off;") && !text.contains("protocol bfd"));
}

#[test]
fn check_warns_about_nat_vips_announced_by_bgp() {
    let nat = "[[interface]]\nname = \"eth0\"\n[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"nat\"\nsnat = \"10.0.0.254\"\nbackend = [{ address = \"10.0.1.1\" }]\n";
    let bgp = "[bgp]\nlocal_as = 1\nneighbor = [{ address = \"10.0.0.253\", as = 2 }]\n";
    let with = Config::parse(&format!("{nat}{bgp}"), "t.toml").expect("valid");
    let w = super::commands::warnings(&with);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("vip 10.0.0.1:80/tcp (line 3) is mode = \"nat\" and announced by BGP"));
    let without = Config::parse(nat, "t.toml").expect("valid");
    assert!(super::commands::warnings(&without).is_empty());
    assert!(super::commands::warnings(&parse(GOOD).expect("valid")).is_empty());
}
