//! The UMEM: page-aligned, mmap'ed packet memory registered with the kernel, cut into equal
//! frames, and [`Frame`], the owned handle to one of them.
//!
//! Ownership: every frame is either with the user (a [`Frame`] value exists, which is not
//! `Clone`) or with the kernel (it sits in a fill or TX ring). Handing a frame to a ring
//! consumes the `Frame`; one comes back only from the RX or completion ring, after its
//! descriptor is checked against the UMEM's bounds and against a per-frame state table, so
//! neither user code nor a malformed descriptor can make two live `Frame`s for one buffer.

use super::abi::{self, UmemReg};
use super::error::XskError;
use super::sockopt::{new_socket, setsockopt};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// The kernel reserves this much in front of every received packet (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: u32 = 256;

const WITH_USER: u8 = 0;
const WITH_KERNEL: u8 = 1;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Shape of a UMEM and of the fill and completion rings its sockets get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UmemConfig {
    /// Bytes per frame: a power of two from 2048 to the page size.
    pub frame_size: u32,
    /// Number of frames.
    pub frame_count: u32,
    /// Bytes the kernel leaves free in front of each received packet (beyond its own 256).
    pub headroom: u32,
    /// Fill ring entries (power of two).
    pub fill_size: u32,
    /// Completion ring entries (power of two).
    pub comp_size: u32,
}

impl Default for UmemConfig {
    fn default() -> Self {
        UmemConfig {
            frame_size: 2048,
            frame_count: 4096,
            headroom: 0,
            fill_size: 2048,
            comp_size: 2048,
        }
    }
}

impl UmemConfig {
    /// Checks the values the kernel would refuse, with a reason for each.
    pub fn validate(&self) -> Result<(), XskError> {
        let page = crate::map::mmap::page_size() as u32;
        let bad = |what, value: u32, reason| XskError::Config {
            what,
            value: value.into(),
            reason,
        };
        if !self.frame_size.is_power_of_two() || self.frame_size < 2048 || self.frame_size > page {
            return Err(bad(
                "frame_size",
                self.frame_size,
                "must be a power of two from 2048 to the page size",
            ));
        }
        if self.headroom + XDP_PACKET_HEADROOM >= self.frame_size {
            return Err(bad(
                "headroom",
                self.headroom,
                "headroom + 256 must be below frame_size",
            ));
        }
        if self.frame_count == 0
            || u64::from(self.frame_count) * u64::from(self.frame_size) > 1 << 40
        {
            return Err(bad(
                "frame_count",
                self.frame_count,
                "must be 1 to 2^40 / frame_size",
            ));
        }
        for (what, v) in [("fill_size", self.fill_size), ("comp_size", self.comp_size)] {
            if !v.is_power_of_two() {
                return Err(bad(what, v, "ring sizes must be powers of two"));
            }
        }
        Ok(())
    }
}

/// One UMEM frame, owned by user space. Not `Clone`: handing it to a ring gives it away.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    base: u64,
    off: u32,
    len: u32,
    options: u32,
    umem: u32,
}

impl Frame {
    /// Offset of the frame's first byte in the UMEM.
    pub fn addr(&self) -> u64 {
        self.base
    }

    /// Offset of the packet data inside the frame.
    pub fn offset(&self) -> u32 {
        self.off
    }

    /// Bytes of packet data.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True if the frame holds no packet data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Multi-buffer: the packet continues in the next frame (`XDP_PKT_CONTD`).
    pub fn more(&self) -> bool {
        self.options & abi::XDP_PKT_CONTD != 0
    }

    /// Multi-buffer transmit: marks the packet as continuing in the next frame sent.
    pub fn set_more(&mut self, more: bool) {
        if more {
            self.options |= abi::XDP_PKT_CONTD;
        } else {
            self.options &= !abi::XDP_PKT_CONTD;
        }
    }

    /// Id of the UMEM the frame belongs to.
    pub fn umem_id(&self) -> u32 {
        self.umem
    }

    /// The descriptor that hands this frame's data to the kernel.
    pub(crate) fn desc(&self) -> abi::XdpDesc {
        abi::XdpDesc {
            addr: self.base + u64::from(self.off),
            len: self.len,
            options: self.options,
        }
    }
}

