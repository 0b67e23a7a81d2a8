//! The raw operations probes are made of: load a tiny program, create a map, load a BTF
//! blob. No retries, no log growth: probe programs are a few instructions long.

use crate::asm::Insn;
use crate::spec::ProgramType;
use crate::sys::{self, attr::ProgLoadAttr, ptr_to_u64, SysError};
use std::os::fd::OwnedFd;

/// Verifier log buffer for probes (the log of a two-instruction program is ~200 bytes).
const LOG_SIZE: usize = 4096;

/// A probe program: type, attach settings and instructions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProbeProg<'a> {
    pub prog_type: ProgramType,
    pub expected_attach_type: u32,
    pub flags: u32,
    pub attach_btf_id: u32,
    pub kern_version: u32,
    pub insns: &'a [Insn],
}

/// What `BPF_PROG_LOAD` said.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// The program loaded.
    Fd(OwnedFd),
    /// It did not; `log` is the verifier log (empty if the verifier never ran or no log
    /// was asked for).
    Failed { err: SysError, log: String },
}

/// `r0 = 0; exit`.
pub(crate) const RET0: [Insn; 2] = [Insn::mov64_imm(0, 0), Insn::exit()];

/// Loads `p` (license GPL), with a verifier log when `with_log`.
pub(crate) fn load(p: &ProbeProg, with_log: bool) -> Loaded {
    let mut log = if with_log {
        vec![0u8; LOG_SIZE]
    } else {
        Vec::new()
    };
    let insns = Insn::encode_all(p.insns);
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type: p.prog_type.0,
        insn_cnt: p.insns.len() as u32,
        insns: ptr_to_u64(insns.as_ptr()),
        license: ptr_to_u64(license.as_ptr()),
        kern_version: p.kern_version,
        prog_flags: p.flags,
        expected_attach_type: p.expected_attach_type,
        attach_btf_id: p.attach_btf_id,
        ..Default::default()
    };
    if with_log {
        attr.log_level = 1;
        attr.log_size = LOG_SIZE as u32;
        attr.log_buf = ptr_to_u64(log.as_mut_ptr());
    }
    match sys::prog_load(&mut attr) {
        Ok(fd) => Loaded::Fd(fd),
        Err(err) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Loaded::Failed {
                err,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            }
        }
    }
}
