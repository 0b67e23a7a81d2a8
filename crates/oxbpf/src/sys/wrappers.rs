//! Safe, thin wrappers: one function per command, taking slices and fds instead of raw pointers.

use super::attr::*;
use super::{bpf, bpf_fd, ptr_to_u64, Cmd, SysError};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

type Result<T> = std::result::Result<T, SysError>;

/// `BPF_MAP_CREATE`, passing the process's BPF token ([`crate::token`]) if it has one.
pub fn map_create(attr: &MapCreateAttr) -> Result<OwnedFd> {
    let mut a = *attr;
    let token = crate::token::apply(&mut a.map_flags, &mut a.map_token_fd);
    unsafe { bpf_fd(Cmd::MapCreate, &mut a) }.map_err(|e| e.with_token(token.is_some()))
}

fn elem(cmd: Cmd, map: BorrowedFd, key: *const u8, value: u64, flags: u64) -> Result<()> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: ptr_to_u64(key),
        value,
        flags,
        ..Default::default()
    };
    unsafe { bpf(cmd, &mut a) }.map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM` into `value` (which must be the map's value size, times the
/// number of possible CPUs for per-CPU maps).
pub fn map_lookup_elem(map: BorrowedFd, key: &[u8], value: &mut [u8], flags: u64) -> Result<()> {
    let v = ptr_to_u64(value.as_mut_ptr());
    elem(Cmd::MapLookupElem, map, key.as_ptr(), v, flags)
}

/// `BPF_MAP_LOOKUP_ELEM` with no key (queue/stack peek).
pub fn map_peek_elem(map: BorrowedFd, value: &mut [u8]) -> Result<()> {
    let v = ptr_to_u64(value.as_mut_ptr());
    elem(Cmd::MapLookupElem, map, std::ptr::null(), v, 0)
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (queue/stack pop when `key` is empty).
pub fn map_lookup_and_delete_elem(map: BorrowedFd, key: &[u8], value: &mut [u8]) -> Result<()> {
    let k = if key.is_empty() {
        std::ptr::null()
    } else {
        key.as_ptr()
    };
    let v = ptr_to_u64(value.as_mut_ptr());
    elem(Cmd::MapLookupAndDeleteElem, map, k, v, 0)
}

/// `BPF_MAP_UPDATE_ELEM` (`key` empty for queue/stack push).
pub fn map_update_elem(map: BorrowedFd, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
    let k = if key.is_empty() {
        std::ptr::null()
    } else {
        key.as_ptr()
    };
    elem(
        Cmd::MapUpdateElem,
        map,
        k,
        ptr_to_u64(value.as_ptr()),
        flags,
    )
}

/// `BPF_MAP_DELETE_ELEM`.
pub fn map_delete_elem(map: BorrowedFd, key: &[u8]) -> Result<()> {
    elem(Cmd::MapDeleteElem, map, key.as_ptr(), 0, 0)
}

/// `BPF_MAP_GET_NEXT_KEY`; `key` `None` asks for the first key. `Ok(false)` at the end.
pub fn map_get_next_key(map: BorrowedFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
    let k = key.map_or(std::ptr::null(), |k| k.as_ptr());
    match elem(Cmd::MapGetNextKey, map, k, ptr_to_u64(next.as_mut_ptr()), 0) {
        Ok(()) => Ok(true),
        Err(e) if e.errno == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_FREEZE`.
pub fn map_freeze(map: BorrowedFd) -> Result<()> {
    let mut a = FdAttr {
        fd: map.as_raw_fd() as u32,
    };
    unsafe { bpf(Cmd::MapFreeze, &mut a) }.map(drop)
}

/// One batch call's outcome: how many elements were processed and whether the map is exhausted.
#[derive(Debug, Clone, Copy)]
pub struct BatchResult {
    /// Elements processed by this call.
    pub count: u32,
    /// True when the kernel answered `ENOENT`: no more elements after this batch.
    pub done: bool,
}

