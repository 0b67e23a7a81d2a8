//! Counters read from the pinned datapath maps (no daemon needed), as a metrics snapshot.

use crate::datapath::abi::{RawStats, Reason};
use crate::datapath::MapId;
use crate::metrics::{Counters, Snapshot};
use crate::plan::Plan;
use oxbpf::map::{Map, MapError};
use std::collections::BTreeMap;

/// Sums the per-CPU `RawStats` value at `id` of a stats map.
pub fn stats_at(map: &Map, id: u32) -> Result<RawStats, MapError> {
    let Some(buf) = map.lookup(&id.to_ne_bytes())? else {
        return Ok(RawStats::default());
    };
    let stride = (map.value_size() as usize).div_ceil(8) * 8;
    let per_cpu: Vec<RawStats> = buf
        .chunks(stride)
        .filter_map(RawStats::from_bytes)
        .collect();
    Ok(RawStats::sum(&per_cpu))
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
    let Some(buf) = map.lookup(&id.to_ne_bytes())? else {
        return Ok(0);
    };
    Ok(buf
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
        .sum())
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
