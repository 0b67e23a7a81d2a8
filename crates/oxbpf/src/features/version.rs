//! The running kernel's release and `LINUX_VERSION_CODE`, with the distribution quirks
//! libbpf's `get_kernel_version` knows: Ubuntu's `uname -r` carries the ABI number, not the
//! upstream patch level (the real version is the last field of `/proc/version_signature`),
//! and Debian's `uname -r` hides the patch level (`6.1.0-18-amd64`; `uname -v` has
//! `Debian 6.1.76-1`).

use std::fmt;
use std::sync::OnceLock;

/// A kernel version `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KernelVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch level (sublevel).
    pub patch: u32,
}

impl KernelVersion {
    /// `KERNEL_VERSION(major, minor, patch)`, with the patch level capped at 255 as the
    /// kernel does.
    pub fn code(self) -> u32 {
        (self.major << 16) + (self.minor.min(255) << 8) + self.patch.min(255)
    }

    /// Parses the leading `X.Y[.Z]` of `s` (`"6.18.44-fc-v769"` → 6.18.44).
    pub fn parse(s: &str) -> Option<KernelVersion> {
        let s = s.trim();
        let major_len = digits_len(s);
        let major = s[..major_len].parse().ok()?;
        let rest = s[major_len..].strip_prefix('.')?;
        let minor_len = digits_len(rest);
        let minor = rest.get(..minor_len)?.parse().ok()?;
        let patch = rest[minor_len..]
            .strip_prefix('.')
            .and_then(|p| p.get(..digits_len(p)))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Some(KernelVersion {
            major,
            minor,
            patch,
        })
    }
}

fn digits_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The version from the inputs libbpf uses, in its order: Ubuntu's
/// `/proc/version_signature` (last field), Debian's `uname -v` (`"... Debian 6.1.76-1 ..."`),
/// then `uname -r`.
pub fn version_from(
    release: &str,
    uname_version: &str,
    ubuntu_signature: Option<&str>,
) -> Option<KernelVersion> {
    if let Some(v) = ubuntu_signature
        .and_then(|s| s.split_whitespace().last())
        .and_then(KernelVersion::parse)
    {
        return Some(v);
    }
    if let Some(v) = uname_version
        .find("Debian ")
        .and_then(|i| KernelVersion::parse(&uname_version[i + "Debian ".len()..]))
    {
        return Some(v);
    }
    KernelVersion::parse(release)
}

/// `uname -r` and `uname -v`.
pub fn uname() -> (String, String) {
    // SAFETY: utsname is plain data that uname fills.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().map(|&c| c as u8).collect();
        crate::sys::name_from_bytes(&bytes)
    };
    (field(&u.release), field(&u.version))
}

/// `uname -r` of the running kernel.
pub fn kernel_release() -> String {
    uname().0
}

/// The running kernel's version (see the module docs), read once per process;
/// `None` if no input parses.
pub fn kernel_version() -> Option<KernelVersion> {
    static V: OnceLock<Option<KernelVersion>> = OnceLock::new();
    *V.get_or_init(|| {
        let (release, version) = uname();
        let sig = std::fs::read_to_string("/proc/version_signature").ok();
        version_from(&release, &version, sig.as_deref())
    })
}

/// `LINUX_VERSION_CODE` of the running kernel (0 if unknown), as kprobe programs on
/// kernels before 5.0 must pass in `kern_version`.
pub fn kernel_version_code() -> u32 {
    kernel_version().map_or(0, KernelVersion::code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> KernelVersion {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn parses_releases() {
        assert_eq!(KernelVersion::parse("6.18.44-fc-v769"), Some(v(6, 18, 44)));
        assert_eq!(KernelVersion::parse("5.4.0-42-generic"), Some(v(5, 4, 0)));
        assert_eq!(KernelVersion::parse("6.9-rc1"), Some(v(6, 9, 0)));
        assert_eq!(KernelVersion::parse("4.19.300"), Some(v(4, 19, 300)));
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert_eq!(KernelVersion::parse("6"), None);
    }

    #[test]
    fn version_code_caps_patch() {
        assert_eq!(v(6, 18, 44).code(), (6 << 16) + (18 << 8) + 44);
        assert_eq!(v(4, 19, 300).code(), (4 << 16) + (19 << 8) + 255);
    }

    #[test]
    fn distribution_quirks() {
        let ubuntu = "Ubuntu 5.4.0-42.46-generic 5.4.44";
        assert_eq!(
            version_from("5.4.0-42-generic", "#46-Ubuntu SMP", Some(ubuntu)),
            Some(v(5, 4, 44))
        );
        let debian = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)";
        assert_eq!(
            version_from("6.1.0-18-amd64", debian, None),
            Some(v(6, 1, 76))
        );
        assert_eq!(
            version_from("6.18.44-fc-v769", "#1 SMP PREEMPT_DYNAMIC @0", None),
            Some(v(6, 18, 44))
        );
    }
}
