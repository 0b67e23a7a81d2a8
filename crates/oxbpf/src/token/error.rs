//! [`TokenError`]: why no token could be made from a bpffs.

use crate::sys::SysError;
use std::path::PathBuf;

/// Errors from creating a BPF token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The bpffs directory could not be opened.
    #[error("open bpffs {}: {source}", .path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `BPF_TOKEN_CREATE` failed.
    #[error("BPF token from {}: {}; hint: {}", .path.display(), errno_text(.source), hint(.source.errno))]
    Create {
        /// The bpffs.
        path: PathBuf,
        /// The failed call.
        source: SysError,
    },
}

fn errno_text(e: &SysError) -> String {
    std::io::Error::from_raw_os_error(e.errno).to_string()
}

fn hint(errno: i32) -> &'static str {
    match errno {
        libc::ENOENT => "this bpffs has no delegate_cmds/delegate_maps/delegate_progs/delegate_attachs mount options",
        libc::EOPNOTSUPP => {
            "tokens exist only in user namespaces other than the initial one; here the \
             process's own capabilities count"
        }
        libc::EPERM => {
            "the token must be created in the user namespace that owns the bpffs, by a process \
             with CAP_BPF there"
        }
        libc::EINVAL => "not the root directory of a bpffs mount",
        libc::EBADF => "not an open file descriptor",
        _ if errno == crate::sys::ENOTSUPP || errno == libc::ENOSYS => {
            "this kernel has no BPF tokens (Linux 6.9+)"
        }
        _ => "see bpf(2) BPF_TOKEN_CREATE",
    }
}
