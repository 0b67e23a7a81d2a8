//! `BPF_PROG_LOAD` with the verifier log handled: a fast attempt without log, then retries
//! with a log buffer that grows until the whole log fits.

use super::error::ProgramError;
use super::program::Program;
use super::verifier::{failing_insn, log_tail, source_from_log, SourceLookup, TAIL_LINES};
use crate::asm::Insn;
use crate::spec::{AttachType, ProgramType};
use crate::sys::{self, attr::ProgLoadAttr, ptr_to_u64, SysError};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};

/// First log buffer size.
const LOG_START: u32 = 64 * 1024;
/// The largest log buffer the kernel accepts (`UINT_MAX >> 8`).
const LOG_MAX: u32 = u32::MAX >> 8;

/// Everything `BPF_PROG_LOAD` takes. Build with [`LoadRequest::new`] and set what you need.
#[derive(Default, Clone, Copy)]
pub struct LoadRequest<'a> {
    /// Program name (the kernel keeps 15 bytes of `[A-Za-z0-9_.]`).
    pub name: &'a str,
    /// Program type.
    pub prog_type: ProgramType,
    /// `expected_attach_type`.
    pub expected_attach_type: Option<AttachType>,
    /// Instructions.
    pub insns: &'a [Insn],
    /// License string (`"GPL"` for GPL-only helpers).
    pub license: &'a str,
    /// Kernel version code (old kprobe loaders only).
    pub kernel_version: u32,
    /// `prog_flags`.
    pub flags: u32,
    /// Program BTF (needed for func/line info).
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// `bpf_func_info` records as bytes.
    pub func_info: &'a [u8],
    /// Size of one func_info record.
    pub func_info_rec_size: u32,
    /// Number of func_info records.
    pub func_info_cnt: u32,
    /// `bpf_line_info` records as bytes.
    pub line_info: &'a [u8],
    /// Size of one line_info record.
    pub line_info_rec_size: u32,
    /// Number of line_info records.
    pub line_info_cnt: u32,
    /// BTF id of the attach target (fentry, tp_btf, lsm, ext...).
    pub attach_btf_id: u32,
    /// BTF object (module or vmlinux) holding `attach_btf_id`.
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// Program to attach to (freplace, fentry on BPF).
    pub attach_prog_fd: Option<BorrowedFd<'a>>,
    /// `fd_array` for `BPF_PSEUDO_MAP_IDX` and kfunc module BTFs.
    pub fd_array: &'a [i32],
    /// Offload/dev-bound ifindex.
    pub prog_ifindex: u32,
    /// Verifier log level: 0 = log only on failure; otherwise always log at this level and
    /// keep the log ([`Program::verifier_log`]).
    pub log_level: u32,
    /// Maps an instruction index to `"file:line: source"` for error messages.
    pub source_lookup: Option<SourceLookup<'a>>,
}

impl std::fmt::Debug for LoadRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadRequest")
            .field("name", &self.name)
            .field("prog_type", &self.prog_type)
            .field("expected_attach_type", &self.expected_attach_type)
            .field("insns", &self.insns.len())
            .field("license", &self.license)
            .field("flags", &self.flags)
            .field("log_level", &self.log_level)
            .finish_non_exhaustive()
    }
}

impl<'a> LoadRequest<'a> {
    /// A request with the required fields; everything else zero.
    pub fn new(name: &'a str, prog_type: ProgramType, insns: &'a [Insn], license: &'a str) -> Self {
        LoadRequest {
            name,
            prog_type,
            insns,
            license,
            ..Default::default()
        }
    }
}

