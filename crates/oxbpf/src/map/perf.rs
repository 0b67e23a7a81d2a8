//! [`PerfEventArray`] and its per-CPU [`PerfBuffer`] readers (`bpf_perf_event_output`).
//!
//! Each buffer is a `PERF_COUNT_SW_BPF_OUTPUT` software event opened on one CPU, whose fd is
//! stored in the map at that CPU's index; the kernel appends `PERF_RECORD_SAMPLE` records (raw
//! data) and `PERF_RECORD_LOST` records to the event's mmap'ed ring. The ring's `data_head` is
//! read with acquire and `data_tail` written with release ordering. Hand-written: the perf ring
//! format is small and the crates that read it are tied to whole tracing frameworks.

use super::cpus::online_cpus;
use super::error::MapError;
use super::handle::Map;
use super::mmap::{page_size, Mmap};
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
/// Offsets of `data_head`/`data_tail` in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER1` (72 bytes): all this reader sets.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
}
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 72);

/// One record from a perf buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerfRecord {
    /// Data from `bpf_perf_event_output`. The kernel pads raw samples so that the `u32` size
    /// plus data is a multiple of 8: up to 7 trailing zero bytes may follow what was written.
    Sample(Vec<u8>),
    /// The ring was full: this many samples were dropped.
    Lost(u64),
}

impl PerfRecord {
    /// A sample as a `T` (read unaligned; the kernel's trailing padding is ignored); an error
    /// for a [`Lost`](Self::Lost) record or a sample shorter than `T`.
    pub fn read<T: super::Pod>(&self) -> Result<T, MapError> {
        match self {
            PerfRecord::Sample(b) => super::pod::read_record(b),
            PerfRecord::Lost(n) => Err(MapError::LostRecords(*n)),
        }
    }
}

/// A `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
#[derive(Debug)]
pub struct PerfEventArray<M> {
    map: M,
}

impl<M: Borrow<Map>> PerfEventArray<M> {
    /// Wraps `map`, checking its type and 4-byte keys and values.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(
            map.borrow(),
            "PerfEventArray",
            &[MapType::PERF_EVENT_ARRAY],
            Some(4),
            Some(4),
        )?;
        Ok(PerfEventArray { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Opens a buffer of `pages` data pages (a power of two) for `cpu` and stores it in the map.
    pub fn open(&self, cpu: u32, pages: usize) -> Result<PerfBuffer, MapError> {
        let m = self.map();
        let op = "open perf buffer for";
        if !pages.is_power_of_two() {
            return Err(MapError::Invalid {
                map: m.name().into(),
                op,
                reason: format!("page count {pages} is not a power of two"),
            });
        }
        let mut attr = PerfEventAttr {
            type_: PERF_TYPE_SOFTWARE,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: PERF_COUNT_SW_BPF_OUTPUT,
            sample_period: 1,
            sample_type: PERF_SAMPLE_RAW,
            wakeup_events: 1,
            ..Default::default()
        };
        // SAFETY: attr is a valid perf_event_attr of the size it declares.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &mut attr as *mut PerfEventAttr,
                -1 as libc::pid_t,
                cpu as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(m.io_err(op, std::io::Error::last_os_error()));
        }
        // SAFETY: fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let page = page_size();
        let size = pages * page;
        let mmap = Mmap::new(fd.as_fd(), page + size, 0, true).map_err(|e| m.io_err(op, e))?;
        // SAFETY: ioctl on our perf fd.
        if unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) } < 0 {
            return Err(m.io_err(op, std::io::Error::last_os_error()));
        }
        m.update(
            &cpu.to_ne_bytes(),
            &(fd.as_raw_fd() as u32).to_ne_bytes(),
            0,
        )?;
        Ok(PerfBuffer {
            cpu,
            map_fd: m.try_clone_fd()?,
            map_name: m.name().into(),
            fd,
            mmap,
            page,
            size: size as u64,
        })
    }

    /// Opens one buffer per online CPU.
    pub fn open_all(&self, pages: usize) -> Result<Vec<PerfBuffer>, MapError> {
        let cpus = online_cpus().map_err(|e| self.map().io_err("list CPUs for", e))?;
        cpus.into_iter().map(|c| self.open(c, pages)).collect()
    }
}

