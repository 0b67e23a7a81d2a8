//! Raw (as written) config structures with spans, and their validation into [`super::Config`].

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{
    is_prime, parse_duration, Backend, CheckKind, Config, Diagnostic, Global, HealthCheck,
    Interface, Vip, XdpMode, MAX_CONNTRACK_SIZE, MAX_IFNAME, MAX_NAT_TIMEOUT_S, MAX_TABLE_SIZE,
};
use crate::plan::{Mode, Proto, VipKey};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    global: Option<Spanned<RawGlobal>>,
    #[serde(default, rename = "interface", deserialize_with = "tables::interfaces")]
    interfaces: Vec<Spanned<RawInterface>>,
    #[serde(default, rename = "vip", deserialize_with = "tables::vips")]
    vips: Vec<Spanned<RawVip>>,
    encap: Option<Spanned<super::encap::RawEncap>>,
    bgp: Option<Spanned<crate::bgp::config::RawBgp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    maglev_table_size: Option<Spanned<i64>>,
    conntrack_size: Option<Spanned<i64>>,
    metrics_listen: Option<Spanned<String>>,
    pin_dir: Option<Spanned<String>>,
    nat_tcp_timeout: Option<Spanned<String>>,
    nat_tcp_closed_timeout: Option<Spanned<String>>,
    nat_tcp_time_wait_timeout: Option<Spanned<String>>,
    nat_udp_timeout: Option<Spanned<String>>,
    nat_tcp_syn_timeout: Option<Spanned<String>>,
    syn_table_size: Option<Spanned<i64>>,
    new_flow_guard: Option<Spanned<i64>>,
    health_panic_threshold: Option<Spanned<i64>>,
    syn_cookies: Option<Spanned<String>>,
    syn_cookie_rate: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    xdp_mode: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVip {
    address: Spanned<String>,
    port: Option<Spanned<i64>>,
    protocol: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    snat: Option<Spanned<String>>,
    health: Option<Spanned<RawHealth>>,
    #[serde(default, deserialize_with = "tables::backends")]
    backend: Vec<Spanned<RawBackend>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    address: Spanned<String>,
    port: Option<Spanned<i64>>,
    weight: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    port: Option<Spanned<i64>>,
    path: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    rise: Option<Spanned<i64>>,
    fall: Option<Spanned<i64>>,
}

