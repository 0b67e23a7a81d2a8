//! Kernel BTF for one collection load, found lazily and shared by every program of the load.
//!
//! Two roles, as in libbpf: the **CO-RE target** (the running kernel's BTF, or external BTF
//! replacing it: a file or a BTFHub directory), and the **running kernel's own BTF**, whose
//! type ids kfunc calls, typed ksyms and BTF attach targets must name (external BTF cannot
//! stand in there: its ids mean nothing to the kernel). Module BTF (`/sys/kernel/btf/<mod>`)
//! is read only when a kfunc, ksym or CO-RE type is missing from vmlinux, once per load; the
//! module BTF objects' fds go into the programs' `fd_array` (index 0 stays vmlinux).

use crate::btf::hub::{self, HubQuery};
use crate::btf::{kernel, Btf, BtfError};
use crate::sys::{self, ObjKind};
use std::cell::{OnceCell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the kernel BTF used as CO-RE target comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KernelBtfSource {
    /// The running kernel: `/sys/kernel/btf/vmlinux`, then libbpf's vmlinux image paths.
    #[default]
    Running,
    /// A file: raw BTF (pahole, BTFHub `.btf`), a `.btf.tar.xz`, or an ELF image with `.BTF`.
    File(PathBuf),
    /// A BTFHub-style directory (`<distro>/<version>/<arch>/<uname -r>.btf[.tar.xz]`), the
    /// file chosen by the running kernel's release.
    Hub(PathBuf),
}

impl KernelBtfSource {
    /// `File` for a file, `Hub` for a directory (what the CLI's `--btf PATH` means).
    pub fn from_path(path: impl Into<PathBuf>) -> KernelBtfSource {
        let path = path.into();
        if path.is_dir() {
            KernelBtfSource::Hub(path)
        } else {
            KernelBtfSource::File(path)
        }
    }

    /// Reads the BTF this source names (no process-wide cache for external BTF).
    pub fn load(&self, hide_sysfs: bool) -> Result<Arc<Btf>, BtfError> {
        match self {
            KernelBtfSource::Running => running_vmlinux(hide_sysfs),
            KernelBtfSource::File(p) => hub::load_file(p).map(Arc::new),
            KernelBtfSource::Hub(dir) => hub::load(dir, &HubQuery::running()).map(Arc::new),
        }
    }
}

/// The running kernel's vmlinux BTF (process-cached unless sysfs is hidden).
pub fn running_vmlinux(hide_sysfs: bool) -> Result<Arc<Btf>, BtfError> {
    if hide_sysfs {
        kernel::find_vmlinux_without_sysfs(&kernel::release()).map(Arc::new)
    } else {
        kernel::vmlinux()
    }
}

/// One module's BTF and, once a program needs it, its BTF object fd.
#[derive(Debug, Clone)]
pub struct ModuleBtf {
    /// Module name (`/sys/kernel/btf/<name>`).
    pub name: String,
    /// Split BTF on top of the running vmlinux.
    pub btf: Arc<Btf>,
}

/// Lazily-filled kernel BTF for one load.
#[derive(Debug)]
pub struct KernelBtfs {
    source: KernelBtfSource,
    hide_sysfs: bool,
    running: OnceCell<Result<Arc<Btf>, String>>,
    target: OnceCell<Result<Arc<Btf>, String>>,
    modules: OnceCell<Vec<ModuleBtf>>,
    /// `(module, fd)` opened for `fd_array`, in slot order (slot = position + 1).
    fds: RefCell<Vec<(String, OwnedFd)>>,
}

impl KernelBtfs {
    /// Nothing is read until asked for.
    pub fn new(source: KernelBtfSource, hide_sysfs: bool) -> KernelBtfs {
        KernelBtfs {
            source,
            hide_sysfs,
            running: OnceCell::new(),
            target: OnceCell::new(),
            modules: OnceCell::new(),
            fds: RefCell::new(Vec::new()),
        }
    }

    /// The running kernel's vmlinux BTF (ids valid for the kernel).
    pub fn running(&self) -> Result<Arc<Btf>, String> {
        self.running
            .get_or_init(|| running_vmlinux(self.hide_sysfs).map_err(|e| e.to_string()))
            .clone()
    }

    /// The CO-RE target BTF chosen by the options.
    pub fn target(&self) -> Result<Arc<Btf>, String> {
        if self.source == KernelBtfSource::Running {
            return self.running();
        }
        self.target
            .get_or_init(|| {
                self.source
                    .load(self.hide_sysfs)
                    .map_err(|e| format!("external kernel BTF: {e}"))
            })
            .clone()
    }

    /// True when the CO-RE target is the running kernel (module BTF may then add candidates).
    pub fn target_is_running(&self) -> bool {
        self.source == KernelBtfSource::Running
    }

    /// True once module BTF has been read (for tests of the laziness).
    pub fn modules_loaded(&self) -> bool {
        self.modules.get().is_some()
    }

    /// Every module's BTF, read on first call (none when sysfs is hidden or vmlinux missing).
    pub fn modules(&self) -> &[ModuleBtf] {
        self.modules.get_or_init(|| {
            if self.hide_sysfs {
                return Vec::new();
            }
            let Ok(base) = self.running() else {
                return Vec::new();
            };
            kernel::module_names()
                .into_iter()
                .filter_map(|name| match kernel::module_on(&name, base.clone()) {
                    Ok(btf) => Some(ModuleBtf {
                        name,
                        btf: Arc::new(btf),
                    }),
                    Err(e) => {
                        tracing::warn!("skipping BTF of module {name}: {e}");
                        None
                    }
                })
                .collect()
        })
    }

    /// `(fd_array index, raw fd)` of module `name`'s BTF object, opening it on first use.
    pub fn module_fd(&self, name: &str) -> Result<(i16, i32), String> {
        let mut fds = self.fds.borrow_mut();
        if let Some(i) = fds.iter().position(|(n, _)| n == name) {
            return Ok(((i + 1) as i16, fds[i].1.as_raw_fd()));
        }
        if fds.len() >= i16::MAX as usize - 1 {
            return Err("too many module BTFs for fd_array".into());
        }
        let fd = open_module_btf(name)?;
        let raw = fd.as_raw_fd();
        fds.push((name.to_string(), fd));
        Ok((fds.len() as i16, raw))
    }

    /// `fd_array` for program loads: empty when no module BTF is used, else slot 0 unused.
    pub fn fd_array(&self) -> Vec<i32> {
        let fds = self.fds.borrow();
        if fds.is_empty() {
            return Vec::new();
        }
        std::iter::once(0)
            .chain(fds.iter().map(|(_, fd)| fd.as_raw_fd()))
            .collect()
    }
}

/// The kernel BTF object of module `name` (walks BTF ids, matching `bpf_btf_info.name`).
fn open_module_btf(name: &str) -> Result<OwnedFd, String> {
    let mut id = 0;
    loop {
        id = match sys::get_next_id(ObjKind::Btf, id) {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(e) => return Err(format!("listing kernel BTF objects: {e}")),
        };
        let Ok(fd) = sys::get_fd_by_id(ObjKind::Btf, id) else {
            continue;
        };
        let mut buf = [0u8; 64];
        let mut info = sys::attr::BtfInfo {
            name: sys::ptr_to_u64(buf.as_mut_ptr()),
            name_len: buf.len() as u32,
            ..Default::default()
        };
        if sys::obj_get_info(std::os::fd::AsFd::as_fd(&fd), &mut info).is_err() {
            continue;
        }
        if info.kernel_btf != 0 && sys::name_from_bytes(&buf) == name {
            return Ok(fd);
        }
    }
    Err(format!(
        "no kernel BTF object named {name:?} (module unloaded?)"
    ))
}
