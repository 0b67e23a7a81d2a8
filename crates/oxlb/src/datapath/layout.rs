//! Load-time sizes of the datapath: map `max_entries` and the `.rodata` config.
//!
//! The object file carries defaults ([`Layout::default`]); the loader applies a
//! [`Layout`] by setting every map's `max_entries` from [`Layout::max_entries`] and
//! rewriting the `oxlb_cfg` variable with [`Layout::config`] before loading.

use super::abi::RawConfig;
use super::DatapathError;

/// The maps of `oxlb.bpf.o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapId {
    /// `oxlb_vips`: HASH [`RawVipKey`](super::abi::RawVipKey) → [`RawVip`](super::abi::RawVip).
    Vips,
    /// `oxlb_vip_ids`: ARRAY vip id → [`RawVipSlot`](super::abi::RawVipSlot).
    VipIds,
    /// `oxlb_ring`: ARRAY `vip_id * table_size + slot` → backend id.
    Ring,
    /// `oxlb_backends`: ARRAY backend id → [`RawBackend`](super::abi::RawBackend).
    Backends,
    /// `oxlb_ct`: LRU_HASH client tuple → [`RawCt`](super::abi::RawCt) (datapath-owned).
    Ct,
    /// `oxlb_nat`: LRU_HASH reply tuple → [`RawNat`](super::abi::RawNat) (datapath-owned).
    Nat,
    /// `oxlb_syn`: LRU_HASH reply tuple → [`RawSyn`](super::abi::RawSyn): half-open NAT flows.
    Syn,
    /// `oxlb_vip_guard`: PERCPU_ARRAY vip id → [`RawGuard`](super::abi::RawGuard).
    VipGuard,
    /// `oxlb_vip_stats`: PERCPU_ARRAY vip id → [`RawStats`](super::abi::RawStats).
    VipStats,
    /// `oxlb_be_stats`: PERCPU_ARRAY backend id → [`RawStats`](super::abi::RawStats).
    BackendStats,
    /// `oxlb_reasons`: PERCPU_ARRAY [`Reason`](super::abi::Reason) → u64.
    Reasons,
    /// `.bss.vipfilter`: the VIP filter's words (global array `oxlb_vipfilter`, one ARRAY
    /// element, key 0), see [`vipfilter`](super::vipfilter).
    VipFilter,
    /// `oxlb_progs`: PROG_ARRAY of the tail-called programs (slot 0: `oxlb_cookie`). Pinned
    /// with the others: a program array whose last file descriptor closes is emptied.
    Progs,
}

impl MapId {
    /// Every map.
    pub const ALL: [MapId; 13] = [
        MapId::Vips,
        MapId::VipIds,
        MapId::Ring,
        MapId::Backends,
        MapId::Ct,
        MapId::Nat,
        MapId::Syn,
        MapId::VipGuard,
        MapId::VipStats,
        MapId::BackendStats,
        MapId::Reasons,
        MapId::VipFilter,
        MapId::Progs,
    ];

    /// The map's name in the object file.
    pub fn name(self) -> &'static str {
        match self {
            MapId::Vips => "oxlb_vips",
            MapId::VipIds => "oxlb_vip_ids",
            MapId::Ring => "oxlb_ring",
            MapId::Backends => "oxlb_backends",
            MapId::Ct => "oxlb_ct",
            MapId::Nat => "oxlb_nat",
            MapId::Syn => "oxlb_syn",
            MapId::VipGuard => "oxlb_vip_guard",
            MapId::VipStats => "oxlb_vip_stats",
            MapId::BackendStats => "oxlb_be_stats",
            MapId::Reasons => "oxlb_reasons",
            MapId::VipFilter => ".bss.vipfilter",
            MapId::Progs => "oxlb_progs",
        }
    }

    /// True for maps pinned under the pin directory (and adopted by the next daemon). The
    /// VIP filter is not: bpffs refuses names with a dot, and it is derived from the VIPs,
    /// so each loaded program has its own, written whole before the program is attached.
    pub fn pinned(self) -> bool {
        self != MapId::VipFilter
    }

    /// True for array maps: entries cannot be deleted, only overwritten.
    pub fn is_array(self) -> bool {
        !matches!(self, MapId::Vips | MapId::Ct | MapId::Nat | MapId::Syn)
    }
}

