//! [`Map`]: an untyped handle on a kernel map (fd plus the shape the kernel reports).

use super::cpus::nr_possible_cpus;
use super::error::MapError;
use crate::spec::{MapSpec, MapType};
use crate::sys::{self, attr::MapCreateAttr, attr::MapInfo, ObjKind, SysError};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// `BPF_F_NUMA_NODE` map flag.
const BPF_F_NUMA_NODE: u32 = 1 << 2;

/// `BPF_ANY`: create or update.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: update only.
pub const BPF_EXIST: u64 = 2;
/// `BPF_F_LOCK`: take the value's `bpf_spin_lock`.
pub const BPF_F_LOCK: u64 = 4;

/// A kernel map, by fd. Closing the last fd (and removing every pin) frees it.
///
/// Its methods take keys and values as bytes; the typed views ([`Array`](super::Array),
/// [`HashMap`](super::HashMap), [`LpmTrie`](super::LpmTrie), ...) check the sizes once and
/// convert.
///
/// ```no_run
/// use oxbpf::map::{Map, BPF_ANY};
///
/// // A map another process pinned (e.g. `bpftool map pin` or a LIBBPF_PIN_BY_NAME map).
/// let map = Map::from_pin("/sys/fs/bpf/myapp/counts")?;
/// println!("{} ({}): {} entries", map.name(), map.map_type(), map.max_entries());
/// map.update(&0u32.to_ne_bytes(), &0u64.to_ne_bytes(), BPF_ANY)?;
/// for key in map.keys() {
///     let key = key?;
///     println!("{key:?} => {:?}", map.lookup(&key)?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    name: String,
    map_type: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    id: u32,
    pinned: Option<PathBuf>,
}

/// Map types whose key/value are not described by BTF (fds, CPU ids, stack ids, or nothing);
/// the kernel rejects BTF type ids on them.
fn btf_kv_unsupported(t: MapType) -> bool {
    matches!(
        t,
        MapType::PERF_EVENT_ARRAY
            | MapType::CGROUP_ARRAY
            | MapType::STACK_TRACE
            | MapType::ARRAY_OF_MAPS
            | MapType::HASH_OF_MAPS
            | MapType::DEVMAP
            | MapType::DEVMAP_HASH
            | MapType::CPUMAP
            | MapType::XSKMAP
            | MapType::SOCKMAP
            | MapType::SOCKHASH
            | MapType::QUEUE
            | MapType::STACK
            | MapType::RINGBUF
            | MapType::USER_RINGBUF
            | MapType::PROG_ARRAY
            | MapType::REUSEPORT_SOCKARRAY
    )
}

/// The shape a spec will be created with: fills the defaults libbpf fills (perf event arrays
/// get 4-byte keys/values and one slot per possible CPU when left at 0).
pub(crate) fn effective_shape(spec: &MapSpec) -> std::io::Result<(u32, u32, u32)> {
    let (mut k, mut v, mut n) = (spec.key_size, spec.value_size, spec.max_entries);
    if spec.map_type == MapType::PERF_EVENT_ARRAY {
        if k == 0 {
            k = 4;
        }
        if v == 0 {
            v = 4;
        }
        if n == 0 {
            n = nr_possible_cpus()? as u32;
        }
    }
    Ok((k, v, n))
}

