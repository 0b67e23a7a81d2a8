//! [`Socket`]: an AF_XDP socket bound to one interface queue, with its rings.
//!
//! The first socket bound on a [`Umem`] uses the socket the UMEM was registered on and gets
//! its fill and completion rings. Later sockets share the UMEM (`XDP_SHARED_UMEM`): on
//! another interface or queue they get fill and completion rings of their own; on the same
//! queue they share the first one's (and have none). Shared sockets inherit the first
//! socket's copy/zero-copy mode and need-wakeup setting: the kernel refuses flags on them.
//!
//! The first socket's kernel object is the one the UMEM was registered on, so it lives as long
//! as the [`Umem`] (and every socket on it): its queue is free again once all of them are
//! dropped. A `bind` right after that retries `EBUSY` briefly, as the kernel frees the queue
//! from a workqueue.

use super::abi::{self, SockaddrXdp, XdpDesc};
use super::error::XskError;
use super::ring::{CompQueue, FillQueue, Ring, RxQueue, TxQueue};
use super::sockopt::{getsockopt, new_socket, setsockopt};
use super::umem::{Umem, UmemShared};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How to bind: copy or zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// Zero-copy where the driver supports it, else copy mode (logged with the reason).
    #[default]
    Auto,
    /// Copy mode (`XDP_COPY`).
    Copy,
    /// Zero-copy or fail (`XDP_ZEROCOPY`).
    ZeroCopy,
}

/// Ring sizes and bind flags of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketConfig {
    /// RX ring entries (power of two; 0 for no RX ring).
    pub rx_size: u32,
    /// TX ring entries (power of two; 0 for no TX ring).
    pub tx_size: u32,
    /// Copy or zero-copy (ignored for sockets sharing a UMEM: they inherit it).
    pub mode: BindMode,
    /// `XDP_USE_NEED_WAKEUP` (ignored for sockets sharing a UMEM: they inherit it).
    pub need_wakeup: bool,
    /// `XDP_USE_SG`: multi-buffer packets (Linux 6.6+).
    pub multi_buffer: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            rx_size: 2048,
            tx_size: 2048,
            mode: BindMode::Auto,
            need_wakeup: true,
            multi_buffer: false,
        }
    }
}

/// A bound AF_XDP socket and its rings.
#[derive(Debug)]
pub struct Socket {
    /// Received packets (if `rx_size` > 0).
    pub rx: Option<RxQueue>,
    /// Packets to send (if `tx_size` > 0).
    pub tx: Option<TxQueue>,
    /// Frames to receive into (unless the socket shares another's queue).
    pub fill: Option<FillQueue>,
    /// Frames sent (unless the socket shares another's queue).
    pub comp: Option<CompQueue>,
    own_fd: Option<OwnedFd>,
    umem: Arc<UmemShared>,
    ifindex: u32,
    queue: u32,
    zero_copy: bool,
    need_wakeup: bool,
    fallback: Option<String>,
}

fn check_size(what: &'static str, v: u32) -> Result<(), XskError> {
    if v != 0 && !v.is_power_of_two() {
        return Err(XskError::Config {
            what,
            value: v.into(),
            reason: "ring sizes must be powers of two (or 0 for none)",
        });
    }
    Ok(())
}

