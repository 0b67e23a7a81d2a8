//! Resolving extern symbols (kfuncs, ksyms) against the running kernel.

use super::reloc::ExternValue;
use super::LoadError;
use crate::btf::{Btf, Kind};
use crate::spec::{CollectionSpec, ExternKind, ProgramSpec, RelocTarget};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Resolves every extern the given programs reference.
pub fn resolve(
    spec: &CollectionSpec,
    programs: &[&ProgramSpec],
) -> Result<BTreeMap<String, ExternValue>, LoadError> {
    let used: BTreeSet<&str> = programs
        .iter()
        .flat_map(|p| &p.relocations)
        .filter_map(|r| match &r.target {
            RelocTarget::Extern(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let mut out = BTreeMap::new();
    let mut vmlinux: Option<Arc<Btf>> = None;
    for name in used {
        let ext = spec.externs.get(name).ok_or_else(|| LoadError::Extern {
            name: name.into(),
            reason: "referenced by a relocation but not declared".into(),
        })?;
        let err = |reason: String| LoadError::Extern {
            name: name.into(),
            reason,
        };
        let value = match ext.kind {
            ExternKind::Kfunc | ExternKind::Ksym
                if ext.kind == ExternKind::Kfunc || ext.type_id.is_some() =>
            {
                if vmlinux.is_none() {
                    vmlinux = Some(crate::btf::kernel::vmlinux().map_err(|e| err(e.to_string()))?);
                }
                let btf = vmlinux.as_ref().expect("set above");
                let kind = if ext.kind == ExternKind::Kfunc {
                    Kind::Func
                } else {
                    Kind::Var
                };
                match btf.find_by_name_kind(name, kind) {
                    Some(id) if ext.kind == ExternKind::Kfunc => ExternValue::Kfunc {
                        btf_id: id,
                        fd_index: 0,
                        btf_fd: 0,
                    },
                    Some(id) => ExternValue::KsymBtf { btf_id: id, btf_fd: 0 },
                    None if ext.weak && ext.kind == ExternKind::Kfunc => ExternValue::Missing,
                    None if ext.weak => ExternValue::Value(0),
                    None => {
                        return Err(err(format!(
                            "not found in the kernel's BTF; if the program can run without it, declare it \
                             __weak and guard its use with bpf_ksym_exists({name})"
                        )))
                    }
                }
            }
            ExternKind::Ksym => match kallsyms_address(name) {
                Some(addr) => ExternValue::Value(addr),
                None if ext.weak => ExternValue::Value(0),
                None => return Err(err("not found in /proc/kallsyms".into())),
            },
            ExternKind::Kfunc | ExternKind::Kconfig => {
                return Err(err(
                    "kconfig externs are read through the .kconfig map, not relocated".into(),
                ))
            }
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// Address of `name` in `/proc/kallsyms` (0 addresses, shown when unprivileged, count as absent).
fn kallsyms_address(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    text.lines()
        .find_map(|line| {
            let mut f = line.split_whitespace();
            let addr = f.next()?;
            let _kind = f.next()?;
            (f.next()? == name)
                .then(|| u64::from_str_radix(addr, 16).ok())
                .flatten()
        })
        .filter(|&a| a != 0)
}
