//! The running kernel's version, with distribution quirks (Ubuntu and Debian report the real
//! upstream version outside `uname -r`).

/// A kernel version `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (capped at 255 in [`code`](Self::code), like `KERNEL_VERSION`).
    pub patch: u32,
}

impl KernelVersion {
    /// `KERNEL_VERSION(major, minor, patch)` as the kernel encodes it.
    pub fn code(self) -> u32 {
        (self.major << 16) | (self.minor << 8) | self.patch.min(255)
    }

    /// Parses the leading `a.b[.c]` of `s`.
    pub fn parse(s: &str) -> Option<KernelVersion> {
        let mut it = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty());
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(KernelVersion {
            major,
            minor,
            patch,
        })
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The running kernel's version: Ubuntu's `/proc/version_signature` ("Ubuntu 5.4.0-42.46-generic
/// 5.4.44"), Debian's `uname -v` ("... Debian 6.1.192-1 ..."), else `uname -r`.
pub fn kernel_version() -> KernelVersion {
    let from_ubuntu = std::fs::read_to_string("/proc/version_signature")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(KernelVersion::parse));
    let from_debian = || {
        std::fs::read_to_string("/proc/sys/kernel/version")
            .ok()
            .and_then(|v| v.split("Debian ").nth(1).and_then(KernelVersion::parse))
    };
    from_ubuntu
        .or_else(from_debian)
        .or_else(|| KernelVersion::parse(&crate::btf::kernel::release()))
        .unwrap_or(KernelVersion {
            major: 0,
            minor: 0,
            patch: 0,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_strings() {
        let v = KernelVersion::parse("6.1.0-56-cloud-amd64").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (6, 1, 0));
        assert_eq!(
            KernelVersion::parse("5.4.300").unwrap().code(),
            (5 << 16) | (4 << 8) | 255
        );
        assert!(KernelVersion::parse("garbage").is_none());
    }
}
