//! [`MapError`]: every map failure names the map and the operation.

use crate::spec::MapType;
use crate::sys::SysError;
use std::path::PathBuf;

/// Errors from creating, opening or using a map.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A `bpf(2)` call on the map failed.
    #[error("{op} map \"{map}\": {source}")]
    Sys {
        /// Map name.
        map: String,
        /// Operation (`"create"`, `"update"`, `"lookup"`...).
        op: &'static str,
        /// The kernel's error.
        source: SysError,
    },
    /// A key or value had the wrong size for the map.
    #[error("{op} map \"{map}\": {what} size {got} != {want}; hint: the Rust type must have the exact size of the map's {what}")]
    Size {
        /// Map name.
        map: String,
        /// Operation.
        op: &'static str,
        /// `"key"` or `"value"`.
        what: &'static str,
        /// Size given.
        got: usize,
        /// Size the map has.
        want: usize,
    },
    /// A typed view was built over a map of another type.
    #[error("open map \"{map}\" as {view}: map type is {got}, expected one of {want:?}")]
    WrongType {
        /// Map name.
        map: String,
        /// The view (`"HashMap"`, `"Array"`...).
        view: &'static str,
        /// The map's type.
        got: MapType,
        /// Types the view accepts.
        want: &'static [MapType],
    },
    /// An index was past `max_entries`.
    #[error("{op} map \"{map}\": index {index} out of bounds (max_entries {max_entries})")]
    OutOfBounds {
        /// Map name.
        map: String,
        /// Operation.
        op: &'static str,
        /// Index asked.
        index: u32,
        /// The map's size.
        max_entries: u32,
    },
    /// A map pinned by name exists but differs from the definition.
    #[error("pinned map at {path} does not match its definition: {field} is {pinned}, wanted {wanted}; hint: remove the pin (rm {path}) or fix the map definition")]
    PinMismatch {
        /// The pin path.
        path: PathBuf,
        /// The field that differs.
        field: &'static str,
        /// The pinned map's value.
        pinned: String,
        /// The definition's value.
        wanted: String,
    },
    /// Pinning, opening a pin or unpinning failed.
    #[error("{op} map \"{map}\" at {path}: {source}")]
    Pin {
        /// Map name.
        map: String,
        /// Operation.
        op: &'static str,
        /// The pin path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Key iteration saw more keys than the map can hold: concurrent deletion kept restarting it.
    #[error("iterate map \"{map}\": aborted after {seen} keys (max_entries {max_entries}); hint: entries are being deleted concurrently, retry")]
    IterationAborted {
        /// Map name.
        map: String,
        /// Keys yielded.
        seen: u64,
        /// The map's size.
        max_entries: u32,
    },
    /// A map-in-map definition had no inner map.
    #[error(
        "create map \"{map}\": map-in-map type {map_type} needs an inner map definition or fd"
    )]
    MissingInner {
        /// Map name.
        map: String,
        /// Its type.
        map_type: MapType,
    },
    /// An I/O failure outside `bpf(2)` (mmap, perf_event_open, epoll, sysfs).
    #[error("{op} map \"{map}\": {source}")]
    Io {
        /// Map name.
        map: String,
        /// Operation.
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A ring/perf buffer record is shorter than the type it was read as.
    #[error("read a {ty} ({want} bytes) from a {got}-byte record; hint: the Rust type must match the C struct the program writes (#[repr(C)], same fields)")]
    RecordSize {
        /// The Rust type asked for.
        ty: &'static str,
        /// Its size.
        want: usize,
        /// The record's size.
        got: usize,
    },
    /// A perf record read as data is a lost-samples notice.
    #[error("the perf record is not a sample: {0} samples were lost (the ring was full); hint: read faster, or open the buffers with more pages")]
    LostRecords(u64),
    /// A stored value could not be interpreted.
    #[error("{op} map \"{map}\": {reason}")]
    Invalid {
        /// Map name.
        map: String,
        /// Operation.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl MapError {
    /// The errno, when the error came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            MapError::Sys { source, .. } => Some(source.errno),
            MapError::Io { source, .. } | MapError::Pin { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// A failed pin operation on map `map`.
    pub fn pin(map: String, f: crate::sys::pin::PinFailure) -> Self {
        MapError::Pin {
            map,
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }

    /// True when the kernel said "no such element" (`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }
}
