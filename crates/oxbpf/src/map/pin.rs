//! `LIBBPF_PIN_BY_NAME`: reuse `<dir>/<name>` if it is pinned and compatible, else create and pin.

use super::error::MapError;
use super::handle::{effective_shape, Map};
use crate::spec::MapSpec;
use std::os::fd::BorrowedFd;
use std::path::Path;

impl Map {
    /// Opens `<dir>/<spec.name>` if pinned there, checking it matches `spec` (type, key and value
    /// size, max_entries, flags); otherwise creates the map and pins it there.
    ///
    /// The returned map remembers its pin path, so [`Map::unpin`] removes it.
    pub fn pin_by_name(
        spec: &MapSpec,
        dir: impl AsRef<Path>,
        btf_fd: Option<BorrowedFd>,
        inner: Option<BorrowedFd>,
    ) -> Result<Map, MapError> {
        let path = dir.as_ref().join(&spec.name);
        match crate::sys::pin::open_pinned(&path) {
            Ok(fd) => {
                let mut map = Map::from_fd(fd)?;
                check_compatible(&map, spec, &path)?;
                map.set_pin_path(path);
                Ok(map)
            }
            Err(f) if f.source.raw_os_error() == Some(libc::ENOENT) => {
                let mut map = Map::create(spec, btf_fd, inner)?;
                map.pin(&path)?;
                Ok(map)
            }
            Err(f) => Err(MapError::pin(spec.name.clone(), f)),
        }
    }
}

fn check_compatible(map: &Map, spec: &MapSpec, path: &Path) -> Result<(), MapError> {
    let (k, v, n) = effective_shape(spec).map_err(|source| MapError::Io {
        map: spec.name.clone(),
        op: "check pinned",
        source,
    })?;
    let mut flags = spec.flags;
    if spec.numa_node.is_some() {
        flags |= 1 << 2;
    }
    let fields: [(&'static str, String, String); 5] = [
        (
            "map type",
            map.map_type().to_string(),
            spec.map_type.to_string(),
        ),
        ("key size", map.key_size().to_string(), k.to_string()),
        ("value size", map.value_size().to_string(), v.to_string()),
        ("max_entries", map.max_entries().to_string(), n.to_string()),
        (
            "flags",
            format!("{:#x}", map.flags()),
            format!("{flags:#x}"),
        ),
    ];
    for (field, pinned, wanted) in fields {
        if pinned != wanted {
            return Err(MapError::PinMismatch {
                path: path.to_owned(),
                field,
                pinned,
                wanted,
            });
        }
    }
    Ok(())
}