/// Turns raw structures into a [`Config`], collecting diagnostics instead of stopping at the first.
pub(super) struct Validator<'a> {
    lines: LineIndex<'a>,
    file: &'a str,
    /// Addresses of every VIP (to their key) and SNAT address (to its VIP), for backend checks.
    vip_addrs: HashMap<IpAddr, VipKey>,
    snat_addrs: HashMap<IpAddr, VipKey>,
    pub(super) diags: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(src: &'a str, file: &'a str) -> Self {
        Validator {
            lines: LineIndex::new(src),
            file,
            vip_addrs: HashMap::new(),
            snat_addrs: HashMap::new(),
            diags: Vec::new(),
        }
    }

    pub(super) fn diag(&self, span: &Range<usize>, message: String) -> Diagnostic {
        let (line, column) = self.lines.line_col(span.start);
        Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }

    fn err(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let d = self.diag(span, message.into());
        self.diags.push(d);
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    pub(super) fn config(&mut self, raw: RawConfig) -> Config {
        let global = raw
            .global
            .map(|g| self.global(g.into_inner()))
            .unwrap_or_default();
        let mut interfaces = Vec::new();
        let mut if_names = HashSet::new();
        if raw.interfaces.is_empty() {
            self.err(
                &(0..0),
                "no [[interface]] configured: add one with name = \"eth0\"",
            );
        }
        for item in raw.interfaces {
            let span = item.span();
            if let Some(iface) = self.interface(item.into_inner()) {
                if !if_names.insert(iface.name.clone()) {
                    self.err(&span, format!("interface {:?} is listed twice", iface.name));
                }
                interfaces.push(iface);
            }
        }
        self.service_addrs(&raw.vips);
        self.datapath_limits(&raw.vips);
        let mut vips = Vec::new();
        let mut seen: HashMap<VipKey, usize> = HashMap::new();
        for item in raw.vips {
            let span = item.span();
            if let Some(vip) = self.vip(item.into_inner(), &span) {
                if let Some(first) = seen.insert(vip.key(), vip.line) {
                    self.err(
                        &span,
                        format!("vip {} is already defined at line {first}", vip.key()),
                    );
                }
                vips.push(vip);
            }
        }
        let mut encap = crate::datapath::Encap::default();
        if let Some(raw) = &raw.encap {
            let (e, errs) = super::encap::encap(raw.get_ref());
            encap = e;
            for (span, msg) in errs {
                self.err(&span, msg);
            }
        }
        let bgp = raw.bgp.and_then(|b| {
            crate::bgp::config::validate(b.get_ref(), &b.span(), &mut |s, m| self.err(s, m))
        });
        let config = Config {
            global,
            interfaces,
            vips,
            encap,
            bgp,
        };
        self.cross_checks(&config);
        config
    }

    /// Records the VIP and SNAT addresses as written (those that parse), before any backend is
    /// checked against them.
    fn service_addrs(&mut self, vips: &[Spanned<RawVip>]) {
        for v in vips.iter().map(Spanned::get_ref) {
            let Ok(addr) = v.address.get_ref().parse::<IpAddr>() else {
                continue;
            };
            let proto = match v.protocol.as_ref().map(|p| p.get_ref().as_str()) {
                Some("udp") => Proto::Udp,
                _ => Proto::Tcp,
            };
            let port = v
                .port
                .as_ref()
                .and_then(|p| u16::try_from(*p.get_ref()).ok())
                .unwrap_or(0);
            let key = VipKey { addr, port, proto };
            self.vip_addrs.entry(addr).or_insert(key);
            if let Some(snat) = v.snat.as_ref().and_then(|s| s.get_ref().parse().ok()) {
                self.snat_addrs.entry(snat).or_insert(key);
            }
        }
    }

    /// The datapath's fixed limits on VIPs and backends, reported at the first item over them.
    fn datapath_limits(&mut self, vips: &[Spanned<RawVip>]) {
        let layout = crate::datapath::Layout::default();
        let max_vips = layout.max_vips as usize;
        if let Some(first_over) = vips.get(max_vips) {
            self.err(
                &first_over.span(),
                format!(
                    "{} VIPs exceed the datapath limit of {max_vips} (this is VIP {}); remove VIPs",
                    vips.len(),
                    max_vips + 1
                ),
            );
        }
        let max_backends = layout.max_backends as usize;
        let total: usize = vips.iter().map(|v| v.get_ref().backend.len()).sum();
        if total > max_backends {
            let first_over = vips
                .iter()
                .flat_map(|v| &v.get_ref().backend)
                .nth(max_backends)
                .map(Spanned::span)
                .unwrap_or(0..0);
            self.err(
                &first_over,
                format!(
                    "{total} backends (over all VIPs) exceed the datapath limit of {max_backends} \
                     (this is backend {}); remove backends",
                    max_backends + 1
                ),
            );
        }
    }

    fn global(&mut self, raw: RawGlobal) -> Global {
        let mut g = Global::default();
        if let Some(size) = raw.maglev_table_size {
            match u32::try_from(*size.get_ref()) {
                Ok(n) if (11..=MAX_TABLE_SIZE).contains(&n) && is_prime(n) => g.maglev_table_size = n,
                _ => self.err(
                    &size.span(),
                    format!(
                        "maglev_table_size {} must be a prime in 11..={MAX_TABLE_SIZE} (e.g. 65537 or 655373)",
                        size.get_ref()
                    ),
                ),
            }
        }
        if let Some(size) = raw.conntrack_size {
            match u32::try_from(*size.get_ref()) {
                Ok(n) if (1..=MAX_CONNTRACK_SIZE).contains(&n) => g.conntrack_size = n,
                _ => self.err(
                    &size.span(),
                    format!(
                        "conntrack_size {} must be in 1..={MAX_CONNTRACK_SIZE}",
                        size.get_ref()
                    ),
                ),
            }
        }
        if let Some(size) = raw.syn_table_size {
            match u32::try_from(*size.get_ref()) {
                Ok(n) if (1024..=MAX_CONNTRACK_SIZE).contains(&n) => g.syn_table_size = n,
                _ => self.err(
                    &size.span(),
                    format!(
                        "syn_table_size {} must be in 1024..={MAX_CONNTRACK_SIZE}",
                        size.get_ref()
                    ),
                ),
            }
        }
        if let Some(rate) = raw.new_flow_guard {
            match u32::try_from(*rate.get_ref()) {
                Ok(n) => g.new_flow_guard = n,
                _ => self.err(
                    &rate.span(),
                    format!(
                        "new_flow_guard {} must be new flows per second per VIP and CPU in 0..={} (0 = off)",
                        rate.get_ref(),
                        u32::MAX
                    ),
                ),
            }
        }
        if let Some(pct) = raw.health_panic_threshold {
            match u32::try_from(*pct.get_ref()) {
                Ok(n) if n <= 100 => g.health_panic_threshold = n,
                _ => self.err(
                    &pct.span(),
                    format!(
                        "health_panic_threshold {} must be a percentage in 0..=100 (0 = off)",
                        pct.get_ref()
                    ),
                ),
            }
        }
        if let Some(rate) = raw.syn_cookie_rate {
            match u32::try_from(*rate.get_ref()) {
                Ok(n) => g.syn_cookie_rate = n,
                _ => self.err(
                    &rate.span(),
                    format!(
                        "syn_cookie_rate {} must be new flows per second per VIP and CPU in 0..={} (0 = only the guard and exhausted half-open ports)",
                        rate.get_ref(),
                        u32::MAX
                    ),
                ),
            }
        }
        if let Some(mode) = raw.syn_cookies {
            match crate::datapath::SynCookies::parse(mode.get_ref().trim()) {
                Some(m) => g.syn_cookies = m,
                None => self.err(
                    &mode.span(),
                    format!(
                        "syn_cookies {:?} must be \"flood\" (while new_flow_guard is engaged), \"always\" or \"off\"",
                        mode.get_ref()
                    ),
                ),
            }
        }
        if let Some(listen) = raw.metrics_listen {
            let text = listen.get_ref().trim();
            if text == "off" {
                g.metrics_listen = None;
            } else {
                match text.parse::<SocketAddr>() {
                    Ok(addr) => g.metrics_listen = Some(addr),
                    Err(_) => self.err(
                        &listen.span(),
                        format!(
                            "metrics_listen {text:?} is not an ip:port address (e.g. \"127.0.0.1:9100\", \"[::1]:9100\") or \"off\""
                        ),
                    ),
                }
            }
        }
        let t = &mut g.nat_timeouts;
        for (name, raw, slot) in [
            ("nat_tcp_timeout", &raw.nat_tcp_timeout, &mut t.tcp_idle),
            (
                "nat_tcp_closed_timeout",
                &raw.nat_tcp_closed_timeout,
                &mut t.tcp_closed,
            ),
            (
                "nat_tcp_time_wait_timeout",
                &raw.nat_tcp_time_wait_timeout,
                &mut t.tcp_time_wait,
            ),
            ("nat_udp_timeout", &raw.nat_udp_timeout, &mut t.udp_idle),
            (
                "nat_tcp_syn_timeout",
                &raw.nat_tcp_syn_timeout,
                &mut t.tcp_syn,
            ),
        ] {
            let Some(raw) = raw else { continue };
            match parse_duration(raw.get_ref()) {
                Some(d)
                    if d.subsec_nanos() == 0
                        && (1..=MAX_NAT_TIMEOUT_S).contains(&d.as_secs()) =>
                {
                    *slot = d.as_secs() as u32
                }
                _ => self.err(
                    &raw.span(),
                    format!(
                        "{name} {:?} must be whole seconds like \"30s\", \"15m\" or \"1h\", within 1s..={MAX_NAT_TIMEOUT_S}s",
                        raw.get_ref()
                    ),
                ),
            }
        }
        if let Some(dir) = raw.pin_dir {
            let path = PathBuf::from(dir.get_ref());
            if path.is_absolute() {
                g.pin_dir = path;
            } else {
                self.err(
                    &dir.span(),
                    format!(
                        "pin_dir {:?} must be an absolute path under a bpffs mount",
                        dir.get_ref()
                    ),
                );
            }
        }
        g
    }

    fn interface(&mut self, raw: RawInterface) -> Option<Interface> {
        let name = raw.name.get_ref().clone();
        let mut ok = true;
        if name.is_empty() || name.len() > MAX_IFNAME || name.contains(['/', ' ', '\0']) {
            self.err(
                &raw.name.span(),
                format!(
                    "interface name {name:?} is invalid: 1..={MAX_IFNAME} bytes, no '/' or spaces"
                ),
            );
            ok = false;
        }
        let xdp_mode = match raw
            .xdp_mode
            .as_ref()
            .map(|m| (m.get_ref().as_str(), m.span()))
        {
            None | Some(("auto", _)) => XdpMode::Auto,
            Some(("generic", _)) => XdpMode::Generic,
            Some(("driver", _)) => XdpMode::Driver,
            Some((other, span)) => {
                self.err(
                    &span,
                    format!("xdp_mode {other:?} is not one of auto, generic, driver"),
                );
                return None;
            }
        };
        ok.then_some(Interface { name, xdp_mode })
    }

    /// Parses an address; `service` (a VIP or SNAT address) also refuses loopback addresses.
    fn addr(&mut self, what: &str, raw: &Spanned<String>, service: bool) -> Option<IpAddr> {
        let text = raw.get_ref();
        if text.trim() != text {
            self.err(
                &raw.span(),
                format!(
                    "{what} {text:?} has leading or trailing spaces: write {:?}",
                    text.trim()
                ),
            );
            return None;
        }
        let unusable = |a: IpAddr| match a {
            _ if a.is_unspecified() => Some("unspecified"),
            _ if a.is_multicast() => Some("multicast"),
            IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast"),
            _ if service && a.is_loopback() => Some("loopback"),
            _ => None,
        };
        match text.parse::<IpAddr>() {
            Ok(a) => match unusable(a) {
                Some(kind) => {
                    self.err(
                        &raw.span(),
                        format!("{what} {a} is a {kind} address; it must be a unicast address of this network"),
                    );
                    None
                }
                None => Some(a),
            },
            Err(_) => {
                self.err(
                    &raw.span(),
                    format!("{what} {:?} is not an IP address (write \"10.0.0.1\" or \"fd00::1\", no port)", raw.get_ref()),
                );
                None
            }
        }
    }

    fn port(&mut self, what: &str, raw: Option<&Spanned<i64>>) -> Option<u16> {
        match raw {
            None => Some(0),
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) => Some(port),
                Err(_) => {
                    self.err(
                        &p.span(),
                        format!("{what} {} must be 0..=65535", p.get_ref()),
                    );
                    None
                }
            },
        }
    }

    fn vip(&mut self, raw: RawVip, span: &Range<usize>) -> Option<Vip> {
        let line = self.line(span);
        let addr = self.addr("vip address", &raw.address, true);
        let port = self.port("vip port", raw.port.as_ref());
        let proto = match raw
            .protocol
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()))
        {
            None | Some(("tcp", _)) => Some(Proto::Tcp),
            Some(("udp", _)) => Some(Proto::Udp),
            Some((other, s)) => {
                self.err(&s, format!("vip protocol {other:?} is not one of tcp, udp"));
                None
            }
        };
        let mode = match raw.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("nat", _)) => Some(Mode::Nat),
            Some(("dsr", _)) => Some(Mode::Dsr),
            Some(("ipip", _)) => Some(Mode::Ipip),
            Some(("gue", _)) => Some(Mode::Gue),
            Some((other, s)) => {
                self.err(
                    &s,
                    format!("vip mode {other:?} is not one of nat, dsr, ipip, gue"),
                );
                None
            }
        };
        let (addr, port, proto, mode) = (addr?, port?, proto?, mode?);
        let key = VipKey { addr, port, proto };
        let snat_addr = match (mode, &raw.snat) {
            (Mode::Nat, None) => {
                self.err(span, format!("vip {key}: mode = \"nat\" needs snat = \"<LB address>\" (the source towards backends)"));
                None
            }
            (Mode::Dsr | Mode::Ipip | Mode::Gue, Some(s)) => {
                self.err(
                    &s.span(),
                    format!("vip {key}: snat only applies to mode = \"nat\""),
                );
                None
            }
            (Mode::Dsr | Mode::Ipip | Mode::Gue, None) => None,
            (Mode::Nat, Some(s)) => {
                let a = self.addr("snat address", s, true);
                if let Some(a) = a {
                    if a.is_ipv4() != addr.is_ipv4() {
                        self.err(
                            &s.span(),
                            format!("vip {key}: snat {a} is not the same IP family as the VIP"),
                        );
                    }
                    if a == addr {
                        self.err(
                            &s.span(),
                            format!("vip {key}: snat must differ from the VIP address"),
                        );
                    }
                }
                a
            }
        };
        let health = raw
            .health
            .as_ref()
            .and_then(|h| self.health(&key, h.get_ref()));
        let mut backends = Vec::new();
        let mut seen: HashMap<(IpAddr, u16), usize> = HashMap::new();
        for b in &raw.backend {
            let Some(backend) = self.backend(&key, mode, b) else {
                continue;
            };
            if let Some(first) = seen.insert((backend.addr, backend.port), backend.line) {
                self.err(
                    &b.span(),
                    format!(
                        "vip {key}: backend {} is already listed at line {first}",
                        SocketAddr::new(backend.addr, backend.port)
                    ),
                );
            }
            if let Some(h) = &health {
                if h.port.is_none() && backend.port == 0 && port == 0 {
                    self.err(
                        &b.span(),
                        format!("vip {key}: health check needs a port: set health.port, the backend port or the VIP port"),
                    );
                }
            }
            backends.push(backend);
        }
        if raw.backend.is_empty() {
            self.err(
                span,
                format!("vip {key} has no backends: add at least one [[vip.backend]]"),
            );
        } else if backends.len() == raw.backend.len() && backends.iter().all(|b| b.weight == 0) {
            self.err(
                span,
                format!("every backend of vip {key} has weight 0, so it would refuse every new flow: give one a weight > 0, or remove the VIP"),
            );
        }
        Some(Vip {
            addr,
            port,
            proto,
            mode,
            snat_addr,
            health,
            backends,
            line,
        })
    }

    fn backend(&mut self, vip: &VipKey, mode: Mode, raw: &Spanned<RawBackend>) -> Option<Backend> {
        let line = self.line(&raw.span());
        let b = raw.get_ref();
        let addr = self.addr(&format!("vip {vip}: backend address"), &b.address, false);
        let port = self.port(&format!("vip {vip}: backend port"), b.port.as_ref());
        let weight = match &b.weight {
            None => Some(1),
            Some(w) => match u16::try_from(*w.get_ref()) {
                Ok(w) => Some(u32::from(w)),
                Err(_) => {
                    self.err(
                        &w.span(),
                        format!(
                            "vip {vip}: backend weight must be 0..=65535 (got {})",
                            w.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let (addr, port, weight) = (addr?, port?, weight?);
        let loop_why = if addr == vip.addr {
            Some("is the VIP's own address".to_string())
        } else if let Some(other) = self.vip_addrs.get(&addr) {
            Some(format!("is also VIP {other}"))
        } else {
            self.snat_addrs
                .get(&addr)
                .map(|owner| format!("is the SNAT address of vip {owner}"))
        };
        if let Some(why) = loop_why {
            self.err(
                &b.address.span(),
                format!("vip {vip}: backend {addr} {why}: traffic sent to it would come back to the load balancer"),
            );
        }
        if mode == Mode::Nat && addr.is_ipv4() != vip.addr.is_ipv4() {
            self.err(
                &b.address.span(),
                format!("vip {vip}: NAT backend {addr} is not the same IP family as the VIP (use mode = \"dsr\" to mix)"),
            );
        }
        if mode.is_dsr() && port != 0 && port != vip.port {
            let span = b.port.as_ref().map(|p| p.span()).unwrap_or(raw.span());
            let who = match mode {
                Mode::Dsr => "DSR".to_string(),
                _ => format!("mode {mode}"),
            };
            self.err(
                &span,
                format!("vip {vip}: {who} cannot rewrite ports: backend port must be 0 or the VIP port {}", vip.port),
            );
        }
        Some(Backend {
            addr,
            port,
            weight,
            line,
        })
    }

    fn health(&mut self, vip: &VipKey, raw: &RawHealth) -> Option<HealthCheck> {
        let before = self.diags.len();
        let kind = match raw.kind.get_ref().as_str() {
            "tcp" => {
                if let Some(p) = &raw.path {
                    self.err(
                        &p.span(),
                        format!("vip {vip}: health path only applies to type = \"http\""),
                    );
                }
                CheckKind::Tcp
            }
            "http" => {
                let path = raw
                    .path
                    .as_ref()
                    .map(|p| p.get_ref().clone())
                    .unwrap_or_else(|| "/".into());
                if !path.starts_with('/')
                    || path.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    let span = raw
                        .path
                        .as_ref()
                        .map(|p| p.span())
                        .unwrap_or(raw.kind.span());
                    self.err(&span, format!("vip {vip}: health path {path:?} must start with '/' and have no spaces"));
                }
                CheckKind::Http { path }
            }
            other => {
                self.err(
                    &raw.kind.span(),
                    format!("vip {vip}: health type {other:?} is not one of tcp, http"),
                );
                CheckKind::Tcp
            }
        };
        let port = match &raw.port {
            None => None,
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port != 0 => Some(port),
                _ => {
                    self.err(
                        &p.span(),
                        format!("vip {vip}: health port {} must be 1..=65535", p.get_ref()),
                    );
                    None
                }
            },
        };
        let interval = self.duration(
            vip,
            "interval",
            raw.interval.as_ref(),
            Duration::from_secs(2),
        );
        let timeout = self.duration(vip, "timeout", raw.timeout.as_ref(), Duration::from_secs(1));
        if timeout > interval {
            let span = raw
                .timeout
                .as_ref()
                .or(raw.interval.as_ref())
                .map(|s| s.span())
                .unwrap_or(raw.kind.span());
            self.err(
                &span,
                format!(
                    "vip {vip}: health timeout {timeout:?} must not exceed interval {interval:?}"
                ),
            );
        }
        let rise = self.threshold(vip, "rise", raw.rise.as_ref(), 2);
        let fall = self.threshold(vip, "fall", raw.fall.as_ref(), 3);
        (self.diags.len() == before).then_some(HealthCheck {
            kind,
            port,
            interval,
            timeout,
            rise,
            fall,
        })
    }

    fn duration(
        &mut self,
        vip: &VipKey,
        what: &str,
        raw: Option<&Spanned<String>>,
        default: Duration,
    ) -> Duration {
        let Some(raw) = raw else { return default };
        match parse_duration(raw.get_ref()) {
            Some(d) if d >= Duration::from_millis(10) && d <= Duration::from_secs(3600) => d,
            _ => {
                self.err(
                    &raw.span(),
                    format!("vip {vip}: health {what} {:?} must be like \"500ms\", \"2s\" or \"1m\", within 10ms..=1h", raw.get_ref()),
                );
                default
            }
        }
    }

    fn threshold(
        &mut self,
        vip: &VipKey,
        what: &str,
        raw: Option<&Spanned<i64>>,
        default: u32,
    ) -> u32 {
        let Some(raw) = raw else { return default };
        match u32::try_from(*raw.get_ref()) {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                self.err(
                    &raw.span(),
                    format!("vip {vip}: health {what} {} must be 1..=100", raw.get_ref()),
                );
                default
            }
        }
    }

    /// Checks that need the whole config.
    fn cross_checks(&mut self, config: &Config) {
        let size = config.global.maglev_table_size as usize;
        for vip in &config.vips {
            if size <= 10 * vip.backends.len() {
                let (line, column) = (vip.line, 1);
                self.diags.push(Diagnostic {
                    file: self.file.to_string(),
                    line,
                    column,
                    message: format!(
                        "vip {}: {} backends need maglev_table_size > {} (10 × backends) for an even spread; it is {size}",
                        vip.key(),
                        vip.backends.len(),
                        10 * vip.backends.len()
                    ),
                });
            }
        }
        for vip in &config.vips {
            for message in super::encap::vip_problems(vip, &config.encap) {
                self.diags.push(Diagnostic {
                    file: self.file.to_string(),
                    line: vip.line,
                    column: 1,
                    message,
                });
            }
        }
        let vip_addrs: HashSet<IpAddr> = config.vips.iter().map(|v| v.addr).collect();
        for vip in &config.vips {
            if let Some(snat) = vip
                .snat_addr
                .filter(|a| *a != vip.addr && vip_addrs.contains(a))
            {
                self.diags.push(Diagnostic {
                    file: self.file.to_string(),
                    line: vip.line,
                    column: 1,
                    message: format!("vip {}: snat {snat} is also a VIP address; replies would be taken for VIP traffic", vip.key()),
                });
            }
        }
    }
}

/// Byte offsets → line and column, from the line starts found in one pass over the source
/// (a lookup is a binary search plus a count of the characters before it on its line).
pub(super) struct LineIndex<'a> {
    src: &'a str,
    /// Byte offset of each line's first character.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { src, starts }
    }

    /// 1-based line of byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset.min(self.src.len()))
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line(offset);
        let start = self.starts[line - 1];
        (line, self.src[start..offset].chars().count() + 1)
    }
}

