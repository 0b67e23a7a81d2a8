//! The TOML configuration: parsing, defaults and validation.
//!
//! Parsing goes through raw `serde` structs whose fields are [`toml::Spanned`], so every
//! validation error names the file, line and column of the offending item, e.g.
//! `oxlb.toml:12:10: vip 10.0.0.1:80/tcp: backend weight must be 0..=65535`.
//! Unknown keys are rejected. Bad input never panics; all problems found are reported at once.
//!
//! ```toml
//! [global]
//! maglev_table_size = 65537        # prime, > 10 × the largest backend count of a VIP
//! conntrack_size = 262144
//! metrics_listen = "127.0.0.1:9100" # or "off"
//! pin_dir = "/sys/fs/bpf/oxlb"
//!
//! [[interface]]
//! name = "eth0"
//! xdp_mode = "auto"                 # auto | generic | driver
//!
//! [[vip]]
//! address = "10.0.0.1"
//! port = 80                         # 0 = any port
//! protocol = "tcp"                  # tcp | udp
//! mode = "nat"                      # nat | dsr
//! snat = "10.0.0.254"               # NAT only: source address towards backends
//! health = { type = "http", port = 8080, path = "/healthz", interval = "2s", timeout = "1s", rise = 2, fall = 3 }
//!
//! [[vip.backend]]
//! address = "10.0.1.1"
//! port = 8080                       # 0 = keep the client's destination port
//! weight = 100                      # 0..=65535, 0 drains
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use crate::plan::{BackendKey, VipKey};
use crate::plan::{Mode, Proto};

/// Default Maglev table size (a prime).
pub const DEFAULT_TABLE_SIZE: u32 = 65537;
/// Largest accepted Maglev table size.
pub const MAX_TABLE_SIZE: u32 = 1 << 24;
/// Default number of conntrack entries.
pub const DEFAULT_CONNTRACK_SIZE: u32 = 262_144;
/// Largest accepted conntrack size.
pub const MAX_CONNTRACK_SIZE: u32 = 1 << 26;
/// Default metrics listen address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9100";
/// Default bpffs pin directory.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/oxlb";
/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// A fully validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Global options.
    pub global: Global,
    /// Interfaces the XDP program is attached to.
    pub interfaces: Vec<Interface>,
    /// Virtual services, in file order.
    pub vips: Vec<Vip>,
}

/// Global options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// Size of every Maglev table (a prime).
    pub maglev_table_size: u32,
    /// Maximum number of tracked flows.
    pub conntrack_size: u32,
    /// Where to serve Prometheus metrics; `None` = disabled.
    pub metrics_listen: Option<SocketAddr>,
    /// bpffs directory where maps and links are pinned.
    pub pin_dir: PathBuf,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            maglev_table_size: DEFAULT_TABLE_SIZE,
            conntrack_size: DEFAULT_CONNTRACK_SIZE,
            metrics_listen: DEFAULT_METRICS_LISTEN.parse().ok(),
            pin_dir: PathBuf::from(DEFAULT_PIN_DIR),
        }
    }
}

/// How the XDP program is attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// Driver mode when supported, else generic.
    Auto,
    /// Generic (skb) mode.
    Generic,
    /// Native driver mode only.
    Driver,
}

/// One interface to attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Attach mode.
    pub xdp_mode: XdpMode,
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// VIP address.
    pub addr: IpAddr,
    /// VIP port; 0 = any port.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// Forwarding mode.
    pub mode: Mode,
    /// NAT source address towards backends (always `Some` for NAT, `None` for DSR).
    pub snat_addr: Option<IpAddr>,
    /// Active health check of the backends; `None` = backends are always healthy.
    pub health: Option<HealthCheck>,
    /// Backends, in file order (never empty).
    pub backends: Vec<Backend>,
    /// Line of the `[[vip]]` header in the file.
    pub line: usize,
}

impl Vip {
    /// The identity of this VIP.
    pub fn key(&self) -> VipKey {
        VipKey {
            addr: self.addr,
            port: self.port,
            proto: self.proto,
        }
    }

