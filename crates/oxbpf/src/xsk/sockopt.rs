//! The AF_XDP socket syscalls: creating a socket and its `SOL_XDP` options.

use super::abi;
use super::error::XskError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A new AF_XDP socket, close-on-exec.
pub(crate) fn new_socket() -> Result<OwnedFd, XskError> {
    // SAFETY: plain syscall; the fd is checked and owned below.
    let fd = unsafe { libc::socket(abi::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(XskError::last("create socket"));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(SOL_XDP, opt, value)`.
pub(crate) fn setsockopt<T>(
    fd: &impl AsRawFd,
    opt: i32,
    value: &T,
    op: &'static str,
) -> Result<(), XskError> {
    // SAFETY: value points to a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            abi::SOL_XDP,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(XskError::last(op));
    }
    Ok(())
}

/// `getsockopt(SOL_XDP, opt)` into a `T`; returns the length the kernel wrote.
pub(crate) fn getsockopt<T: Default>(
    fd: &impl AsRawFd,
    opt: i32,
    op: &'static str,
) -> Result<(T, usize), XskError> {
    let mut value = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value is a live T of `len` bytes; the kernel writes at most `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            abi::SOL_XDP,
            opt,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(XskError::last(op));
    }
    Ok((value, len as usize))
}
