//! Fault injection: make chosen commands fail like an older kernel would.
//!
//! Compiled in only with the `fault-injection` cargo feature (tests); in a normal build
//! [`injected`] is a constant `None` and costs nothing. Rules are process-global so that
//! code under test on any thread sees them; tests that use them should hold `Guard` (with the `fault-injection` feature).

use super::Cmd;

#[cfg(feature = "fault-injection")]
mod imp {
    use super::Cmd;
    use std::sync::Mutex;

    /// (command, first attribute word or any, errno).
    type Rule = (Cmd, Option<u32>, i32);
    static RULES: Mutex<Vec<Rule>> = Mutex::new(Vec::new());

    pub fn injected(cmd: Cmd, arg0: u32) -> Option<i32> {
        let rules = RULES.lock().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .find(|(c, a, _)| *c == cmd && a.is_none_or(|a| a == arg0))
            .map(|(_, _, e)| *e)
    }

    pub fn set(cmd: Cmd, arg0: Option<u32>, errno: i32) {
        let mut rules = RULES.lock().unwrap_or_else(|e| e.into_inner());
        rules.retain(|(c, a, _)| !(*c == cmd && *a == arg0));
        rules.push((cmd, arg0, errno));
    }

    pub fn clear() {
        RULES.lock().unwrap_or_else(|e| e.into_inner()).clear();
        BTF_REFUSALS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Tests on `BPF_BTF_LOAD` blobs: a blob any of them matches is refused.
    static BTF_REFUSALS: Mutex<Vec<super::BtfRefusal>> = Mutex::new(Vec::new());

    pub fn refuse_btf_if(f: super::BtfRefusal) {
        BTF_REFUSALS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    pub fn btf_refused(blob: &[u8]) -> bool {
        let tests = BTF_REFUSALS.lock().unwrap_or_else(|e| e.into_inner());
        tests.iter().any(|f| f(blob))
    }
}

/// The errno injected for `cmd`, if a rule is set. `_arg0` is the first `u32` of the
/// command's attributes (map type, program type, ...), for rules that target one value.
#[inline(always)]
pub fn injected(_cmd: Cmd, _arg0: u32) -> Option<i32> {
    #[cfg(feature = "fault-injection")]
    {
        imp::injected(_cmd, _arg0)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        None
    }
}

/// A test on a `BPF_BTF_LOAD` blob: true to refuse it. The caller decides what it looks for
/// (this layer knows nothing of BTF's layout; tests parse the blob with [`crate::btf`]).
#[cfg(feature = "fault-injection")]
pub type BtfRefusal = Box<dyn Fn(&[u8]) -> bool + Send>;

/// True when a [`Guard::refuse_btf_if`] rule makes `BPF_BTF_LOAD` of `blob` fail with
/// `EINVAL`, as a kernel that does not know something in it does.
#[cfg(feature = "fault-injection")]
pub fn btf_refused(blob: &[u8]) -> bool {
    imp::btf_refused(blob)
}

/// While alive, `cmd` fails with `errno`; dropping it removes every rule.
#[cfg(feature = "fault-injection")]
pub struct Guard(());

#[cfg(feature = "fault-injection")]
impl Guard {
    /// Makes `cmd` fail with `errno` until the guard is dropped.
    pub fn fail(cmd: Cmd, errno: i32) -> Self {
        imp::set(cmd, None, errno);
        Guard(())
    }

    /// Makes `cmd` fail with `errno` only when the first `u32` of its attributes is `arg0`
    /// (e.g. one map type for `BPF_MAP_CREATE`, one program type for `BPF_PROG_LOAD`).
    pub fn fail_if(cmd: Cmd, arg0: u32, errno: i32) -> Self {
        imp::set(cmd, Some(arg0), errno);
        Guard(())
    }

    /// Adds another failing command to this guard.
    pub fn and(self, cmd: Cmd, errno: i32) -> Self {
        imp::set(cmd, None, errno);
        self
    }

    /// Makes `BPF_BTF_LOAD` refuse (`EINVAL`) every blob `refuse` returns true for, like a
    /// kernel older than something the blob uses.
    pub fn refuse_btf_if(refuse: impl Fn(&[u8]) -> bool + Send + 'static) -> Self {
        imp::refuse_btf_if(Box::new(refuse));
        Guard(())
    }

    /// Adds another rule like [`Guard::refuse_btf_if`] to this guard.
    pub fn and_refuse_btf_if(self, refuse: impl Fn(&[u8]) -> bool + Send + 'static) -> Self {
        imp::refuse_btf_if(Box::new(refuse));
        self
    }

    /// Adds another rule like [`Guard::fail_if`] to this guard.
    pub fn and_if(self, cmd: Cmd, arg0: u32, errno: i32) -> Self {
        imp::set(cmd, Some(arg0), errno);
        self
    }
}

#[cfg(feature = "fault-injection")]
impl Drop for Guard {
    fn drop(&mut self) {
        imp::clear();
    }
}
