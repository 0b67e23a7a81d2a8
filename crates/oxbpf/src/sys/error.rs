//! errno from `bpf(2)`, tagged with the command that failed.

use super::Cmd;

/// A failed `bpf(2)` call: the command and the kernel's errno.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{cmd}: {}{}", errno_text(*.errno), hint_text(*.cmd, *.errno))]
pub struct SysError {
    /// The command that failed.
    pub cmd: Cmd,
    /// The raw errno value.
    pub errno: i32,
}

impl SysError {
    /// Wraps an errno returned by `cmd`.
    pub fn new(cmd: Cmd, errno: i32) -> Self {
        Self { cmd, errno }
    }

    /// The errno as an `io::Error`.
    pub fn io(&self) -> std::io::Error {
        std::io::Error::from_raw_os_error(self.errno)
    }

    /// True for errors that mean "this kernel does not know that": `EINVAL`, `E2BIG`,
    /// `EOPNOTSUPP`/`ENOTSUPP`.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self.errno,
            libc::EINVAL | libc::E2BIG | libc::EOPNOTSUPP | ENOTSUPP
        )
    }

    /// True for permission errors (`EPERM`, `EACCES`).
    pub fn is_permission(&self) -> bool {
        matches!(self.errno, libc::EPERM | libc::EACCES)
    }
}

/// The kernel-internal `ENOTSUPP` (524) that some BPF paths leak to user space.
pub const ENOTSUPP: i32 = 524;

fn errno_text(errno: i32) -> String {
    if errno == ENOTSUPP {
        return "operation not supported by this kernel (ENOTSUPP, errno 524)".into();
    }
    let io = std::io::Error::from_raw_os_error(errno);
    let text = io.to_string();
    // "Operation not permitted (os error 1)" -> "operation not permitted (errno 1)"
    match text.rfind(" (os error") {
        Some(i) => format!("{} (errno {errno})", lowercase_first(&text[..i])),
        None => text,
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn hint_text(cmd: Cmd, errno: i32) -> &'static str {
    match errno {
        // Root is refused by policy, not for lack of privileges: do not tell it to be root.
        libc::EPERM | libc::EACCES if unsafe { libc::geteuid() } == 0 => {
            "; hint: refused although running as root: a kernel lockdown, LSM or seccomp policy, \
             or a user namespace without CAP_BPF"
        }
        libc::EPERM | libc::EACCES => {
            "; hint: needs root or CAP_BPF (plus CAP_NET_ADMIN/CAP_PERFMON for some program types)"
        }
        libc::ENOSYS => "; hint: this kernel was built without CONFIG_BPF_SYSCALL",
        libc::E2BIG if cmd != Cmd::ProgLoad => {
            "; hint: this kernel is older than the attribute layout used (unknown trailing fields)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_command_and_errno() {
        let e = SysError::new(Cmd::MapCreate, libc::EPERM);
        let msg = e.to_string();
        assert!(
            msg.starts_with("BPF_MAP_CREATE: operation not permitted (errno 1)"),
            "{msg}"
        );
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(msg.contains("needs root or CAP_BPF"), !root, "{msg}");
        assert_eq!(msg.contains("although running as root"), root, "{msg}");
        assert!(e.is_permission());
        assert!(!e.is_unsupported());
    }

    #[test]
    fn enotsupp_is_unsupported() {
        let e = SysError::new(Cmd::LinkCreate, ENOTSUPP);
        assert!(e.is_unsupported());
        assert!(e.to_string().contains("ENOTSUPP"));
    }
}