/// Anonymous, page-aligned memory, unmapped on drop.
struct Area {
    ptr: *mut u8,
    len: usize,
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: we own this mapping.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// What every socket and ring of a UMEM shares.
pub(crate) struct UmemShared {
    area: Area,
    cfg: UmemConfig,
    pub(crate) id: u32,
    state: Box<[AtomicU8]>,
    /// The socket the UMEM is registered on; the first bound socket uses it.
    pub(crate) fd: OwnedFd,
    /// Whether the registering socket was taken by a bind.
    pub(crate) first_taken: AtomicBool,
    /// (ifindex, queue) of every bound socket with its own fill ring; and the first's flags.
    pub(crate) bound: Mutex<Bound>,
}

/// Bind state of a UMEM.
#[derive(Debug, Default)]
pub(crate) struct Bound {
    /// Queues bound, each with its own fill/completion rings.
    pub queues: Vec<(u32, u32)>,
    /// The first socket used need-wakeup (shared sockets inherit it).
    pub need_wakeup: bool,
    /// The first socket is in zero-copy mode.
    pub zero_copy: bool,
}

// SAFETY: `area` is plain shared memory; frames are handed out uniquely (state table with
// atomic swaps), so no two threads write one frame through safe code.
unsafe impl Send for UmemShared {}
unsafe impl Sync for UmemShared {}

impl std::fmt::Debug for UmemShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umem")
            .field("id", &self.id)
            .field("cfg", &self.cfg)
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl UmemShared {
    /// The frame a kernel descriptor names, taken back from the kernel; `None` (and no frame)
    /// when the descriptor lies outside the UMEM, spans two frames or names a frame the
    /// kernel does not hold.
    #[inline]
    pub(crate) fn take(&self, addr: u64, len: u32, options: u32) -> Option<Frame> {
        let size = u64::from(self.cfg.frame_size);
        let idx = addr / size;
        let base = idx * size;
        let off = (addr - base) as u32;
        if idx >= u64::from(self.cfg.frame_count) || u64::from(off) + u64::from(len) > size {
            return None;
        }
        let slot = &self.state[idx as usize];
        if slot.swap(WITH_USER, Ordering::Acquire) != WITH_KERNEL {
            // Was already with the user: leave it there, make no second Frame.
            return None;
        }
        Some(Frame {
            base,
            off,
            len,
            options,
            umem: self.id,
        })
    }

    /// Marks `f` as given to the kernel; false (and nothing marked) if `f` is another UMEM's.
    #[inline]
    pub(crate) fn give(&self, f: &Frame) -> bool {
        if f.umem != self.id {
            return false;
        }
        let idx = (f.base / u64::from(self.cfg.frame_size)) as usize;
        self.state[idx].store(WITH_KERNEL, Ordering::Release);
        true
    }

    /// Config of this UMEM.
    pub(crate) fn config(&self) -> &UmemConfig {
        &self.cfg
    }
}

/// A registered UMEM. Clones share it; it lives until the last clone and socket are gone.
#[derive(Debug, Clone)]
pub struct Umem {
    pub(crate) shared: Arc<UmemShared>,
}

impl Umem {
    /// Maps and registers a UMEM; returns it with all its frames, owned by the caller.
    pub fn new(cfg: UmemConfig) -> Result<(Umem, Vec<Frame>), XskError> {
        cfg.validate()?;
        let len = cfg.frame_count as usize * cfg.frame_size as usize;
        // SAFETY: a fresh anonymous mapping chosen by the kernel; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(XskError::last("map UMEM memory"));
        }
        let area = Area {
            ptr: ptr.cast(),
            len,
        };
        let fd = new_socket()?;
        let reg = UmemReg {
            addr: area.ptr as u64,
            len: len as u64,
            chunk_size: cfg.frame_size,
            headroom: cfg.headroom,
            ..Default::default()
        };
        setsockopt(&fd, abi::XDP_UMEM_REG, &reg, "register UMEM")?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let state = (0..cfg.frame_count)
            .map(|_| AtomicU8::new(WITH_USER))
            .collect();
        let frames = (0..u64::from(cfg.frame_count))
            .map(|i| Frame {
                base: i * u64::from(cfg.frame_size),
                off: 0,
                len: 0,
                options: 0,
                umem: id,
            })
            .collect();
        let shared = UmemShared {
            area,
            cfg,
            id,
            state,
            fd,
            first_taken: AtomicBool::new(false),
            bound: Mutex::new(Bound::default()),
        };
        Ok((
            Umem {
                shared: Arc::new(shared),
            },
            frames,
        ))
    }

    /// The UMEM's shape.
    pub fn config(&self) -> &UmemConfig {
        &self.shared.cfg
    }

    /// This UMEM's id (frames carry it).
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Total bytes of packet memory.
    pub fn len(&self) -> usize {
        self.shared.area.len
    }

