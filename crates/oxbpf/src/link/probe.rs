//! uprobes and kprobes: dynamic-PMU perf events (`/sys/bus/event_source/devices/{uprobe,kprobe}`)
//! attached like tracepoints (perf link, else ioctl), plus `kprobe.multi` links.
//!
//! A uprobe target is a file offset; [`symbol_offset`] finds it from the ELF symbol tables
//! (`.symtab`, then `.dynsym`) and program headers, with the `object` crate.

use super::perf::{attach_perf_event, perf_event_open, PerfEventAttr, PerfOptions};
use super::support::link_create_attr;
use super::{Link, LinkError};
use crate::spec::AttachType;
use crate::sys;
use object::{Object, ObjectSegment, ObjectSymbol};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const PMU_DIR: &str = "/sys/bus/event_source/devices";

/// The dynamic PMU type and retprobe config bit of `uprobe` / `kprobe`, or `None` if the
/// kernel has no such PMU.
fn pmu(kind: &str) -> Option<(u32, u32)> {
    let ty = std::fs::read_to_string(format!("{PMU_DIR}/{kind}/type")).ok()?;
    let ty = ty.trim().parse().ok()?;
    // "config:0" -> bit 0
    let bit = std::fs::read_to_string(format!("{PMU_DIR}/{kind}/format/retprobe"))
        .ok()
        .and_then(|s| s.trim().strip_prefix("config:")?.parse().ok())
        .unwrap_or(0);
    Some((ty, bit))
}

fn kprobes_missing() -> LinkError {
    LinkError::KernelLacks {
        what: "kprobes",
        reason: format!("CONFIG_KPROBE_EVENTS off: no kprobe PMU in {PMU_DIR}"),
    }
}

/// Where a uprobe goes in the binary.
#[derive(Debug, Clone, Copy)]
pub enum UprobeTarget<'a> {
    /// A function symbol (looked up with [`symbol_offset`]), plus a byte offset into it.
    Symbol(&'a str, u64),
    /// A file offset.
    Offset(u64),
}

/// Options for [`attach_uprobe`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct UprobeOptions {
    /// Trace only this process (`None`: every process running the binary).
    pub pid: Option<i32>,
    /// Fire on return instead of entry (uretprobe).
    pub retprobe: bool,
    /// Mechanism and cookie.
    pub perf: PerfOptions,
}

impl UprobeOptions {
    /// Sets [`pid`](Self::pid).
    pub fn pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }
    /// Sets [`retprobe`](Self::retprobe).
    pub fn retprobe(mut self, r: bool) -> Self {
        self.retprobe = r;
        self
    }
    /// Sets [`perf`](Self::perf).
    pub fn perf(mut self, p: PerfOptions) -> Self {
        self.perf = p;
        self
    }
}

/// The file offset of function `symbol` in the ELF file `binary`.
pub fn symbol_offset(binary: &Path, symbol: &str) -> Result<u64, LinkError> {
    let what = format!("find symbol {symbol:?} in {}", binary.display());
    let data = std::fs::read(binary).map_err(|source| LinkError::Io {
        what: format!("read {}", binary.display()),
        source,
    })?;
    let file = object::File::parse(&*data).map_err(|e| LinkError::Invalid {
        what: what.clone(),
        reason: format!("not a readable ELF file: {e}"),
    })?;
    let matches = |n: &str| n == symbol || n.split('@').next() == Some(symbol);
    let addr = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.is_definition() && s.name().is_ok_and(matches))
        .map(|s| s.address())
        .ok_or_else(|| LinkError::Invalid {
            what: what.clone(),
            reason: "no defined symbol of that name in .symtab or .dynsym; hint: check `nm -D` / `nm`, or pass a file offset".into(),
        })?;
    file.segments()
        .find(|seg| addr >= seg.address() && addr < seg.address() + seg.size())
        .map(|seg| addr - seg.address() + seg.file_range().0)
        .ok_or_else(|| LinkError::Invalid {
            what,
            reason: format!("address {addr:#x} is in no loadable segment"),
        })
}

