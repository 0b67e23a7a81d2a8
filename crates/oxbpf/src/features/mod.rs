//! "Does this kernel support X?" — decided by probing (a tiny program load or map create),
//! never by the kernel version. Answers are cached per process once conclusive; errors that say
//! nothing about the kernel (EPERM unprivileged, ENOMEM) are returned, not cached.
//!
//! The release tables ([`min_kernel`]) only document; they never decide.

mod blob;
mod probe;
mod version;

pub use probe::{helper_refusal, helpers_probeable};
pub use version::{kernel_version, KernelVersion};

use crate::spec::{MapType, ProgramType};
use crate::sys::SysError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Errors from feature probes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeatureError {
    /// The kernel lacks the feature.
    #[error("{feature} not supported (requires >= {min_kernel})")]
    NotSupported {
        /// What is missing.
        feature: String,
        /// The first kernel release that has it.
        min_kernel: &'static str,
    },
    /// This question cannot be answered by probing.
    #[error("cannot probe {feature}: {reason}")]
    Unprobeable {
        /// What was asked.
        feature: String,
        /// Why not.
        reason: &'static str,
    },
    /// The probe could not decide (no privileges, no memory...).
    #[error("probe {feature}: {source}")]
    Probe {
        /// What was probed.
        feature: String,
        /// The kernel's error.
        source: SysError,
    },
}

/// A cached probe result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Prog(u32),
    Map(u32),
    Helper(u32, i32),
    Misc(&'static str),
}

static CACHE: Mutex<Option<HashMap<Key, bool>>> = Mutex::new(None);

fn cached(
    key: Key,
    probe: impl FnOnce() -> Result<bool, FeatureError>,
) -> Result<bool, FeatureError> {
    if let Some(v) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|c| c.get(&key))
    {
        return Ok(*v);
    }
    let v = probe()?;
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, v);
    Ok(v)
}

/// Forgets every cached answer (tests that fake an old kernel with fault injection).
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub fn reset_cache() {
    *CACHE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Can programs of type `t` be loaded?
pub fn have_program_type(t: ProgramType) -> Result<bool, FeatureError> {
    cached(Key::Prog(t.0), || probe::program_type(t))
}

/// Can maps of type `t` be created?
pub fn have_map_type(t: MapType) -> Result<bool, FeatureError> {
    cached(Key::Map(t.0), || probe::map_type(t))
}

/// Can programs of type `t` call helper `id` (`bpf_func_id`)? `false` when `t` itself is
/// unsupported; an error for types whose helpers cannot be probed (see [`helpers_probeable`]).
pub fn have_helper(t: ProgramType, id: i32) -> Result<bool, FeatureError> {
    if !have_program_type(t)? {
        return Ok(false);
    }
    if !helpers_probeable(t) {
        return Err(FeatureError::Unprobeable {
            feature: format!("helper {id} for {t} programs"),
            reason:
                "their probe load is refused before verification (they need a real attach target)",
        });
    }
    cached(Key::Helper(t.0, id), || probe::helper(t, id))
}

/// Does the verifier accept loops that terminate (v5.3)?
pub fn have_bounded_loops() -> Result<bool, FeatureError> {
    use crate::asm::{opcode::*, Insn};
    // r0 = 0; loop: r0 += 1; if r0 < 4 goto loop; exit
    let insns = [
        Insn::mov64_imm(0, 0),
        Insn::alu64_imm(BPF_ADD, 0, 1),
        Insn::jmp_imm(BPF_JLT, 0, 4, -2),
        Insn::exit(),
    ];
    cached(Key::Misc("bounded_loops"), || {
        probe::xdp_program_loads("bounded loops", &insns)
    })
}

/// Does the kernel accept instructions of BPF ISA version `v` (2: jmp ext v4.14... 3: jmp32 v5.1,
/// 4: sign extension, sdiv, bswap, gotol v6.6)?
pub fn have_isa(v: u8) -> Result<bool, FeatureError> {
    use crate::asm::{opcode::*, Insn};
    let insns: Vec<Insn> = match v {
        0..=1 => return Ok(true),
        // r0 = 0; if r0 < 0 goto +0 (BPF_JLT, v2); exit
        2 => vec![
            Insn::mov64_imm(0, 0),
            Insn::jmp_imm(BPF_JLT, 0, 0, 0),
            Insn::exit(),
        ],
        // w0 = 0; if w0 < 0 goto +0 (JMP32, v3); exit
        3 => vec![
            Insn::mov64_imm(0, 0),
            Insn::jmp32_imm(BPF_JLT, 0, 0, 0),
            Insn::exit(),
        ],
        // r0 = 0; r0 = (s8)r0 (movsx, v4); exit
        _ => vec![Insn::mov64_imm(0, 0), Insn::movsx64(0, 0, 8), Insn::exit()],
    };
    let name: &'static str = match v {
        2 => "isa_v2",
        3 => "isa_v3",
        _ => "isa_v4",
    };
    cached(Key::Misc(name), || probe::xdp_program_loads(name, &insns))
}

