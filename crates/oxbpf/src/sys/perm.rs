//! Why a `bpf(2)` call was refused (`EPERM`/`EACCES`): a missing capability, a user namespace
//! without a BPF token, `kernel.unprivileged_bpf_disabled`, or a policy (lockdown, LSM,
//! seccomp) that refuses even a fully privileged caller.

use super::caps::{self, Cap, CapSet};
use super::Cmd;
use crate::spec::{MapType, ProgramType};

/// `kernel.unprivileged_bpf_disabled` (0 = allowed, 1/2 = disabled), `None` if unreadable.
pub fn unprivileged_bpf_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// True if this process runs in a user namespace other than the initial one, where its
/// capabilities do not count for `bpf(2)` (only a BPF token makes them count).
pub fn in_user_namespace() -> bool {
    let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") else {
        return false;
    };
    let first: Vec<&str> = map.split_whitespace().take(3).collect();
    first != ["0", "0", "4294967295"]
}

/// What was refused: the command and, for map create and program load, the object type.
pub(crate) fn subject_text(cmd: Cmd, subject: Option<u32>) -> String {
    match (cmd, subject) {
        (Cmd::MapCreate, Some(t)) => format!("{cmd} (map type {})", MapType(t)),
        (Cmd::ProgLoad, Some(t)) => format!("{cmd} (program type {})", ProgramType(t)),
        _ => cmd.to_string(),
    }
}

/// The capabilities the kernel checks for this call that `caps` lacks.
pub(crate) fn missing(cmd: Cmd, subject: Option<u32>, caps: CapSet) -> Vec<Cap> {
    let disabled = unprivileged_bpf_disabled().unwrap_or(0) != 0;
    caps.lacking(&caps::required(cmd, subject.unwrap_or(0), disabled))
}

/// The hint for a permission error of `cmd` on `subject`, for a process holding `caps`,
/// that did (`token`) or did not pass a BPF token.
pub(crate) fn hint(cmd: Cmd, subject: Option<u32>, caps: Option<CapSet>, token: bool) -> String {
    let what = subject_text(cmd, subject);
    let Some(caps) = caps else {
        return format!("{what} needs CAP_BPF (and CAP_NET_ADMIN/CAP_PERFMON for some types)");
    };
    if token {
        return format!(
            "{what} was refused with a BPF token: the bpffs it came from does not delegate this \
             (its delegate_cmds/delegate_maps/delegate_progs/delegate_attachs mount options), or \
             its user namespace lacks {}",
            or_bpf(&missing(cmd, subject, CapSet(0)))
        );
    }
    let mode =
        crate::link::lockdown_mode().map_or(String::new(), |m| format!(", lockdown is [{m}]"));
    let unchecked =
        !matches!(cmd, Cmd::MapCreate | Cmd::ProgLoad) && caps::required(cmd, 0, false).is_empty();
    if unchecked {
        return format!(
            "{what} checks no capability: a file permission (of a pinned object or its bpffs \
             directory), kernel lockdown{mode}, a security module (LSM) or a seccomp policy \
             refused it"
        );
    }
    if in_user_namespace() {
        return format!(
            "{what}: this process runs in a user namespace, where capabilities do not count for \
             bpf() and no BPF token was used; mount a bpffs with delegate_* options from the host \
             and point OXBPF_BPF_TOKEN_PATH at it"
        );
    }
    let lacking = missing(cmd, subject, caps);
    let root = unsafe { libc::geteuid() } == 0;
    if !lacking.is_empty() {
        let mut s = format!(
            "{what} needs {}, which this process lacks",
            caps::names(&lacking)
        );
        if root {
            s.push_str(
                " (running as root, but the capability was dropped: container runtime, \
                 capsh/setpriv, or systemd CapabilityBoundingSet)",
            );
        }
        if lacking.contains(&Cap::Bpf) {
            if let Some(n @ 1..) = unprivileged_bpf_disabled() {
                s.push_str(&format!(
                    "; kernel.unprivileged_bpf_disabled={n} refuses bpf() without CAP_BPF"
                ));
            }
        }
        return s;
    }
    let mut s = format!(
        "{what} was refused although this process has what the kernel checks for it: kernel \
         lockdown{mode}, a security module (LSM) or a seccomp policy refuses it"
    );
    let dropped = caps.lacking(&Cap::ALL);
    if !dropped.is_empty() {
        s.push_str(&format!(
            "; this process also lacks {} (not among the kernel's documented checks for this \
             call, but a dropped capability is the first thing to rule out)",
            caps::names(&dropped)
        ));
    }
    s
}

fn or_bpf(caps: &[Cap]) -> String {
    if caps.is_empty() {
        "CAP_BPF".into()
    } else {
        caps::names(caps)
    }
}
