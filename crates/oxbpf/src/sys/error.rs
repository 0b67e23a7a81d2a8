//! errno from `bpf(2)`, tagged with the command that failed.

use super::caps::{Cap, CapSet};
use super::{perm, Cmd};

/// A failed `bpf(2)` call: the command and the kernel's errno; for permission errors also
/// the object type, the caller's capabilities and whether a BPF token was passed, so the
/// message can say what is missing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{cmd}: {}{}", errno_text(*.errno), self.hint())]
pub struct SysError {
    /// The command that failed.
    pub cmd: Cmd,
    /// The raw errno value.
    pub errno: i32,
    /// Packed into the bytes `cmd` leaves free, so `SysError` stays 8 bytes.
    ctx: Context,
}

/// What a permission error's message needs beyond the errno: the object type (0: none; map
/// and program types fit a byte), the caller's bpf-related capabilities (bit i =
/// `Cap::ALL[i]`) and flags.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    subject: u8,
    caps: u8,
    flags: u8,
}

const CAPS_KNOWN: u8 = 1;
const TOKEN: u8 = 2;

impl Context {
    fn subject(self) -> Option<u32> {
        (self.subject != 0).then_some(u32::from(self.subject))
    }

    fn caps(self) -> Option<CapSet> {
        (self.flags & CAPS_KNOWN != 0).then(|| {
            let bits = Cap::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| self.caps & (1 << i) != 0)
                .fold(0u64, |acc, (_, c)| acc | 1 << c.bit());
            CapSet(bits)
        })
    }

    fn token(self) -> bool {
        self.flags & TOKEN != 0
    }
}

impl SysError {
    /// Wraps an errno returned by `cmd`; a permission error records the caller's effective
    /// capabilities.
    pub fn new(cmd: Cmd, errno: i32) -> Self {
        let mut e = Self {
            cmd,
            errno,
            ctx: Context::default(),
        };
        if e.is_permission() {
            if let Some(caps) = CapSet::effective() {
                e.set_caps(caps);
            }
        }
        e
    }

    fn set_caps(&mut self, caps: CapSet) {
        self.ctx.caps = Cap::ALL
            .iter()
            .enumerate()
            .filter(|(_, &c)| caps.holds(c))
            .fold(0, |acc, (i, _)| acc | 1 << i);
        self.ctx.flags |= CAPS_KNOWN;
    }

    /// Records the object type the call was about (map type of `BPF_MAP_CREATE`, program
    /// type of `BPF_PROG_LOAD`).
    pub fn with_subject(mut self, subject: u32) -> Self {
        self.ctx.subject = u8::try_from(subject).unwrap_or(0);
        self
    }

    /// Records that the call passed a BPF token.
    pub fn with_token(mut self, token: bool) -> Self {
        if token {
            self.ctx.flags |= TOKEN;
        } else {
            self.ctx.flags &= !TOKEN;
        }
        self
    }

    /// True if the call passed a BPF token.
    pub fn used_token(&self) -> bool {
        self.ctx.token()
    }

    /// For a permission error: the capabilities the kernel checks for this call that the
    /// caller lacked (empty when it held them all, or for other errors).
    pub fn missing_capabilities(&self) -> Vec<Cap> {
        let c = self.ctx;
        match c.caps() {
            Some(caps) if self.is_permission() && !c.token() => {
                perm::missing(self.cmd, c.subject(), caps)
            }
            _ => Vec::new(),
        }
    }

    /// For a permission error of a caller short of capabilities: what it needs, as
    /// "CAP_BPF + CAP_NET_ADMIN"; when it held every capability the kernel checks for this
    /// call but lacked others, those ("CAP_SYS_RESOURCE (lacking here; ...)").
    /// `None` for a fully privileged caller (a policy refused it) or other errors.
    pub fn capability_shortfall(&self) -> Option<String> {
        let c = self.ctx;
        let caps = c.caps().filter(|_| self.is_permission() && !c.token())?;
        if perm::in_user_namespace() {
            return Some(
                "a BPF token (OXBPF_BPF_TOKEN_PATH), or CAP_BPF in the initial user namespace"
                    .into(),
            );
        }
        let missing = self.missing_capabilities();
        if !missing.is_empty() {
            return Some(super::caps::names(&missing));
        }
        let dropped = caps.lacking(&Cap::ALL);
        (!dropped.is_empty()).then(|| {
            format!(
                "{} (lacking here; the kernel's documented checks for this call pass)",
                super::caps::names(&dropped)
            )
        })
    }

    fn hint(&self) -> String {
        if self.is_permission() {
            let c = self.ctx;
            let h = perm::hint(self.cmd, c.subject(), c.caps(), c.token());
            return format!("; hint: {h}");
        }
        hint_text(self.cmd, self.errno).to_string()
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
        assert!(!msg.contains("run as root"), "{msg}");
        let e = e.with_subject(crate::spec::MapType::ARENA.0);
        let msg = e.to_string();
        let caps = CapSet::effective().unwrap();
        if caps.satisfies(Cap::Bpf) {
            assert!(msg.contains("has what the kernel checks"), "{msg}");
            assert!(e.missing_capabilities().is_empty());
        } else {
            assert!(msg.contains("(map type arena) needs CAP_BPF"), "{msg}");
            assert_eq!(e.missing_capabilities(), [Cap::Bpf]);
        }
        let mut no_caps = SysError::new(Cmd::ProgLoad, libc::EPERM).with_subject(6);
        no_caps.set_caps(CapSet(0));
        let msg = no_caps.to_string();
        assert!(
            msg.contains(
                "(program type xdp) needs CAP_BPF + CAP_NET_ADMIN, which this process lacks"
            ),
            "{msg}"
        );
        assert_eq!(
            no_caps.capability_shortfall().as_deref(),
            Some("CAP_BPF + CAP_NET_ADMIN")
        );
        assert!(e.is_permission());
        assert!(!e.is_unsupported());
    }

    #[test]
    fn stays_small() {
        assert_eq!(std::mem::size_of::<SysError>(), 8);
        let e = SysError::new(Cmd::MapCreate, libc::EPERM).with_token(true);
        assert!(e.used_token() && e.missing_capabilities().is_empty());
        assert!(e.to_string().contains("refused with a BPF token"), "{e}");
        let e = SysError::new(Cmd::ObjGet, libc::EACCES);
        assert!(
            e.to_string()
                .contains("BPF_OBJ_GET checks no capability: a file permission"),
            "{e}"
        );
    }

    #[test]
    fn enotsupp_is_unsupported() {
        let e = SysError::new(Cmd::LinkCreate, ENOTSUPP);
        assert!(e.is_unsupported());
        assert!(e.to_string().contains("ENOTSUPP"));
    }
}
