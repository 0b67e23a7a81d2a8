//! A validated [`Plan`] turned into the entries of the control-plane-owned maps
//! (`oxlb_vips`, `oxlb_ring`, `oxlb_backends`). Pure: no kernel access.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::abi::{
    addr_bytes, RawBackend, RawVip, RawVipKey, RawVipSlot, MODE_DSR, MODE_GUE, MODE_IPIP, MODE_NAT,
    NO_BACKEND,
};
use super::layout::{Layout, MapId};
use super::DatapathError;
use crate::plan::{Mode, Plan};

/// The Maglev table of one VIP, borrowed from the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring<'a> {
    /// `table_size` backend ids.
    Table(&'a [u32]),
    /// No usable backend: every slot is [`NO_BACKEND`].
    Empty,
}

impl Ring<'_> {
    /// Backend id in `slot` (or [`NO_BACKEND`]).
    pub fn slot(&self, slot: usize) -> u32 {
        match self {
            Ring::Table(t) => t[slot],
            Ring::Empty => NO_BACKEND,
        }
    }
}

/// Everything the control plane writes for one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntries<'a> {
    /// The layout the entries were built for.
    pub layout: Layout,
    /// `oxlb_vips` entries.
    pub vips: BTreeMap<RawVipKey, RawVip>,
    /// `oxlb_backends` entries by backend id (ids absent here hold an all-zero entry).
    pub backends: BTreeMap<u32, RawBackend>,
    /// Maglev table of each VIP id (row `id` of `oxlb_ring`).
    pub rings: BTreeMap<u32, Ring<'a>>,
}

/// Validate `plan` against `layout` and build its map entries.
pub fn entries<'a>(plan: &'a Plan, layout: &Layout) -> Result<PlanEntries<'a>, DatapathError> {
    layout.validate()?;
    if plan.table_size != layout.table_size {
        return Err(DatapathError::TableSizeMismatch {
            plan: plan.table_size,
            layout: layout.table_size,
        });
    }
    let mut out = PlanEntries {
        layout: *layout,
        vips: BTreeMap::new(),
        backends: BTreeMap::new(),
        rings: BTreeMap::new(),
    };
    for vip in &plan.vips {
        if vip.id >= layout.max_vips {
            return Err(DatapathError::VipIdOutOfRange {
                vip: vip.id,
                max: layout.max_vips,
            });
        }
        let key = RawVipKey::new(vip.addr, vip.port, vip.proto.number());
        let (mode, snat_family, snat_addr) = match vip.mode {
            Mode::Dsr => (MODE_DSR, 0, [0u8; 16]),
            Mode::Ipip => (MODE_IPIP, 0, [0u8; 16]),
            Mode::Gue => (MODE_GUE, 0, [0u8; 16]),
            Mode::Nat => {
                let snat = vip
                    .snat_addr
                    .ok_or(DatapathError::MissingSnat { vip: vip.id })?;
                if snat.is_ipv4() != vip.addr.is_ipv4() {
                    return Err(DatapathError::FamilyMismatch {
                        vip: vip.id,
                        what: "snat_addr",
                    });
                }
                let (a, f) = addr_bytes(snat);
                (MODE_NAT, f, a)
            }
        };
        let value = RawVip {
            id: vip.id,
            mode,
            snat_family,
            _pad: 0,
            snat_addr,
        };
        if out.rings.contains_key(&vip.id) {
            return Err(DatapathError::DuplicateVipId(vip.id));
        }
        if out.vips.insert(key, value).is_some() {
            return Err(DatapathError::DuplicateVip {
                vip: vip.id,
                addr: vip.addr,
                port: vip.port,
            });
        }
        let mut ids = BTreeSet::new();
        for be in &vip.backends {
            if be.id >= layout.max_backends {
                return Err(DatapathError::BackendIdOutOfRange {
                    backend: be.id,
                    max: layout.max_backends,
                });
            }
            if vip.mode == Mode::Nat && be.addr.is_ipv4() != vip.addr.is_ipv4() {
                return Err(DatapathError::FamilyMismatch {
                    vip: vip.id,
                    what: "backend address",
                });
            }
            if matches!(vip.mode, Mode::Ipip | Mode::Gue)
                && layout.encap.source_for(be.addr).is_none()
            {
                return Err(DatapathError::NoEncapSource {
                    vip: vip.id,
                    backend: be.addr,
                });
            }
            let raw = RawBackend::new(be.addr, be.port);
            match out.backends.entry(be.id) {
                Entry::Vacant(e) => {
                    e.insert(raw);
                }
                Entry::Occupied(e) if *e.get() == raw => {}
                Entry::Occupied(_) => {
                    return Err(DatapathError::BackendConflict { backend: be.id })
                }
            }
            ids.insert(be.id);
        }
        let ring = if vip.table.is_empty() {
            Ring::Empty
        } else {
            if vip.table.len() != layout.table_size as usize {
                return Err(DatapathError::TableLength {
                    vip: vip.id,
                    len: vip.table.len(),
                    table_size: layout.table_size,
                });
            }
            if let Some(bad) = vip.table.iter().find(|b| !ids.contains(b)) {
                return Err(DatapathError::UnknownBackendInTable {
                    vip: vip.id,
                    backend: *bad,
                });
            }
            Ring::Table(&vip.table)
        };
        out.rings.insert(vip.id, ring);
    }
    Ok(out)
}

impl PlanEntries<'_> {
    /// Every entry of a control-plane map as (key bytes, value bytes), in key order for
    /// hash maps and index order for arrays (only the rows of VIPs and the ids of
    /// backends in the plan). Datapath-owned maps (conntrack, NAT, stats) yield nothing.
    pub fn map_entries(&self, map: MapId) -> Box<dyn Iterator<Item = (Vec<u8>, Vec<u8>)> + '_> {
        match map {
            MapId::Vips => Box::new(self.vips.iter().map(|(k, v)| (k.to_bytes(), v.to_bytes()))),
            MapId::VipIds => Box::new(self.vips.iter().map(|(k, v)| {
                let slot = RawVipSlot { key: *k, vip: *v };
                (v.id.to_ne_bytes().to_vec(), slot.to_bytes())
            })),
            MapId::Backends => Box::new(
                self.backends
                    .iter()
                    .map(|(id, b)| (id.to_ne_bytes().to_vec(), b.to_bytes())),
            ),
            MapId::Ring => {
                let ts = self.layout.table_size;
                Box::new(self.rings.iter().flat_map(move |(&id, ring)| {
                    (0..ts).map(move |slot| {
                        let idx = self.layout.ring_index(id, slot);
                        (
                            idx.to_ne_bytes().to_vec(),
                            ring.slot(slot as usize).to_ne_bytes().to_vec(),
                        )
                    })
                }))
            }
            _ => Box::new(std::iter::empty()),
        }
    }
}
