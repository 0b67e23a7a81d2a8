//! The map writes that take the datapath from one plan to the next, in a safe order.
//!
//! Order (each step only touches what changed; step 0 first):
//! 0. let the addresses of new VIPs through the VIP filter `oxlb_vipfilter`;
//! 1. delete VIPs that are gone and empty the `oxlb_vip_ids` slots of ids no longer used
//!    (no new packet reaches their ring row, no tracked flow finds them any more);
//! 2. write new/changed backends (before any ring slot can point at them);
//! 3. write changed ring slots of the new plan's VIPs (a VIP id new to the plan gets
//!    its whole row, so stale rows of a reused id never leak);
//! 4. insert/replace VIPs and their id slots (their ring row and backends are in place);
//! 5. reset rows of VIP ids no longer used to [`NO_BACKEND`];
//! 6. clear backends no longer used (all-zero entry: established flows to them are
//!    rescheduled by the datapath);
//! 7. drop the addresses of removed VIPs from the VIP filter, which step 0 opened for
//!    the addresses of new VIPs ([`vipfilter`](super::vipfilter)).
//!
//! Per-CPU statistics of ids that are new to the plan are reset so a reused id does
//! not inherit old counters.

use super::abi::{RawBackend, RawVipSlot, NO_BACKEND};
use super::entries::{PlanEntries, Ring};
use super::layout::MapId;
use super::DatapathError;

/// Why an entry is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not in the previous plan.
    New,
    /// In both plans with a different value.
    Changed,
    /// Not in the new plan.
    Removed,
}

/// One write into a kernel map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOp {
    /// Insert or overwrite one entry.
    Update {
        /// Target map.
        map: MapId,
        /// Why.
        change: Change,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// Remove one entry of a hash map.
    Delete {
        /// Target map.
        map: MapId,
        /// Key bytes.
        key: Vec<u8>,
    },
    /// Overwrite consecutive array slots `first_key..first_key + values.len() / value_size`.
    UpdateRun {
        /// Target map (an array).
        map: MapId,
        /// Why.
        change: Change,
        /// First slot.
        first_key: u32,
        /// Bytes per value.
        value_size: usize,
        /// Concatenated values.
        values: Vec<u8>,
    },
    /// Zero the per-CPU value of `key` on every CPU.
    ResetPerCpu {
        /// Target map (a per-CPU array).
        map: MapId,
        /// Key bytes.
        key: Vec<u8>,
    },
}

impl MapOp {
    /// Number of map elements this op writes.
    pub fn len(&self) -> usize {
        match self {
            MapOp::UpdateRun {
                value_size, values, ..
            } => values.len() / value_size,
            _ => 1,
        }
    }

    /// Always false: every op writes at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The op as single-element writes: (map, key, Some(value)) or (map, key, None)
    /// for a delete. `ResetPerCpu` is not expanded (its value depends on the CPU count).
    pub fn elements(&self) -> Vec<(MapId, Vec<u8>, Option<Vec<u8>>)> {
        match self {
            MapOp::Update {
                map, key, value, ..
            } => vec![(*map, key.clone(), Some(value.clone()))],
            MapOp::Delete { map, key } => vec![(*map, key.clone(), None)],
            MapOp::UpdateRun {
                map,
                first_key,
                value_size,
                values,
                ..
            } => values
                .chunks(*value_size)
                .enumerate()
                .map(|(i, v)| {
                    (
                        *map,
                        (first_key + i as u32).to_ne_bytes().to_vec(),
                        Some(v.to_vec()),
                    )
                })
                .collect(),
            MapOp::ResetPerCpu { .. } => Vec::new(),
        }
    }
}

