//! `BPF_BTF_LOAD`: hand marshalled BTF to the kernel, returning its verifier log on failure.

use super::{Btf, BtfError};
use crate::sys::{self, attr::BtfLoadAttr, ptr_to_u64};
use std::os::fd::OwnedFd;

/// First log buffer size tried after a failed load.
const LOG_START: usize = 64 * 1024;
/// Largest log buffer tried (the kernel caps `btf_log_size` at `u32::MAX >> 8`).
const LOG_MAX: usize = 16 * 1024 * 1024;

/// Loads raw BTF into the kernel. On failure the load is retried with a log buffer (grown
/// while the kernel reports `ENOSPC`) and the log is returned in [`BtfError::Load`].
pub fn load_btf_fd(raw: &[u8]) -> Result<OwnedFd, BtfError> {
    let size = u32::try_from(raw.len()).map_err(|_| BtfError::BadRecord {
        reason: format!("{} bytes of BTF is too large to load", raw.len()),
    })?;
    let mut attr = BtfLoadAttr {
        btf: ptr_to_u64(raw.as_ptr()),
        btf_size: size,
        ..Default::default()
    };
    let first = match sys::btf_load(&mut attr) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    if first.is_permission() {
        return Err(BtfError::Load {
            source: first,
            log: String::new(),
        });
    }
    let mut cap = LOG_START;
    loop {
        let mut log = vec![0u8; cap];
        let mut attr = BtfLoadAttr {
            btf: ptr_to_u64(raw.as_ptr()),
            btf_size: size,
            btf_log_buf: ptr_to_u64(log.as_mut_ptr()),
            btf_log_size: cap as u32,
            btf_log_level: 1,
            ..Default::default()
        };
        match sys::btf_load(&mut attr) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.errno == libc::ENOSPC && cap < LOG_MAX => {
                let want = attr.btf_log_true_size as usize;
                cap = if want > cap {
                    want.min(LOG_MAX)
                } else {
                    cap * 4
                }
                .min(LOG_MAX);
            }
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                // A retry that fails differently (e.g. a log-only error) reports the first.
                let source = if e.errno == libc::ENOSPC { first } else { e };
                return Err(BtfError::Load {
                    source,
                    log: String::from_utf8_lossy(&log[..end]).into_owned(),
                });
            }
        }
    }
}

impl Btf {
    /// Marshals and loads this BTF into the kernel (see [`load_btf_fd`]).
    pub fn load(&self) -> Result<OwnedFd, BtfError> {
        load_btf_fd(&self.to_bytes())
    }
}
