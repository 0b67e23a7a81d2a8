//! The XDP datapath's maps, seen from the control plane (pure: no kernel access).
//!
//! `bpf/oxlb.bpf.c` reads a [`Plan`](crate::plan::Plan) from three maps the control
//! plane owns — `oxlb_vips` (HASH), `oxlb_ring` (one flat ARRAY of all Maglev tables,
//! row `vip_id`, `table_size` slots each) and `oxlb_backends` (ARRAY) — and keeps its
//! own state in `oxlb_ct` / `oxlb_nat` (LRU hashes) and per-CPU counters.
//!
//! - [`abi`]: byte-exact mirrors of `bpf/oxlb.h`, partly the generated [`skel`] types.
//! - [`skel`]: the skeleton generated from `bpf/oxlb.bpf.o` at build time.
//! - [`Layout`]: load-time sizes (`max_entries` per map, the `oxlb_cfg` constant).
//! - [`entries`]: plan → validated entries ([`PlanEntries::map_entries`] gives bytes).
//! - [`vipfilter`]: the per-address filter that passes traffic not ours before any lookup.
//! - [`diff()`]: entries of the previous plan → entries of the next = [`MapOp`]s in a
//!   safe order; applying them is the loader's job:
//!
//! ```text
//! let layout = Layout { table_size: plan.table_size, ..Layout::default() };
//! // before load: set each map's max_entries = layout.max_entries(id),
//! //              rewrite ".rodata" var oxlb_cfg = layout.config().to_bytes()
//! let next = datapath::entries(&plan, &layout)?;
//! for op in datapath::diff(prev.as_ref(), &next)? {
//!     match op {
//!         MapOp::Update { map, key, value, .. } => maps[map.name()].update(&key, &value)?,
//!         MapOp::Delete { map, key } => maps[map.name()].delete(&key)?,
//!         MapOp::UpdateRun { .. } => for (map, k, v) in op.elements() { /* update or batch */ },
//!         MapOp::ResetPerCpu { map, key } => /* write zeroed value for every possible CPU */,
//!     }
//! }
//! prev = Some(next);
//! ```

pub mod abi;
mod diff;
mod encap;
mod entries;
mod layout;
pub mod skel;
pub mod vipfilter;

use std::net::IpAddr;

pub use diff::{diff, Change, MapOp};
pub use encap::{Encap, Prefix, DEFAULT_GUE_PORT};
pub use entries::{entries, PlanEntries, Ring};
pub use layout::{Layout, MapId, NatTimeouts, SynCookies, MAX_RING_ENTRIES};

/// Why a plan or layout cannot be written into the datapath.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatapathError {
    /// The layout is inconsistent.
    #[error("invalid datapath layout: {0}")]
    BadLayout(String),
    /// The plan's Maglev table size differs from the loaded program's.
    #[error("plan table_size {plan} differs from the datapath's {layout}; reload the datapath with the new size")]
    TableSizeMismatch {
        /// Plan's size.
        plan: u32,
        /// Layout's size.
        layout: u32,
    },
    /// The layout changed between two plans (maps must be recreated, not diffed).
    #[error("datapath layout changed between plans; reload the datapath instead of diffing")]
    LayoutChanged,
    /// A VIP id does not fit the ring.
    #[error("VIP id {vip} is out of range (max_vips = {max}); raise max_vips")]
    VipIdOutOfRange {
        /// VIP id.
        vip: u32,
        /// Limit.
        max: u32,
    },
    /// A backend id does not fit the backend array.
    #[error("backend id {backend} is out of range (max_backends = {max}); raise max_backends")]
    BackendIdOutOfRange {
        /// Backend id.
        backend: u32,
        /// Limit.
        max: u32,
    },
    /// Two VIPs share an id.
    #[error("VIP id {0} is used twice in the plan")]
    DuplicateVipId(u32),
    /// Two VIPs share (address, port, protocol).
    #[error("VIP {vip}: {addr} port {port} is already defined by another VIP")]
    DuplicateVip {
        /// VIP id.
        vip: u32,
        /// Address.
        addr: IpAddr,
        /// Port.
        port: u16,
    },
    /// One backend id with two different definitions.
    #[error("backend id {backend} has two different address/port definitions")]
    BackendConflict {
        /// Backend id.
        backend: u32,
    },
    /// NAT VIP without an SNAT address.
    #[error("NAT VIP {vip} has no snat_addr; set the LB address used towards backends")]
    MissingSnat {
        /// VIP id.
        vip: u32,
    },
    /// NAT across address families.
    #[error("NAT VIP {vip}: {what} is not of the VIP's address family (NAT does not translate between IPv4 and IPv6)")]
    FamilyMismatch {
        /// VIP id.
        vip: u32,
        /// Offending field.
        what: &'static str,
    },
    /// An ipip/gue VIP has a backend of a family without an outer source prefix.
    #[error("VIP {vip}: backend {backend} needs an outer source prefix of its family ([encap] source4 / source6)")]
    NoEncapSource {
        /// VIP id.
        vip: u32,
        /// The backend's address.
        backend: IpAddr,
    },
    /// Maglev table of the wrong length.
    #[error("VIP {vip}: Maglev table has {len} slots, expected {table_size} (or 0 for none)")]
    TableLength {
        /// VIP id.
        vip: u32,
        /// Actual.
        len: usize,
        /// Expected.
        table_size: u32,
    },
    /// Table slot naming a backend the VIP does not have.
    #[error(
        "VIP {vip}: Maglev table refers to backend id {backend} which is not one of its backends"
    )]
    UnknownBackendInTable {
        /// VIP id.
        vip: u32,
        /// Backend id.
        backend: u32,
    },
}

#[cfg(test)]
mod tests;