    /// True for a UMEM of no bytes (never: `frame_count` is at least 1).
    pub fn is_empty(&self) -> bool {
        self.shared.area.len == 0
    }

    /// The packet data of `f`; `None` if `f` is another UMEM's.
    #[inline]
    pub fn data<'a>(&'a self, f: &'a Frame) -> Option<&'a [u8]> {
        let (start, len) = self.span(f, false)?;
        // SAFETY: in bounds (span checked); the frame is with the user, so the kernel does
        // not write it, and the shared borrow of `f` excludes a `data_mut` on it.
        Some(unsafe { std::slice::from_raw_parts(self.shared.area.ptr.add(start), len) })
    }

    /// The packet data of `f`, writable; `None` if `f` is another UMEM's.
    #[inline]
    pub fn data_mut<'a>(&'a self, f: &'a mut Frame) -> Option<&'a mut [u8]> {
        let (start, len) = self.span(f, false)?;
        // SAFETY: as in `data`; `f` is borrowed mutably and frames are unique.
        Some(unsafe { std::slice::from_raw_parts_mut(self.shared.area.ptr.add(start), len) })
    }

    /// The whole buffer of `f` (`frame_size` bytes), to build a packet in; then
    /// [`Umem::set_data`] says where it is.
    pub fn buffer_mut<'a>(&'a self, f: &'a mut Frame) -> Option<&'a mut [u8]> {
        let (start, len) = self.span(f, true)?;
        // SAFETY: as in `data_mut`.
        Some(unsafe { std::slice::from_raw_parts_mut(self.shared.area.ptr.add(start), len) })
    }

    /// Sets the packet data of `f` to `len` bytes at `offset` in its buffer.
    pub fn set_data(&self, f: &mut Frame, offset: u32, len: u32) -> Result<(), XskError> {
        if u64::from(offset) + u64::from(len) > u64::from(self.shared.cfg.frame_size) {
            return Err(XskError::Config {
                what: "frame data end",
                value: u64::from(offset) + u64::from(len),
                reason: "past the end of the frame (frame_size)",
            });
        }
        f.off = offset;
        f.len = len;
        Ok(())
    }

    fn span(&self, f: &Frame, whole: bool) -> Option<(usize, usize)> {
        if f.umem != self.shared.id {
            return None;
        }
        Some(if whole {
            (f.base as usize, self.shared.cfg.frame_size as usize)
        } else {
            ((f.base + u64::from(f.off)) as usize, f.len as usize)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(cfg: UmemConfig) -> &'static str {
        match cfg.validate() {
            Err(XskError::Config { what, .. }) => what,
            other => panic!("{cfg:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn config_values_the_kernel_refuses_are_caught_first() {
        let ok = UmemConfig::default();
        ok.validate().expect("defaults are valid");
        let page = crate::map::mmap::page_size() as u32;
        assert_eq!(
            refused(UmemConfig {
                frame_size: 3000,
                ..ok
            }),
            "frame_size"
        );
        assert_eq!(
            refused(UmemConfig {
                frame_size: 1024,
                ..ok
            }),
            "frame_size"
        );
        assert_eq!(
            refused(UmemConfig {
                frame_size: page * 2,
                ..ok
            }),
            "frame_size"
        );
        assert_eq!(
            refused(UmemConfig {
                headroom: 2048 - 256,
                ..ok
            }),
            "headroom"
        );
        assert_eq!(
            refused(UmemConfig {
                frame_count: 0,
                ..ok
            }),
            "frame_count"
        );
        assert_eq!(
            refused(UmemConfig {
                fill_size: 1000,
                ..ok
            }),
            "fill_size"
        );
        assert_eq!(refused(UmemConfig { comp_size: 0, ..ok }), "comp_size");
        UmemConfig {
            headroom: 2048 - 257,
            ..ok
        }
        .validate()
        .expect("largest headroom");
    }

    #[test]
    fn frame_flags_and_descriptor() {
        let mut f = Frame {
            base: 4096,
            off: 256,
            len: 60,
            options: 0,
            umem: 7,
        };
        assert!(!f.more());
        f.set_more(true);
        assert!(f.more());
        assert_eq!(
            f.desc(),
            abi::XdpDesc {
                addr: 4352,
                len: 60,
                options: abi::XDP_PKT_CONTD
            }
        );
        f.set_more(false);
        assert_eq!(f.desc().options, 0);
        assert_eq!(
            (f.addr(), f.offset(), f.len(), f.umem_id()),
            (4096, 256, 60, 7)
        );
    }
}
