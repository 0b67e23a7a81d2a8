//! [`ProgramError`]: loading, opening, pinning and running programs.

use crate::sys::SysError;
use std::path::PathBuf;

/// Errors from programs.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The kernel refused the program; `log` holds the verifier's whole output.
    #[error("load program \"{program}\": {}{}{}{}", load_errno_text(.error, .log_tail, .hint), tail_text(.log_tail), source_text(.source_line), hint_text(.hint))]
    Verifier {
        /// Program name.
        program: String,
        /// The `BPF_PROG_LOAD` error.
        error: SysError,
        /// The last meaningful lines of the log (newline-separated; empty if no log).
        log_tail: String,
        /// `file:line: source text` of the failing instruction, when line info was available.
        source_line: Option<String>,
        /// The full verifier log (for `--verbose`).
        log: Box<str>,
        /// What to do about it, when the cause is known beyond the errno.
        hint: Option<String>,
    },
    /// Another `bpf(2)` call on a program failed.
    #[error("{op} program \"{program}\": {source}")]
    Sys {
        /// Program name (or `fd N` / `id N`).
        program: String,
        /// Operation.
        op: &'static str,
        /// The kernel's error.
        source: SysError,
    },
    /// Pinning, opening a pin or unpinning failed.
    #[error("{op} program \"{program}\" at {path}: {source}")]
    Pin {
        /// Program name.
        program: String,
        /// Operation.
        op: &'static str,
        /// The pin path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The request itself was malformed.
    #[error("{op} program \"{program}\": {reason}")]
    Invalid {
        /// Program name.
        program: String,
        /// Operation.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Raising `RLIMIT_MEMLOCK` failed on a kernel that charges BPF memory to it.
    #[error(
        "raise RLIMIT_MEMLOCK: {reason}; hint: raising the hard limit needs CAP_SYS_RESOURCE; \
         or raise it before starting (ulimit -l unlimited, systemd LimitMEMLOCK=infinity)"
    )]
    Memlock {
        /// What failed.
        reason: String,
    },
    /// The memlock probe could not decide (the process may not create even an array map).
    #[error("{reason}")]
    MemlockProbe {
        /// Why.
        reason: String,
    },
}

impl ProgramError {
    /// A failed pin operation on program `program`.
    pub fn pin(program: String, f: crate::sys::pin::PinFailure) -> Self {
        ProgramError::Pin {
            program,
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }

    /// The full verifier log, if this is a load failure that produced one.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            ProgramError::Verifier { log, .. } if !log.is_empty() => Some(log),
            _ => None,
        }
    }

    /// The errno, when the error came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ProgramError::Verifier { error, .. } | ProgramError::Sys { source: error, .. } => {
                Some(error.errno)
            }
            ProgramError::Pin { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// The errno of a failed load: bare ("permission denied (errno 13)") when the verifier
/// explains it, with the generic privilege hint only when there is no log.
fn load_errno_text(e: &SysError, tail: &str, hint: &Option<String>) -> String {
    if tail.is_empty() && hint.is_none() {
        let full = e.to_string();
        let prefix = format!("{}: ", e.cmd);
        return full
            .strip_prefix(&prefix)
            .map(str::to_owned)
            .unwrap_or(full);
    }
    let text = e.io().to_string();
    match text.rfind(" (os error") {
        Some(i) => {
            let mut c = text[..i].chars();
            let first: String = c
                .next()
                .map(|f| f.to_lowercase().collect())
                .unwrap_or_default();
            format!("{first}{} (errno {})", c.as_str(), e.errno)
        }
        None => text,
    }
}

fn tail_text(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else if !tail.contains('\n') {
        format!(": verifier: {tail}")
    } else {
        let indented: Vec<String> = tail.lines().map(|l| format!("  {l}")).collect();
        format!(": verifier:\n{}", indented.join("\n"))
    }
}

fn hint_text(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("; hint: {h}"),
        None => String::new(),
    }
}

fn source_text(src: &Option<String>) -> String {
    match src {
        Some(s) => format!("\n  at {s}"),
        None => String::new(),
    }
}
