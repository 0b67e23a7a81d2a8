//! Resolving extern symbols: kfuncs and typed ksyms against kernel BTF (vmlinux, then module
//! BTF), typeless ksyms against `/proc/kallsyms`; `.kconfig` externs point into the `.kconfig`
//! map, whose value `kconfig.rs` fills.
//!
//! The rules (libbpf's, taken as facts): a kfunc's local prototype must be compatible with
//! the kernel's (same parameter count; each parameter and the return value of a compatible
//! kind after modifiers and typedefs: pointers with pointers, integers with integers...); an
//! incompatible or absent `__weak` kfunc counts as missing (`bpf_ksym_exists()` gives 0, calls
//! are poisoned), a strong one fails the load. Integer parameters of different sizes are
//! accepted (libbpf does not compare them) but reported as notes. A typed ksym's type must be
//! compatible with the kernel variable's, weak or not; a missing weak ksym is 0.

use super::kernel_btf::{KernelBtfs, ModuleBtf};
use super::reloc::ExternValue;
use super::LoadError;
use crate::btf::core::types_are_compat;
use crate::btf::{Btf, Kind, Type};
use crate::spec::{CollectionSpec, ExternKind, ExternSpec, ProgramSpec, RelocTarget};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Kernel symbols an extern can resolve to.
pub trait KernelSymbols {
    /// vmlinux BTF (kfunc and ksym ids are looked up here first).
    fn vmlinux(&self) -> Result<Arc<Btf>, String>;
    /// Module BTFs, searched when vmlinux lacks a symbol (read lazily).
    fn modules(&self) -> &[ModuleBtf];
    /// Address of a kernel symbol; `Err` when it cannot be known (offline, other kernel).
    fn kallsyms(&self, name: &str) -> Result<Option<u64>, String>;
}

/// How one extern resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A kfunc: its `FUNC` id in vmlinux, or in module `module`'s BTF.
    Kfunc {
        /// BTF id of the kernel's `FUNC`.
        btf_id: u32,
        /// Module holding it (`None`: vmlinux).
        module: Option<String>,
        /// Accepted differences (integer sizes).
        notes: Vec<String>,
    },
    /// A typed ksym: its `VAR` id.
    Var {
        /// BTF id of the kernel's `VAR`.
        btf_id: u32,
        /// Module holding it (`None`: vmlinux).
        module: Option<String>,
    },
    /// A typeless ksym's address.
    Address(u64),
    /// Weak and absent (or incompatible): 0, kfunc calls poisoned.
    WeakMissing(String),
    /// Strong and absent or incompatible: the load fails with this reason.
    Missing(String),
    /// A `.kconfig` extern (filled through the `.kconfig` map).
    Kconfig,
    /// Cannot be checked against this target (typeless ksym without the target's kallsyms).
    Unchecked(String),
}

impl Resolution {
    /// Short status word: `found`, `weak-missing`, `missing`, `kconfig`, `unchecked`.
    pub fn status(&self) -> &'static str {
        match self {
            Resolution::Kfunc { .. } | Resolution::Var { .. } | Resolution::Address(_) => "found",
            Resolution::WeakMissing(_) => "weak-missing",
            Resolution::Missing(_) => "missing",
            Resolution::Kconfig => "kconfig",
            Resolution::Unchecked(_) => "unchecked",
        }
    }
}

