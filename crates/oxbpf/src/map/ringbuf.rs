//! [`RingBuf`]: the consumer side of a `BPF_MAP_TYPE_RINGBUF`.
//!
//! Layout (kernel `bpf_ringbuf`): page 0 holds the consumer position (we write it); page 1 the
//! producer position (the kernel writes it); then the data area, mapped twice back to back so a
//! record that wraps is still contiguous. Each record starts with an 8-byte header whose first
//! `u32` is the length plus the BUSY (still being written) and DISCARD (skip it) bits; records
//! are 8-byte aligned. Positions are published with release stores and read with acquire loads.
//! Hand-written because no maintained crate reads BPF ring buffers without pulling in a loader.

use super::error::MapError;
use super::handle::Map;
use super::mmap::{page_size, Mmap};
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HDR: u64 = 8;

/// Reader of a ring buffer map.
///
/// Records are read in the order the programs committed them; each is borrowed from the ring
/// until the [`RingBufItem`] is dropped. The map fd is readable when records are waiting, so
/// it can also be polled with an event loop.
///
/// ```no_run
/// use oxbpf::map::RingBuf;
/// use std::time::Duration;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");
/// //    and bpf_ringbuf_reserve / bpf_ringbuf_submit in the program.
/// let mut ring = RingBuf::new(coll.map("events").unwrap())?;
/// loop {
///     // Waits (epoll) up to 1 s for the next record.
///     if let Some(record) = ring.next_timeout(Duration::from_secs(1))? {
///         let pid = u32::from_ne_bytes(record[..4].try_into()?); // first field of the C struct
///         println!("{pid}: {} bytes", record.len());
///     } // dropping the record gives its space back
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RingBuf<M> {
    map: M,
    consumer: Mmap,
    producer: Mmap,
    mask: u64,
    data_off: usize,
    epoll: OwnedFd,
}

/// One record, borrowed from the ring; dropping it gives the space back to producers.
#[derive(Debug)]
pub struct RingBufItem<'a> {
    data: &'a [u8],
    consumer_pos: &'a AtomicU64,
    next_pos: u64,
}

impl std::ops::Deref for RingBufItem<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data
    }
}

impl RingBufItem<'_> {
    /// The record as a `T` (e.g. a `#[derive(bytemuck::Pod, bytemuck::Zeroable)]` mirror of
    /// the C struct), read unaligned; [`MapError::RecordSize`] if the record is shorter.
    pub fn read<T: super::Pod>(&self) -> Result<T, MapError> {
        super::pod::read_record(self.data)
    }
}

impl Drop for RingBufItem<'_> {
    fn drop(&mut self) {
        self.consumer_pos.store(self.next_pos, Ordering::Release);
    }
}

impl<M: Borrow<Map>> RingBuf<M> {
    /// Maps the ring buffer of `map` and prepares an epoll instance for waiting.
    pub fn new(map: M) -> Result<Self, MapError> {
        let m = map.borrow();
        check(m, "RingBuf", &[MapType::RINGBUF], None, None)?;
        let size = m.max_entries() as usize;
        let page = page_size();
        let io = |e| m.io_err("mmap ring buffer of", e);
        let consumer = Mmap::new(m.fd(), page, 0, true).map_err(io)?;
        let producer = Mmap::new(m.fd(), page + 2 * size, page, false).map_err(io)?;
        // SAFETY: epoll_create1 has no preconditions; result checked.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(m.io_err("create epoll for", std::io::Error::last_os_error()));
        }
        // SAFETY: epfd is a fresh fd we own.
        let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: valid fds and event pointer.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, m.fd().as_raw_fd(), &mut ev) } < 0 {
            return Err(m.io_err("watch ring buffer", std::io::Error::last_os_error()));
        }
        Ok(RingBuf {
            map,
            consumer,
            producer,
            mask: size as u64 - 1,
            data_off: page,
            epoll,
        })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: page 0 of the mapping is the kernel's 8-byte aligned consumer_pos.
        unsafe { &*(self.consumer.ptr() as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: the producer page starts with the kernel's producer_pos.
        unsafe { &*(self.producer.ptr() as *const AtomicU64) }
    }

    fn data(&self, pos: u64) -> *const u8 {
        // SAFETY: masked offset lies inside the (doubly mapped) data area.
        unsafe {
            self.producer
                .ptr()
                .add(self.data_off + (pos & self.mask) as usize)
        }
    }

    /// Skips discarded records; returns the position and length of the next committed record.
    fn peek(&self) -> Option<(u64, u32)> {
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        loop {
            let prod = self.producer_pos().load(Ordering::Acquire);
            if cons >= prod {
                return None;
            }
            // SAFETY: record headers are 8-byte aligned u32s inside the data area.
            let hdr = unsafe { &*(self.data(cons) as *const AtomicU32) }.load(Ordering::Acquire);
            if hdr & BUSY != 0 {
                return None;
            }
            let len = hdr & !(BUSY | DISCARD);
            if hdr & DISCARD != 0 {
                cons += (u64::from(len) + HDR + 7) & !7;
                self.consumer_pos().store(cons, Ordering::Release);
                continue;
            }
            return Some((cons, len));
        }
    }

    /// True if a committed record is waiting (discarded ones are skipped).
    pub fn has_record(&self) -> bool {
        self.peek().is_some()
    }

    /// The next committed record, or `None` if none is ready now.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<RingBufItem<'_>> {
        let (pos, len) = self.peek()?;
        let start = self.data(pos + HDR);
        // SAFETY: the record lies wholly in the data area thanks to the double mapping, and the
        // producer no longer writes it (BUSY clear, observed with acquire).
        let data = unsafe { std::slice::from_raw_parts(start, len as usize) };
        Some(RingBufItem {
            data,
            consumer_pos: self.consumer_pos(),
            next_pos: pos + ((u64::from(len) + HDR + 7) & !7),
        })
    }

    /// Waits up to `timeout` for a record (epoll on the map fd).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<RingBufItem<'_>>, MapError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.peek().is_some() {
                return Ok(self.next());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: valid epoll fd and one-element buffer.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(self.map().io_err("wait on ring buffer", e));
                }
            }
        }
    }
}

impl<M: Borrow<Map>> AsRawFd for RingBuf<M> {
    /// The map fd (for `poll`, `epoll` or tokio's `AsyncFd`).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.map().fd().as_raw_fd()
    }
}

impl<M: Borrow<Map>> AsFd for RingBuf<M> {
    /// The map fd: readable (`POLLIN`) when records are available.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map().fd()
    }
}