impl Map {
    /// Creates a map from `spec` (`BPF_MAP_CREATE`).
    ///
    /// With `btf_fd`, the spec's key/value BTF type ids are passed along; a kernel that rejects
    /// them gets a second attempt without BTF. Map-in-map types need an inner map: `inner`, or a
    /// template created (and closed again) from `spec.inner`.
    pub fn create(
        spec: &MapSpec,
        btf_fd: Option<BorrowedFd>,
        inner: Option<BorrowedFd>,
    ) -> Result<Map, MapError> {
        let err = |source| MapError::Sys {
            map: spec.name.clone(),
            op: "create",
            source,
        };
        let (key_size, value_size, max_entries) =
            effective_shape(spec).map_err(|source| MapError::Io {
                map: spec.name.clone(),
                op: "create",
                source,
            })?;
        let mut template = None;
        let inner_fd = if spec.map_type.is_map_in_map() {
            match (inner, &spec.inner) {
                (Some(fd), _) => Some(fd.as_raw_fd() as u32),
                (None, Some(inner_spec)) => {
                    let m = Map::create(inner_spec, btf_fd, None)?;
                    let raw = m.fd.as_raw_fd() as u32;
                    template = Some(m);
                    Some(raw)
                }
                (None, None) => {
                    return Err(MapError::MissingInner {
                        map: spec.name.clone(),
                        map_type: spec.map_type,
                    })
                }
            }
        } else {
            None
        };
        let mut attr = MapCreateAttr {
            map_type: spec.map_type.0,
            key_size,
            value_size,
            max_entries,
            map_flags: spec.flags,
            inner_map_fd: inner_fd.unwrap_or(0),
            map_name: sys::object_name(&spec.name),
            map_extra: spec.map_extra,
            ..Default::default()
        };
        if let Some(node) = spec.numa_node {
            attr.map_flags |= BPF_F_NUMA_NODE;
            attr.numa_node = node;
        }
        let with_btf = match (btf_fd, spec.value_type_id) {
            (Some(btf), Some(vt)) if !btf_kv_unsupported(spec.map_type) => {
                attr.btf_fd = btf.as_raw_fd() as u32;
                attr.btf_key_type_id = spec.key_type_id.unwrap_or(0);
                attr.btf_value_type_id = vt;
                true
            }
            _ => false,
        };
        let fd = match sys::map_create(&attr) {
            Ok(fd) => fd,
            Err(e) if with_btf && !e.is_permission() => {
                tracing::debug!(map = %spec.name, error = %e, "map create with BTF failed, retrying without");
                attr.btf_fd = 0;
                attr.btf_key_type_id = 0;
                attr.btf_value_type_id = 0;
                sys::map_create(&attr).map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        drop(template);
        let id = sys::map_info(fd.as_fd()).map(|i| i.id).unwrap_or(0);
        Ok(Map {
            fd,
            name: spec.name.clone(),
            map_type: spec.map_type,
            key_size,
            value_size,
            max_entries,
            flags: attr.map_flags,
            id,
            pinned: None,
        })
    }

    /// Wraps an existing map fd, reading its shape with `BPF_OBJ_GET_INFO_BY_FD`. An fd of
    /// another BPF object (a program or link, e.g. from a pin) is [`MapError::Invalid`].
    pub fn from_fd(fd: OwnedFd) -> Result<Map, MapError> {
        if let Some(kind) = bpf_fd_kind(fd.as_fd()).filter(|k| k != "bpf-map") {
            return Err(MapError::Invalid {
                map: format!("fd {}", fd.as_raw_fd()),
                op: "open",
                reason: format!("the object is a {kind}, not a map (a pinned program or link?)"),
            });
        }
        let info = sys::map_info(fd.as_fd()).map_err(|source| MapError::Sys {
            map: format!("fd {}", fd.as_raw_fd()),
            op: "get info of",
            source,
        })?;
        Ok(Map {
            fd,
            name: sys::name_from_bytes(&info.name),
            map_type: MapType(info.map_type),
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            flags: info.map_flags,
            id: info.id,
            pinned: None,
        })
    }

    /// Opens the map pinned at `path` on bpffs.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Map, MapError> {
        let path = path.as_ref();
        let fd = sys::pin::open_pinned(path)
            .map_err(|f| MapError::pin(path.display().to_string(), f))?;
        Map::from_fd(fd).map_err(|e| match e {
            MapError::Invalid { op, reason, .. } => MapError::Invalid {
                map: path.display().to_string(),
                op,
                reason,
            },
            e => e,
        })
    }

    /// The ids of every map loaded in the kernel, for [`from_id`](Self::from_id) (a map can
    /// be freed between the two). Walking ids needs CAP_SYS_ADMIN.
    pub fn loaded_ids() -> Result<Vec<u32>, MapError> {
        sys::all_ids(ObjKind::Map).map_err(|source| MapError::Sys {
            map: "*".into(),
            op: "list the ids of",
            source,
        })
    }

    /// Opens the map with kernel id `id`.
    pub fn from_id(id: u32) -> Result<Map, MapError> {
        let fd = sys::get_fd_by_id(ObjKind::Map, id).map_err(|source| MapError::Sys {
            map: format!("id {id}"),
            op: "open",
            source,
        })?;
        Map::from_fd(fd)
    }

    /// Pins the map at `path` (on a bpffs mount); [`unpin`](Self::unpin) removes it.
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), MapError> {
        let path = sys::pin::pin(self.fd.as_fd(), path.as_ref())
            .map_err(|f| MapError::pin(self.name.clone(), f))?;
        self.pinned = Some(path);
        Ok(())
    }

