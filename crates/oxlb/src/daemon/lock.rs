//! One daemon per pin dir: an exclusive `flock` on `oxlb.lock` in the pin dir's state
//! directory, held for the daemon's life. The lock file holds the holder's pid (for the
//! refusal); `oxlb.pid`, written once the daemon serves, is removed only by its owner.

use super::{state, DaemonError};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The held lock of a pin dir (released when dropped, with the pid file).
pub struct PinDirLock {
    _file: File,
    pin_dir: PathBuf,
}

/// Takes the lock of `pin_dir`, or fails with the pid of the daemon holding it.
pub fn acquire(pin_dir: &Path) -> Result<PinDirLock, DaemonError> {
    let dir = state::dir(pin_dir);
    std::fs::create_dir_all(&dir).map_err(|e| DaemonError::io(&dir, e))?;
    let path = dir.join("oxlb.lock");
    let file = loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| DaemonError::io(&path, e))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.trim().parse::<i32>().ok())
                    // SAFETY: signal 0 only checks that the process exists.
                    .filter(|&p| p > 0 && unsafe { libc::kill(p, 0) } == 0);
                return Err(DaemonError::Busy {
                    pin_dir: pin_dir.to_path_buf(),
                    pid,
                });
            }
            return Err(DaemonError::io(&path, e));
        }
        // `oxlb down` may have removed the file between our open and flock: then the lock
        // we hold is on a file nobody else will open. Lock the one at the path.
        let held = file.metadata().map_err(|e| DaemonError::io(&path, e))?;
        let now = std::fs::metadata(&path).ok();
        if now.is_some_and(|m| m.ino() == held.ino() && m.dev() == held.dev()) {
            break file;
        }
    };
    let mut file = file;
    let me = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| std::io::Write::write_all(&mut file, me.as_bytes()))
        .map_err(|e| DaemonError::io(&path, e))?;
    Ok(PinDirLock {
        _file: file,
        pin_dir: pin_dir.to_path_buf(),
    })
}

impl Drop for PinDirLock {
    fn drop(&mut self) {
        state::remove_own_pid(&self.pin_dir);
    }
}
