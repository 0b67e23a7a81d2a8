//! The GPL-only helper table (`oxbpf::asm::gpl`) against the running kernel: a program whose
//! licence is not GPL-compatible calls each helper in turn, for every program type a bare
//! program loads as; the verifier's "cannot call GPL-restricted function" must appear exactly
//! for the helpers the table lists. The verifier checks the licence right after finding the
//! helper's prototype, before any argument, so `call N; exit` is enough.

mod caps_util;
mod coll_support;

use coll_support::require_kernel;
use oxbpf::asm::gpl::{is_gpl_only_helper, GPL_ONLY_HELPERS};
use oxbpf::asm::{helper_name, Insn, MAX_HELPER_ID};
use oxbpf::features::NOISY_HELPERS;
use oxbpf::prog::{load, LoadRequest};
use oxbpf::spec::ProgramType;
use std::collections::BTreeSet;

/// GPL-only for some program types only (see the table's docs).
const PER_TYPE: &[u32] = &[27, 173];

/// Some(true) GPL-restricted, Some(false) callable without GPL, None not for this type.
fn restricted(t: ProgramType, id: u32) -> Option<bool> {
    let insns = [
        Insn::mov64_imm(1, 0),
        Insn::mov64_imm(2, 0),
        Insn::mov64_imm(3, 0),
        Insn::mov64_imm(4, 0),
        Insn::mov64_imm(5, 0),
        Insn::new(0x85, 0, 0, 0, id as i32),
        Insn::mov64_imm(0, 0),
        Insn::new(0x95, 0, 0, 0, 0),
    ];
    let req = LoadRequest::new("gpl_probe", t, &insns, "Proprietary");
    let log = match load(&req) {
        Ok(_) => return Some(false),
        Err(e) => e.verifier_log().unwrap_or("").to_string(),
    };
    if log.contains("GPL-restricted") {
        Some(true)
    } else if log.contains("cannot use helper") || log.contains("unknown func") {
        None
    } else {
        Some(false)
    }
}

#[test]
fn gpl_only_helpers_match_the_running_kernel() {
    if !require_kernel() {
        return;
    }
    let types = [
        ProgramType::SOCKET_FILTER,
        ProgramType::KPROBE,
        ProgramType::SCHED_CLS,
        ProgramType::TRACEPOINT,
        ProgramType::XDP,
        ProgramType::PERF_EVENT,
        ProgramType::CGROUP_SKB,
        ProgramType::SOCK_OPS,
        ProgramType::SK_SKB,
        ProgramType::SK_MSG,
        ProgramType::RAW_TRACEPOINT,
        ProgramType::LWT_IN,
        ProgramType::FLOW_DISSECTOR,
        ProgramType::CGROUP_SYSCTL,
    ];
    let mut checked = BTreeSet::new();
    let mut wrong = Vec::new();
    for id in 1..=MAX_HELPER_ID as u32 {
        if NOISY_HELPERS.contains(&id) || PER_TYPE.contains(&id) {
            continue;
        }
        for &t in &types {
            if let Some(gpl) = restricted(t, id) {
                checked.insert(id);
                if gpl != is_gpl_only_helper(id) {
                    wrong.push(format!(
                        "{} ({id}) in {t}: kernel says gpl_only={gpl}",
                        helper_name(id as i32).unwrap()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "table disagrees with the kernel:\n{}",
        wrong.join("\n")
    );
    let unverified: Vec<u32> = GPL_ONLY_HELPERS
        .iter()
        .copied()
        .filter(|id| !checked.contains(id))
        .collect();
    eprintln!(
        "{} helpers checked; GPL-only entries not callable from these types (unverified here): {unverified:?}",
        checked.len()
    );
    assert!(
        checked.len() > 150,
        "only {} helpers reachable",
        checked.len()
    );
    assert!(checked.iter().filter(|&&id| is_gpl_only_helper(id)).count() >= 20);
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}
