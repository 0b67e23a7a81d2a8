//! BPF tokens (Linux 6.9+): a privileged parent mounts a bpffs with `delegate_cmds`,
//! `delegate_maps`, `delegate_progs` and `delegate_attachs` options and hands it to a user
//! namespace; a process there creates a token from it (`BPF_TOKEN_CREATE`) and passes it to
//! `BPF_BTF_LOAD`, `BPF_MAP_CREATE` and `BPF_PROG_LOAD`, which then check its capabilities in
//! that namespace instead of the initial one.
//!
//! Found like libbpf does: the bpffs named by `OXBPF_BPF_TOKEN_PATH` (or libbpf's
//! `LIBBPF_BPF_TOKEN_PATH`), else the default `/sys/fs/bpf`; an empty value turns tokens off.
//! The process-wide token is created on first use and passed by every wrapper in
//! [`crate::sys`] that takes one (so also by feature probes); [`set`] replaces it and
//! [`status`] says whether one was used.

mod error;

pub use error::TokenError;

use crate::sys::{self, attr::TokenCreateAttr, Cmd};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// oxbpf's variable naming the delegated bpffs (empty: no token).
pub const ENV: &str = "OXBPF_BPF_TOKEN_PATH";
/// libbpf's variable, honoured when [`ENV`] is unset.
pub const LIBBPF_ENV: &str = "LIBBPF_BPF_TOKEN_PATH";
/// Where a token is looked for when neither variable is set.
pub const DEFAULT_PATH: &str = "/sys/fs/bpf";

/// A BPF token and the bpffs it came from.
#[derive(Debug)]
pub struct Token {
    fd: OwnedFd,
    path: PathBuf,
}

impl Token {
    /// Creates a token from the bpffs mounted at `path` (the mount's root directory).
    pub fn create(path: &Path) -> Result<Token, TokenError> {
        let dir = std::fs::File::open(path).map_err(|source| TokenError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bpffs(dir.as_fd(), path)
    }

    /// Creates a token from an open bpffs root (`bpffs`, e.g. an `fsmount` fd); `path` only
    /// names it in messages.
    pub fn from_bpffs(bpffs: BorrowedFd, path: &Path) -> Result<Token, TokenError> {
        let mut attr = TokenCreateAttr {
            flags: 0,
            bpffs_fd: bpffs.as_raw_fd() as u32,
        };
        // SAFETY: TokenCreateAttr is the BPF_TOKEN_CREATE layout; it holds no pointers.
        let fd = unsafe { sys::bpf(Cmd::TokenCreate, &mut attr) }.map_err(|source| {
            TokenError::Create {
                path: path.to_path_buf(),
                source,
            }
        })?;
        // SAFETY: the kernel returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Token {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The bpffs the token came from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsFd for Token {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether the process has a token, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A token from `path`; `calls` commands have passed it so far.
    Used {
        /// The delegated bpffs.
        path: PathBuf,
        /// How many `bpf(2)` calls passed it.
        calls: u64,
    },
    /// No token; `reason` says why (off, no delegation on the default bpffs, ...).
    None {
        /// Why there is no token.
        reason: String,
        /// True if a variable asked for a token and creating it failed.
        requested: bool,
    },
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Used { path, calls } => write!(
                f,
                "used (from {}, passed to {calls} bpf() calls)",
                path.display()
            ),
            Status::None { reason, .. } => write!(f, "not used ({reason})"),
        }
    }
}

struct Slot {
    token: Option<Arc<Token>>,
    reason: String,
    requested: bool,
}

static SLOT: RwLock<Option<Slot>> = RwLock::new(None);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Finds the token the environment asks for (see the module docs).
fn discover() -> Slot {
    discover_with(|v| std::env::var_os(v))
}

