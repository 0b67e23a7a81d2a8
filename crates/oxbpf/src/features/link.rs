//! `bpf_link` probes: `BPF_LINK_CREATE` with a real program but a target that cannot exist,
//! so nothing is ever attached. A kernel that knows the link kind gets as far as looking the
//! target up and fails with that lookup's errno; one that does not rejects the attach type
//! (or the whole command, before v5.7) with `EINVAL`.
//!
//! | kind          | program (expected attach type)   | target                       | "supported" errno |
//! |---------------|----------------------------------|------------------------------|-------------------|
//! | cgroup        | cgroup_skb (`cgroup_inet_ingress`) | cgroup fd -1               | `EBADF`           |
//! | xdp           | none: [`crate::link::xdp_link_supported`] (program fd -1; `EBADF` once the attach type is known, v5.9) | | `EBADF` |
//! | perf_event    | kprobe (`perf_event`)            | perf event fd -1             | `EBADF`           |
//! | kprobe_multi  | kprobe (`trace_kprobe_multi`)    | one address at an unmapped user pointer | `EFAULT` (copying the addresses) |
//! | tcx           | sched_cls (`tcx_ingress`)        | ifindex 0xffffffff           | `ENODEV`          |
//! | uprobe_multi  | kprobe (`trace_uprobe_multi`)    | path `/` (a directory), offset 0 | `EBADF` (not a regular file) |
//! | netkit        | sched_cls (`netkit_primary`)     | ifindex 0xffffffff           | `ENODEV`          |
//!
//! "Not supported": `EINVAL`, `E2BIG`, `EOPNOTSUPP`/`ENOTSUPP` (kprobe_multi without
//! `CONFIG_FPROBE` and uprobe_multi without `CONFIG_UPROBES` answer `EOPNOTSUPP`; netkit
//! without `CONFIG_NETKIT` answers `EINVAL`). Any other errno is inconclusive. The
//! program-based probes come after the program-type check: the generic "invalid program fd"
//! probe cannot tell link kinds apart on kernels since v5.10, which look the program up
//! before the attach type.

use super::probe::{self, Loaded, RET0};
use super::prog::probe_prog;
use super::{cache, Feature, FeatureError, LinkKind};
use crate::link::LinkError;
use crate::spec::{AttachType, ProgramType};
use crate::sys::{self, attr::LinkCreateAttr, ptr_to_u64};
use std::os::fd::AsRawFd;

/// Whether this kernel can create `bpf_link`s of `kind` (probed once per process).
pub fn have_link(kind: LinkKind) -> Result<bool, FeatureError> {
    let feature = Feature::Link(kind);
    cache::cached(feature, || match kind {
        LinkKind::Xdp => crate::link::xdp_link_supported().map_err(|e| match e {
            LinkError::Sys { source, .. } => FeatureError::Probe { feature, source },
            e => FeatureError::Inconclusive {
                feature,
                reason: e.to_string(),
            },
        }),
        _ => probe_link(kind, feature),
    })
}

fn probe_link(kind: LinkKind, feature: Feature) -> Result<bool, FeatureError> {
    let (prog_type, attach, want) = match kind {
        LinkKind::Cgroup => (
            ProgramType::CGROUP_SKB,
            AttachType::CGROUP_INET_INGRESS,
            libc::EBADF,
        ),
        LinkKind::PerfEvent => (ProgramType::KPROBE, AttachType::PERF_EVENT, libc::EBADF),
        LinkKind::KprobeMulti => (
            ProgramType::KPROBE,
            AttachType::TRACE_KPROBE_MULTI,
            libc::EFAULT,
        ),
        LinkKind::UprobeMulti => (
            ProgramType::KPROBE,
            AttachType::TRACE_UPROBE_MULTI,
            libc::EBADF,
        ),
        LinkKind::Tcx => (
            ProgramType::SCHED_CLS,
            AttachType::TCX_INGRESS,
            libc::ENODEV,
        ),
        LinkKind::Netkit => (
            ProgramType::SCHED_CLS,
            AttachType::NETKIT_PRIMARY,
            libc::ENODEV,
        ),
        LinkKind::Xdp => unreachable!("handled by have_link"),
    };
    let mut p = probe_prog(prog_type, &RET0);
    p.expected_attach_type = attach.0;
    let prog = match probe::load(&p, false) {
        Loaded::Fd(fd) => fd,
        Loaded::Failed { err, .. } if err.is_unsupported() => return Ok(false),
        Loaded::Failed { err, .. } => {
            return Err(FeatureError::Probe {
                feature,
                source: err,
            })
        }
    };
    let path = c"/";
    let offsets = [0u64];
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: u32::MAX,
        attach_type: attach.0,
        ..Default::default()
    };
    match kind {
        LinkKind::KprobeMulti => {
            // kprobe_multi: { u32 flags; u32 cnt; u64 syms; u64 addrs; u64 cookies }
            attr.extra[0] = 1 << 32; // cnt = 1
            attr.extra[2] = 8; // addrs: an address in the never-mapped first page
        }
        LinkKind::UprobeMulti => {
            // uprobe_multi: { u64 path; u64 offsets; u64 ref_ctr_offsets; u64 cookies;
            //                 u32 cnt; u32 flags; u32 pid }
            attr.extra[0] = ptr_to_u64(path.as_ptr());
            attr.extra[1] = ptr_to_u64(offsets.as_ptr());
            attr.extra[4] = 1; // cnt = 1
        }
        _ => {}
    }
    match sys::link_create(&attr) {
        Err(e) if e.errno == want => Ok(true),
        Err(e) if e.is_unsupported() => Ok(false),
        Err(source) => Err(FeatureError::Probe { feature, source }),
        // Nothing can be attached to these targets; if the kernel did, it knows the kind
        // (dropping the fd detaches it).
        Ok(_link) => Ok(true),
    }
}
