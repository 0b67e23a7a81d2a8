//! `BPF_PROG_TEST_RUN`: run a program on given input and read its result.

use super::error::ProgramError;
use super::program::Program;
use crate::sys::{self, attr::TestRunAttr, ptr_to_u64};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// `BPF_F_TEST_RUN_ON_CPU`: run on [`TestRunOpts::cpu`] (raw tracepoints).
pub const BPF_F_TEST_RUN_ON_CPU: u32 = 1 << 0;
/// `BPF_F_TEST_XDP_LIVE_FRAMES`: XDP frames really get transmitted/redirected.
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// Extra room given to output packets by default: programs may grow packets (XDP can add up
/// to a page of head- and tailroom).
const OUT_SLACK: usize = 4096;

/// Input and options of a test run.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestRunOpts<'a> {
    /// Packet data (empty for program types without packets, e.g. syscall).
    pub data_in: &'a [u8],
    /// Room for the output packet; default `data_in.len() + 4096` (none without `data_in`).
    pub data_out_size: Option<usize>,
    /// Context input (e.g. `struct xdp_md`, `struct __sk_buff`, syscall args).
    pub ctx_in: &'a [u8],
    /// Room for the output context; default `ctx_in.len()`. Syscall programs take 0 (the
    /// kernel refuses an output context) and report their context, written back in place,
    /// as [`TestRunOutput::ctx_out`].
    pub ctx_out_size: Option<usize>,
    /// Run this many times (0 = once); the duration is averaged.
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// CPU for [`BPF_F_TEST_RUN_ON_CPU`].
    pub cpu: u32,
    /// Frames per batch for [`BPF_F_TEST_XDP_LIVE_FRAMES`].
    pub batch_size: u32,
}

/// What a test run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value.
    pub retval: u32,
    /// Average time per run, as the kernel measured it.
    pub duration: Duration,
    /// The output packet.
    pub data_out: Vec<u8>,
    /// The output context.
    pub ctx_out: Vec<u8>,
}

impl Program {
    /// Runs the program once (or `repeat` times) in the kernel on `opts`' input.
    ///
    /// If the output does not fit (`ENOSPC`), the buffers are grown to the size the kernel
    /// reported and the program is run again — note that side effects then happen twice.
    ///
    /// ```no_run
    /// use oxbpf::prog::TestRunOpts;
    /// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
    /// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
    /// // An XDP program run on a 64-byte frame, without any interface.
    /// let prog = &coll.programs()["xdp_firewall"];
    /// let frame = [0u8; 64];
    /// let out = prog.test_run(&TestRunOpts {
    ///     data_in: &frame,
    ///     repeat: 1000, // the duration is the mean over the runs
    ///     ..Default::default()
    /// })?;
    /// println!("verdict {} in {:?}, {} bytes out", out.retval, out.duration, out.data_out.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn test_run(&self, opts: &TestRunOpts) -> Result<TestRunOutput, ProgramError> {
        let mut data_cap = opts.data_out_size.unwrap_or(if opts.data_in.is_empty() {
            0
        } else {
            opts.data_in.len() + OUT_SLACK
        });
        let mut ctx_cap = opts.ctx_out_size.unwrap_or(opts.ctx_in.len());
        let mut grown = false;
        // Syscall programs get their context written back into the input buffer: give the
        // kernel a private copy and report it as the output context.
        let in_place = self.prog_type() == crate::spec::ProgramType::SYSCALL;
        loop {
            let mut ctx_in = opts.ctx_in.to_vec();
            let mut data_out = vec![0u8; data_cap];
            let mut ctx_out = vec![0u8; ctx_cap];
            let ptr_or_null = |b: &[u8]| {
                if b.is_empty() {
                    0
                } else {
                    ptr_to_u64(b.as_ptr())
                }
            };
            let mut attr = TestRunAttr {
                prog_fd: self.fd().as_raw_fd() as u32,
                data_size_in: opts.data_in.len() as u32,
                data_size_out: data_cap as u32,
                data_in: ptr_or_null(opts.data_in),
                data_out: if data_cap == 0 {
                    0
                } else {
                    ptr_to_u64(data_out.as_mut_ptr())
                },
                repeat: opts.repeat,
                ctx_size_in: opts.ctx_in.len() as u32,
                ctx_size_out: ctx_cap as u32,
                ctx_in: if ctx_in.is_empty() {
                    0
                } else {
                    ptr_to_u64(ctx_in.as_mut_ptr())
                },
                ctx_out: if ctx_cap == 0 {
                    0
                } else {
                    ptr_to_u64(ctx_out.as_mut_ptr())
                },
                flags: opts.flags,
                cpu: opts.cpu,
                batch_size: opts.batch_size,
                ..Default::default()
            };
            match sys::prog_test_run(&mut attr) {
                Ok(()) => {
                    data_out.truncate((attr.data_size_out as usize).min(data_cap));
                    ctx_out.truncate((attr.ctx_size_out as usize).min(ctx_cap));
                    if in_place && ctx_cap == 0 {
                        ctx_out = ctx_in;
                    }
                    return Ok(TestRunOutput {
                        retval: attr.retval,
                        duration: Duration::from_nanos(u64::from(attr.duration)),
                        data_out,
                        ctx_out,
                    });
                }
                Err(e)
                    if e.errno == libc::ENOSPC
                        && !grown
                        && (attr.data_size_out as usize > data_cap
                            || attr.ctx_size_out as usize > ctx_cap) =>
                {
                    grown = true;
                    data_cap = data_cap.max(attr.data_size_out as usize);
                    ctx_cap = ctx_cap.max(attr.ctx_size_out as usize);
                }
                Err(source) => {
                    return Err(ProgramError::Sys {
                        program: self.name().into(),
                        op: "test run",
                        source,
                    })
                }
            }
        }
    }
}
