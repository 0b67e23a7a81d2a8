//! The `[encap]` table: outer headers of the `ipip` and `gue` VIP modes.
//!
//! ```toml
//! [encap]
//! source4 = "10.200.0.0/24"   # outer IPv4 source prefix; the flow hash picks the host bits
//! source6 = "fd00:200::/112"  # outer IPv6 source prefix (up to 32 host bits vary)
//! gue_port = 6080             # GUE destination UDP port
//! ```

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::Vip;
use crate::datapath::{Encap, Prefix};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEncap {
    source4: Option<Spanned<String>>,
    source6: Option<Spanned<String>>,
    gue_port: Option<Spanned<i64>>,
}

/// The validated table and the problems found (span, message).
pub(super) fn encap(raw: &RawEncap) -> (Encap, Vec<(Range<usize>, String)>) {
    let mut e = Encap::default();
    let mut errs = Vec::new();
    for (name, raw, v4, slot) in [
        ("source4", &raw.source4, true, &mut e.source4),
        ("source6", &raw.source6, false, &mut e.source6),
    ] {
        let Some(text) = raw else { continue };
        match Prefix::parse(text.get_ref()) {
            Ok(p) if p.addr.is_ipv4() == v4 => *slot = Some(p),
            Ok(p) => errs.push((
                text.span(),
                format!(
                    "encap {name} = {p} is not an IPv{} prefix",
                    if v4 { 4 } else { 6 }
                ),
            )),
            Err(why) => errs.push((text.span(), format!("encap {name}: {why}"))),
        }
    }
    if let Some(p) = &raw.gue_port {
        match u16::try_from(*p.get_ref()) {
            Ok(port) if port != 0 => e.gue_port = port,
            _ => errs.push((
                p.span(),
                format!("encap gue_port must be 1..=65535 (got {})", p.get_ref()),
            )),
        }
    }
    (e, errs)
}

/// Problems of an `ipip`/`gue` VIP under `encap`: a backend family without a source prefix.
pub(super) fn vip_problems(vip: &Vip, encap: &Encap) -> Vec<String> {
    if !matches!(vip.mode, crate::plan::Mode::Ipip | crate::plan::Mode::Gue) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (v4, key) in [(true, "source4"), (false, "source6")] {
        let need = vip.backends.iter().any(|b| b.addr.is_ipv4() == v4);
        let have = if v4 { encap.source4 } else { encap.source6 };
        if need && have.is_none() {
            out.push(format!(
                "vip {}: mode = \"{}\" has IPv{} backends but [encap] has no {key} (the outer source prefix, e.g. {key} = \"{}\")",
                vip.key(),
                vip.mode,
                if v4 { 4 } else { 6 },
                if v4 { "10.200.0.0/24" } else { "fd00:200::/112" }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::plan::Mode;

    fn parse(body: &str) -> Result<Config, String> {
        Config::parse(&format!("[[interface]]\nname = \"eth0\"\n{body}"), "t.toml")
            .map_err(|e| e.to_string())
    }

    const VIP: &str = "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"ipip\"\n\
                       [[vip.backend]]\naddress = \"10.9.0.1\"\n\
                       [[vip.backend]]\naddress = \"fd00:9::1\"\n";

    #[test]
    fn encap_table_and_modes() {
        let c = parse(&format!(
            "{VIP}[encap]\nsource4 = \"10.200.0.0/24\"\nsource6 = \"fd00:200::/112\"\ngue_port = 7000\n"
        ))
        .unwrap();
        assert_eq!(c.vips[0].mode, Mode::Ipip);
        assert_eq!(c.encap.source4.unwrap().to_string(), "10.200.0.0/24");
        assert_eq!(c.encap.gue_port, 7000);
        let gue = VIP.replace("ipip", "gue");
        let c = parse(&format!(
            "{gue}[encap]\nsource4 = \"10.200.0.0/24\"\nsource6 = \"fd00:200::/112\"\n"
        ))
        .unwrap();
        assert_eq!((c.vips[0].mode, c.encap.gue_port), (Mode::Gue, 6080));
    }

    #[test]
    fn encap_mistakes_are_named() {
        for (body, want) in [
            (
                format!("{VIP}[encap]\nsource4 = \"10.200.0.0/24\"\n"),
                "has IPv6 backends but [encap] has no source6",
            ),
            (VIP.to_string(), "[encap] has no source4"),
            (
                format!("{VIP}[encap]\nsource4 = \"fd00::/64\"\n"),
                "is not an IPv4 prefix",
            ),
            (
                format!("{VIP}[encap]\nsource4 = \"10.200.0.1/24\"\n"),
                "host bits set",
            ),
            (
                format!("{VIP}[encap]\ngue_port = 0\n"),
                "gue_port must be 1..=65535",
            ),
            (format!("{VIP}[encap]\nport = 1\n"), "unknown field"),
            (
                VIP.replace("mode = \"ipip\"", "mode = \"ipip\"\nsnat = \"10.0.0.2\""),
                "snat only applies",
            ),
            (
                VIP.replace("\"10.9.0.1\"", "\"10.9.0.1\"\nport = 8080"),
                "mode ipip cannot rewrite ports",
            ),
            (
                VIP.replace("ipip", "vxlan"),
                "not one of nat, dsr, ipip, gue",
            ),
        ] {
            let err = parse(&body).unwrap_err();
            assert!(err.contains(want), "{want:?} not in: {err}");
        }
    }
}
