//! Counters read from the pinned datapath maps (no daemon needed), as a metrics snapshot.

use crate::datapath::abi::{RawStats, Reason};
use crate::datapath::MapId;
use crate::metrics::{Counters, Snapshot};
use crate::plan::Plan;
use oxbpf::map::{Map, MapError};
use std::collections::BTreeMap;

/// Each CPU's value at `id` of a per-CPU array, parsed by `parse` (values are 8-byte aligned
/// per CPU in the kernel's buffer); empty when the key is missing.
pub fn per_cpu<T>(
    map: &Map,
    id: u32,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Result<Vec<T>, MapError> {
    let Some(buf) = map.lookup(&id.to_ne_bytes())? else {
        return Ok(Vec::new());
    };
    let size = map.value_size() as usize;
    let stride = size.div_ceil(8) * 8;
    Ok(buf
        .chunks(stride)
        .filter_map(|c| parse(&c[..size.min(c.len())]))
        .collect())
}

/// Sums the per-CPU `RawStats` value at `id` of a stats map.
pub fn stats_at(map: &Map, id: u32) -> Result<RawStats, MapError> {
    Ok(RawStats::sum(&per_cpu(map, id, RawStats::from_bytes)?))
}

fn counters(s: &RawStats) -> Counters {
    Counters {
        packets: s.packets,
        bytes: s.bytes,
        new_flows: s.new_flows,
    }
}

/// Sums a per-CPU `u64` counter.
fn u64_at(map: &Map, id: u32) -> Result<u64, MapError> {
    let v = per_cpu(map, id, |c| c.try_into().ok().map(u64::from_ne_bytes))?;
    Ok(v.into_iter().sum())
}

/// The datapath's packet counter of one reason (summed over CPUs).
pub fn reason_count(maps: &BTreeMap<MapId, Map>, reason: Reason) -> Result<u64, MapError> {
    u64_at(&maps[&MapId::Reasons], reason as u32)
}

/// Fills a snapshot of `plan` from the datapath maps.
pub fn snapshot(maps: &BTreeMap<MapId, Map>, plan: &Plan) -> Result<Snapshot, MapError> {
    let mut snap = Snapshot::from_plan(plan);
    for v in &mut snap.vips {
        v.counters = counters(&stats_at(&maps[&MapId::VipStats], v.id)?);
        for b in &mut v.backends {
            b.counters = counters(&stats_at(&maps[&MapId::BackendStats], b.id)?);
        }
    }
    snap.reasons = reason_counts(maps)?;
    Ok(snap)
}

/// The datapath's packet counters by reason.
pub fn reason_counts(maps: &BTreeMap<MapId, Map>) -> Result<Vec<(String, u64)>, MapError> {
    Reason::ALL
        .iter()
        .map(|r| {
            Ok((
                r.name().to_string(),
                u64_at(&maps[&MapId::Reasons], *r as u32)?,
            ))
        })
        .collect()
}
