//! Host programs `vm-test` runs or copies into the VM, and the Debian packages providing them.

use std::path::{Path, PathBuf};

/// (program, Debian package): all required.
const REQUIRED: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    ("cpio", "cpio"),
    ("ip", "iproute2"),
    ("tc", "iproute2"),
    ("ping", "iputils-ping"),
    ("ldd", "libc-bin"),
    ("apt-get", "apt"),
    ("apt-cache", "apt"),
    ("dpkg-deb", "dpkg"),
];

/// Programs copied into the VM (with their libraries) when the host has them.
pub const GUEST_TOOLS: &[&str] = &["ip", "tc", "ping", "bpftool", "ethtool", "dash", "bash"];

/// Directories searched for programs, in order (not `$PATH`: `ip` lives in sbin).
const BIN_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Absolute path of `program`, if installed.
pub fn find(program: &str) -> Option<PathBuf> {
    BIN_DIRS
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Debian packages to install for the missing required programs (deduplicated, in order).
pub fn missing_packages() -> Vec<String> {
    let mut pkgs: Vec<String> = Vec::new();
    for (prog, pkg) in REQUIRED {
        if find(prog).is_none() && !pkgs.iter().any(|p| p == pkg) {
            pkgs.push(pkg.to_string());
        }
    }
    pkgs
}
