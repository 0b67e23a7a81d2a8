//! Patching a program's instructions with the kernel objects its relocations name.

use super::LoadError;
use crate::asm::Insn;
use crate::spec::{ProgramSpec, RelocTarget};

/// `src_reg` of an `ld_imm64` carrying a map fd.
pub const PSEUDO_MAP_FD: u8 = 1;
/// `src_reg` of an `ld_imm64` carrying a map fd plus an offset into its value.
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// `src_reg` of an `ld_imm64` carrying a BTF id of a kernel variable.
pub const PSEUDO_BTF_ID: u8 = 3;
/// `src_reg` of a call to a kfunc.
pub const PSEUDO_KFUNC_CALL: u8 = 2;
/// Helper id used to poison a call to a missing weak kfunc: the verifier rejects it only if
/// the call is reachable (libbpf uses the same base so logs look alike).
pub const POISON_CALL_KFUNC_BASE: i32 = 2_002_000_000;

/// How one extern was resolved for this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternValue {
    /// A kfunc: BTF id in vmlinux (`btf_fd_index` 0) or in the module BTF at that `fd_array` slot.
    Kfunc {
        /// BTF id of the `FUNC`.
        btf_id: u32,
        /// Index into `fd_array` of the module BTF fd (used by calls), 0 for vmlinux.
        fd_index: i16,
        /// The module BTF fd itself (used by `ld_imm64`), 0 for vmlinux.
        btf_fd: i32,
    },
    /// A typed kernel variable (`BPF_PSEUDO_BTF_ID`).
    KsymBtf {
        /// BTF id of the `VAR`.
        btf_id: u32,
        /// BTF object fd for module variables, 0 for vmlinux.
        btf_fd: i32,
    },
    /// A plain 64-bit value (typeless ksym address, or 0 for a missing weak symbol).
    Value(u64),
    /// A missing weak kfunc: calls are poisoned, `ld_imm64` of its address yields 0.
    Missing,
    /// A `.kconfig` extern: the address of its bytes in the `.kconfig` map's value.
    MapValue {
        /// fd of the `.kconfig` map.
        fd: i32,
        /// Offset of the extern in the value.
        offset: u32,
    },
}

/// Kernel objects relocations resolve to.
pub trait Resolver {
    /// fd of the map named `name`.
    fn map_fd(&self, name: &str) -> Option<i32>;
    /// Resolution of the extern named `name`.
    fn extern_value(&self, name: &str) -> Option<ExternValue>;
}

/// Returns `spec.instructions` with every relocation applied.
pub fn relocate(spec: &ProgramSpec, resolver: &dyn Resolver) -> Result<Vec<Insn>, LoadError> {
    let mut insns = spec.instructions.clone();
    for (n, rel) in spec.relocations.iter().enumerate() {
        let bad = |why: &str| LoadError::Relocation {
            program: spec.name.clone(),
            insn: rel.insn,
            reason: why.to_string(),
        };
        let i = rel.insn;
        if i >= insns.len() {
            return Err(bad("instruction index out of range"));
        }
        match &rel.target {
            RelocTarget::Map(name) => {
                let fd = resolver
                    .map_fd(name)
                    .ok_or_else(|| bad(&format!("map {name:?} was not created")))?;
                let (lo, hi) = ld_imm64_pair(&mut insns, i)
                    .ok_or_else(|| bad("map reference is not ld_imm64"))?;
                lo.set_src(PSEUDO_MAP_FD);
                lo.imm = fd;
                hi.imm = 0;
            }
            RelocTarget::MapValue { map, offset } => {
                let fd = resolver
                    .map_fd(map)
                    .ok_or_else(|| bad(&format!("map {map:?} was not created")))?;
                let (lo, hi) = ld_imm64_pair(&mut insns, i)
                    .ok_or_else(|| bad("global data reference is not ld_imm64"))?;
                lo.set_src(PSEUDO_MAP_VALUE);
                lo.imm = fd;
                hi.imm = *offset as i32;
            }
            RelocTarget::Extern(name) => {
                let value = resolver
                    .extern_value(name)
                    .ok_or_else(|| bad(&format!("extern {name:?} was not resolved")))?;
                apply_extern(&mut insns, i, value, n)
                    .map_err(|why| bad(&format!("extern {name:?}: {why}")))?;
            }
        }
    }
    Ok(insns)
}

fn ld_imm64_pair(insns: &mut [Insn], i: usize) -> Option<(&mut Insn, &mut Insn)> {
    if i + 1 >= insns.len() || !insns[i].is_ld_imm64() {
        return None;
    }
    let (a, b) = insns.split_at_mut(i + 1);
    Some((&mut a[i], &mut b[0]))
}