/// One CPU's perf ring. Dropping it removes it from the map.
///
/// Made by [`PerfEventArray::open`] or [`PerfEventArray::open_all`]; wait on several with
/// [`poll_buffers`].
///
/// ```no_run
/// use oxbpf::map::{poll_buffers, PerfEventArray, PerfRecord};
/// use std::time::Duration;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4);
/// //             __uint(value_size, 4); } events SEC(".maps");
/// //    and bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e)).
/// let events = PerfEventArray::new(coll.map("events").unwrap())?;
/// let mut buffers = events.open_all(8)?; // 8 pages per online CPU
/// loop {
///     for i in poll_buffers(&buffers, Duration::from_secs(1))? {
///         while let Some(record) = buffers[i].next() {
///             match record {
///                 PerfRecord::Sample(data) => println!("cpu {}: {data:?}", buffers[i].cpu()),
///                 PerfRecord::Lost(n) => eprintln!("lost {n} samples"),
///             }
///         }
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PerfBuffer {
    cpu: u32,
    map_fd: OwnedFd,
    map_name: String,
    fd: OwnedFd,
    mmap: Mmap,
    page: usize,
    size: u64,
}

impl PerfBuffer {
    /// The CPU this buffer receives from.
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: data_head lives at a fixed 8-aligned offset in the metadata page.
        unsafe { &*(self.mmap.ptr().add(DATA_HEAD) as *const AtomicU64) }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as for head.
        unsafe { &*(self.mmap.ptr().add(DATA_TAIL) as *const AtomicU64) }
    }

    fn copy_out(&self, pos: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let base = self.mmap.ptr().wrapping_add(self.page);
        let start = (pos % self.size) as usize;
        let first = len.min(self.size as usize - start);
        // SAFETY: both copies stay inside the data area [base, base+size).
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(base, out.as_mut_ptr().add(first), len - first);
        }
        out
    }

    /// True if records are waiting.
    pub fn readable(&self) -> bool {
        self.head().load(Ordering::Acquire) != self.tail().load(Ordering::Relaxed)
    }

    /// The next record, or `None` if the ring is empty. Unknown record types are skipped.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<PerfRecord> {
        loop {
            let head = self.head().load(Ordering::Acquire);
            let tail = self.tail().load(Ordering::Relaxed);
            if tail >= head {
                return None;
            }
            let hdr = self.copy_out(tail, 8);
            let kind = u32::from_ne_bytes(hdr[0..4].try_into().expect("4"));
            let size = u16::from_ne_bytes(hdr[6..8].try_into().expect("2")) as u64;
            if size < 8 {
                // Corrupt header: drop everything to resynchronise.
                self.tail().store(head, Ordering::Release);
                return None;
            }
            let body = self.copy_out(tail + 8, size as usize - 8);
            self.tail().store(tail + size, Ordering::Release);
            let word = |i: usize| {
                body.get(i..i + 8)
                    .map(|b| u64::from_ne_bytes(b.try_into().expect("8")))
            };
            match kind {
                PERF_RECORD_SAMPLE if body.len() >= 4 => {
                    let n = u32::from_ne_bytes(body[0..4].try_into().expect("4")) as usize;
                    let n = n.min(body.len() - 4);
                    return Some(PerfRecord::Sample(body[4..4 + n].to_vec()));
                }
                PERF_RECORD_LOST => return Some(PerfRecord::Lost(word(8).unwrap_or(0))),
                _ => continue,
            }
        }
    }

    /// Drains every waiting record.
    pub fn read_all(&mut self) -> Vec<PerfRecord> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

impl AsRawFd for PerfBuffer {
    /// The perf event fd (for `poll`, `epoll` or tokio's `AsyncFd`).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PerfBuffer {
    /// The perf event fd: readable (`POLLIN`) when a wakeup was signalled.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for PerfBuffer {
    fn drop(&mut self) {
        if let Err(e) = crate::sys::map_delete_elem(self.map_fd.as_fd(), &self.cpu.to_ne_bytes()) {
            tracing::debug!(map = %self.map_name, cpu = self.cpu, error = %e, "removing perf buffer from map");
        }
    }
}

/// Waits up to `timeout` until some of `buffers` have records; returns their indices.
pub fn poll_buffers(buffers: &[PerfBuffer], timeout: Duration) -> std::io::Result<Vec<usize>> {
    let ready: Vec<usize> = (0..buffers.len())
        .filter(|&i| buffers[i].readable())
        .collect();
    if !ready.is_empty() {
        return Ok(ready);
    }
    let mut fds: Vec<libc::pollfd> = buffers
        .iter()
        .map(|b| libc::pollfd {
            fd: b.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: fds is a valid array of pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((0..buffers.len())
        .filter(|&i| buffers[i].readable())
        .collect())
}
