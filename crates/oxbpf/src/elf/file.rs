//! Reading an object (or any input) file with a size bound, from regular files only: a device
//! (`/dev/zero`), a FIFO or a directory is refused before any byte is read, and a file larger
//! than the bound is refused from its size, so hostile input can neither hang nor exhaust memory.

use super::ElfError;
use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest object file read: 256 MiB. Real BPF objects are kilobytes to a few megabytes
/// (vmlinux-sized BTF is ~6 MiB), so this only stops mistakes and hostile input.
pub const MAX_OBJECT_SIZE: u64 = 256 << 20;

/// Reads the regular file `path` whole, refusing anything else and files over `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ElfError> {
    let io = |source| ElfError::Io {
        path: path.display().to_string(),
        source,
    };
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ElfError::NotRegularFile {
            path: path.display().to_string(),
            kind: kind_name(meta.file_type()),
        });
    }
    let too_large = |size| ElfError::TooLarge {
        path: path.display().to_string(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        // The file grew while being read.
        return Err(too_large(data.len() as u64));
    }
    Ok(data)
}

fn kind_name(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}