/// The writes from `old` (None: freshly created maps) to `new`.
pub fn diff(old: Option<&PlanEntries>, new: &PlanEntries) -> Result<Vec<MapOp>, DatapathError> {
    if let Some(o) = old {
        if o.layout != new.layout {
            return Err(DatapathError::LayoutChanged);
        }
    }
    let layout = new.layout;
    let ts = layout.table_size as usize;
    let mut ops = Vec::new();
    let empty = PlanEntries {
        layout,
        vips: Default::default(),
        backends: Default::default(),
        rings: Default::default(),
    };
    let fresh = old.is_none();
    let old = old.unwrap_or(&empty);

    // 0. The VIP filter lets through the addresses of both plans.
    ops.extend(super::vipfilter::ops_before(
        Some(&old.vips).filter(|_| !fresh),
        &new.vips,
    ));
    // 1. VIPs that are gone.
    for k in old.vips.keys().filter(|k| !new.vips.contains_key(k)) {
        ops.push(MapOp::Delete {
            map: MapId::Vips,
            key: k.to_bytes(),
        });
    }
    for &id in old.rings.keys().filter(|id| !new.rings.contains_key(id)) {
        ops.push(MapOp::Update {
            map: MapId::VipIds,
            change: Change::Removed,
            key: id.to_ne_bytes().to_vec(),
            value: RawVipSlot::empty_bytes(),
        });
    }
    // 2. New/changed backends.
    for (id, b) in &new.backends {
        let change = match old.backends.get(id) {
            None => Change::New,
            Some(o) if o != b => Change::Changed,
            Some(_) => continue,
        };
        if change == Change::New {
            ops.push(MapOp::ResetPerCpu {
                map: MapId::BackendStats,
                key: id.to_ne_bytes().to_vec(),
            });
        }
        ops.push(MapOp::Update {
            map: MapId::Backends,
            change,
            key: id.to_ne_bytes().to_vec(),
            value: b.to_bytes(),
        });
    }
    // 3. Ring rows of the new plan.
    for (&id, ring) in &new.rings {
        let prev = old.rings.get(&id);
        let change = if prev.is_some() {
            Change::Changed
        } else {
            Change::New
        };
        let mut run: Option<(usize, Vec<u8>)> = None;
        for slot in 0..ts {
            let v = ring.slot(slot);
            let differs = prev.is_none_or(|p| p.slot(slot) != v);
            if differs {
                run.get_or_insert_with(|| (slot, Vec::new()))
                    .1
                    .extend_from_slice(&v.to_ne_bytes());
            } else if let Some((start, values)) = run.take() {
                ops.push(ring_run(&layout, id, start, values, change));
            }
        }
        if let Some((start, values)) = run.take() {
            ops.push(ring_run(&layout, id, start, values, change));
        }
    }
    // 4. New/changed VIPs.
    for (k, v) in &new.vips {
        let change = match old.vips.get(k) {
            None => Change::New,
            Some(o) if o != v => Change::Changed,
            Some(_) => continue,
        };
        if !old.rings.contains_key(&v.id) {
            ops.push(MapOp::ResetPerCpu {
                map: MapId::VipStats,
                key: v.id.to_ne_bytes().to_vec(),
            });
        }
        ops.push(MapOp::Update {
            map: MapId::VipIds,
            change,
            key: v.id.to_ne_bytes().to_vec(),
            value: RawVipSlot { key: *k, vip: *v }.to_bytes(),
        });
        ops.push(MapOp::Update {
            map: MapId::Vips,
            change,
            key: k.to_bytes(),
            value: v.to_bytes(),
        });
    }
    // 5. Rows of VIP ids no longer used.
    for &id in old.rings.keys().filter(|id| !new.rings.contains_key(id)) {
        let values = Ring::Empty.slot(0).to_ne_bytes().repeat(ts);
        ops.push(ring_run(&layout, id, 0, values, Change::Removed));
    }
    // 6. Backends no longer used.
    for &id in old
        .backends
        .keys()
        .filter(|id| !new.backends.contains_key(id))
    {
        ops.push(MapOp::Update {
            map: MapId::Backends,
            change: Change::Removed,
            key: id.to_ne_bytes().to_vec(),
            value: RawBackend::default().to_bytes(),
        });
    }
    // 7. The VIP filter drops the addresses of VIPs that are gone.
    ops.extend(super::vipfilter::ops_after(
        Some(&old.vips).filter(|_| !fresh),
        &new.vips,
    ));
    debug_assert_eq!(Ring::Empty.slot(0), NO_BACKEND);
    Ok(ops)
}

fn ring_run(
    layout: &super::layout::Layout,
    vip_id: u32,
    start: usize,
    values: Vec<u8>,
    change: Change,
) -> MapOp {
    MapOp::UpdateRun {
        map: MapId::Ring,
        change,
        first_key: layout.ring_index(vip_id, start as u32),
        value_size: 4,
        values,
    }
}
