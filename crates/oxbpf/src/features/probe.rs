//! The probes themselves: a minimal program load or map create per question.
//!
//! The attributes follow what the kernel needs to accept each type at all (the facts libbpf's
//! and bpftool's probes rely on): e.g. `cgroup_sock_addr` needs an expected attach type,
//! `syscall` programs must be sleepable, and a tracing program is known to the kernel when it
//! is refused for its (deliberately bogus) attach BTF id rather than for its type.

use super::FeatureError;
use crate::asm::Insn;
use crate::spec::{AttachType, MapType, ProgramType};
use crate::sys::{self, attr::MapCreateAttr, attr::ProgLoadAttr, ptr_to_u64, SysError};
use std::os::fd::{AsRawFd, OwnedFd};

/// `BPF_F_SLEEPABLE`.
const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_NO_PREALLOC`.
const BPF_F_NO_PREALLOC: u32 = 1;
/// `BPF_F_MMAPABLE`.
const BPF_F_MMAPABLE: u32 = 1 << 10;

/// How a program type is probed: extra attributes and the refusal that still proves support.
struct ProgProbe {
    expected_attach_type: u32,
    attach_btf_id: u32,
    flags: u32,
    kern_version: u32,
    /// A refusal with this errno and this log text means "the kernel knows the type".
    known_refusal: Option<(i32, &'static str)>,
}

fn prog_probe(t: ProgramType) -> ProgProbe {
    let mut p = ProgProbe {
        expected_attach_type: 0,
        attach_btf_id: 0,
        flags: 0,
        kern_version: 0,
        known_refusal: None,
    };
    match t {
        ProgramType::CGROUP_SOCK_ADDR => {
            p.expected_attach_type = AttachType::CGROUP_INET4_CONNECT.0
        }
        ProgramType::CGROUP_SOCKOPT => p.expected_attach_type = AttachType::CGROUP_GETSOCKOPT.0,
        ProgramType::SK_LOOKUP => p.expected_attach_type = AttachType::SK_LOOKUP.0,
        ProgramType::LIRC_MODE2 => p.expected_attach_type = AttachType::LIRC_MODE2.0,
        ProgramType::NETFILTER => p.expected_attach_type = AttachType::NETFILTER.0,
        ProgramType::KPROBE => p.kern_version = super::kernel_version().code(),
        ProgramType::SYSCALL => p.flags = BPF_F_SLEEPABLE,
        ProgramType::TRACING | ProgramType::LSM => {
            p.expected_attach_type = if t == ProgramType::TRACING {
                AttachType::TRACE_FENTRY.0
            } else {
                AttachType::MODIFY_RETURN.0
            };
            p.attach_btf_id = 1;
            p.known_refusal = Some((libc::EINVAL, "attach_btf_id 1 is not a function"));
        }
        ProgramType::EXT => {
            p.attach_btf_id = 1;
            p.known_refusal = Some((libc::EINVAL, "Cannot replace kernel functions"));
        }
        ProgramType::STRUCT_OPS => p.known_refusal = Some((sys::ENOTSUPP, "")),
        _ => {}
    }
    p
}

/// Loads `insns` as a program of type `t` with the probe attributes; returns the fd or the
/// error with (the start of) the verifier log. The first try has no log, so a large program is
/// not failed by a full log buffer.
fn load(t: ProgramType, insns: &[Insn]) -> (Result<OwnedFd, SysError>, String) {
    let p = prog_probe(t);
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    let mut attr = ProgLoadAttr {
        prog_type: t.0,
        insn_cnt: insns.len() as u32,
        insns: ptr_to_u64(insns.as_ptr()),
        license: ptr_to_u64(license.as_ptr()),
        kern_version: p.kern_version,
        prog_flags: p.flags,
        expected_attach_type: p.expected_attach_type,
        attach_btf_id: p.attach_btf_id,
        ..Default::default()
    };
    if let Ok(fd) = sys::prog_load(&mut attr) {
        return (Ok(fd), String::new());
    }
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = ptr_to_u64(log.as_mut_ptr());
    let res = sys::prog_load(&mut attr);
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    (res, String::from_utf8_lossy(&log[..end]).into_owned())
}

/// Errors that say nothing about the kernel's features (privileges, memory).
fn inconclusive(what: &str, e: &SysError) -> Option<FeatureError> {
    matches!(
        e.errno,
        libc::EPERM | libc::EACCES | libc::ENOMEM | libc::EFAULT
    )
    .then(|| FeatureError::Probe {
        feature: what.to_string(),
        source: e.clone(),
    })
}

/// Does the kernel know program type `t`?
pub fn program_type(t: ProgramType) -> Result<bool, FeatureError> {
    let insns = [Insn::mov64_imm(0, 0), Insn::exit()];
    let (res, log) = load(t, &insns);
    let known = prog_probe(t).known_refusal;
    match (res, known) {
        (Ok(_), None) => Ok(true),
        (Ok(_), Some(_)) => Ok(false),
        (Err(e), Some((errno, msg))) => Ok(e.errno == errno && log.contains(msg)),
        // A tracing-like type refused for lack of privilege cannot be used here either (e.g.
        // lockdown): that is an answer, not an inconclusive probe, for the others it is not.
        (Err(e), None) => match inconclusive(&format!("program type {t}"), &e) {
            Some(err) => Err(err),
            None => Ok(false),
        },
    }
}

/// False for program types whose probe load is refused before the verifier looks at the
/// instructions (tracing, lsm, ext, struct_ops need a real attach target): helper use cannot be
/// probed for them.
pub fn helpers_probeable(t: ProgramType) -> bool {
    prog_probe(t).known_refusal.is_none()
}

/// Can programs of type `t` call helper `id`? (`t` must be supported.)
pub fn helper(t: ProgramType, id: i32) -> Result<bool, FeatureError> {
    let insns = [Insn::call_helper(id), Insn::exit()];
    let (res, log) = load(t, &insns);
    if let Err(e) = &res {
        if log.is_empty() {
            if let Some(err) = inconclusive(&format!("helper {id} for {t}"), e) {
                return Err(err);
            }
        }
    }
    Ok(!(res.is_err() && refusal_line(&log).is_some()))
}

/// The verifier's line refusing a helper: unknown to the kernel ("invalid func unknown#N"),
/// known but not for this type ("unknown func bpf_x#N", older kernels), or "program of this
/// type cannot use helper bpf_x#N" (newer kernels).
fn refusal_line(log: &str) -> Option<&str> {
    log.lines().find(|l| {
        l.contains("invalid func ")
            || l.contains("unknown func ")
            || l.contains("cannot use helper")
    })
}

/// Why programs of type `t` cannot call helper `id`: the verifier's refusal, or `None` if they can.
pub fn helper_refusal(t: ProgramType, id: i32) -> Option<String> {
    let insns = [Insn::call_helper(id), Insn::exit()];
    match load(t, &insns) {
        (Err(_), log) => refusal_line(&log).map(str::to_string),
        (Ok(_), _) => None,
    }
}

/// Does the kernel know map type `t`?
pub fn map_type(t: MapType) -> Result<bool, FeatureError> {
    let mut a = MapCreateAttr {
        map_type: t.0,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let mut expect_refusal = None;
    let mut _inner = None;
    let mut _btf = None;
    match t {
        MapType::STACK_TRACE => a.value_size = 8,
        MapType::LPM_TRIE => {
            (a.key_size, a.value_size, a.map_flags) = (8, 8, BPF_F_NO_PREALLOC);
        }
        MapType::CGROUP_STORAGE | MapType::PERCPU_CGROUP_STORAGE => {
            (a.key_size, a.max_entries) = (16, 0)
        }
        MapType::QUEUE | MapType::STACK | MapType::BLOOM_FILTER => a.key_size = 0,
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => {
            let fd = super::blob::local_storage_btf().map_err(|e| FeatureError::Probe {
                feature: format!("map type {t} (BTF for the probe)"),
                source: e,
            })?;
            (a.btf_fd, a.btf_key_type_id, a.btf_value_type_id) = (fd.as_raw_fd() as u32, 1, 3);
            (a.value_size, a.max_entries, a.map_flags) = (8, 0, BPF_F_NO_PREALLOC);
            _btf = Some(fd);
        }
        MapType::RINGBUF | MapType::USER_RINGBUF => {
            (a.key_size, a.value_size, a.max_entries) = (0, 0, page_size());
        }
        MapType::ARENA => {
            (a.key_size, a.value_size, a.max_entries, a.map_flags) = (0, 0, 1, BPF_F_MMAPABLE);
        }
        MapType::STRUCT_OPS => {
            a.btf_vmlinux_value_type_id = 1;
            expect_refusal = Some(sys::ENOTSUPP);
        }
        MapType::HASH_OF_MAPS | MapType::ARRAY_OF_MAPS => {
            let inner = sys::map_create(&MapCreateAttr {
                map_type: MapType::HASH.0,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                ..Default::default()
            })
            .map_err(|e| FeatureError::Probe {
                feature: format!("map type {t} (inner map)"),
                source: e,
            })?;
            a.inner_map_fd = inner.as_raw_fd() as u32;
            _inner = Some(inner);
        }
        _ => {}
    }
    match (sys::map_create(&a), expect_refusal) {
        (Ok(_), None) => Ok(true),
        (Ok(_), Some(_)) => Ok(false),
        (Err(e), Some(errno)) => Ok(e.errno == errno),
        (Err(e), None) => match inconclusive(&format!("map type {t}"), &e) {
            Some(err) => Err(err),
            None => Ok(false),
        },
    }
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as u32
}

/// Does the verifier accept `insns` as an XDP program (ISA and verifier-capability probes)?
pub fn xdp_program_loads(what: &str, insns: &[Insn]) -> Result<bool, FeatureError> {
    let (res, log) = load(ProgramType::XDP, insns);
    match res {
        Ok(_) => Ok(true),
        Err(e) if log.is_empty() => match inconclusive(what, &e) {
            Some(err) => Err(err),
            None => Ok(false),
        },
        Err(_) => Ok(false),
    }
}
