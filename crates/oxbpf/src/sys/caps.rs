//! The process's effective capabilities, and the ones `bpf(2)` checks for a command and
//! program/map type (facts from the kernel's `kernel/bpf/syscall.c`, v6.18).

use super::Cmd;
use crate::spec::{MapType, ProgramType};

/// A capability that decides what `bpf(2)` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    /// `CAP_BPF` (39): maps, BTF, most program types.
    Bpf,
    /// `CAP_PERFMON` (38): tracing program types.
    Perfmon,
    /// `CAP_NET_ADMIN` (12): networking program types, dev/sock/xsk maps, attaching them.
    NetAdmin,
    /// `CAP_SYS_ADMIN` (21): object ids, stats; stands in for the three above.
    SysAdmin,
    /// `CAP_SYS_RESOURCE` (24): raising `RLIMIT_MEMLOCK` on kernels that charge it.
    SysResource,
}

impl Cap {
    /// Every capability this module knows.
    pub const ALL: [Cap; 5] = [
        Cap::Bpf,
        Cap::Perfmon,
        Cap::NetAdmin,
        Cap::SysAdmin,
        Cap::SysResource,
    ];

    /// The capability number (`linux/capability.h`).
    pub fn bit(self) -> u32 {
        match self {
            Cap::Bpf => 39,
            Cap::Perfmon => 38,
            Cap::NetAdmin => 12,
            Cap::SysAdmin => 21,
            Cap::SysResource => 24,
        }
    }

    /// The `CAP_*` name.
    pub fn name(self) -> &'static str {
        match self {
            Cap::Bpf => "CAP_BPF",
            Cap::Perfmon => "CAP_PERFMON",
            Cap::NetAdmin => "CAP_NET_ADMIN",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::SysResource => "CAP_SYS_RESOURCE",
        }
    }
}

