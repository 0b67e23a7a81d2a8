//! SIGHUP (reload), SIGUSR1 (drain) and SIGTERM/SIGINT (stop) as flags the main loop polls.
//!
//! Written with `libc::sigaction` and atomics: the handler only stores a flag, which is
//! async-signal-safe, and a crate for two flags is not worth a dependency.

use std::sync::atomic::{AtomicBool, Ordering};

static HUP: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
static DRAIN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGHUP => HUP.store(true, Ordering::SeqCst),
        libc::SIGUSR1 => DRAIN.store(true, Ordering::SeqCst),
        _ => STOP.store(true, Ordering::SeqCst),
    }
}

/// Handle to the installed flags.
pub struct Signals(());

/// Installs the handlers.
pub fn install() -> Signals {
    for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only touches atomics; sigaction is given a zeroed, valid struct.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    Signals(())
}

impl Signals {
    /// True once per SIGHUP.
    pub fn take_hup(&self) -> bool {
        HUP.swap(false, Ordering::SeqCst)
    }

    /// True once per SIGUSR1 (`oxlb drain`).
    pub fn take_drain(&self) -> bool {
        DRAIN.swap(false, Ordering::SeqCst)
    }

    /// True after SIGTERM or SIGINT.
    pub fn stop_requested(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}
