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
//! # NAT mode: when the source port of a quiet flow may go to a new flow (it is
//! # reused only when the ports a new flow probes are all taken)
//! nat_tcp_timeout = "15m"           # open TCP flow
//! nat_tcp_closed_timeout = "5s"     # client closed first (FIN) or RST
//! nat_tcp_time_wait_timeout = "60s" # backend closed first: its TIME_WAIT
//! nat_udp_timeout = "30s"
//! nat_tcp_syn_timeout = "3s"        # half-open flow (SYN seen, no handshake yet)
//! syn_table_size = 65536            # half-open NAT flows tracked (a SYN flood churns only these)
//! new_flow_guard = 50000            # new flows/s per VIP and CPU above which new flows get no
//!                                   # conntrack entry (Maglev only); 0 = off
//! health_panic_threshold = 50       # % of a VIP's backends that must be healthy for health
//!                                   # checks to count (below: all take traffic); 0 = off
//! syn_cookies = "flood"             # NAT VIPs: the LB answers SYNs with SYN cookies and
//!                                   # proxies the handshake: flood | always | off
//! syn_cookie_rate = 10000           # flood: new flows/s per VIP and CPU above which cookies
//!                                   # answer (also when the guard is engaged or the NAT
//!                                   # ports a SYN probes are all half-open); 0 = only those
//!
//! [[interface]]
//! name = "eth0"
//! xdp_mode = "auto"                 # auto | generic | driver
//!
//! [[vip]]
//! address = "10.0.0.1"
//! port = 80                         # 0 = any port
//! protocol = "tcp"                  # tcp | udp
//! mode = "nat"                      # nat | dsr | ipip | gue (ipip/gue: see [encap])
//! snat = "10.0.0.254"               # NAT only: source address towards backends
//! health = { type = "http", port = 8080, path = "/healthz", interval = "2s", timeout = "1s", rise = 2, fall = 3 }
//!
//! [[vip.backend]]
//! address = "10.0.1.1"
//! port = 8080                       # 0 = keep the client's destination port
//! weight = 100                      # 0..=65535, 0 drains
//!
//! [encap]                           # ipip / gue VIPs: outer header towards the backends
//! source4 = "10.200.0.0/24"         # outer source prefix; the flow hash picks the host bits
//! source6 = "fd00:200::/112"
//! gue_port = 6080
//! ```
//!
//! An optional `[bgp]` section announces the VIPs through BIRD (see [`crate::bgp::config`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use validate::{RawConfig, Validator};

pub use crate::datapath::{Encap, NatTimeouts, Prefix};
pub use crate::plan::{BackendKey, VipKey};
use crate::plan::{Mode, Proto};

/// Default Maglev table size (a prime).
pub const DEFAULT_TABLE_SIZE: u32 = 65537;
/// Largest accepted Maglev table size.
pub const MAX_TABLE_SIZE: u32 = 1 << 24;
/// Default number of conntrack entries.
pub const DEFAULT_CONNTRACK_SIZE: u32 = 262_144;
/// Default number of half-open NAT flows tracked.
pub const DEFAULT_SYN_TABLE_SIZE: u32 = 65_536;
/// Default new-flow guard: new flows per second per VIP and CPU.
pub const DEFAULT_NEW_FLOW_GUARD: u32 = 50_000;
/// Default rate (new flows per second per VIP and CPU) above which SYN cookies answer.
pub const DEFAULT_SYN_COOKIE_RATE: u32 = 10_000;
/// Default health panic threshold (percent).
pub const DEFAULT_HEALTH_PANIC_THRESHOLD: u32 = 50;
/// Largest accepted conntrack size.
pub const MAX_CONNTRACK_SIZE: u32 = 1 << 26;
/// Default metrics listen address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9100";
/// Default bpffs pin directory.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/oxlb";
/// Longest accepted NAT timeout, in seconds (7 days).
pub const MAX_NAT_TIMEOUT_S: u64 = 7 * 24 * 3600;
/// Largest config file read, in bytes. The datapath holds at most 512 VIPs and 4096 backends,
/// well under 1 MiB of TOML; the bound keeps parsing memory bounded (~45 bytes per byte).
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;
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
    /// Outer headers of `ipip`/`gue` VIPs (`[encap]`).
    pub encap: Encap,
    /// VIPs announced by BGP through BIRD; `None` = no `[bgp]` section.
    pub bgp: Option<crate::bgp::config::BgpConfig>,
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
    /// When a quiet NAT flow's source port may go to a new flow.
    pub nat_timeouts: NatTimeouts,
    /// Entries of the half-open NAT flow table.
    pub syn_table_size: u32,
    /// New flows per second per VIP and CPU above which new flows get no conntrack entry.
    pub new_flow_guard: u32,
    /// Percent of a VIP's weighted backends that must be healthy for health to count.
    pub health_panic_threshold: u32,
    /// When SYNs to NAT VIPs are answered with SYN cookies.
    pub syn_cookies: crate::datapath::SynCookies,
    /// New flows per second per VIP and CPU above which `syn_cookies = "flood"` engages.
    pub syn_cookie_rate: u32,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            maglev_table_size: DEFAULT_TABLE_SIZE,
            conntrack_size: DEFAULT_CONNTRACK_SIZE,
            metrics_listen: DEFAULT_METRICS_LISTEN.parse().ok(),
            pin_dir: PathBuf::from(DEFAULT_PIN_DIR),
            nat_timeouts: NatTimeouts::default(),
            syn_table_size: DEFAULT_SYN_TABLE_SIZE,
            new_flow_guard: DEFAULT_NEW_FLOW_GUARD,
            health_panic_threshold: DEFAULT_HEALTH_PANIC_THRESHOLD,
            syn_cookies: crate::datapath::SynCookies::default(),
            syn_cookie_rate: DEFAULT_SYN_COOKIE_RATE,
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
    /// The file is larger than any config within the datapath's limits.
    #[error(
        "{path}: config is {size} bytes; oxlb reads at most {max} (the datapath holds at most {} VIPs and {} backends: well under 1 MiB of TOML)",
        crate::datapath::Layout::default().max_vips,
        crate::datapath::Layout::default().max_backends
    )]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size (at least this many bytes).
        size: u64,
        /// [`MAX_CONFIG_BYTES`].
        max: u64,
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
            ConfigError::Read { .. } | ConfigError::TooLarge { .. } => Vec::new(),
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
    /// Reads (a regular file of at most [`MAX_CONFIG_BYTES`]) and validates the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(read_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a config is a TOML file)",
            )));
        }
        let too_large = |size| ConfigError::TooLarge {
            path: path.to_path_buf(),
            size,
            max: MAX_CONFIG_BYTES,
        };
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(too_large(meta.len()));
        }
        let mut src = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut src)
            .map_err(read_err)?;
        if src.len() as u64 > MAX_CONFIG_BYTES {
            return Err(too_large(src.len() as u64));
        }
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

/// Parses `"<digits>"` followed by `ms`, `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86_400).map(Duration::from_secs),
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

pub mod advice;
mod encap;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_misuse;
