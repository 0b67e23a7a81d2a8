//! Per-program relocation counts, for `inspect`-style listings.

use crate::spec::{CollectionSpec, RelocTarget};

/// How many load-time relocations of each kind one program has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelocationCounts {
    /// Program name.
    pub program: String,
    /// Instruction slots after linking.
    pub insns: usize,
    /// Map fd references.
    pub maps: usize,
    /// Global-data (map value) references.
    pub data: usize,
    /// Extern references (kfunc calls, ksyms, kconfig).
    pub externs: usize,
    /// CO-RE relocations.
    pub core: usize,
}

impl std::fmt::Display for RelocationCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} insns, relocations: {} map, {} data, {} extern, {} CO-RE",
            self.program, self.insns, self.maps, self.data, self.externs, self.core
        )
    }
}

/// Relocation counts for every program of `spec`, in name order.
pub fn relocation_summary(spec: &CollectionSpec) -> Vec<RelocationCounts> {
    spec.programs
        .values()
        .map(|p| {
            let mut c = RelocationCounts {
                program: p.name.clone(),
                insns: p.instructions.len(),
                core: p.core_relos.len(),
                ..RelocationCounts::default()
            };
            for r in &p.relocations {
                match r.target {
                    RelocTarget::Map(_) => c.maps += 1,
                    RelocTarget::MapValue { .. } => c.data += 1,
                    RelocTarget::Extern(_) => c.externs += 1,
                }
            }
            c
        })
        .collect()
}
