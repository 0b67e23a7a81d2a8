//! `RLIMIT_MEMLOCK`: older kernels charge BPF maps and programs to it; since memory-cgroup
//! accounting replaced it, the limit no longer matters.
//!
//! Probe (no version numbers): a forked child sets its own `RLIMIT_MEMLOCK` to 0 and creates a
//! one-element array map. If that works, this kernel does not charge memlock. The child only
//! makes raw syscalls, so forking a multi-threaded process is safe.

use super::error::ProgramError;
use crate::sys::attr::MapCreateAttr;
use std::sync::OnceLock;

/// True if this kernel charges BPF objects to `RLIMIT_MEMLOCK` (probed once per process).
pub fn memlock_charged() -> Result<bool, ProgramError> {
    static CHARGED: OnceLock<Result<bool, String>> = OnceLock::new();
    CHARGED
        .get_or_init(probe)
        .clone()
        .map_err(|reason| ProgramError::Memlock { reason })
}

fn probe() -> Result<bool, String> {
    let mut attr = MapCreateAttr {
        map_type: crate::spec::MapType::ARRAY.0,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: fork; the child performs only async-signal-safe raw syscalls before _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!(
            "fork for probe: {}",
            std::io::Error::last_os_error()
        ));
    }
    if pid == 0 {
        // SAFETY: child: raw syscalls on memory prepared before fork, then _exit.
        unsafe {
            let mut lim = zero;
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                lim.rlim_max = 0;
                libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
            }
            let fd = libc::syscall(
                libc::SYS_bpf,
                0 as libc::c_int,
                &mut attr as *mut MapCreateAttr,
                std::mem::size_of::<MapCreateAttr>() as libc::c_uint,
            );
            let errno = *libc::__errno_location();
            libc::_exit(if fd >= 0 {
                0
            } else if errno == libc::EPERM {
                1
            } else {
                2
            });
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait for probe: {e}"));
        }
    }
    match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        // The map could not be created at all (no privilege): assume the old behaviour.
        _ => Ok(true),
    }
}

/// Raises `RLIMIT_MEMLOCK` to unlimited if this kernel charges BPF memory to it; does nothing
/// otherwise. Runs once per process; later calls return the first result.
pub fn bump_memlock_rlimit_if_needed() -> Result<(), ProgramError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        if !memlock_charged().map_err(|e| e.to_string())? {
            return Ok(());
        }
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid out pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) };
        if cur.rlim_cur == libc::RLIM_INFINITY {
            return Ok(());
        }
        let inf = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        tracing::debug!("raised RLIMIT_MEMLOCK to unlimited");
        Ok(())
    })
    .clone()
    .map_err(|reason| ProgramError::Memlock { reason })
}