    /// Removes the pin made by [`pin`](Self::pin) (or found by `pin_by_name`). No-op if unpinned.
    pub fn unpin(&mut self) -> Result<(), MapError> {
        sys::pin::unpin(&mut self.pinned).map_err(|f| MapError::pin(self.name.clone(), f))
    }

    /// Where the map is pinned, if this handle pinned it.
    pub fn pin_path(&self) -> Option<&Path> {
        self.pinned.as_deref()
    }

    pub(crate) fn set_pin_path(&mut self, path: PathBuf) {
        self.pinned = Some(path);
    }

    /// `struct bpf_map_info`, fresh from the kernel.
    pub fn info(&self) -> Result<MapInfo, MapError> {
        sys::map_info(self.fd.as_fd()).map_err(|e| self.sys_err("get info of", e))
    }

    /// The map fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A second owned fd on the same map.
    pub fn try_clone_fd(&self) -> Result<OwnedFd, MapError> {
        self.fd.try_clone().map_err(|source| MapError::Io {
            map: self.name.clone(),
            op: "dup fd of",
            source,
        })
    }

    /// The name given at creation (truncated by the kernel to 15 bytes when read from an fd).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Map type.
    pub fn map_type(&self) -> MapType {
        self.map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// Value size in bytes (per CPU for per-CPU maps).
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// Maximum entries.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// `map_flags`.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Kernel-wide id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Makes the map read-only for user space (`BPF_MAP_FREEZE`).
    pub fn freeze(&self) -> Result<(), MapError> {
        sys::map_freeze(self.fd.as_fd()).map_err(|e| self.sys_err("freeze", e))
    }

    /// Bytes of one value as `lookup`/`update` exchange it: the value size, or for per-CPU maps
    /// the value size rounded up to 8 times the number of possible CPUs.
    pub fn value_buf_size(&self) -> Result<usize, MapError> {
        if self.map_type.is_per_cpu() {
            let n = nr_possible_cpus().map_err(|source| self.io_err("size values of", source))?;
            Ok(round8(self.value_size as usize) * n)
        } else {
            Ok(self.value_size as usize)
        }
    }

    pub(crate) fn sys_err(&self, op: &'static str, source: SysError) -> MapError {
        MapError::Sys {
            map: self.name.clone(),
            op,
            source,
        }
    }

    pub(crate) fn io_err(&self, op: &'static str, source: std::io::Error) -> MapError {
        MapError::Io {
            map: self.name.clone(),
            op,
            source,
        }
    }

    pub(crate) fn check_size(
        &self,
        op: &'static str,
        what: &'static str,
        got: usize,
        want: usize,
    ) -> Result<(), MapError> {
        if got == want {
            Ok(())
        } else {
            Err(MapError::Size {
                map: self.name.clone(),
                op,
                what,
                got,
                want,
            })
        }
    }

    /// Looks `key` up; `None` if absent. Per-CPU maps return all CPUs' values packed
    /// (see [`value_buf_size`](Self::value_buf_size)).
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        self.lookup_flags(key, 0)
    }

