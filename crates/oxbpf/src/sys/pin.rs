//! bpffs pins shared by maps, programs and links: open a pin, pin an fd, remove a pin, prepare
//! a pin directory; a failure carries the operation and path so each object family wraps it
//! with its own name. Pinning outside bpffs or into a missing directory says so, with the fix.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// `statfs` type of a bpffs mount (`BPF_FS_MAGIC`).
const BPF_FS_MAGIC: u32 = 0xcafe_4a11;

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

impl std::fmt::Display for PinFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl std::error::Error for PinFailure {}

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
        source: explain(path, e.io()),
    })?;
    Ok(path.to_owned())
}

/// Replaces a pin errno that hides the cause (`EPERM` outside bpffs, `ENOENT` for a missing
/// directory) by the cause and what to do.
fn explain(path: &Path, e: io::Error) -> io::Error {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Some(why) = not_bpffs_reason(dir) {
        return io::Error::other(why);
    }
    if e.kind() == io::ErrorKind::NotFound && !dir.exists() {
        return io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "directory {} does not exist; create it first",
                dir.display()
            ),
        );
    }
    e
}

fn fs_type(p: &Path) -> io::Result<u32> {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statfs.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as u32)
}

/// Whether `path`, or its nearest existing ancestor, is on a bpffs mount (`None` when none
/// can be examined).
pub fn on_bpffs(path: &Path) -> Option<bool> {
    path.ancestors()
        .find_map(|p| fs_type(p).ok())
        .map(|t| t == BPF_FS_MAGIC)
}

/// Why objects cannot be pinned under `dir` because it is not on bpffs, with the fix; `None`
/// when it is on bpffs (or cannot be examined).
pub fn not_bpffs_reason(dir: &Path) -> Option<String> {
    if on_bpffs(dir)? {
        return None;
    }
    Some(if dir.starts_with("/sys/fs/bpf") {
        format!(
            "{} is not on a bpffs mount: /sys/fs/bpf is not mounted here (`ip netns exec` and \
             some containers remount /sys without it); mount it with `mount -t bpf bpf /sys/fs/bpf`",
            dir.display()
        )
    } else {
        format!(
            "{0} is not on a bpffs mount (BPF objects can only be pinned on bpffs); use a \
             directory under /sys/fs/bpf, or mount one with `mkdir -p {0} && mount -t bpf bpf {0}`",
            dir.display()
        )
    })
}

/// Creates the pin directory `dir` (and missing parents) after checking it is on bpffs.
/// Returns the directories it created, outermost first, for [`remove_created_dirs`].
pub fn create_pin_dir(dir: &Path) -> Result<Vec<PathBuf>, PinFailure> {
    let fail = |source| PinFailure {
        op: "create pin directory",
        path: dir.to_owned(),
        source,
    };
    if let Some(why) = not_bpffs_reason(dir) {
        return Err(fail(io::Error::other(why)));
    }
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    std::fs::create_dir_all(dir).map_err(fail)?;
    Ok(missing)
}

/// Removes directories made by [`create_pin_dir`] (innermost first) if they are empty.
pub fn remove_created_dirs(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
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