impl Socket {
    /// Binds a socket on `umem` to queue `queue` of interface `ifindex`.
    pub fn bind(
        umem: &Umem,
        ifindex: u32,
        queue: u32,
        cfg: &SocketConfig,
    ) -> Result<Socket, XskError> {
        check_size("rx_size", cfg.rx_size)?;
        check_size("tx_size", cfg.tx_size)?;
        if cfg.rx_size == 0 && cfg.tx_size == 0 {
            return Err(XskError::Config {
                what: "rx_size + tx_size",
                value: 0,
                reason: "a socket needs an RX or a TX ring",
            });
        }
        let shared = umem.shared.clone();
        let first = !shared.first_taken.swap(true, Ordering::AcqRel);
        let own_fd = if first { None } else { Some(new_socket()?) };
        let fd = match &own_fd {
            Some(fd) => fd.as_fd(),
            None => shared.fd.as_fd(),
        };
        let same_queue = !first
            && shared
                .bound
                .lock()
                .is_ok_and(|b| b.queues.contains(&(ifindex, queue)));
        let ucfg = *shared.config();
        if cfg.rx_size > 0 {
            setsockopt(&fd, abi::XDP_RX_RING, &cfg.rx_size, "set RX ring size")?;
        }
        if cfg.tx_size > 0 {
            setsockopt(&fd, abi::XDP_TX_RING, &cfg.tx_size, "set TX ring size")?;
        }
        if !same_queue {
            setsockopt(
                &fd,
                abi::XDP_UMEM_FILL_RING,
                &ucfg.fill_size,
                "set fill ring size",
            )?;
            setsockopt(
                &fd,
                abi::XDP_UMEM_COMPLETION_RING,
                &ucfg.comp_size,
                "set completion ring size",
            )?;
        }
        let (off, got) =
            getsockopt::<abi::MmapOffsets>(&fd, abi::XDP_MMAP_OFFSETS, "read ring offsets")?;
        if got < std::mem::size_of::<abi::MmapOffsets>() {
            return Err(XskError::sys(
                "read ring offsets",
                std::io::Error::other("the kernel's ring offsets have no flags word (Linux < 5.4); need-wakeup and this crate need 5.4+"),
            ));
        }
        let desc = std::mem::size_of::<XdpDesc>();
        let map = |size: u32, off, entry, pgoff, what| -> Result<Option<Ring>, XskError> {
            (size > 0)
                .then(|| Ring::map(fd, off, size, entry, pgoff, what))
                .transpose()
        };
        let (fill_size, comp_size) = if same_queue {
            (0, 0)
        } else {
            (ucfg.fill_size, ucfg.comp_size)
        };
        let rx = map(
            cfg.rx_size,
            &off.rx,
            desc,
            abi::XDP_PGOFF_RX_RING,
            "map RX ring",
        )?
        .map(|r| RxQueue::new(r, shared.clone()));
        let tx = map(
            cfg.tx_size,
            &off.tx,
            desc,
            abi::XDP_PGOFF_TX_RING,
            "map TX ring",
        )?
        .map(|r| TxQueue::new(r, shared.clone()));
        let fill = map(
            fill_size,
            &off.fr,
            8,
            abi::XDP_UMEM_PGOFF_FILL_RING,
            "map fill ring",
        )?
        .map(|r| FillQueue::new(r, shared.clone()));
        let comp = map(
            comp_size,
            &off.cr,
            8,
            abi::XDP_UMEM_PGOFF_COMPLETION_RING,
            "map completion ring",
        )?
        .map(|r| CompQueue::new(r, shared.clone()));
        let mut addr = SockaddrXdp {
            family: abi::AF_XDP as u16,
            ifindex,
            queue_id: queue,
            ..Default::default()
        };
        let mut fallback = None;
        let (zero_copy, need_wakeup) = if first {
            fallback = bind_first(fd, &mut addr, cfg)?;
            let zc = zero_copy_of(fd)?;
            if let Ok(mut b) = shared.bound.lock() {
                b.need_wakeup = cfg.need_wakeup;
                b.zero_copy = zc;
            }
            (zc, cfg.need_wakeup)
        } else {
            addr.shared_umem_fd = shared.fd.as_raw_fd() as u32;
            bind(fd, &mut addr, abi::XDP_SHARED_UMEM)?;
            let b = shared
                .bound
                .lock()
                .map(|b| (b.zero_copy, b.need_wakeup))
                .unwrap_or_default();
            (zero_copy_of(fd)?, b.1)
        };
        if !same_queue {
            if let Ok(mut b) = shared.bound.lock() {
                b.queues.push((ifindex, queue));
            }
        }
        Ok(Socket {
            rx,
            tx,
            fill,
            comp,
            own_fd,
            umem: shared,
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
            fallback,
        })
    }

    /// Why zero-copy was not used, when [`BindMode::Auto`] fell back to copy mode (the
    /// driver's refusal, also logged as a warning).
    pub fn copy_mode_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Interface index bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Queue bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// True if bound in zero-copy mode (as the kernel reports with `XDP_OPTIONS`).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// True if bound with `XDP_USE_NEED_WAKEUP` (the rings' flags say when to wake the kernel).
    pub fn uses_need_wakeup(&self) -> bool {
        self.need_wakeup
    }

