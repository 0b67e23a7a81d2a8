//! bpffs pins shared by maps and programs: open a pin, pin an fd, remove a pin; a failure
//! carries the operation and path so each object family wraps it with its own name.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A pin operation that failed.
#[derive(Debug)]
pub struct PinFailure {
    /// "open pinned", "pin" or "unpin".
    pub op: &'static str,
    /// The pin path.
    pub path: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

/// Opens the object pinned at `path`.
pub fn open_pinned(path: &Path) -> Result<OwnedFd, PinFailure> {
    super::obj_get(path).map_err(|e| PinFailure {
        op: "open pinned",
        path: path.to_owned(),
        source: e.io(),
    })
}

/// Pins `fd` at `path` and returns the path to remember for [`unpin`].
pub fn pin(fd: BorrowedFd, path: &Path) -> Result<PathBuf, PinFailure> {
    super::obj_pin(fd, path).map_err(|e| PinFailure {
        op: "pin",
        path: path.to_owned(),
        source: e.io(),
    })?;
    Ok(path.to_owned())
}

/// Removes the pin remembered in `pinned`, if any, and forgets it.
pub fn unpin(pinned: &mut Option<PathBuf>) -> Result<(), PinFailure> {
    match pinned.take() {
        Some(path) => std::fs::remove_file(&path).map_err(|source| PinFailure {
            op: "unpin",
            path,
            source,
        }),
        None => Ok(()),
    }
}