impl std::fmt::Display for Cap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities (bit n = capability n), as in `/proc/self/status` `CapEff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    /// The calling thread's effective set (`capget`), `None` if the call fails.
    pub fn effective() -> Option<CapSet> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Default, Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: header and two data structs, as capget(2) version 3 expects.
        let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
        (r == 0).then(|| CapSet(u64::from(data[0].effective) | u64::from(data[1].effective) << 32))
    }

    /// True if capability `c` itself is in the set.
    pub fn holds(self, c: Cap) -> bool {
        self.0 & (1u64 << c.bit()) != 0
    }

    /// True if the kernel's check for `c` passes: `CAP_SYS_ADMIN` also satisfies `CAP_BPF`,
    /// `CAP_PERFMON` and `CAP_NET_ADMIN` (`bpf_capable`, `perfmon_capable`, `bpf_net_capable`).
    pub fn satisfies(self, c: Cap) -> bool {
        self.holds(c) || (c != Cap::SysResource && self.holds(Cap::SysAdmin))
    }

    /// The capabilities of `caps` whose check fails for this set.
    pub fn lacking(self, caps: &[Cap]) -> Vec<Cap> {
        caps.iter()
            .copied()
            .filter(|&c| !self.satisfies(c))
            .collect()
    }
}

/// Map types any user may create (no capability check in `map_create`).
const UNPRIV_MAPS: [MapType; 13] = [
    MapType::ARRAY,
    MapType::PERCPU_ARRAY,
    MapType::PROG_ARRAY,
    MapType::PERF_EVENT_ARRAY,
    MapType::CGROUP_ARRAY,
    MapType::ARRAY_OF_MAPS,
    MapType::HASH,
    MapType::PERCPU_HASH,
    MapType::HASH_OF_MAPS,
    MapType::RINGBUF,
    MapType::USER_RINGBUF,
    MapType::CGROUP_STORAGE,
    MapType::PERCPU_CGROUP_STORAGE,
];

/// Map types that need `CAP_NET_ADMIN`.
const NET_MAPS: [MapType; 5] = [
    MapType::SOCKMAP,
    MapType::SOCKHASH,
    MapType::DEVMAP,
    MapType::DEVMAP_HASH,
    MapType::XSKMAP,
];

/// Program types that need `CAP_NET_ADMIN` (`is_net_admin_prog_type`).
fn net_prog(t: ProgramType) -> bool {
    use ProgramType as P;
    matches!(
        t,
        P::SCHED_CLS
            | P::SCHED_ACT
            | P::XDP
            | P::LWT_IN
            | P::LWT_OUT
            | P::LWT_XMIT
            | P::LWT_SEG6LOCAL
            | P::SK_SKB
            | P::SK_MSG
            | P::FLOW_DISSECTOR
            | P::CGROUP_DEVICE
            | P::CGROUP_SOCK
            | P::CGROUP_SOCK_ADDR
            | P::CGROUP_SOCKOPT
            | P::CGROUP_SYSCTL
            | P::SOCK_OPS
            | P::EXT
            | P::NETFILTER
    )
}

/// Program types that need `CAP_PERFMON` (`is_perfmon_prog_type`).
fn perfmon_prog(t: ProgramType) -> bool {
    use ProgramType as P;
    matches!(
        t,
        P::KPROBE
            | P::TRACEPOINT
            | P::PERF_EVENT
            | P::RAW_TRACEPOINT
            | P::RAW_TRACEPOINT_WRITABLE
            | P::TRACING
            | P::LSM
            | P::STRUCT_OPS
            | P::EXT
    )
}

/// The capabilities the kernel checks for `cmd` on object type `subject` (the map type of
/// `BPF_MAP_CREATE`, the program type of `BPF_PROG_LOAD`, ignored otherwise), with
/// `kernel.unprivileged_bpf_disabled` set or not. Empty: no capability check (commands on
/// an fd the caller already holds, pinned-object access, which file permissions decide).
pub fn required(cmd: Cmd, subject: u32, unpriv_disabled: bool) -> Vec<Cap> {
    let mut caps = Vec::new();
    match cmd {
        Cmd::MapCreate => {
            let t = MapType(subject);
            if unpriv_disabled || !UNPRIV_MAPS.contains(&t) {
                caps.push(Cap::Bpf);
            }
            if NET_MAPS.contains(&t) {
                caps.retain(|&c| c != Cap::Bpf || unpriv_disabled);
                caps.push(Cap::NetAdmin);
            }
        }
        Cmd::ProgLoad => {
            let t = ProgramType(subject);
            let unpriv = matches!(t, ProgramType::SOCKET_FILTER | ProgramType::CGROUP_SKB);
            if unpriv_disabled || !unpriv {
                caps.push(Cap::Bpf);
            }
            if net_prog(t) {
                caps.push(Cap::NetAdmin);
            }
            if perfmon_prog(t) {
                caps.push(Cap::Perfmon);
            }
        }
        Cmd::BtfLoad => caps.push(Cap::Bpf),
        Cmd::ProgGetNextId
        | Cmd::MapGetNextId
        | Cmd::BtfGetNextId
        | Cmd::LinkGetNextId
        | Cmd::ProgGetFdById
        | Cmd::MapGetFdById
        | Cmd::BtfGetFdById
        | Cmd::LinkGetFdById
        | Cmd::EnableStats => caps.push(Cap::SysAdmin),
        Cmd::ProgQuery | Cmd::ProgAttach | Cmd::ProgDetach => caps.push(Cap::NetAdmin),
        // Since v6.5 the other commands check no capability (holding the fd is the check),
        // also under kernel.unprivileged_bpf_disabled.
        _ => {}
    }
    caps
}

/// The names of `caps` joined with " + " ("CAP_BPF + CAP_NET_ADMIN").
pub fn names(caps: &[Cap]) -> String {
    caps.iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_kernel_checks() {
        let xdp = required(Cmd::ProgLoad, ProgramType::XDP.0, false);
        assert_eq!(xdp, [Cap::Bpf, Cap::NetAdmin]);
        let tp = required(Cmd::ProgLoad, ProgramType::TRACEPOINT.0, false);
        assert_eq!(tp, [Cap::Bpf, Cap::Perfmon]);
        assert!(required(Cmd::ProgLoad, ProgramType::SOCKET_FILTER.0, false).is_empty());
        assert_eq!(
            required(Cmd::ProgLoad, ProgramType::SOCKET_FILTER.0, true),
            [Cap::Bpf]
        );
        assert!(required(Cmd::MapCreate, MapType::ARRAY.0, false).is_empty());
        assert_eq!(
            required(Cmd::MapCreate, MapType::ARENA.0, false),
            [Cap::Bpf]
        );
        assert_eq!(
            required(Cmd::MapCreate, MapType::DEVMAP.0, false),
            [Cap::NetAdmin]
        );
        assert_eq!(
            required(Cmd::MapCreate, MapType::XSKMAP.0, true),
            [Cap::Bpf, Cap::NetAdmin]
        );
    }

    #[test]
    fn sys_admin_stands_in_except_for_sys_resource() {
        let admin = CapSet(1 << Cap::SysAdmin.bit());
        assert!(admin.satisfies(Cap::Bpf) && admin.satisfies(Cap::NetAdmin));
        assert_eq!(admin.lacking(&Cap::ALL), [Cap::SysResource]);
        assert_eq!(CapSet(0).lacking(&[Cap::Bpf]), [Cap::Bpf]);
        let own = CapSet::effective().expect("capget");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(own.0, eff);
    }
}
