//! [`Program`]: a loaded program, by fd.

use super::error::ProgramError;
use crate::spec::{AttachType, ProgramSpec, ProgramType};
use crate::sys::{self, attr::ProgInfo, ObjKind};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A program loaded in the kernel. Closing the last fd (and removing pins and links) unloads it.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    name: String,
    prog_type: ProgramType,
    id: u32,
    tag: [u8; 8],
    pinned: Option<PathBuf>,
    log: Option<String>,
    section: Option<Section>,
}

/// What the ELF section said about a program loaded from an object (for the typed attach
/// methods in [`crate::link`]).
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: String,
    pub attach_type: Option<AttachType>,
    pub attach_to: Option<String>,
}

impl Program {
    pub(crate) fn new(
        fd: OwnedFd,
        name: &str,
        prog_type: ProgramType,
        log: Option<String>,
    ) -> Self {
        let (id, tag) = sys::prog_info(fd.as_fd()).map_or((0, [0; 8]), |i| (i.id, i.tag));
        Program {
            fd,
            name: name.to_owned(),
            prog_type,
            id,
            tag,
            pinned: None,
            log,
            section: None,
        }
    }

    /// Records the section `spec` came from (set by [`Collection`](crate::collection::Collection)
    /// loads).
    pub(crate) fn set_section(&mut self, spec: &ProgramSpec) {
        self.section = Some(Section {
            name: spec.section.clone(),
            attach_type: spec.expected_attach_type,
            attach_to: spec.attach_to.clone(),
        });
    }

    /// The ELF section the program came from (`"xdp"`, `"tracepoint/syscalls/sys_enter_openat"`),
    /// when it was loaded from an object.
    pub fn section(&self) -> Option<&str> {
        self.section.as_ref().map(|s| s.name.as_str())
    }

    /// The attach type the section implies (`expected_attach_type`), if any.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        self.section.as_ref().and_then(|s| s.attach_type)
    }

    /// The attach target named by the section (`"syscalls/sys_enter_openat"` for
    /// `tracepoint/syscalls/sys_enter_openat`, the function for `fentry/do_unlinkat`), if any.
    pub fn attach_to(&self) -> Option<&str> {
        self.section.as_ref().and_then(|s| s.attach_to.as_deref())
    }

    /// Wraps an existing program fd, reading its type, id and tag from the kernel.
    pub fn from_fd(fd: OwnedFd) -> Result<Program, ProgramError> {
        let info = sys::prog_info(fd.as_fd()).map_err(|source| ProgramError::Sys {
            program: format!("fd {}", fd.as_raw_fd()),
            op: "get info of",
            source,
        })?;
        Ok(Program {
            fd,
            name: sys::name_from_bytes(&info.name),
            prog_type: ProgramType(info.prog_type),
            id: info.id,
            tag: info.tag,
            pinned: None,
            log: None,
            section: None,
        })
    }

    /// Opens the program pinned at `path`.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Program, ProgramError> {
        let path = path.as_ref();
        let fd = sys::pin::open_pinned(path)
            .map_err(|f| ProgramError::pin(path.display().to_string(), f))?;
        Program::from_fd(fd)
    }

    /// Opens the program with kernel id `id`.
    pub fn from_id(id: u32) -> Result<Program, ProgramError> {
        let fd = sys::get_fd_by_id(ObjKind::Prog, id).map_err(|source| ProgramError::Sys {
            program: format!("id {id}"),
            op: "open",
            source,
        })?;
        Program::from_fd(fd)
    }

    /// Pins the program at `path` on bpffs.
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), ProgramError> {
        let path = sys::pin::pin(self.fd.as_fd(), path.as_ref())
            .map_err(|f| ProgramError::pin(self.name.clone(), f))?;
        self.pinned = Some(path);
        Ok(())
    }

    /// Removes the pin made by [`pin`](Self::pin); no-op if not pinned.
    pub fn unpin(&mut self) -> Result<(), ProgramError> {
        sys::pin::unpin(&mut self.pinned).map_err(|f| ProgramError::pin(self.name.clone(), f))
    }

    /// `struct bpf_prog_info`, fresh from the kernel.
    pub fn info(&self) -> Result<ProgInfo, ProgramError> {
        sys::prog_info(self.fd.as_fd()).map_err(|source| ProgramError::Sys {
            program: self.name.clone(),
            op: "get info of",
            source,
        })
    }

    /// The program fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Name (as loaded; the kernel keeps 15 bytes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Program type.
    pub fn prog_type(&self) -> ProgramType {
        self.prog_type
    }

    /// Kernel-wide id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The kernel's tag (hash of the instructions).
    pub fn tag(&self) -> [u8; 8] {
        self.tag
    }

    /// The verifier log, when the program was loaded with a non-zero `log_level`.
    pub fn verifier_log(&self) -> Option<&str> {
        self.log.as_deref()
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