/// Names of the externs `programs` reference through relocations, sorted.
pub fn used_externs<'a>(programs: &[&'a ProgramSpec]) -> BTreeSet<&'a str> {
    programs
        .iter()
        .flat_map(|p| &p.relocations)
        .filter_map(|r| match &r.target {
            RelocTarget::Extern(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

/// Resolves one extern (no kernel object is created).
pub fn resolve_one(local: Option<&Btf>, ext: &ExternSpec, k: &dyn KernelSymbols) -> Resolution {
    match ext.kind {
        ExternKind::Kconfig => Resolution::Kconfig,
        ExternKind::Kfunc => resolve_btf(local, ext, Kind::Func, k),
        ExternKind::Ksym if is_typed(local, ext) => resolve_btf(local, ext, Kind::Var, k),
        ExternKind::Ksym => match k.kallsyms(&ext.name) {
            Ok(Some(addr)) => Resolution::Address(addr),
            Ok(None) if ext.weak => {
                Resolution::WeakMissing("not in /proc/kallsyms; resolves to 0".into())
            }
            Ok(None) => Resolution::Missing(format!(
                "typeless ksym not found in /proc/kallsyms; hint: declare it __weak if optional \
                 and test its address (`if (&{0})`) or use bpf_ksym_exists({0})",
                ext.name
            )),
            Err(why) => Resolution::Unchecked(why),
        },
    }
}

/// A ksym with a non-void type in the object's BTF.
fn is_typed(local: Option<&Btf>, ext: &ExternSpec) -> bool {
    let (Some(btf), Some(id)) = (local, ext.type_id) else {
        return false;
    };
    match btf.type_by_id(id) {
        Ok(Type::Var(v)) => btf.skip_mods(v.type_id).map(|t| t != 0).unwrap_or(false),
        _ => false,
    }
}

fn resolve_btf(
    local: Option<&Btf>,
    ext: &ExternSpec,
    kind: Kind,
    k: &dyn KernelSymbols,
) -> Resolution {
    let what = if kind == Kind::Func {
        "kfunc"
    } else {
        "typed ksym"
    };
    let vmlinux = match k.vmlinux() {
        Ok(b) => b,
        Err(e) => return Resolution::Missing(format!("{what} needs kernel BTF: {e}")),
    };
    let mut found = vmlinux
        .find_by_name_kind(&ext.name, kind)
        .map(|id| (vmlinux.clone(), id, None));
    if found.is_none() {
        found = k.modules().iter().find_map(|m| {
            let id = m.btf.find_by_name_kind(&ext.name, kind)?;
            (id >= m.btf.start_id()).then(|| (m.btf.clone(), id, Some(m.name.clone())))
        });
    }
    let Some((kbtf, id, module)) = found else {
        let reason = format!("{what} not found in the kernel's BTF (vmlinux or module BTF)");
        return if ext.weak {
            Resolution::WeakMissing(format!("{reason}; resolves to 0"))
        } else if kind == Kind::Func {
            Resolution::Missing(format!(
                "{reason}; hint: if the program can run without it, declare it __weak and guard \
                 its calls with `if (bpf_ksym_exists({}))`",
                ext.name
            ))
        } else {
            Resolution::Missing(format!("{reason}; hint: declare it __weak if optional"))
        };
    };
    let (Some(lbtf), Some(lid)) = (local, ext.type_id) else {
        return found_res(kind, id, module, Vec::new());
    };
    let check = if kind == Kind::Func {
        check_proto(lbtf, lid, &kbtf, id)
    } else {
        check_var(lbtf, lid, &kbtf, id)
    };
    match check {
        Ok(notes) => found_res(kind, id, module, notes),
        Err(why) if kind == Kind::Func && ext.weak => {
            Resolution::WeakMissing(format!("kernel's prototype differs ({why}); treated as missing"))
        }
        Err(why) => Resolution::Missing(format!(
            "{what} found in the kernel's BTF as [{id}] but {why}; hint: declare it as the kernel does (see `oxbpf btf dump`)"
        )),
    }
}

fn found_res(kind: Kind, btf_id: u32, module: Option<String>, notes: Vec<String>) -> Resolution {
    if kind == Kind::Func {
        Resolution::Kfunc {
            btf_id,
            module,
            notes,
        }
    } else {
        Resolution::Var { btf_id, module }
    }
}

/// Compares a local `FUNC` with the kernel's; `Ok(notes)` when compatible.
fn check_proto(local: &Btf, lfunc: u32, kern: &Btf, kfunc: u32) -> Result<Vec<String>, String> {
    let (Some((lpid, lp)), Some((kpid, kp))) = (func_proto(local, lfunc), func_proto(kern, kfunc))
    else {
        return Err("its BTF is not a FUNC with a FUNC_PROTO".into());
    };
    if lp.vlen() != kp.vlen() {
        return Err(format!(
            "takes {} parameter(s) while the object declares {}",
            kp.vlen(),
            lp.vlen()
        ));
    }
    let mut notes = Vec::new();
    let pairs = std::iter::once((lp.ret, kp.ret, "return value".to_string())).chain(
        lp.params()
            .zip(kp.params())
            .enumerate()
            .map(|(i, (a, b))| (a.type_id, b.type_id, format!("parameter {}", i + 1))),
    );
    for (l, t, label) in pairs {
        let ok = extern_compat(local, l, kern, t);
        let (ld, kd) = (describe(local, l), describe(kern, t));
        if !ok {
            return Err(format!(
                "{label} is `{kd}` in the kernel, `{ld}` in the object"
            ));
        }
        if let (Some(ls), Some(ks)) = (int_size(local, l), int_size(kern, t)) {
            if ls != ks {
                notes.push(format!(
                    "{label}: `{ld}` ({ls} bytes) in the object, `{kd}` ({ks} bytes) in the kernel"
                ));
            }
        }
    }
    if lp.is_variadic() != kp.is_variadic() {
        return Err(format!(
            "prototypes [{lpid}] and [{kpid}] differ in variadic-ness"
        ));
    }
    Ok(notes)
}

fn func_proto(b: &Btf, id: u32) -> Option<(u32, crate::btf::FuncProto<'_>)> {
    match b.type_by_id(id) {
        Ok(Type::Func(f)) => match b.type_by_id(f.proto) {
            Ok(Type::FuncProto(p)) => Some((f.proto, p)),
            _ => None,
        },
        _ => None,
    }
}

fn check_var(local: &Btf, lvar: u32, kern: &Btf, kvar: u32) -> Result<Vec<String>, String> {
    let ty = |b: &Btf, id: u32| match b.type_by_id(id) {
        Ok(Type::Var(v)) => Some(v.type_id),
        _ => None,
    };
    let (Some(l), Some(t)) = (ty(local, lvar), ty(kern, kvar)) else {
        return Err("its BTF is not a VAR".into());
    };
    if extern_compat(local, l, kern, t) {
        Ok(Vec::new())
    } else {
        Err(format!(
            "its type is `{}` in the kernel, `{}` in the object",
            describe(kern, t),
            describe(local, l)
        ))
    }
}

/// CO-RE type compatibility (libbpf's rules) after modifiers and typedefs, with one
/// addition: behind a pointer, a forward declaration (`struct task_struct;`, the usual way
/// to declare a kfunc without vmlinux.h) is compatible with a struct or union of the same
/// flavour, as it names the same object.
fn extern_compat(local: &Btf, l: u32, kern: &Btf, t: u32) -> bool {
    let (Ok(l), Ok(t)) = (
        local.skip_mods_and_typedefs(l),
        kern.skip_mods_and_typedefs(t),
    ) else {
        return false;
    };
    if let (Ok(Type::Ptr(lp)), Ok(Type::Ptr(tp))) = (local.type_by_id(l), kern.type_by_id(t)) {
        let (Ok(lt), Ok(tt)) = (
            local.skip_mods_and_typedefs(lp.type_id),
            kern.skip_mods_and_typedefs(tp.type_id),
        ) else {
            return false;
        };
        let union_ness = |b: &Btf, id: u32| match b.type_by_id(id) {
            Ok(Type::Fwd(f)) => Some((f.is_union, true)),
            Ok(Type::Struct(_)) => Some((false, false)),
            Ok(Type::Union(_)) => Some((true, false)),
            _ => None,
        };
        if let (Some((lu, lf)), Some((tu, tf))) = (union_ness(local, lt), union_ness(kern, tt)) {
            if lf || tf {
                return lu == tu;
            }
        }
        return types_are_compat(local, l, kern, t).unwrap_or(false);
    }
    types_are_compat(local, l, kern, t).unwrap_or(false)
}

fn int_size(btf: &Btf, id: u32) -> Option<u32> {
    let id = btf.skip_mods_and_typedefs(id).ok()?;
    match btf.type_by_id(id).ok()? {
        Type::Int(i) => Some(i.size),
        _ => None,
    }
}

/// A short C-like spelling of a type for messages.
fn describe(btf: &Btf, id: u32) -> String {
    crate::btf::dump::type_name(btf, id)
}

/// Symbols of the running kernel for one load (kallsyms read once, when first needed).
pub struct RunningKernel<'a> {
    /// The load's kernel BTF.
    pub btfs: &'a KernelBtfs,
    kallsyms: OnceCell<Result<HashMap<String, u64>, String>>,
}

impl<'a> RunningKernel<'a> {
    /// Symbols backed by `btfs`.
    pub fn new(btfs: &'a KernelBtfs) -> Self {
        RunningKernel {
            btfs,
            kallsyms: OnceCell::new(),
        }
    }
}

impl KernelSymbols for RunningKernel<'_> {
    fn vmlinux(&self) -> Result<Arc<Btf>, String> {
        self.btfs.running()
    }
    fn modules(&self) -> &[ModuleBtf] {
        self.btfs.modules()
    }
    fn kallsyms(&self, name: &str) -> Result<Option<u64>, String> {
        let table = self.kallsyms.get_or_init(read_kallsyms);
        match table {
            Ok(t) => Ok(t.get(name).copied()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// `/proc/kallsyms` as name → address (zero addresses, shown to unprivileged readers, dropped).
/// An error when every address is hidden: then no symbol's address can be known.
pub fn read_kallsyms() -> Result<HashMap<String, u64>, String> {
    let text = std::fs::read_to_string("/proc/kallsyms")
        .map_err(|e| format!("reading /proc/kallsyms: {e}"))?;
    let table = parse_kallsyms(&text);
    if table.is_empty() && text.lines().next().is_some() {
        return Err(hidden_addresses());
    }
    Ok(table)
}

/// Why `/proc/kallsyms` shows only zero addresses (`kallsyms_show_value`: CAP_SYSLOG, or
/// `kptr_restrict=0` with `perf_event_paranoid <= 1`).
fn hidden_addresses() -> String {
    const CAP_SYSLOG: u32 = 34;
    let sysctl = |k: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{k}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let lacks = crate::sys::caps::CapSet::effective().is_some_and(|c| c.0 & (1 << CAP_SYSLOG) == 0);
    format!(
        "/proc/kallsyms shows every address as 0 to this process: kernel addresses need \
         CAP_SYSLOG{} (kernel.kptr_restrict={}, kernel.perf_event_paranoid={}; with \
         kptr_restrict=0 a paranoid level <= 1 also shows them)",
        if lacks {
            ", which this process lacks"
        } else {
            ""
        },
        sysctl("kptr_restrict"),
        sysctl("perf_event_paranoid")
    )
}

/// Parses the text of `/proc/kallsyms` (first address wins for duplicate names).
pub fn parse_kallsyms(text: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(addr), Some(_kind), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let Ok(a) = u64::from_str_radix(addr, 16) {
            if a != 0 {
                out.entry(name.to_string()).or_insert(a);
            }
        }
    }
    out
}

/// Resolves every extern the given programs reference to what relocations write.
pub(super) fn resolve(
    spec: &CollectionSpec,
    programs: &[&ProgramSpec],
    k: &RunningKernel,
    kconfig_fd: Option<i32>,
) -> Result<BTreeMap<String, ExternValue>, LoadError> {
    let mut out = BTreeMap::new();
    for name in used_externs(programs) {
        let err = |reason: String| LoadError::Extern {
            name: name.into(),
            reason,
        };
        let ext = spec
            .externs
            .get(name)
            .ok_or_else(|| err("referenced by a relocation but not declared".into()))?;
        let value = match resolve_one(spec.btf.as_deref(), ext, k) {
            Resolution::Kfunc {
                btf_id,
                module,
                notes,
            } => {
                for n in notes {
                    tracing::warn!("kfunc {name}: {n}");
                }
                let (fd_index, btf_fd) = match module {
                    None => (0, 0),
                    Some(m) => k
                        .btfs
                        .module_fd(&m)
                        .map_err(|e| err(format!("module {m}: {e}")))?,
                };
                ExternValue::Kfunc {
                    btf_id,
                    fd_index,
                    btf_fd,
                }
            }
            Resolution::Var { btf_id, module } => {
                let btf_fd = match module {
                    None => 0,
                    Some(m) => {
                        k.btfs
                            .module_fd(&m)
                            .map_err(|e| err(format!("module {m}: {e}")))?
                            .1
                    }
                };
                ExternValue::KsymBtf { btf_id, btf_fd }
            }
            Resolution::Address(a) => ExternValue::Value(a),
            Resolution::WeakMissing(_) if ext.kind == ExternKind::Kfunc => ExternValue::Missing,
            Resolution::WeakMissing(_) => ExternValue::Value(0),
            Resolution::Missing(why) | Resolution::Unchecked(why) => return Err(err(why)),
            Resolution::Kconfig => ExternValue::MapValue {
                fd: kconfig_fd.ok_or_else(|| err("no .kconfig map was created".into()))?,
                offset: ext.offset,
            },
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kallsyms_parsing() {
        let t = "ffffffff81000000 T _stext\n0000000000000000 T hidden\nffffffff81000010 t dup\nffffffff81000020 t dup\nbad line\n";
        let m = parse_kallsyms(t);
        assert_eq!(m.get("_stext"), Some(&0xffffffff81000000));
        assert_eq!(m.get("hidden"), None);
        assert_eq!(m.get("dup"), Some(&0xffffffff81000010));
        assert_eq!(m.len(), 2);
    }
}