    /// The identity of one of this VIP's backends.
    pub fn backend_key(&self, backend: &Backend) -> BackendKey {
        BackendKey {
            vip: self.key(),
            addr: backend.addr,
            port: backend.port,
        }
    }

    /// The port a health check of `backend` connects to: the check's port, else the backend's,
    /// else the VIP's (validation guarantees one is non-zero when a check is configured).
    pub fn check_port(&self, backend: &Backend) -> u16 {
        let from_check = self.health.as_ref().and_then(|h| h.port);
        from_check.unwrap_or(if backend.port != 0 {
            backend.port
        } else {
            self.port
        })
    }
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Address.
    pub addr: IpAddr,
    /// Port; 0 = keep the client's destination port.
    pub port: u16,
    /// Weight 0..=65535; 0 drains.
    pub weight: u32,
    /// Line of the backend in the file.
    pub line: usize,
}

/// What a health check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// TCP connect succeeds.
    Tcp,
    /// HTTP/1.0 `GET path` answers 2xx or 3xx.
    Http {
        /// Request path (starts with `/`).
        path: String,
    },
}

/// Active health-check settings of a VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Check type.
    pub kind: CheckKind,
    /// Port to check; `None` = the backend's port (or the VIP's when that is 0).
    pub port: Option<u16>,
    /// Time between checks of one backend.
    pub interval: Duration,
    /// Deadline of one check (≤ interval).
    pub timeout: Duration,
    /// Consecutive successes that bring a down backend up.
    pub rise: u32,
    /// Consecutive failures that bring an up backend down.
    pub fall: u32,
}

/// One problem in a config file, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, and how to fix it when not obvious.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a wrongly typed value.
    #[error("{0} (see the example config in the oxlb documentation)")]
    Syntax(Diagnostic),
    /// The file parsed but breaks one or more rules; every problem found is listed.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// All diagnostics carried by this error (empty for [`ConfigError::Read`]).
    pub fn diagnostics(&self) -> Vec<&Diagnostic> {
        match self {
            ConfigError::Read { .. } => Vec::new(),
            ConfigError::Syntax(d) => vec![d],
            ConfigError::Invalid(ds) => ds.iter().collect(),
        }
    }
}

fn join_lines(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        Config::parse(&src, &name)
    }

    /// Parses and validates config text; `file` only names the source in diagnostics.
    pub fn parse(src: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(src).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim_end().to_string();
            ConfigError::Syntax(Validator::new(src, file).diag(&span, msg))
        })?;
        let mut v = Validator::new(src, file);
        let config = v.config(raw);
        if v.diags.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(v.diags))
        }
    }

    /// The largest number of backends any VIP has.
    pub fn max_backends(&self) -> usize {
        self.vips
            .iter()
            .map(|v| v.backends.len())
            .max()
            .unwrap_or(0)
    }
}

// ---- raw (as written) structures ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    global: Option<Spanned<RawGlobal>>,
    #[serde(default, rename = "interface")]
    interfaces: Vec<Spanned<RawInterface>>,
    #[serde(default, rename = "vip")]
    vips: Vec<Spanned<RawVip>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    maglev_table_size: Option<Spanned<i64>>,
    conntrack_size: Option<Spanned<i64>>,
    metrics_listen: Option<Spanned<String>>,
    pin_dir: Option<Spanned<String>>,
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
    #[serde(default)]
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

// ---- validation ----