/// `BPF_MAP_LOOKUP_BATCH` (or `..._AND_DELETE_BATCH` with `delete`). `in_batch`/`out_batch` are
/// opaque cursors of the map's key size (`None` for the first call).
pub fn map_lookup_batch(
    map: BorrowedFd,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: u32,
    delete: bool,
) -> Result<BatchResult> {
    let mut a = MapBatchAttr {
        in_batch: in_batch.map_or(0, |b| ptr_to_u64(b.as_ptr())),
        out_batch: ptr_to_u64(out_batch.as_mut_ptr()),
        keys: ptr_to_u64(keys.as_mut_ptr()),
        values: ptr_to_u64(values.as_mut_ptr()),
        count,
        map_fd: map.as_raw_fd() as u32,
        ..Default::default()
    };
    let cmd = if delete {
        Cmd::MapLookupAndDeleteBatch
    } else {
        Cmd::MapLookupBatch
    };
    match unsafe { bpf(cmd, &mut a) } {
        Ok(_) => Ok(BatchResult {
            count: a.count,
            done: false,
        }),
        Err(e) if e.errno == libc::ENOENT => Ok(BatchResult {
            count: a.count,
            done: true,
        }),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_UPDATE_BATCH`: `keys`/`values` hold `count` packed elements. Returns how many were
/// written (also on error, in the error path the count is lost: the kernel reports it in attr).
pub fn map_update_batch(
    map: BorrowedFd,
    keys: &[u8],
    values: &[u8],
    count: u32,
    elem_flags: u64,
) -> Result<u32> {
    let mut a = MapBatchAttr {
        keys: ptr_to_u64(keys.as_ptr()),
        values: ptr_to_u64(values.as_ptr()),
        count,
        map_fd: map.as_raw_fd() as u32,
        elem_flags,
        ..Default::default()
    };
    unsafe { bpf(Cmd::MapUpdateBatch, &mut a) }?;
    Ok(a.count)
}

/// `BPF_MAP_DELETE_BATCH`.
pub fn map_delete_batch(map: BorrowedFd, keys: &[u8], count: u32) -> Result<u32> {
    let mut a = MapBatchAttr {
        keys: ptr_to_u64(keys.as_ptr()),
        count,
        map_fd: map.as_raw_fd() as u32,
        ..Default::default()
    };
    unsafe { bpf(Cmd::MapDeleteBatch, &mut a) }?;
    Ok(a.count)
}

/// `BPF_PROG_LOAD`, passing the process's BPF token if it has one. The caller owns the log
/// buffer and any retry policy.
pub fn prog_load(attr: &mut ProgLoadAttr) -> Result<OwnedFd> {
    let token = crate::token::apply(&mut attr.prog_flags, &mut attr.prog_token_fd);
    unsafe { bpf_fd(Cmd::ProgLoad, attr) }.map_err(|e| e.with_token(token.is_some()))
}

/// `BPF_BTF_LOAD`.
pub fn btf_load(attr: &mut BtfLoadAttr) -> Result<OwnedFd> {
    #[cfg(feature = "fault-injection")]
    if attr.btf != 0 {
        // SAFETY: the caller's attr points at `btf_size` readable bytes.
        let blob =
            unsafe { std::slice::from_raw_parts(attr.btf as *const u8, attr.btf_size as usize) };
        if super::fault::btf_refused(blob) {
            return Err(SysError::new(Cmd::BtfLoad, libc::EINVAL));
        }
    }
    let token = crate::token::apply(&mut attr.btf_flags, &mut attr.btf_token_fd);
    unsafe { bpf_fd(Cmd::BtfLoad, attr) }.map_err(|e| e.with_token(token.is_some()))
}

fn path_cstring(cmd: Cmd, path: &std::path::Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError::new(cmd, libc::EINVAL))
}

/// `BPF_OBJ_PIN`: pins `fd` at `path` on a bpffs mount.
pub fn obj_pin(fd: BorrowedFd, path: &std::path::Path) -> Result<()> {
    let c = path_cstring(Cmd::ObjPin, path)?;
    let mut a = ObjPinAttr {
        pathname: ptr_to_u64(c.as_ptr()),
        bpf_fd: fd.as_raw_fd() as u32,
        file_flags: 0,
    };
    unsafe { bpf(Cmd::ObjPin, &mut a) }.map(drop)
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`.
pub fn obj_get(path: &std::path::Path) -> Result<OwnedFd> {
    let c = path_cstring(Cmd::ObjGet, path)?;
    let mut a = ObjPinAttr {
        pathname: ptr_to_u64(c.as_ptr()),
        ..Default::default()
    };
    unsafe { bpf_fd(Cmd::ObjGet, &mut a) }
}

/// `BPF_PROG_TEST_RUN`; the attr's in/out pointers are the caller's.
pub fn prog_test_run(attr: &mut TestRunAttr) -> Result<()> {
    unsafe { bpf(Cmd::ProgTestRun, attr) }.map(drop)
}

/// `BPF_OBJ_GET_INFO_BY_FD` into a `bpf_*_info` struct; returns the length the kernel filled.
pub fn obj_get_info<T: Copy>(fd: BorrowedFd, info: &mut T) -> Result<u32> {
    let mut a = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: ptr_to_u64(info as *mut T),
    };
    unsafe { bpf(Cmd::ObjGetInfoByFd, &mut a) }?;
    Ok(a.info_len)
}

/// `struct bpf_prog_info` of a program fd.
pub fn prog_info(fd: BorrowedFd) -> Result<ProgInfo> {
    let mut info = ProgInfo::default();
    obj_get_info(fd, &mut info)?;
    Ok(info)
}

/// `struct bpf_map_info` of a map fd.
pub fn map_info(fd: BorrowedFd) -> Result<MapInfo> {
    let mut info = MapInfo::default();
    obj_get_info(fd, &mut info)?;
    Ok(info)
}

/// `struct bpf_link_info` of a link fd.
pub fn link_info(fd: BorrowedFd) -> Result<LinkInfo> {
    let mut info = LinkInfo::default();
    obj_get_info(fd, &mut info)?;
    Ok(info)
}

/// `struct bpf_btf_info` of a BTF fd (without copying the BTF itself).
pub fn btf_info(fd: BorrowedFd) -> Result<BtfInfo> {
    let mut info = BtfInfo::default();
    obj_get_info(fd, &mut info)?;
    Ok(info)
}

/// Kinds of object with kernel-wide ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjKind {
    /// Programs.
    Prog,
    /// Maps.
    Map,
    /// BTF objects.
    Btf,
    /// Links.
    Link,
}