/// The arrays of tables (`[[interface]]`, `[[vip]]`, `[[vip.backend]]`): a single table or
/// another type in their place names the key and the expected form.
mod tables {
    use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};
    use std::fmt;
    use std::marker::PhantomData;
    use toml::Spanned;

    struct Tables<T> {
        key: &'static str,
        form: &'static str,
        _t: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Tables<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(
                f,
                "`{}` as an array of tables: write {} (double brackets) before each one",
                self.key, self.form
            )
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Vec<T>, A::Error> {
            Err(A::Error::custom(format!(
                "`{}` is a single table here, but oxlb expects an array of tables: write {} \
                 (double brackets) before each one",
                self.key, self.form
            )))
        }
    }

    fn tables<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
        key: &'static str,
        form: &'static str,
    ) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(Tables {
            key,
            form,
            _t: PhantomData,
        })
    }

    pub(super) fn interfaces<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Spanned<super::RawInterface>>, D::Error> {
        tables(d, "interface", "[[interface]]")
    }

    pub(super) fn vips<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Spanned<super::RawVip>>, D::Error> {
        tables(d, "vip", "[[vip]]")
    }

    pub(super) fn backends<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Spanned<super::RawBackend>>, D::Error> {
        tables(d, "backend", "[[vip.backend]]")
    }
}