    /// Id of the UMEM this socket uses.
    pub fn umem_id(&self) -> u32 {
        self.umem.id
    }

    /// Makes the kernel process the TX ring (`sendto`), when it needs a wakeup (or always,
    /// without need-wakeup, or when the TX ring was moved out of `tx`). Copy mode sends at
    /// most 32 frames per wakeup. Busy/again/no-buffer answers are not errors: the kernel goes
    /// on with the next wakeup.
    #[inline]
    pub fn kick_tx(&self) -> Result<(), XskError> {
        if self.need_wakeup && self.tx.as_ref().is_some_and(|t| !t.needs_wakeup()) {
            return Ok(());
        }
        // SAFETY: plain syscall with no buffer.
        let rc = unsafe {
            libc::sendto(
                self.as_fd().as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS)
                | Some(libc::ENETDOWN) => {}
                _ => return Err(XskError::sys("wake up TX (sendto)", e)),
            }
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for received packets (`poll`), which also wakes the kernel's
    /// RX side when the fill ring asked for it. Returns whether the socket is readable.
    pub fn poll_rx(&self, timeout_ms: i32) -> Result<bool, XskError> {
        let mut p = libc::pollfd {
            fd: self.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(XskError::sys("poll", e));
        }
        Ok(p.revents & libc::POLLIN != 0)
    }

    /// Wakes the kernel's RX side if the fill ring asks for it, or if the socket has no fill
    /// ring here (moved out, or shared) to ask (`recvfrom`, non-blocking).
    #[inline]
    pub fn wakeup_rx(&self) {
        if self.fill.as_ref().is_none_or(|f| f.needs_wakeup()) {
            // SAFETY: plain syscall with no buffer; the result only matters to the kernel.
            unsafe {
                libc::recvfrom(
                    self.as_fd().as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.own_fd {
            Some(fd) => fd.as_fd(),
            None => self.umem.fd.as_fd(),
        }
    }
}

/// Binds the UMEM's first socket with `cfg`'s flags; returns why zero-copy was refused when
/// [`BindMode::Auto`] fell back to copy mode.
fn bind_first(
    fd: BorrowedFd,
    addr: &mut SockaddrXdp,
    cfg: &SocketConfig,
) -> Result<Option<String>, XskError> {
    let mut flags = if cfg.need_wakeup {
        abi::XDP_USE_NEED_WAKEUP
    } else {
        0
    };
    if cfg.multi_buffer {
        flags |= abi::XDP_USE_SG;
    }
    let (ifindex, queue) = (addr.ifindex, addr.queue_id);
    match cfg.mode {
        BindMode::Copy => bind(fd, addr, flags | abi::XDP_COPY)?,
        BindMode::ZeroCopy => bind(fd, addr, flags | abi::XDP_ZEROCOPY).map_err(|e| match e {
            XskError::Sys { source, .. } => XskError::ZeroCopyRefused {
                ifindex,
                queue,
                source,
            },
            e => e,
        })?,
        BindMode::Auto => {
            if let Err(e) = bind(fd, addr, flags | abi::XDP_ZEROCOPY) {
                let why = format!("the driver refused zero-copy ({e})");
                tracing::warn!(
                    "AF_XDP ifindex {ifindex} queue {queue}: {why}; binding in copy mode"
                );
                bind(fd, addr, flags | abi::XDP_COPY)?;
                return Ok(Some(why));
            }
        }
    }
    Ok(None)
}

/// Binds, retrying `EBUSY` for up to 200 ms: the kernel frees a closed socket's queue from a
/// workqueue, so a queue just released by another socket may still look taken.
fn bind(fd: BorrowedFd, addr: &mut SockaddrXdp, flags: u16) -> Result<(), XskError> {
    addr.flags = flags;
    let mut tries = 0;
    loop {
        // SAFETY: addr is a live sockaddr_xdp of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (addr as *const SockaddrXdp).cast(),
                std::mem::size_of::<SockaddrXdp>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) || tries == 20 {
            return Err(XskError::sys("bind", e));
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn zero_copy_of(fd: BorrowedFd) -> Result<bool, XskError> {
    let (flags, _) = getsockopt::<u32>(&fd, abi::XDP_OPTIONS, "read socket options")?;
    Ok(flags & abi::XDP_OPTIONS_ZEROCOPY != 0)
}
