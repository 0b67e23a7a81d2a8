//! Fault injection: make chosen commands fail like an older kernel would.
//!
//! Compiled in only with the `fault-injection` cargo feature (tests); in a normal build
//! [`injected`] is a constant `None` and costs nothing. Rules are process-global so that
//! code under test on any thread sees them; tests that use them should hold [`Guard`].

use super::Cmd;

#[cfg(feature = "fault-injection")]
mod imp {
    use super::Cmd;
    use std::sync::Mutex;

    static RULES: Mutex<Vec<(Cmd, i32)>> = Mutex::new(Vec::new());

    pub fn injected(cmd: Cmd) -> Option<i32> {
        let rules = RULES.lock().unwrap_or_else(|e| e.into_inner());
        rules.iter().find(|(c, _)| *c == cmd).map(|(_, e)| *e)
    }

    pub fn set(cmd: Cmd, errno: i32) {
        let mut rules = RULES.lock().unwrap_or_else(|e| e.into_inner());
        rules.retain(|(c, _)| *c != cmd);
        rules.push((cmd, errno));
    }

    pub fn clear() {
        RULES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The errno injected for `cmd`, if a rule is set.
#[inline(always)]
pub fn injected(_cmd: Cmd) -> Option<i32> {
    #[cfg(feature = "fault-injection")]
    {
        imp::injected(_cmd)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        None
    }
}

/// While alive, `cmd` fails with `errno`; dropping it removes every rule.
#[cfg(feature = "fault-injection")]
pub struct Guard(());

#[cfg(feature = "fault-injection")]
impl Guard {
    /// Makes `cmd` fail with `errno` until the guard is dropped.
    pub fn fail(cmd: Cmd, errno: i32) -> Self {
        imp::set(cmd, errno);
        Guard(())
    }

    /// Adds another failing command to this guard.
    pub fn and(self, cmd: Cmd, errno: i32) -> Self {
        imp::set(cmd, errno);
        self
    }
}

#[cfg(feature = "fault-injection")]
impl Drop for Guard {
    fn drop(&mut self) {
        imp::clear();
    }
}
