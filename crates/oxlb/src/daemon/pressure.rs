//! Warnings about state the datapath is losing or refusing: conntrack and NAT entries evicted
//! from live flows, NAT source ports exhausted, SYN floods, the new-flow guard engaging. The
//! daemon samples the counters every few seconds and logs what moved, with what to do.

use crate::daemon::DaemonError;
use crate::datapath::abi::{RawGuard, Reason};
use crate::datapath::MapId;
use crate::plan::Plan;
use crate::stats;
use oxbpf::map::Map;
use std::collections::BTreeMap;

/// Counters seen at the previous sample.
#[derive(Debug, Default)]
pub struct Pressure {
    reasons: BTreeMap<Reason, u64>,
    guarded: BTreeMap<u32, u64>,
    primed: bool,
}

/// The counters a warning is about.
const WATCHED: [Reason; 7] = [
    Reason::CtResumed,
    Reason::NatReplyMiss,
    Reason::DropNatPorts,
    Reason::SynReplaced,
    Reason::DropNoFlow,
    Reason::CookieSent,
    Reason::CookieFail,
];

impl Pressure {
    /// Reads the counters; returns one line per problem that grew since the last call (the
    /// first call only takes the baseline). `ct_size`: the configured conntrack size.
    pub fn sample(
        &mut self,
        maps: &BTreeMap<MapId, Map>,
        plan: &Plan,
        ct_size: u32,
    ) -> Result<Vec<String>, DaemonError> {
        let mut out = Vec::new();
        for r in WATCHED {
            let now = stats::reason_count(maps, r)?;
            let d = now.saturating_sub(self.reasons.insert(r, now).unwrap_or(now));
            if self.primed && d > 0 {
                out.push(explain(r, d, ct_size));
            }
        }
        for v in &plan.vips {
            let now: u64 = stats::per_cpu(&maps[&MapId::VipGuard], v.id, RawGuard::from_bytes)?
                .iter()
                .map(|g| g.guarded)
                .sum();
            let d = now.saturating_sub(self.guarded.insert(v.id, now).unwrap_or(now));
            if self.primed && d > 0 {
                out.push(format!(
                    "VIP {}: new-flow guard engaged: {d} new flows scheduled without a conntrack \
                     entry (more new flows per second than [global] new_flow_guard on a CPU: a \
                     flood, or raise the guard)",
                    v.key()
                ));
            }
        }
        self.primed = true;
        Ok(out)
    }
}

fn explain(r: Reason, d: u64, ct_size: u32) -> String {
    match r {
        Reason::CtResumed => format!(
            "{d} packets of live flows found no conntrack entry (evicted: more flows than \
             [global] conntrack_size = {ct_size}); NAT flows resumed from their NAT entry, but \
             those go the same way next: raise conntrack_size"
        ),
        Reason::NatReplyMiss => format!(
            "{d} packets to NAT source ports had no NAT entry: replies of flows whose NAT state \
             was evicted (those connections break; raise [global] conntrack_size = {ct_size}), \
             or stray traffic to the host"
        ),
        Reason::DropNatPorts => format!(
            "{d} new flows dropped: every probed NAT source port is held by a live flow (add \
             SNAT addresses or backends, or widen the NAT port range)"
        ),
        Reason::SynReplaced => format!(
            "SYN flood: {d} half-open NAT flows gave their port to newer SYNs (established \
             flows are not affected)"
        ),
        Reason::CookieSent => format!(
            "SYN flood: {d} SYNs to NAT VIPs answered with SYN cookies (only clients that \
             complete the handshake get a NAT port; their connections go without window \
             scaling, SACK and timestamps)"
        ),
        Reason::CookieFail => format!(
            "{d} SYN cookie frames could not be built and were dropped (IPv4 options, or the \
             driver refused to resize the frame)"
        ),
        _ => format!(
            "{d} TCP packets of no known flow dropped at NAT VIPs: blind ACKs, flows whose \
             backend is gone, or live flows whose conntrack and NAT state was evicted (more \
             flows than [global] conntrack_size = {ct_size}: raise it)"
        ),
    }
}
