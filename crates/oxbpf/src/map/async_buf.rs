//! [`AsyncRingBuf`] and [`AsyncPerfBuffer`]: ring and perf buffer readers for tokio (feature
//! `tokio`), awaiting records with `next().await`.
//!
//! Both wrap the blocking reader in tokio's `AsyncFd`, which registers the reader's fd (the
//! ring buffer map fd, or the perf event fd) with the runtime's reactor: the kernel marks it
//! readable when a record is committed (ring buffer) or a wakeup is signalled (perf, one per
//! record here). Readiness is cleared only after the ring was seen empty, with the tick of
//! the event that woke us, so a record committed in between is not missed.

use super::error::MapError;
use super::handle::Map;
use super::perf::{PerfBuffer, PerfRecord};
use super::ringbuf::{RingBuf, RingBufItem};
use std::borrow::Borrow;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

fn reactor_err(map: &str, op: &'static str, source: std::io::Error) -> MapError {
    MapError::Io {
        map: map.to_string(),
        op,
        source,
    }
}

/// A [`RingBuf`] whose records are awaited.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// # let coll: oxbpf::collection::Collection = unimplemented!();
/// use oxbpf::map::{AsyncRingBuf, RingBuf};
///
/// #[repr(C)]
/// #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
/// struct Event {
///     pid: u32,
///     reason: u32,
/// }
///
/// let mut events = AsyncRingBuf::new(RingBuf::new(coll.map("events").unwrap())?)?;
/// loop {
///     let item = events.next().await?;
///     let e: Event = item.read()?;
///     println!("{e:?}");
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncRingBuf<M: Borrow<Map>> {
    inner: AsyncFd<RingBuf<M>>,
    name: String,
}

impl<M: Borrow<Map>> AsyncRingBuf<M> {
    /// Registers `ring` with the current tokio runtime (call it inside one; needs tokio's
    /// reactor, i.e. `enable_io`).
    pub fn new(ring: RingBuf<M>) -> Result<Self, MapError> {
        let name = ring.map().name().to_string();
        // SAFETY: the fd is the map's, which `ring` owns or borrows for its whole life; it
        // stays open and the same until `into_inner` or drop.
        let inner = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| reactor_err(&name, "register with tokio the ring buffer of", e.into()))?;
        Ok(AsyncRingBuf { inner, name })
    }

    /// Waits for the next committed record; dropping the item gives its space back.
    #[allow(clippy::should_implement_trait)]
    pub async fn next(&mut self) -> Result<RingBufItem<'_>, MapError> {
        loop {
            let name = &self.name;
            let mut guard = self
                .inner
                .readable_mut()
                .await
                .map_err(|e| reactor_err(name, "wait on ring buffer", e))?;
            if guard.get_inner_mut().has_record() {
                break;
            }
            guard.clear_ready();
        }
        Ok(self
            .inner
            .get_mut()
            .next()
            .expect("a record was seen and only this reader consumes"))
    }

    /// The blocking reader.
    pub fn get_ref(&self) -> &RingBuf<M> {
        self.inner.get_ref()
    }

    /// Unregisters from tokio, giving back the blocking reader.
    pub fn into_inner(self) -> RingBuf<M> {
        self.inner.into_inner()
    }
}

/// A [`PerfBuffer`] (one CPU's ring) whose records are awaited; open one per CPU with
/// [`PerfEventArray::open_all`](super::PerfEventArray::open_all) and read each in its task.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// # let coll: oxbpf::collection::Collection = unimplemented!();
/// use oxbpf::map::{AsyncPerfBuffer, PerfEventArray, PerfRecord};
///
/// let array = PerfEventArray::new(coll.map("perf_events").unwrap())?;
/// let mut tasks = Vec::new();
/// for buf in array.open_all(8)? {
///     let mut buf = AsyncPerfBuffer::new(buf)?;
///     tasks.push(tokio::spawn(async move {
///         while let Ok(rec) = buf.next().await {
///             match rec {
///                 PerfRecord::Sample(_) => println!("cpu {}: {:?}", buf.get_ref().cpu(), rec.read::<u64>()),
///                 PerfRecord::Lost(n) => eprintln!("lost {n}"),
///             }
///         }
///     }));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncPerfBuffer {
    inner: AsyncFd<PerfBuffer>,
    cpu: u32,
}

impl AsyncPerfBuffer {
    /// Registers `buf` with the current tokio runtime.
    pub fn new(buf: PerfBuffer) -> Result<Self, MapError> {
        let cpu = buf.cpu();
        // SAFETY: `buf` owns its perf event fd, open and unchanged until `into_inner` or drop.
        let inner =
            unsafe { AsyncFd::register_with_interest(buf, Interest::READABLE) }.map_err(|e| {
                reactor_err(
                    &format!("perf buffer cpu {cpu}"),
                    "register with tokio",
                    e.into(),
                )
            })?;
        Ok(AsyncPerfBuffer { inner, cpu })
    }

    /// Waits for the next record (a sample or a lost-samples notice).
    #[allow(clippy::should_implement_trait)]
    pub async fn next(&mut self) -> Result<PerfRecord, MapError> {
        loop {
            let cpu = self.cpu;
            let mut guard = self
                .inner
                .readable_mut()
                .await
                .map_err(|e| reactor_err(&format!("perf buffer cpu {cpu}"), "wait on", e))?;
            if let Some(r) = guard.get_inner_mut().next() {
                return Ok(r);
            }
            guard.clear_ready();
        }
    }

    /// The blocking reader.
    pub fn get_ref(&self) -> &PerfBuffer {
        self.inner.get_ref()
    }

    /// Unregisters from tokio, giving back the blocking reader.
    pub fn into_inner(self) -> PerfBuffer {
        self.inner.into_inner()
    }
}
