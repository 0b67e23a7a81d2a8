//! The four AF_XDP rings, mapped with the kernel's offsets: [`FillQueue`] and [`TxQueue`]
//! (user produces), [`RxQueue`] and [`CompQueue`] (user consumes).
//!
//! Ordering: the kernel publishes with a release store of its producer index and reads our
//! consumer index with an acquire load (and the reverse for the rings we produce). So we read
//! the other side's index with `Acquire` before touching descriptors, and publish ours with
//! `Release` after writing (or after reading) them. Indices only ever grow and wrap; every
//! distance is computed with wrapping arithmetic and clamped to the ring size, so a bogus
//! index from the kernel can skip descriptors but never reads outside the mapping.

use super::abi::{self, RingOffset, XdpDesc};
use super::error::XskError;
use super::umem::{Frame, UmemShared};
use crate::map::mmap::Mmap;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// One mapped ring: indices, flags word and descriptor array.
pub(crate) struct Ring {
    _map: Option<Mmap>,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
}

// SAFETY: the pointers target the ring's own mapping, owned by the struct; one user thread
// owns the ring (`&mut self` for every index update).
unsafe impl Send for Ring {}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("size", &self.size).finish()
    }
}

impl Ring {
    /// Maps the ring of `entries` descriptors of `entry` bytes at page offset `pgoff` of `fd`.
    pub(crate) fn map(
        fd: BorrowedFd,
        off: &RingOffset,
        entries: u32,
        entry: usize,
        pgoff: u64,
        what: &'static str,
    ) -> Result<Ring, XskError> {
        let len = off.desc as usize + entries as usize * entry;
        for o in [off.producer, off.consumer, off.flags] {
            if o as usize + 4 > len || o % 4 != 0 {
                return Err(XskError::sys(
                    what,
                    std::io::Error::other(format!("kernel ring offset {o} outside the ring")),
                ));
            }
        }
        let map = Mmap::new(fd, len, pgoff as usize, true).map_err(|e| XskError::sys(what, e))?;
        let base = map.ptr();
        // SAFETY: offsets checked against the mapping's length above.
        let ring = unsafe {
            Ring {
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                desc: base.add(off.desc as usize),
                mask: entries - 1,
                size: entries,
                cached_prod: 0,
                cached_cons: 0,
                _map: Some(map),
            }
        };
        let mut ring = ring;
        ring.cached_prod = ring.prod().load(Ordering::Acquire);
        ring.cached_cons = ring.cons().load(Ordering::Acquire);
        Ok(ring)
    }

    fn prod(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping, 4-byte aligned (checked in `map`).
        unsafe { &*self.producer }
    }

    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as in `prod`.
        unsafe { &*self.consumer }
    }

    /// Whether the kernel asked for a wakeup syscall (`XDP_RING_NEED_WAKEUP`).
    #[inline]
    pub(crate) fn needs_wakeup(&self) -> bool {
        // SAFETY: as in `prod`.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & abi::XDP_RING_NEED_WAKEUP != 0
    }

    /// Producer side: free slots, re-reading the kernel's consumer if fewer than `want`.
    #[inline]
    fn free(&mut self, want: u32) -> u32 {
        let free = self
            .size
            .saturating_sub(self.cached_prod.wrapping_sub(self.cached_cons));
        if free >= want {
            return free;
        }
        self.cached_cons = self.cons().load(Ordering::Acquire);
        self.size
            .saturating_sub(self.cached_prod.wrapping_sub(self.cached_cons))
    }

    /// Producer side: publishes `n` descriptors written after the last published one.
    #[inline]
    fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.prod().store(self.cached_prod, Ordering::Release);
    }

    /// Consumer side: up to `want` descriptors ready, re-reading the kernel's producer only
    /// when none are left from the last read (a read of a cache line the kernel writes).
    #[inline]
    fn ready(&mut self, want: u32) -> u32 {
        let mut ready = self.cached_prod.wrapping_sub(self.cached_cons);
        if ready == 0 || ready > self.size {
            self.cached_prod = self.prod().load(Ordering::Acquire);
            ready = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        ready.min(self.size).min(want)
    }

    /// Consumer side: gives `n` slots back to the kernel.
    #[inline]
    fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.cons().store(self.cached_cons, Ordering::Release);
    }

    /// Pointer to slot `i` (masked) of entries of type `T`.
    #[inline]
    fn slot<T>(&self, i: u32) -> *mut T {
        // SAFETY: masked index < size; the mapping holds `size` entries of T from `desc`.
        unsafe { self.desc.cast::<T>().add((i & self.mask) as usize) }
    }
}

/// Counts descriptors from the kernel that named no frame the kernel held.
fn skip_invalid(invalid: &mut u64, desc: impl std::fmt::Debug) {
    *invalid += 1;
    if *invalid <= 8 {
        tracing::warn!("AF_XDP: ignored malformed descriptor {desc:?} (outside the UMEM, across frames or a frame user space holds)");
    }
}

