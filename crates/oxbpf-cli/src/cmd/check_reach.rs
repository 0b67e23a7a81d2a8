//! `oxbpf check`: how poisoned CO-RE relocations are shown with their reachability
//! (`oxbpf::collection::reach`), kept apart from the rest of the check output.

use oxbpf::collection::check::ProgramCheck;
use serde_json::{json, Map, Value};

/// `POISONED (reachable at file.c:27: code): reason` for the text output.
pub fn poisoned_text(p: &ProgramCheck, insn: u32, reason: &str) -> String {
    match p.poisoned.iter().find(|r| r.insn == insn) {
        Some(r) => {
            let at = r
                .source
                .as_deref()
                .map(|s| format!(" at {s}"))
                .unwrap_or_default();
            format!("POISONED ({}{at}): {reason}", r.reach.name())
        }
        None => format!("POISONED: {reason}"),
    }
}

/// Adds `reachability` and `source` to a poisoned relocation's JSON object.
pub fn poisoned_json(p: &ProgramCheck, insn: u32, o: &mut Map<String, Value>) {
    if let Some(r) = p.poisoned.iter().find(|r| r.insn == insn) {
        o.insert("reachability".into(), json!(r.reach.name()));
        o.insert("source".into(), json!(r.source));
    }
}