/// Sizes and knobs fixed at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// VIP ids must be below this (rows of the ring, size of the VIP maps).
    pub max_vips: u32,
    /// Backend ids must be below this.
    pub max_backends: u32,
    /// Maglev table size; must equal [`Plan::table_size`](crate::plan::Plan).
    pub table_size: u32,
    /// Entries of the conntrack and NAT LRU maps.
    pub ct_entries: u32,
    /// Entries of the half-open NAT flow LRU map (`oxlb_syn`).
    pub syn_entries: u32,
    /// New flows per VIP per CPU per second above which new flows are scheduled
    /// without conntrack inserts (0: no guard).
    pub guard_new_flows: u32,
    /// First NAT source port (keep the range out of `net.ipv4.ip_local_port_range`
    /// when the SNAT address is also the host's own address).
    pub nat_port_min: u16,
    /// Number of NAT source ports per (backend, SNAT address).
    pub nat_port_count: u16,
    /// Seed of the flow hash.
    pub hash_seed: u32,
    /// When the NAT port of a quiet flow may go to a new flow.
    pub nat_timeouts: NatTimeouts,
    /// Pin flows to backends (conntrack); off = stateless Maglev.
    pub conntrack: bool,
    /// Outer headers of the `ipip`/`gue` modes (`.rodata` variable `oxlb_encap`).
    pub encap: super::Encap,
    /// When SYNs to NAT VIPs are answered with SYN cookies.
    pub syn_cookies: SynCookies,
    /// New flows per VIP per CPU per second above which [`SynCookies::Flood`] answers SYNs
    /// with cookies (0: only the guard and exhausted half-open ports trigger them).
    pub syn_cookie_rate: u32,
}

/// When the datapath answers a SYN to a NAT VIP itself with a SYN cookie (and proxies the
/// handshake to the backend once the client proves its address) instead of opening a
/// half-open flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynCookies {
    /// Never.
    Off,
    /// During a flood: while the VIP's new flows exceed `syn_cookie_rate` or the new-flow
    /// guard, and whenever every NAT port a SYN probes is held by a live half-open flow.
    #[default]
    Flood,
    /// Every SYN.
    Always,
}

impl SynCookies {
    /// The `oxlb_config.syn_cookies` value (`OXLB_COOKIES_*`).
    pub fn raw(self) -> u8 {
        match self {
            SynCookies::Off => super::abi::COOKIES_OFF,
            SynCookies::Flood => super::abi::COOKIES_GUARD,
            SynCookies::Always => super::abi::COOKIES_ALWAYS,
        }
    }

    /// The config spelling: `off`, `flood` or `always`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(SynCookies::Off),
            "flood" => Some(SynCookies::Flood),
            "always" => Some(SynCookies::Always),
            _ => None,
        }
    }
}

impl Default for Layout {
    /// The defaults compiled into `oxlb.bpf.o` (see `oxlb.h`).
    fn default() -> Self {
        Layout {
            max_vips: 512,
            max_backends: 4096,
            table_size: 4099,
            ct_entries: 262_144,
            syn_entries: 65_536,
            guard_new_flows: 0,
            nat_port_min: 16384,
            nat_port_count: 16384,
            hash_seed: 0x6f78_6c62,
            nat_timeouts: NatTimeouts::default(),
            conntrack: true,
            encap: super::Encap::default(),
            syn_cookies: SynCookies::default(),
            syn_cookie_rate: 0,
        }
    }
}

/// Seconds without a packet after which a NAT flow's source port may be given to a
/// new flow (only when the ports a new flow probes are all taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatTimeouts {
    /// Open TCP flow.
    pub tcp_idle: u32,
    /// TCP flow the client closed first (FIN), or reset by either side (RST).
    pub tcp_closed: u32,
    /// TCP flow the backend closed first: covers its TIME_WAIT (60 s on Linux).
    pub tcp_time_wait: u32,
    /// UDP flow.
    pub udp_idle: u32,
    /// Half-open TCP flow (SYN seen, handshake not completed): its port goes to a new
    /// SYN before any other; a younger one only when every probed port is taken.
    pub tcp_syn: u32,
}

