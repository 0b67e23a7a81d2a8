//! Raw `bpf(2)`: the syscall, its attribute structs, and errno mapped to typed errors.
//!
//! The attribute structs in [`attr`] were written once by hand from the kernel's
//! `include/uapi/linux/bpf.h` (v6.12), one `#[repr(C)]` struct per command, each only as long as
//! the fields we use: the kernel accepts a shorter `bpf_attr` and zero-fills the rest, while an
//! older kernel rejects non-zero bytes past its own `bpf_attr` with `E2BIG`.  No bindgen step is
//! needed to build, and each struct has a size assertion against the uapi layout.

pub mod attr;
pub mod caps;
mod cmd;
mod error;
pub mod fault;
pub mod perm;
pub mod pin;
mod wrappers;

pub use cmd::Cmd;
pub use error::{SysError, ENOTSUPP};
pub use wrappers::*;

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Issues `bpf(cmd, attr, sizeof(*attr))` and returns the kernel's non-negative result.
///
/// # Safety
/// `attr` must be the attribute struct the kernel expects for `cmd`; every pointer stored in it
/// (as a `u64`) must be valid for the kernel to read or write for the duration of the call.
pub unsafe fn bpf<T>(cmd: Cmd, attr: &mut T) -> Result<i64, SysError> {
    // Every attribute struct starts with a u32 (map type, program type, fd...).
    let arg0 = if std::mem::size_of::<T>() >= 4 {
        std::ptr::read_unaligned(attr as *const T as *const u32)
    } else {
        0
    };
    let failed = |errno| {
        let e = SysError::new(cmd, errno);
        match cmd {
            Cmd::MapCreate | Cmd::ProgLoad => e.with_subject(arg0),
            _ => e,
        }
    };
    if let Some(errno) = fault::injected(cmd, arg0) {
        return Err(failed(errno));
    }
    loop {
        let ret = libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        );
        if ret >= 0 {
            return Ok(ret);
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        // EAGAIN from PROG_LOAD is the verifier asking to be retried (e.g. after a signal).
        if errno == libc::EINTR || (errno == libc::EAGAIN && cmd == Cmd::ProgLoad) {
            continue;
        }
        return Err(failed(errno));
    }
}

/// Like [`bpf`], for commands that return a new file descriptor.
///
/// # Safety
/// Same contract as [`bpf`].
pub unsafe fn bpf_fd<T>(cmd: Cmd, attr: &mut T) -> Result<OwnedFd, SysError> {
    let fd = bpf(cmd, attr)?;
    Ok(OwnedFd::from_raw_fd(fd as RawFd))
}

/// Converts a pointer to the `u64` representation `bpf_attr` uses.
pub fn ptr_to_u64<T>(ptr: *const T) -> u64 {
    ptr as usize as u64
}

/// Copies `name` into a kernel object name field (NUL-padded, truncated to 15 bytes).
///
/// The kernel accepts only `[A-Za-z0-9_.]`; other characters are replaced by `_`.
pub fn object_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (dst, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *dst = if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            b
        } else {
            b'_'
        };
    }
    out
}

/// Reads a NUL-padded kernel name field.
pub fn name_from_bytes(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}