/// `BPF_{PROG,MAP,BTF,LINK}_GET_NEXT_ID`: the next id after `start`, `None` at the end.
pub fn get_next_id(kind: ObjKind, start: u32) -> Result<Option<u32>> {
    let cmd = match kind {
        ObjKind::Prog => Cmd::ProgGetNextId,
        ObjKind::Map => Cmd::MapGetNextId,
        ObjKind::Btf => Cmd::BtfGetNextId,
        ObjKind::Link => Cmd::LinkGetNextId,
    };
    let mut a = GetIdAttr {
        id: start,
        ..Default::default()
    };
    match unsafe { bpf(cmd, &mut a) } {
        Ok(_) => Ok(Some(a.next_id)),
        Err(e) if e.errno == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_{PROG,MAP,BTF,LINK}_GET_FD_BY_ID`.
pub fn get_fd_by_id(kind: ObjKind, id: u32) -> Result<OwnedFd> {
    let cmd = match kind {
        ObjKind::Prog => Cmd::ProgGetFdById,
        ObjKind::Map => Cmd::MapGetFdById,
        ObjKind::Btf => Cmd::BtfGetFdById,
        ObjKind::Link => Cmd::LinkGetFdById,
    };
    let mut a = GetIdAttr {
        id,
        ..Default::default()
    };
    unsafe { bpf_fd(cmd, &mut a) }
}

/// Every id of `kind` currently alive in the kernel.
pub fn all_ids(kind: ObjKind) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut cur = 0;
    while let Some(next) = get_next_id(kind, cur)? {
        ids.push(next);
        cur = next;
    }
    Ok(ids)
}

/// `BPF_LINK_CREATE`.
pub fn link_create(attr: &LinkCreateAttr) -> Result<OwnedFd> {
    let mut a = *attr;
    unsafe { bpf_fd(Cmd::LinkCreate, &mut a) }
}

/// `BPF_LINK_UPDATE`: swaps the link's program; with `old_prog`, only if it is still attached
/// (`BPF_F_REPLACE`).
pub fn link_update(
    link: BorrowedFd,
    new_prog: BorrowedFd,
    old_prog: Option<BorrowedFd>,
) -> Result<()> {
    let mut a = LinkUpdateAttr {
        link_fd: link.as_raw_fd() as u32,
        new_prog_fd: new_prog.as_raw_fd() as u32,
        flags: if old_prog.is_some() { BPF_F_REPLACE } else { 0 },
        old_prog_fd: old_prog.map_or(0, |p| p.as_raw_fd() as u32),
    };
    unsafe { bpf(Cmd::LinkUpdate, &mut a) }.map(drop)
}

/// `BPF_LINK_DETACH`.
pub fn link_detach(link: BorrowedFd) -> Result<()> {
    let mut a = FdAttr {
        fd: link.as_raw_fd() as u32,
    };
    unsafe { bpf(Cmd::LinkDetach, &mut a) }.map(drop)
}

/// `BPF_PROG_ATTACH`.
pub fn prog_attach(attr: &ProgAttachAttr) -> Result<()> {
    let mut a = *attr;
    unsafe { bpf(Cmd::ProgAttach, &mut a) }.map(drop)
}

/// `BPF_PROG_DETACH`.
pub fn prog_detach(attr: &ProgAttachAttr) -> Result<()> {
    let mut a = *attr;
    unsafe { bpf(Cmd::ProgDetach, &mut a) }.map(drop)
}

/// `BPF_RAW_TRACEPOINT_OPEN`; `name` `None` for BTF-typed programs (tp_btf, fentry...).
pub fn raw_tracepoint_open(name: Option<&str>, prog: BorrowedFd) -> Result<OwnedFd> {
    let c = name
        .map(CString::new)
        .transpose()
        .map_err(|_| SysError::new(Cmd::RawTracepointOpen, libc::EINVAL))?;
    let mut a = RawTracepointAttr {
        name: c.as_ref().map_or(0, |c| ptr_to_u64(c.as_ptr())),
        prog_fd: prog.as_raw_fd() as u32,
        _pad: 0,
    };
    unsafe { bpf_fd(Cmd::RawTracepointOpen, &mut a) }
}

/// `BPF_PROG_BIND_MAP`: keeps `map` alive as long as `prog`.
pub fn prog_bind_map(prog: BorrowedFd, map: BorrowedFd) -> Result<()> {
    let mut a = ProgBindMapAttr {
        prog_fd: prog.as_raw_fd() as u32,
        map_fd: map.as_raw_fd() as u32,
        flags: 0,
    };
    unsafe { bpf(Cmd::ProgBindMap, &mut a) }.map(drop)
}

/// `BPF_F_REPLACE` for link update and prog attach.
pub const BPF_F_REPLACE: u32 = 1 << 2;