/// Turns raw structures into a [`Config`], collecting diagnostics instead of stopping at the first.
struct Validator<'a> {
    src: &'a str,
    file: &'a str,
    diags: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    fn new(src: &'a str, file: &'a str) -> Self {
        Validator {
            src,
            file,
            diags: Vec::new(),
        }
    }

    fn diag(&self, span: &Range<usize>, message: String) -> Diagnostic {
        let (line, column) = line_col(self.src, span.start);
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
        line_col(self.src, span.start).0
    }

    fn config(&mut self, raw: RawConfig) -> Config {
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
        let config = Config {
            global,
            interfaces,
            vips,
        };
        self.cross_checks(&config);
        config
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

    fn addr(&mut self, what: &str, raw: &Spanned<String>) -> Option<IpAddr> {
        match raw.get_ref().trim().parse::<IpAddr>() {
            Ok(a) if a.is_unspecified() || a.is_multicast() => {
                self.err(&raw.span(), format!("{what} {a} must be a unicast address"));
                None
            }
            Ok(a) => Some(a),
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
        let addr = self.addr("vip address", &raw.address);
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
            Some((other, s)) => {
                self.err(&s, format!("vip mode {other:?} is not one of nat, dsr"));
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
            (Mode::Dsr, Some(s)) => {
                self.err(
                    &s.span(),
                    format!("vip {key}: snat only applies to mode = \"nat\""),
                );
                None
            }
            (Mode::Dsr, None) => None,
            (Mode::Nat, Some(s)) => {
                let a = self.addr("snat address", s);
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
        let addr = self.addr(&format!("vip {vip}: backend address"), &b.address);
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
        if mode == Mode::Nat && addr.is_ipv4() != vip.addr.is_ipv4() {
            self.err(
                &b.address.span(),
                format!("vip {vip}: NAT backend {addr} is not the same IP family as the VIP (use mode = \"dsr\" to mix)"),
            );
        }
        if mode == Mode::Dsr && port != 0 && port != vip.port {
            let span = b.port.as_ref().map(|p| p.span()).unwrap_or(raw.span());
            self.err(
                &span,
                format!("vip {vip}: DSR cannot rewrite ports: backend port must be 0 or the VIP port {}", vip.port),
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

/// Parses `"<digits>ms"`, `"<digits>s"` or `"<digits>m"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

/// Whether `n` is prime (deterministic trial division; table sizes are ≤ 2^24).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let n = u64::from(n);
    let mut d = 3u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// 1-based line and column (in characters) of byte `offset` in `src`.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[global]
maglev_table_size = 65537
conntrack_size = 1000
metrics_listen = "127.0.0.1:9100"
pin_dir = "/sys/fs/bpf/oxlb-test"

[[interface]]
name = "eth0"
xdp_mode = "driver"

[[vip]]
address = "10.0.0.1"
port = 80
protocol = "tcp"
mode = "nat"
snat = "10.0.0.254"
health = { type = "http", port = 8080, path = "/healthz", interval = "500ms", timeout = "200ms", rise = 2, fall = 3 }

[[vip.backend]]
address = "10.0.1.1"
port = 8080
weight = 100

[[vip.backend]]
address = "10.0.1.2"
port = 8080

[[vip]]
address = "fd00::1"
protocol = "udp"
mode = "dsr"
backend = [ { address = "fd00::10" }, { address = "10.0.2.2", weight = 0 } ]
"#;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(src, "oxlb.toml")
    }

    /// The single diagnostic of a config expected to be invalid.
    fn one_error(src: &str) -> Diagnostic {
        let err = parse(src).expect_err("config should be rejected");
        let diags = err.diagnostics();
        assert_eq!(diags.len(), 1, "expected one diagnostic, got: {err}");
        diags[0].clone()
    }

    /// A minimal valid config with `vip_body` appended.
    fn with_vip(vip_body: &str) -> String {
        format!("[[interface]]\nname = \"eth0\"\n\n{vip_body}")
    }

    #[test]
    fn parses_full_example() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.global.maglev_table_size, 65537);
        assert_eq!(c.global.conntrack_size, 1000);
        assert_eq!(
            c.global.metrics_listen,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(c.global.pin_dir, PathBuf::from("/sys/fs/bpf/oxlb-test"));
        assert_eq!(
            c.interfaces,
            vec![Interface {
                name: "eth0".into(),
                xdp_mode: XdpMode::Driver
            }]
        );
        assert_eq!(c.vips.len(), 2);
        let v = &c.vips[0];
        assert_eq!(v.key().to_string(), "10.0.0.1:80/tcp");
        assert_eq!(v.mode, Mode::Nat);
        assert_eq!(v.snat_addr, Some("10.0.0.254".parse().unwrap()));
        assert_eq!(v.line, 12);
        let h = v.health.as_ref().unwrap();
        assert_eq!(
            h.kind,
            CheckKind::Http {
                path: "/healthz".into()
            }
        );
        assert_eq!(
            (h.interval, h.timeout, h.rise, h.fall),
            (Duration::from_millis(500), Duration::from_millis(200), 2, 3)
        );
        assert_eq!(v.backends[0].weight, 100);
        assert_eq!(v.backends[1].weight, 1, "default weight");
        assert_eq!(v.backends[1].line, 25);
        assert_eq!(v.check_port(&v.backends[0]), 8080);
        let v6 = &c.vips[1];
        assert_eq!(v6.key().to_string(), "[fd00::1]:0/udp");
        assert_eq!(
            (v6.mode, v6.snat_addr, v6.health.is_none()),
            (Mode::Dsr, None, true)
        );
        assert_eq!(v6.backends[1].weight, 0);
        assert_eq!(v6.backend_key(&v6.backends[0]).name(), "[fd00::10]:0");
    }

    #[test]
    fn defaults() {
        let c = parse(&with_vip("[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.2\" }]\n")).unwrap();
        assert_eq!(c.global, Global::default());
        assert_eq!(
            c.global.metrics_listen,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(c.interfaces[0].xdp_mode, XdpMode::Auto);
        assert_eq!((c.vips[0].port, c.vips[0].proto), (0, Proto::Tcp));
    }

    #[test]
    fn bad_weight_names_line_and_vip() {
        let src = with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nsnat = \"10.0.0.9\"\n\n[[vip.backend]]\naddress = \"10.0.1.1\"\nweight = 70000\n",
        );
        let d = one_error(&src);
        assert_eq!((d.line, d.column), (11, 10));
        assert_eq!(
            d.to_string(),
            "oxlb.toml:11:10: vip 10.0.0.1:80/tcp: backend weight must be 0..=65535 (got 70000)"
        );
        assert!(one_error(&src.replace("70000", "-1"))
            .message
            .contains("weight must be 0..=65535"));
    }

    #[test]
    fn unknown_key_is_a_syntax_error_with_position() {
        let err = parse(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackends = []\n",
        ))
        .unwrap_err();
        let ConfigError::Syntax(d) = &err else {
            panic!("expected syntax error, got {err}")
        };
        assert_eq!((d.line, d.column), (7, 1));
        assert!(
            d.message.contains("unknown field `backends`"),
            "{}",
            d.message
        );
        let err = parse("[global]\nmaglev_size = 3\n").unwrap_err();
        assert_eq!(err.diagnostics()[0].line, 2);
        let err = parse("[[interface]]\nname = \"eth0\"\nxdp = \"auto\"\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("oxlb.toml:3:1: unknown field `xdp`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_and_type_errors() {
        let err = parse("[[vip]\n").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
        let d = one_error("[[interface]]\nname = \"eth0\"\n[[vip]]\naddress = 10\n");
        assert_eq!(d.line, 4);
        assert!(d.message.contains("expected a string"), "{}", d.message);
        let d = one_error("[[interface]]\nname = \"eth0\"\n[[vip]]\nport = 80\n");
        assert!(
            d.message.contains("missing field `address`"),
            "{}",
            d.message
        );
    }

    #[test]
    fn duplicates() {
        let vip = "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\nbackend = [{ address = \"10.0.1.1\" }]\n";
        let d = one_error(&with_vip(&format!("{vip}{vip}")));
        assert_eq!(d.line, 9);
        assert!(
            d.message
                .contains("vip 10.0.0.1:80/tcp is already defined at line 4"),
            "{}",
            d.message
        );
        // Same address/port with another protocol is a different VIP.
        let udp = vip.replace("port = 80", "port = 80\nprotocol = \"udp\"");
        parse(&with_vip(&format!("{vip}{udp}"))).unwrap();

        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.1.1\" }, { address = \"10.0.1.1\" }]\n",
        ));
        assert!(
            d.message
                .contains("backend 10.0.1.1:0 is already listed at line 7"),
            "{}",
            d.message
        );

        let d = one_error("[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth0\"\n");
        assert_eq!(d.line, 3);
        assert!(d.message.contains("listed twice"));
    }

    #[test]
    fn family_rules() {
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nsnat = \"10.0.0.2\"\nbackend = [{ address = \"fd00::2\" }]\n",
        ));
        assert!(
            d.message
                .contains("NAT backend fd00::2 is not the same IP family"),
            "{}",
            d.message
        );
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nsnat = \"fd00::9\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
        ));
        assert!(
            d.message.contains("snat fd00::9 is not the same IP family"),
            "{}",
            d.message
        );
        // DSR may mix families.
        parse(&with_vip("[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"fd00::2\" }]\n"))
            .unwrap();
    }

    #[test]
    fn mode_rules() {
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
        ));
        assert!(d.message.contains("needs snat"), "{}", d.message);
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nsnat = \"10.0.0.2\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
        ));
        assert!(d.message.contains("snat only applies"), "{}", d.message);
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\", port = 81 }]\n",
        ));
        assert!(
            d.message.contains("DSR cannot rewrite ports"),
            "{}",
            d.message
        );
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"tunnel\"\nbackend = []\n",
        ));
        assert!(d.message.contains("not one of nat, dsr"), "{}", d.message);
        let d = one_error(&with_vip("[[vip]]\naddress = \"10.0.0.1\"\nsnat = \"10.0.0.1\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
        assert!(d.message.contains("snat must differ"), "{}", d.message);
    }

    #[test]
    fn empty_backends_and_bad_addresses() {
        let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\n",
        ));
        assert_eq!(d.line, 4);
        assert!(d.message.contains("has no backends"), "{}", d.message);
        let d = one_error(&with_vip("[[vip]]\naddress = \"10.0.0.1:80\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
        assert!(d.message.contains("is not an IP address"), "{}", d.message);
        let d = one_error(&with_vip("[[vip]]\naddress = \"0.0.0.0\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
        assert!(d.message.contains("unicast"), "{}", d.message);
        let d = one_error(&with_vip("[[vip]]\naddress = \"10.0.0.1\"\nport = 65536\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
        assert!(
            d.message.contains("vip port 65536 must be 0..=65535"),
            "{}",
            d.message
        );
    }

    #[test]
    fn table_size_rules() {
        let base = with_vip("[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }, { address = \"10.0.0.4\" }]\n");
        for bad in ["65536", "1", "0", "-7", "16777259"] {
            let d = one_error(&format!("[global]\nmaglev_table_size = {bad}\n{base}"));
            assert_eq!(d.line, 2);
            assert!(
                d.message.contains("must be a prime"),
                "{bad}: {}",
                d.message
            );
        }
        // 2 backends need a table > 20: 19 is prime but too small, 23 is fine.
        let d = one_error(&format!("[global]\nmaglev_table_size = 19\n{base}"));
        assert!(
            d.message.contains("need maglev_table_size > 20"),
            "{}",
            d.message
        );
        parse(&format!("[global]\nmaglev_table_size = 23\n{base}")).unwrap();
    }

    #[test]
    fn health_rules() {
        let vip = |health: &str| {
            with_vip(&format!(
                "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nhealth = {{ {health} }}\nbackend = [{{ address = \"10.0.0.3\" }}]\n"
            ))
        };
        for (health, want) in [
            ("type = \"icmp\", port = 1", "not one of tcp, http"),
            (
                "type = \"tcp\", port = 1, path = \"/\"",
                "only applies to type = \"http\"",
            ),
            (
                "type = \"http\", port = 1, path = \"x\"",
                "must start with '/'",
            ),
            (
                "type = \"http\", port = 1, path = \"/a b\"",
                "must start with '/'",
            ),
            (
                "type = \"tcp\", port = 0",
                "health port 0 must be 1..=65535",
            ),
            ("type = \"tcp\", port = 1, interval = \"2\"", "must be like"),
            (
                "type = \"tcp\", port = 1, interval = \"5ms\"",
                "within 10ms",
            ),
            (
                "type = \"tcp\", port = 1, interval = \"1s\", timeout = \"2s\"",
                "must not exceed interval",
            ),
            (
                "type = \"tcp\", port = 1, rise = 0",
                "rise 0 must be 1..=100",
            ),
            (
                "type = \"tcp\", port = 1, fall = 101",
                "fall 101 must be 1..=100",
            ),
            ("type = \"tcp\"", "health check needs a port"),
        ] {
            let d = one_error(&vip(health));
            assert!(d.message.contains(want), "{health}: {}", d.message);
        }
        let c = parse(&vip("type = \"http\", port = 9, interval = \"1m\"")).unwrap();
        let h = c.vips[0].health.as_ref().unwrap();
        assert_eq!(h.kind, CheckKind::Http { path: "/".into() });
        assert_eq!(
            (h.interval, h.timeout, h.rise, h.fall),
            (Duration::from_secs(60), Duration::from_secs(1), 2, 3)
        );
    }

    #[test]
    fn global_rules() {
        let base = with_vip("[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n");
        let d = one_error(&format!("[global]\nmetrics_listen = \"localhost\"\n{base}"));
        assert!(d.message.contains("not an ip:port"), "{}", d.message);
        let c = parse(&format!("[global]\nmetrics_listen = \"off\"\n{base}")).unwrap();
        assert_eq!(c.global.metrics_listen, None);
        let d = one_error(&format!("[global]\npin_dir = \"relative\"\n{base}"));
        assert!(d.message.contains("absolute"), "{}", d.message);
        let d = one_error(&format!("[global]\nconntrack_size = 0\n{base}"));
        assert!(d.message.contains("conntrack_size 0"), "{}", d.message);
        let d = one_error("[[interface]]\nname = \"a-very-long-interface-name\"\n");
        assert!(d.message.contains("interface name"), "{}", d.message);
        let d = one_error("[[interface]]\nname = \"eth0\"\nxdp_mode = \"offload\"\n");
        assert!(
            d.message.contains("not one of auto, generic, driver"),
            "{}",
            d.message
        );
        let d = one_error("");
        assert!(d.message.contains("no [[interface]]"), "{}", d.message);
    }

    #[test]
    fn all_problems_are_reported() {
        let err = parse(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"x\" }, { address = \"10.0.0.3\", weight = 1000000 }]\n[[vip]]\naddress = \"y\"\nbackend = []\n",
        ))
        .unwrap_err();
        assert_eq!(err.diagnostics().len(), 3, "{err}");
        assert_eq!(err.to_string().lines().count(), 3);
    }

    #[test]
    fn garbage_never_panics() {
        // Every prefix of a valid config either parses or fails with a diagnostic.
        for end in 0..GOOD.len() {
            if GOOD.is_char_boundary(end) {
                if let Err(e) = parse(&GOOD[..end]) {
                    assert!(!e.diagnostics().is_empty(), "{e}");
                }
            }
        }
        let _ = parse("\u{0}\u{feff}[[vip]]\u{1F600} = ü");
    }

    #[test]
    fn helpers() {
        assert!(is_prime(2) && is_prime(65537) && is_prime(655373) && is_prime(16777213));
        assert!(!is_prime(0) && !is_prime(1) && !is_prime(65535) && !is_prime(9));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 3s "), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("2h"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
        assert_eq!(line_col("ab\ncdé\nx", 7), (2, 4));
        assert_eq!(line_col("ab", 100), (1, 3));
    }

    #[test]
    fn load_reads_files() {
        let dir = std::env::temp_dir().join(format!("oxlb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lb.toml");
        std::fs::write(&path, "[[interface]]\nname = 1\n").unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(err.to_string().starts_with("lb.toml:2:8:"), "{err}");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(Config::load(&path).unwrap().vips.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(Config::load(&path), Err(ConfigError::Read { .. })));
    }
}