/// Attaches the `kprobe`-type program `prog` as a uprobe (or uretprobe) on `binary` at
/// `target`.
///
/// ```no_run
/// use oxbpf::link::{attach_uprobe, UprobeOptions, UprobeTarget};
/// use std::path::Path;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("uprobe") int on_malloc(struct pt_regs *ctx) { ... }
/// let prog = &coll.programs()["on_malloc"];
/// let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
/// let _link = attach_uprobe(
///     prog.fd(),
///     libc,
///     UprobeTarget::Symbol("malloc", 0),
///     UprobeOptions::default().pid(1234), // only this process
/// )?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_uprobe(
    prog: BorrowedFd,
    binary: &Path,
    target: UprobeTarget,
    opts: UprobeOptions,
) -> Result<Link, LinkError> {
    let offset = match target {
        UprobeTarget::Symbol(s, off) => symbol_offset(binary, s)? + off,
        UprobeTarget::Offset(o) => o,
    };
    let kind = if opts.retprobe { "uretprobe" } else { "uprobe" };
    let what = format!("attach {kind} to {}:{offset:#x}", binary.display());
    let (ty, bit) = pmu("uprobe").ok_or_else(|| LinkError::KernelLacks {
        what: "uprobes",
        reason: format!("CONFIG_UPROBE_EVENTS off: no uprobe PMU in {PMU_DIR}"),
    })?;
    let path = CString::new(binary.as_os_str().as_bytes()).map_err(|_| LinkError::Invalid {
        what: what.clone(),
        reason: "path contains a NUL byte".into(),
    })?;
    let mut attr = PerfEventAttr {
        type_: ty,
        config: if opts.retprobe { 1 << bit } else { 0 },
        sample_period: 1,
        wakeup_events: 1,
        config1: sys::ptr_to_u64(path.as_ptr()),
        config2: offset,
        ..Default::default()
    };
    let (pid, cpu) = match opts.pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    };
    let event = perf_event_open(&mut attr, pid, cpu, &what)?;
    attach_perf_event(prog, event, opts.perf.cookie, opts.perf.mechanism, &what)
}

/// Attaches the `kprobe` program `prog` to kernel function `func` (+`offset`), or to its
/// return with `retprobe`. Kernels without kprobe events get [`LinkError::KernelLacks`].
///
/// ```no_run
/// use oxbpf::link::{attach_kprobe, PerfOptions};
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("kprobe/do_unlinkat") int on_unlink(struct pt_regs *ctx) { ... }
/// let prog = &coll.programs()["on_unlink"];
/// let _link = attach_kprobe(prog.fd(), "do_unlinkat", 0, false, PerfOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_kprobe(
    prog: BorrowedFd,
    func: &str,
    offset: u64,
    retprobe: bool,
    opts: PerfOptions,
) -> Result<Link, LinkError> {
    let kind = if retprobe { "kretprobe" } else { "kprobe" };
    let what = format!("attach {kind} to {func}+{offset:#x}");
    let (ty, bit) = pmu("kprobe").ok_or_else(kprobes_missing)?;
    let name = CString::new(func).map_err(|_| LinkError::Invalid {
        what: what.clone(),
        reason: "function name contains a NUL byte".into(),
    })?;
    let mut attr = PerfEventAttr {
        type_: ty,
        config: if retprobe { 1 << bit } else { 0 },
        sample_period: 1,
        wakeup_events: 1,
        config1: sys::ptr_to_u64(name.as_ptr()),
        config2: offset,
        ..Default::default()
    };
    let event = perf_event_open(&mut attr, -1, 0, &what)?;
    attach_perf_event(prog, event, opts.cookie, opts.mechanism, &what)
}

/// `BPF_F_KPROBE_MULTI_RETURN`.
const KPROBE_MULTI_RETURN: u32 = 1;

/// Attaches a `kprobe.multi` program to every function in `symbols` with one link
/// (`BPF_TRACE_KPROBE_MULTI`, v5.18+ with `CONFIG_FPROBE`).
///
/// ```no_run
/// use oxbpf::link::attach_kprobe_multi;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // SEC("kprobe.multi") int on_vfs(struct pt_regs *ctx) { ... }
/// let prog = &coll.programs()["on_vfs"];
/// let _link = attach_kprobe_multi(prog.fd(), &["vfs_read", "vfs_write"], false)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn attach_kprobe_multi(
    prog: BorrowedFd,
    symbols: &[&str],
    retprobe: bool,
) -> Result<Link, LinkError> {
    let what = format!("attach kprobe.multi to {} function(s)", symbols.len());
    let names = symbols
        .iter()
        .map(|s| CString::new(*s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| LinkError::Invalid {
            what: what.clone(),
            reason: "a symbol contains a NUL byte".into(),
        })?;
    let ptrs: Vec<u64> = names.iter().map(|n| sys::ptr_to_u64(n.as_ptr())).collect();
    let t = AttachType::TRACE_KPROBE_MULTI;
    let flags = if retprobe { KPROBE_MULTI_RETURN } else { 0 };
    let attr = link_create_attr(
        prog.as_raw_fd(),
        0,
        t,
        0,
        &[(0, flags), (4, ptrs.len() as u32)],
        &[(8, sys::ptr_to_u64(ptrs.as_ptr()))],
    );
    match sys::link_create(&attr) {
        Ok(fd) => Ok(Link::from_fd(fd)),
        Err(e) if (e.is_unsupported() || e.errno == libc::ENOENT) && pmu("kprobe").is_none() => {
            Err(kprobes_missing())
        }
        Err(source) => Err(LinkError::Sys { what, source }),
    }
}