/// Does the kernel accept programs over 4096 instructions (v5.2)?
pub fn have_large_insns() -> Result<bool, FeatureError> {
    use crate::asm::Insn;
    let mut insns = vec![Insn::mov64_imm(0, 0); 4097];
    insns.push(Insn::exit());
    cached(Key::Misc("large_insns"), || {
        probe::xdp_program_loads("large programs", &insns)
    })
}

/// Does the kernel have BPF cookies (`bpf_get_attach_cookie`, helper 174, v5.15)?
pub fn have_bpf_cookie() -> Result<bool, FeatureError> {
    have_helper(ProgramType::KPROBE, 174)
}

/// Fails with [`FeatureError::NotSupported`] unless `t` is supported.
pub fn require_program_type(t: ProgramType) -> Result<(), FeatureError> {
    match have_program_type(t)? {
        true => Ok(()),
        false => Err(FeatureError::NotSupported {
            feature: format!("{t} programs"),
            min_kernel: min_kernel::program_type(t),
        }),
    }
}

/// Fails with [`FeatureError::NotSupported`] unless `t` is supported.
pub fn require_map_type(t: MapType) -> Result<(), FeatureError> {
    match have_map_type(t)? {
        true => Ok(()),
        false => Err(FeatureError::NotSupported {
            feature: format!("{t} maps"),
            min_kernel: min_kernel::map_type(t),
        }),
    }
}

/// First kernel releases of program and map types (documentation for errors only).
pub mod min_kernel {
    use crate::spec::{MapType, ProgramType};

    /// The release that introduced program type `t`.
    pub fn program_type(t: ProgramType) -> &'static str {
        const V: [&str; 33] = [
            "v3.18", "v3.19", "v4.1", "v4.1", "v4.1", "v4.7", "v4.8", "v4.9", "v4.10", "v4.10",
            "v4.10", "v4.10", "v4.10", "v4.13", "v4.14", "v4.15", "v4.17", "v4.17", "v4.17",
            "v4.18", "v4.18", "v4.19", "v4.20", "v5.2", "v5.2", "v5.3", "v5.5", "v5.6", "v5.6",
            "v5.7", "v5.9", "v5.14", "v6.4",
        ];
        V.get(t.0 as usize).copied().unwrap_or("a newer kernel")
    }

    /// The release that introduced map type `t`.
    pub fn map_type(t: MapType) -> &'static str {
        const V: [&str; 34] = [
            "v3.18", "v3.19", "v3.19", "v4.2", "v4.3", "v4.6", "v4.6", "v4.6", "v4.8", "v4.10",
            "v4.10", "v4.11", "v4.12", "v4.12", "v4.14", "v4.14", "v4.15", "v4.18", "v4.18",
            "v4.19", "v4.19", "v4.20", "v4.20", "v4.20", "v5.2", "v5.4", "v5.6", "v5.8", "v5.10",
            "v5.11", "v5.16", "v6.1", "v6.2", "v6.9",
        ];
        V.get(t.0 as usize).copied().unwrap_or("a newer kernel")
    }
}