impl Default for NatTimeouts {
    /// The defaults compiled into `oxlb.bpf.o` (`OXLB_DEFAULT_NAT_*_S` in `oxlb.h`).
    fn default() -> Self {
        NatTimeouts {
            tcp_idle: 900,
            tcp_closed: 5,
            tcp_time_wait: 60,
            udp_idle: 30,
            tcp_syn: 3,
        }
    }
}

/// Largest ring the layout accepts (entries); an ARRAY this size is 4 GiB.
pub const MAX_RING_ENTRIES: u64 = 1 << 30;

impl Layout {
    /// Check the sizes against each other and the kernel's limits.
    pub fn validate(&self) -> Result<(), DatapathError> {
        let bad = |why: String| Err(DatapathError::BadLayout(why));
        if self.max_vips == 0
            || self.max_backends == 0
            || self.ct_entries == 0
            || self.syn_entries == 0
        {
            return bad("max_vips, max_backends, ct_entries and syn_entries must be > 0".into());
        }
        if self.table_size == 0 {
            return bad("table_size must be > 0 (a prime such as 4099 or 65537)".into());
        }
        if self.ring_entries() > MAX_RING_ENTRIES {
            return bad(format!(
                "max_vips * table_size = {} exceeds {MAX_RING_ENTRIES}: lower one of them",
                self.ring_entries()
            ));
        }
        if self.nat_port_min == 0 || self.nat_port_count == 0 {
            return bad("nat_port_min and nat_port_count must be > 0".into());
        }
        if u32::from(self.nat_port_min) + u32::from(self.nat_port_count) > 65536 {
            return bad(format!(
                "NAT ports {}..{} run past 65535",
                self.nat_port_min,
                u32::from(self.nat_port_min) + u32::from(self.nat_port_count)
            ));
        }
        Ok(())
    }

    /// Entries of the Maglev ring array.
    pub fn ring_entries(&self) -> u64 {
        u64::from(self.max_vips) * u64::from(self.table_size)
    }

    /// `max_entries` to give each map before loading.
    pub fn max_entries(&self, map: MapId) -> u32 {
        match map {
            MapId::Vips | MapId::VipIds | MapId::VipStats | MapId::VipGuard => self.max_vips,
            MapId::Syn => self.syn_entries,
            MapId::Ring => self.ring_entries().min(u64::from(u32::MAX)) as u32,
            MapId::Backends | MapId::BackendStats => self.max_backends,
            MapId::Ct | MapId::Nat => self.ct_entries,
            MapId::Reasons => super::abi::Reason::COUNT,
            MapId::VipFilter => 1,
            MapId::Progs => 1,
        }
    }

    /// The `oxlb_cfg` value matching this layout.
    pub fn config(&self) -> RawConfig {
        RawConfig {
            table_size: self.table_size,
            max_vips: self.max_vips,
            hash_seed: self.hash_seed,
            nat_port_min: self.nat_port_min,
            nat_port_count: self.nat_port_count,
            ct_enabled: u8::from(self.conntrack),
            syn_cookies: self.syn_cookies.raw(),
            _pad: [0; 2],
            nat_tcp_idle_s: self.nat_timeouts.tcp_idle,
            nat_tcp_closed_s: self.nat_timeouts.tcp_closed,
            nat_tcp_time_wait_s: self.nat_timeouts.tcp_time_wait,
            nat_udp_idle_s: self.nat_timeouts.udp_idle,
            ns_per_jiffy: 0,
            nat_tcp_syn_s: self.nat_timeouts.tcp_syn,
            guard_new_flows: self.guard_new_flows,
            syn_cookie_rate: self.syn_cookie_rate,
        }
    }

    /// Index of a ring slot in `oxlb_ring`.
    pub fn ring_index(&self, vip_id: u32, slot: u32) -> u32 {
        vip_id * self.table_size + slot
    }
}
