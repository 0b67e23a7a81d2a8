//! `RLIMIT_MEMLOCK`: older kernels charge BPF maps and programs to it; since memory-cgroup
//! accounting replaced it, the limit no longer matters.
//!
//! Probe (no version numbers): a forked child creates a one-element array map under its
//! current limit, then sets its own `RLIMIT_MEMLOCK` to 0 and creates another. If the second
//! works, this kernel does not charge memlock; if only the second fails with `EPERM`, it does.
//! If already the first fails, the `EPERM` is about privileges, not memlock, and the probe
//! cannot decide. The child only makes raw syscalls, so forking a multi-threaded process is
//! safe.

use super::error::ProgramError;
use crate::sys::{attr::MapCreateAttr, Cmd, SysError};
use std::sync::OnceLock;

/// True if this kernel charges BPF objects to `RLIMIT_MEMLOCK` (probed once per process; an
/// undecided probe is not remembered, so a later call probes again).
pub fn memlock_charged() -> Result<bool, ProgramError> {
    static CHARGED: OnceLock<bool> = OnceLock::new();
    if let Some(&charged) = CHARGED.get() {
        return Ok(charged);
    }
    let charged = probe().map_err(|reason| ProgramError::MemlockProbe { reason })?;
    Ok(*CHARGED.get_or_init(|| charged))
}

fn probe() -> Result<bool, String> {
    let mut attr = MapCreateAttr {
        map_type: crate::spec::MapType::ARRAY.0,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    // In a user namespace the map needs the process's BPF token; kept open across the fork.
    let _token = crate::token::apply(&mut attr.map_flags, &mut attr.map_token_fd);
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
            let create = |attr: &mut MapCreateAttr| {
                let fd = libc::syscall(
                    libc::SYS_bpf,
                    0 as libc::c_int,
                    attr as *mut MapCreateAttr,
                    std::mem::size_of::<MapCreateAttr>() as libc::c_uint,
                );
                if fd >= 0 {
                    libc::close(fd as libc::c_int);
                    0
                } else {
                    *libc::__errno_location()
                }
            };
            let first = create(&mut attr);
            if first != 0 {
                libc::_exit(UNDECIDED + first.clamp(1, 255 - UNDECIDED));
            }
            let mut lim = zero;
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                lim.rlim_max = 0;
                libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
            }
            libc::_exit(match create(&mut attr) {
                0 => 0,
                libc::EPERM => 1,
                _ => 2,
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
        Some(code) if code > UNDECIDED => {
            let e = SysError::new(Cmd::MapCreate, code - UNDECIDED)
                .with_subject(crate::spec::MapType::ARRAY.0);
            Err(format!(
                "cannot tell whether RLIMIT_MEMLOCK is charged: a one-element array map fails \
                 already under the current limit ({e})"
            ))
        }
        // Under the current limit it worked; without any limit it failed otherwise.
        _ => Ok(true),
    }
}

/// Child exit codes above this carry the errno of the first map creation.
const UNDECIDED: i32 = 100;

/// Raises `RLIMIT_MEMLOCK` to unlimited if this kernel charges BPF memory to it; does nothing
/// otherwise, nor when the probe cannot decide (the process may not create maps at all: the
/// real call then reports the missing privilege, not memlock). Runs once per process; later
/// calls return the first result.
pub fn bump_memlock_rlimit_if_needed() -> Result<(), ProgramError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        match memlock_charged() {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                tracing::debug!("not raising RLIMIT_MEMLOCK: {e}");
                return Ok(());
            }
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
