//! Stage three for programs whose section names their hook: `tracepoint/cat/name`,
//! `raw_tracepoint/name`, `kprobe/func[+off]`, `kretprobe/func`, and the BTF-typed ones
//! (`tp_btf/`, `fentry/`, `fexit/`, `fmod_ret/`, `lsm/`), as libbpf's skeleton `attach` does.
//! Programs that need a target only the caller knows (XDP and TC need an interface,
//! cgroup programs a cgroup, uprobes a binary) are left to the [`crate::link`] functions.

use super::SkelError;
use crate::elf::sections::{classify, AttachKind};
use crate::link::{
    attach_btf_tracing, attach_kprobe, attach_raw_tracepoint, attach_tracepoint, Link, LinkError,
    Mechanism, PerfOptions,
};
use crate::prog::Program;
use crate::spec::ProgramSpec;
use std::os::fd::AsFd;

/// Attaches `prog` to the hook its section names; `Ok(None)` when the section names none.
pub fn auto_attach(prog: &Program, spec: &ProgramSpec) -> Result<Option<Link>, LinkError> {
    let Some(class) = classify(&spec.section) else {
        return Ok(None);
    };
    let fd = prog.fd();
    let to = spec.attach_to.as_deref().filter(|t| !t.is_empty());
    let link = match (class.def.attach, to) {
        (AttachKind::Tracepoint, Some(t)) => match t.split_once('/') {
            Some((cat, name)) => attach_tracepoint(fd.as_fd(), cat, name, PerfOptions::default())?,
            None => return Ok(None),
        },
        (AttachKind::RawTracepoint, Some(t)) => attach_raw_tracepoint(fd.as_fd(), t)?,
        (kind @ (AttachKind::Kprobe | AttachKind::Kretprobe), Some(t)) => {
            let (func, off) = split_offset(t);
            let ret = kind == AttachKind::Kretprobe;
            attach_kprobe(fd.as_fd(), func, off, ret, PerfOptions::default())?
        }
        (AttachKind::Tracing | AttachKind::Lsm, Some(_)) => match spec.expected_attach_type {
            Some(t) => attach_btf_tracing(fd.as_fd(), t, 0, Mechanism::Auto)?,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(link))
}

/// `func+0x10` → (`func`, 16); an offset that does not parse is left in the name (the
/// kernel then reports the unknown symbol).
fn split_offset(target: &str) -> (&str, u64) {
    let Some((func, off)) = target.rsplit_once('+') else {
        return (target, 0);
    };
    let parsed = match off.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => off.parse(),
    };
    match parsed {
        Ok(n) => (func, n),
        Err(_) => (target, 0),
    }
}

/// Attaches every loaded program of `spec` whose section names its hook, in name order.
pub fn attach_all(
    coll: &crate::collection::Collection,
    spec: &crate::spec::CollectionSpec,
) -> Result<Vec<(String, Link)>, SkelError> {
    let mut links = Vec::new();
    for (name, prog) in coll.programs() {
        let Some(p) = spec.programs.get(name) else {
            continue;
        };
        let link = auto_attach(prog, p).map_err(|source| SkelError::Attach {
            program: name.clone(),
            source,
        })?;
        if let Some(l) = link {
            links.push((name.clone(), l));
        }
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::split_offset;

    #[test]
    fn offsets() {
        assert_eq!(split_offset("do_sys_open"), ("do_sys_open", 0));
        assert_eq!(split_offset("f+0x10"), ("f", 16));
        assert_eq!(split_offset("f+8"), ("f", 8));
        assert_eq!(split_offset("f+zz"), ("f+zz", 0));
    }
}