/// [`discover`] with `getenv` supplied.
fn discover_with(getenv: impl Fn(&str) -> Option<std::ffi::OsString>) -> Slot {
    let var = [ENV, LIBBPF_ENV]
        .into_iter()
        .find_map(|v| getenv(v).map(|value| (v, value)));
    let (path, requested) = match &var {
        Some((v, value)) if value.is_empty() => {
            return Slot {
                token: None,
                reason: format!("turned off by {v}=\"\""),
                requested: false,
            }
        }
        Some((_, value)) => (PathBuf::from(value), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    match Token::create(&path) {
        Ok(t) => Slot {
            token: Some(Arc::new(t)),
            reason: String::new(),
            requested,
        },
        Err(e) => {
            if requested {
                tracing::warn!("no BPF token: {e}");
            }
            let reason = match &var {
                Some((v, _)) => format!("{v}: {e}"),
                None => e.to_string(),
            };
            Slot {
                token: None,
                reason,
                requested,
            }
        }
    }
}

/// The process-wide token, created from the environment on first use.
pub fn current() -> Option<Arc<Token>> {
    if let Some(slot) = SLOT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return slot.token.clone();
    }
    let mut w = SLOT.write().unwrap_or_else(|e| e.into_inner());
    w.get_or_insert_with(discover).token.clone()
}

/// Replaces the process-wide token (`None`: pass none from now on).
pub fn set(token: Option<Token>) {
    let reason = "turned off by the program".to_string();
    *SLOT.write().unwrap_or_else(|e| e.into_inner()) = Some(Slot {
        token: token.map(Arc::new),
        reason,
        requested: false,
    });
    CALLS.store(0, Ordering::Relaxed);
}

/// Whether a token is in use (discovering it if not done yet).
pub fn status() -> Status {
    let token = current();
    let slot = SLOT.read().unwrap_or_else(|e| e.into_inner());
    match (token, slot.as_ref()) {
        (Some(t), _) => Status::Used {
            path: t.path().to_path_buf(),
            calls: CALLS.load(Ordering::Relaxed),
        },
        (None, Some(s)) => Status::None {
            reason: s.reason.clone(),
            requested: s.requested,
        },
        (None, None) => Status::None {
            reason: "not looked for".into(),
            requested: false,
        },
    }
}

/// Sets `fd_field` to the token and `flags |= BPF_F_TOKEN_FD` unless the caller already chose
/// a token; returns the token to keep open during the call (also when an earlier call, e.g.
/// a retry with a bigger log, already put it there).
pub(crate) fn apply(flags: &mut u32, fd_field: &mut i32) -> Option<Arc<Token>> {
    if *flags & sys::attr::BPF_F_TOKEN_FD != 0 {
        return current().filter(|t| t.as_fd().as_raw_fd() == *fd_field);
    }
    let t = current()?;
    *flags |= sys::attr::BPF_F_TOKEN_FD;
    *fd_field = t.as_fd().as_raw_fd();
    CALLS.fetch_add(1, Ordering::Relaxed);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn variables_are_found_like_libbpf() {
        let off = discover_with(env(&[(ENV, ""), (LIBBPF_ENV, "/x")]));
        assert!(off.token.is_none() && !off.requested);
        assert!(
            off.reason.contains("turned off by OXBPF_BPF_TOKEN_PATH"),
            "{}",
            off.reason
        );
        let ours = discover_with(env(&[(ENV, "/nonexistent/a"), (LIBBPF_ENV, "/b")]));
        assert!(ours.requested && ours.token.is_none());
        assert!(ours.reason.contains("/nonexistent/a"), "{}", ours.reason);
        let theirs = discover_with(env(&[(LIBBPF_ENV, "/nonexistent/b")]));
        assert!(
            theirs.reason.starts_with("LIBBPF_BPF_TOKEN_PATH: "),
            "{}",
            theirs.reason
        );
        let default = discover_with(env(&[]));
        assert!(!default.requested);
        // Root in the initial user namespace gets no token from the host's bpffs.
        if default.token.is_none() {
            assert!(default.reason.contains(DEFAULT_PATH), "{}", default.reason);
        }
    }
}