fn apply_extern(
    insns: &mut [Insn],
    i: usize,
    value: ExternValue,
    n: usize,
) -> Result<(), &'static str> {
    if insns[i].is_call() {
        let call = &mut insns[i];
        match value {
            ExternValue::Kfunc {
                btf_id, fd_index, ..
            } => {
                call.set_src(PSEUDO_KFUNC_CALL);
                call.imm = btf_id as i32;
                call.off = fd_index;
            }
            ExternValue::Missing => {
                call.set_src(0);
                call.off = 0;
                call.imm = POISON_CALL_KFUNC_BASE + n as i32;
            }
            _ => return Err("call to something that is not a function"),
        }
        return Ok(());
    }
    let (lo, hi) = ld_imm64_pair(insns, i).ok_or("reference is neither call nor ld_imm64")?;
    match value {
        ExternValue::KsymBtf { btf_id, btf_fd } => {
            lo.set_src(PSEUDO_BTF_ID);
            lo.imm = btf_id as i32;
            hi.imm = btf_fd;
        }
        ExternValue::Kfunc { btf_id, btf_fd, .. } => {
            // `bpf_ksym_exists(kfunc)`: the address of a present kfunc, as a BTF id reference.
            lo.set_src(PSEUDO_BTF_ID);
            lo.imm = btf_id as i32;
            hi.imm = btf_fd;
        }
        ExternValue::Value(v) => {
            lo.set_src(0);
            lo.imm = v as u32 as i32;
            hi.imm = (v >> 32) as u32 as i32;
        }
        ExternValue::Missing => {
            lo.set_src(0);
            lo.imm = 0;
            hi.imm = 0;
        }
        ExternValue::MapValue { fd, offset } => {
            lo.set_src(PSEUDO_MAP_VALUE);
            lo.imm = fd;
            hi.imm = offset as i32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Relocation;

    struct Fixed;
    impl Resolver for Fixed {
        fn map_fd(&self, name: &str) -> Option<i32> {
            (name == "m").then_some(7)
        }
        fn extern_value(&self, name: &str) -> Option<ExternValue> {
            match name {
                "kf" => Some(ExternValue::Kfunc {
                    btf_id: 1234,
                    fd_index: 0,
                    btf_fd: 0,
                }),
                "gone" => Some(ExternValue::Missing),
                _ => None,
            }
        }
    }

    fn prog(insns: Vec<Insn>, relocations: Vec<Relocation>) -> ProgramSpec {
        ProgramSpec {
            name: "p".into(),
            instructions: insns,
            relocations,
            ..Default::default()
        }
    }

    fn ld() -> [Insn; 2] {
        [
            Insn {
                code: 0x18,
                regs: 1,
                off: 0,
                imm: 0,
            },
            Insn::default(),
        ]
    }

    #[test]
    fn map_value_and_fd() {
        let mut insns = ld().to_vec();
        insns.extend(ld());
        let p = prog(
            insns,
            vec![
                Relocation {
                    insn: 0,
                    target: RelocTarget::Map("m".into()),
                },
                Relocation {
                    insn: 2,
                    target: RelocTarget::MapValue {
                        map: "m".into(),
                        offset: 16,
                    },
                },
            ],
        );
        let out = relocate(&p, &Fixed).unwrap();
        assert_eq!(
            (out[0].src(), out[0].imm, out[0].dst()),
            (PSEUDO_MAP_FD, 7, 1)
        );
        assert_eq!(
            (out[2].src(), out[2].imm, out[3].imm),
            (PSEUDO_MAP_VALUE, 7, 16)
        );
    }

    #[test]
    fn kfunc_call_and_weak_missing() {
        let call = Insn {
            code: 0x85,
            regs: 0x10,
            off: 0,
            imm: -1,
        };
        let p = prog(
            vec![call, call, ld()[0], ld()[1]],
            vec![
                Relocation {
                    insn: 0,
                    target: RelocTarget::Extern("kf".into()),
                },
                Relocation {
                    insn: 1,
                    target: RelocTarget::Extern("gone".into()),
                },
                Relocation {
                    insn: 2,
                    target: RelocTarget::Extern("gone".into()),
                },
            ],
        );
        let out = relocate(&p, &Fixed).unwrap();
        assert_eq!((out[0].src(), out[0].imm), (PSEUDO_KFUNC_CALL, 1234));
        assert_eq!((out[1].src(), out[1].imm), (0, POISON_CALL_KFUNC_BASE + 1));
        assert_eq!((out[2].src(), out[2].imm, out[3].imm), (0, 0, 0));
    }

    #[test]
    fn errors_name_program_and_instruction() {
        let p = prog(
            vec![Insn::default()],
            vec![Relocation {
                insn: 0,
                target: RelocTarget::Map("m".into()),
            }],
        );
        let e = relocate(&p, &Fixed).unwrap_err().to_string();
        assert!(
            e.contains("\"p\"") && e.contains("instruction 0") && e.contains("ld_imm64"),
            "{e}"
        );
        let p = prog(
            ld().to_vec(),
            vec![Relocation {
                insn: 0,
                target: RelocTarget::Map("x".into()),
            }],
        );
        assert!(relocate(&p, &Fixed)
            .unwrap_err()
            .to_string()
            .contains("\"x\" was not created"));
    }
}