/// Loads a program. On failure the error carries the verifier log (see [`ProgramError::Verifier`]).
pub fn load(req: &LoadRequest) -> Result<Program, ProgramError> {
    let license = CString::new(req.license).map_err(|_| ProgramError::Invalid {
        program: req.name.into(),
        op: "load",
        reason: "license contains a NUL byte".into(),
    })?;
    if req.attach_btf_obj_fd.is_some() && req.attach_prog_fd.is_some() {
        return Err(ProgramError::Invalid {
            program: req.name.into(),
            op: "load",
            reason: "attach_btf_obj_fd and attach_prog_fd are exclusive".into(),
        });
    }
    let insns = Insn::encode_all(req.insns);
    let raw = |fd: Option<BorrowedFd>| fd.map_or(0, |f| f.as_raw_fd() as u32);
    let mut attr = ProgLoadAttr {
        prog_type: req.prog_type.0,
        insn_cnt: req.insns.len() as u32,
        insns: ptr_to_u64(insns.as_ptr()),
        license: ptr_to_u64(license.as_ptr()),
        kern_version: req.kernel_version,
        prog_flags: req.flags,
        prog_name: sys::object_name(req.name),
        prog_ifindex: req.prog_ifindex,
        expected_attach_type: req.expected_attach_type.map_or(0, |t| t.0),
        prog_btf_fd: raw(req.btf_fd),
        attach_btf_id: req.attach_btf_id,
        attach_prog_fd: raw(req.attach_btf_obj_fd.or(req.attach_prog_fd)),
        ..Default::default()
    };
    if req.func_info_cnt > 0 {
        attr.func_info = ptr_to_u64(req.func_info.as_ptr());
        attr.func_info_rec_size = req.func_info_rec_size;
        attr.func_info_cnt = req.func_info_cnt;
    }
    if req.line_info_cnt > 0 {
        attr.line_info = ptr_to_u64(req.line_info.as_ptr());
        attr.line_info_rec_size = req.line_info_rec_size;
        attr.line_info_cnt = req.line_info_cnt;
    }
    if !req.fd_array.is_empty() {
        attr.fd_array = ptr_to_u64(req.fd_array.as_ptr());
    }

    if req.log_level == 0 {
        match sys::prog_load(&mut attr) {
            Ok(fd) => return Ok(Program::new(fd, req.name, req.prog_type, None)),
            Err(e) => {
                tracing::debug!(program = req.name, error = %e, "load failed, retrying with verifier log")
            }
        }
    }
    let mut size = LOG_START;
    loop {
        let mut buf = vec![0u8; size as usize];
        attr.log_level = req.log_level.max(1);
        attr.log_size = size;
        attr.log_buf = ptr_to_u64(buf.as_mut_ptr());
        attr.log_true_size = 0;
        let res = sys::prog_load(&mut attr);
        let log = sys::name_from_bytes(&buf);
        match res {
            Ok(fd) => {
                let keep = (req.log_level > 0).then_some(log);
                return Ok(Program::new(fd, req.name, req.prog_type, keep));
            }
            Err(e) if e.errno == libc::ENOSPC && size < LOG_MAX => {
                let wanted = attr.log_true_size;
                size = if wanted > size {
                    wanted.min(LOG_MAX)
                } else {
                    size.saturating_mul(4).min(LOG_MAX)
                };
            }
            Err(error) => {
                let source_line = failing_insn(&log)
                    .and_then(|i| req.source_lookup.and_then(|f| f(i)))
                    .or_else(|| source_from_log(&log));
                let hint = load_hint(req, &error, &log);
                return Err(ProgramError::Verifier {
                    program: req.name.into(),
                    error,
                    log_tail: log_tail(&log, TAIL_LINES),
                    source_line,
                    log: log.into_boxed_str(),
                    hint,
                });
            }
        }
    }
}

/// Without `CAP_PERFMON` the verifier runs in its unprivileged mode (`bpf_allow_ptr_leaks`,
/// `bpf_bypass_spec_v1`: both `perfmon_capable`) and prohibits pointer arithmetic and
/// comparisons and address leaks that it allows otherwise; it answers `EACCES`.
fn unprivileged_verifier_hint(req: &LoadRequest, error: &SysError, log: &str) -> Option<String> {
    use crate::sys::caps::{Cap, CapSet};
    let strict = log.contains(" prohibited") || log.contains("leaks addr");
    let lacks = CapSet::effective().is_some_and(|c| !c.satisfies(Cap::Perfmon));
    (error.errno == libc::EACCES && strict && lacks).then(|| {
        format!(
            "BPF_PROG_LOAD (program type {}) needs CAP_PERFMON, which this process lacks: \
             without it the verifier prohibits pointer arithmetic, pointer comparisons and \
             address leaks (its unprivileged mode)",
            req.prog_type
        )
    })
}

/// A hint for failures whose errno alone misleads.
fn load_hint(req: &LoadRequest, error: &SysError, log: &str) -> Option<String> {
    let tracing = matches!(
        req.prog_type,
        ProgramType::TRACING | ProgramType::LSM | ProgramType::EXT
    );
    if error.errno == libc::EPERM
        && log.trim().is_empty()
        && tracing
        && unsafe { libc::geteuid() } == 0
        && error.missing_capabilities().is_empty()
    {
        let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown").ok();
        let mode = lockdown
            .as_deref()
            .and_then(|l| l.split('[').nth(1)?.split(']').next())
            .map(|m| format!(" (lockdown is [{m}])"))
            .unwrap_or_default();
        return Some(format!(
            "refused although running as root: kernel lockdown or a security module forbids {} programs here{mode}",
            req.prog_type
        ));
    }
    if let Some(h) = unprivileged_verifier_hint(req, error, log) {
        return Some(h);
    }
    if req.prog_ifindex != 0 && error.errno == libc::EOPNOTSUPP && log.trim().is_empty() {
        return Some(format!(
            "device {} cannot take device-bound XDP programs (its driver has no XDP metadata support)",
            req.prog_ifindex
        ));
    }
    if log.contains("metadata kfuncs require device-bound program") {
        return Some(
            "XDP metadata kfuncs need a device-bound program: load it with \
             CollectionOptions::dev_bound / `oxbpf load --dev-bound PROG@IFACE` (requires >= v6.3)"
                .into(),
        );
    }
    None
}
