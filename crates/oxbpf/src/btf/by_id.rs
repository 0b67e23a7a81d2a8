//! BTF objects living in the kernel, read back by id or fd (`BPF_BTF_GET_FD_BY_ID`, then
//! `BPF_OBJ_GET_INFO_BY_FD` with a buffer): a map's or program's `btf_id` names one.

use super::{Btf, BtfError};
use crate::sys::{self, attr::BtfInfo, ObjKind};
use std::os::fd::{AsFd, BorrowedFd};

impl Btf {
    /// Reads the kernel BTF object with id `id`. Kernel module BTF (split BTF on vmlinux)
    /// is parsed on top of the running kernel's vmlinux BTF.
    pub fn from_kernel_id(id: u32) -> Result<Btf, BtfError> {
        let fd = sys::get_fd_by_id(ObjKind::Btf, id).map_err(|source| BtfError::Kernel {
            op: "open",
            id,
            source,
        })?;
        Btf::from_kernel_fd(fd.as_fd(), id)
    }

    /// Reads the kernel BTF object behind `fd` (`id` is only for messages).
    pub fn from_kernel_fd(fd: BorrowedFd, id: u32) -> Result<Btf, BtfError> {
        let err = |source| BtfError::Kernel {
            op: "read",
            id,
            source,
        };
        let size = sys::btf_info(fd).map_err(err)?.btf_size;
        let mut raw = vec![0u8; size as usize];
        let mut name = [0u8; 64];
        let mut info = BtfInfo {
            btf: sys::ptr_to_u64(raw.as_mut_ptr()),
            btf_size: size,
            name: sys::ptr_to_u64(name.as_mut_ptr()),
            name_len: name.len() as u32,
            ..Default::default()
        };
        sys::obj_get_info(fd, &mut info).map_err(err)?;
        raw.truncate(info.btf_size.min(size) as usize);
        let split = info.kernel_btf != 0 && sys::name_from_bytes(&name) != "vmlinux";
        let base = if split {
            Some(super::kernel::vmlinux()?)
        } else {
            None
        };
        Btf::parse_vec(raw, base)
    }
}