macro_rules! queue {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pub(crate) ring: Ring,
            pub(crate) umem: Arc<UmemShared>,
            pub(crate) invalid: u64,
        }

        impl $name {
            /// Wraps a mapped ring of `umem`'s socket.
            pub(crate) fn new(ring: Ring, umem: Arc<UmemShared>) -> Self {
                $name {
                    ring,
                    umem,
                    invalid: 0,
                }
            }

            /// Ring entries.
            pub fn size(&self) -> u32 {
                self.ring.size
            }

            /// Whether the kernel waits for a wakeup syscall (`XDP_RING_NEED_WAKEUP`).
            #[inline]
            pub fn needs_wakeup(&self) -> bool {
                self.ring.needs_wakeup()
            }

            /// Descriptors from the kernel ignored as malformed so far.
            pub fn invalid(&self) -> u64 {
                self.invalid
            }
        }
    };
}

queue!(
    /// The fill ring: empty frames given to the kernel to receive into.
    FillQueue
);
queue!(
    /// The completion ring: frames the kernel has finished sending.
    CompQueue
);
queue!(
    /// The RX ring: received packets.
    RxQueue
);
queue!(
    /// The TX ring: packets to send.
    TxQueue
);

impl Ring {
    /// Producer side: writes `entry(f)` for as many frames of `frames` as fit (from the
    /// front, or from the back with `back`: no moving of the rest), marking them the
    /// kernel's, and publishes them; returns how many. Gives none (and fails) if any frame
    /// belongs to another UMEM.
    #[inline]
    fn produce<T>(
        &mut self,
        umem: &UmemShared,
        frames: &mut Vec<Frame>,
        (op, back): (&'static str, bool),
        entry: impl Fn(&Frame) -> T,
    ) -> Result<usize, XskError> {
        if let Some(f) = frames.iter().find(|f| f.umem_id() != umem.id) {
            return Err(XskError::ForeignFrame {
                op,
                frame_umem: f.umem_id(),
                umem: umem.id,
            });
        }
        let n = self.free(frames.len() as u32).min(frames.len() as u32);
        let start = self.cached_prod;
        let range = if back {
            frames.len() - n as usize..frames.len()
        } else {
            0..n as usize
        };
        for (i, f) in frames.drain(range).enumerate() {
            umem.give(&f);
            // SAFETY: slot in the mapping; the kernel does not read it before `submit`.
            unsafe {
                self.slot::<T>(start.wrapping_add(i as u32))
                    .write(entry(&f))
            };
        }
        if n > 0 {
            self.submit(n);
        }
        Ok(n as usize)
    }

    /// Consumer side: reads up to `max` entries, appending the frames `take` makes of them to
    /// `out` and counting the rest in `invalid`; returns how many entries were read.
    #[inline]
    fn consume<T: std::fmt::Debug>(
        &mut self,
        out: &mut Vec<Frame>,
        max: usize,
        invalid: &mut u64,
        take: impl Fn(&T) -> Option<Frame>,
    ) -> usize {
        let n = self.ready(max.min(u32::MAX as usize) as u32);
        let start = self.cached_cons;
        for i in 0..n {
            // SAFETY: slot in the mapping, published by the kernel's release store.
            let e = unsafe { self.slot::<T>(start.wrapping_add(i)).read() };
            match take(&e) {
                Some(f) => out.push(f),
                None => skip_invalid(invalid, e),
            }
        }
        if n > 0 {
            self.release(n);
        }
        n as usize
    }
}

impl FillQueue {
    /// Gives the kernel as many frames from the back of `frames` as fit; returns how many.
    /// Fails, giving none, if any frame belongs to another UMEM.
    #[inline]
    pub fn produce(&mut self, frames: &mut Vec<Frame>) -> Result<usize, XskError> {
        self.ring
            .produce(&self.umem, frames, ("fill", true), |f| f.addr())
    }
}

impl TxQueue {
    /// Queues as many frames from the front of `frames` as fit for sending (their data as set
    /// by RX or [`super::Umem::set_data`]); returns how many. Fails, queueing none, if any
    /// frame belongs to another UMEM. The kernel sends on the next wakeup
    /// ([`super::Socket::kick_tx`]).
    #[inline]
    pub fn produce(&mut self, frames: &mut Vec<Frame>) -> Result<usize, XskError> {
        self.ring
            .produce(&self.umem, frames, ("transmit", false), Frame::desc)
    }

    /// Descriptors queued and not yet taken by the kernel.
    pub fn pending(&mut self) -> u32 {
        self.ring.size - self.ring.free(self.ring.size)
    }
}

impl RxQueue {
    /// Appends up to `max` received packets to `out`; returns how many descriptors were read
    /// (malformed ones are counted in [`RxQueue::invalid`] and skipped).
    #[inline]
    pub fn consume(&mut self, out: &mut Vec<Frame>, max: usize) -> usize {
        let umem = &self.umem;
        self.ring
            .consume(out, max, &mut self.invalid, |d: &XdpDesc| {
                umem.take(d.addr, d.len, d.options)
            })
    }
}

impl CompQueue {
    /// Appends up to `max` frames the kernel has sent to `out`, emptied; returns how many
    /// descriptors were read (malformed ones counted in [`CompQueue::invalid`]).
    #[inline]
    pub fn consume(&mut self, out: &mut Vec<Frame>, max: usize) -> usize {
        let umem = &self.umem;
        self.ring
            .consume(out, max, &mut self.invalid, |&a: &u64| umem.take(a, 0, 0))
    }
}