    /// [`lookup`](Self::lookup) with `flags` (e.g. [`BPF_F_LOCK`]).
    pub fn lookup_flags(&self, key: &[u8], flags: u64) -> Result<Option<Vec<u8>>, MapError> {
        self.check_size("lookup in", "key", key.len(), self.key_size as usize)?;
        let mut value = vec![0u8; self.value_buf_size()?];
        match sys::map_lookup_elem(self.fd(), key, &mut value, flags) {
            Ok(()) => Ok(Some(value)),
            Err(e) if e.errno == libc::ENOENT => Ok(None),
            Err(e) => Err(self.sys_err("lookup in", e)),
        }
    }

    /// Writes `key` → `value` with `flags` ([`BPF_ANY`], [`BPF_NOEXIST`], [`BPF_EXIST`]...).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_size("update", "key", key.len(), self.key_size as usize)?;
        self.check_size("update", "value", value.len(), self.value_buf_size()?)?;
        sys::map_update_elem(self.fd(), key, value, flags).map_err(|e| self.sys_err("update", e))
    }

    /// Deletes `key`; `Ok(false)` if it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, MapError> {
        self.check_size("delete from", "key", key.len(), self.key_size as usize)?;
        match sys::map_delete_elem(self.fd(), key) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == libc::ENOENT => Ok(false),
            Err(e) => Err(self.sys_err("delete from", e)),
        }
    }

    /// Looks `key` up and deletes it in one step; `None` if absent.
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        self.check_size(
            "lookup and delete in",
            "key",
            key.len(),
            self.key_size as usize,
        )?;
        let mut value = vec![0u8; self.value_buf_size()?];
        match sys::map_lookup_and_delete_elem(self.fd(), key, &mut value) {
            Ok(()) => Ok(Some(value)),
            Err(e) if e.errno == libc::ENOENT => Ok(None),
            Err(e) => Err(self.sys_err("lookup and delete in", e)),
        }
    }

    /// Iterates the keys with `BPF_MAP_GET_NEXT_KEY`.
    ///
    /// Restart semantics: when the key the iterator stands on is deleted (by this process or
    /// by a BPF program), the kernel continues from the *first* key of hash maps, so keys can be
    /// seen twice. Deleting each key right after it is yielded is safe (the restart finds only
    /// keys not yet seen). To stay bounded the iterator ends with
    /// [`MapError::IterationAborted`] once it has yielded more keys than `max_entries`.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            cur: None,
            seen: 0,
            done: false,
        }
    }
}

/// The anon inode name of a BPF object fd (`bpf-map`, `bpf-prog`, `bpf_link`...), read from
/// `/proc/self/fd`; `None` when that is unreadable (no procfs).
fn bpf_fd_kind(fd: BorrowedFd) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let name = link.to_str()?.strip_prefix("anon_inode:")?;
    Some(name.to_string())
}

/// Rounds up to a multiple of 8 (per-CPU value slot size).
pub(crate) fn round8(n: usize) -> usize {
    (n + 7) & !7
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Iterator over a map's keys; see [`Map::keys`].
pub struct Keys<'a> {
    map: &'a Map,
    cur: Option<Vec<u8>>,
    seen: u64,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>, MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut next = vec![0u8; self.map.key_size as usize];
        match sys::map_get_next_key(self.map.fd(), self.cur.as_deref(), &mut next) {
            Ok(true) => {
                self.seen += 1;
                if self.map.max_entries > 0 && self.seen > u64::from(self.map.max_entries) {
                    self.done = true;
                    return Some(Err(MapError::IterationAborted {
                        map: self.map.name.clone(),
                        seen: self.seen - 1,
                        max_entries: self.map.max_entries,
                    }));
                }
                self.cur = Some(next.clone());
                Some(Ok(next))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.map.sys_err("iterate keys of", e)))
            }
        }
    }
}
