//! A forwarding loop on one socket: receive a batch, edit each frame in place, send it back
//! out of the same queue, recycle completed frames into the fill ring. `oxbpf xsk fwd` and
//! the AF_XDP benchmark run it with [`swap_macs`].

use super::error::XskError;
use super::socket::Socket;
use super::umem::{Frame, Umem};
use std::sync::atomic::{AtomicBool, Ordering};

/// Counters of one [`forward`] run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ForwardStats {
    /// Frames received.
    pub rx: u64,
    /// Frames queued for sending.
    pub tx: u64,
    /// Frames dropped because the TX ring was full.
    pub tx_full: u64,
}

/// Swaps the destination and source MAC addresses of an Ethernet frame (shorter: unchanged).
#[inline]
pub fn swap_macs(frame: &mut [u8]) {
    if frame.len() >= 12 {
        let (dst, rest) = frame.split_at_mut(6);
        dst.swap_with_slice(&mut rest[..6]);
    }
}

/// Forwards on `sock` until `stop` is set: frames from RX go through `edit` and out of TX
/// in batches of up to `batch`. `frames` are the free frames to start with; the fill ring
/// gets as many as it takes. Needs a socket with all four rings.
///
/// Each turn: wake TX if frames are outstanding (and the ring asks for it), move completed
/// frames to the free list and the free list to the fill ring, then take a batch from RX,
/// edit it and queue it on TX (frames that do not fit are dropped back to the free list).
pub fn forward(
    umem: &Umem,
    sock: &mut Socket,
    mut frames: Vec<Frame>,
    batch: usize,
    stop: &AtomicBool,
    mut edit: impl FnMut(&mut [u8]),
) -> Result<ForwardStats, XskError> {
    let batch = batch.max(1);
    let mut st = ForwardStats::default();
    let mut rx_batch: Vec<Frame> = Vec::with_capacity(batch);
    let mut outstanding = 0usize;
    let mut turns = 0u32;
    for (ring, name) in [
        (sock.fill.is_some(), "fill"),
        (sock.comp.is_some(), "completion"),
        (sock.rx.is_some(), "RX"),
        (sock.tx.is_some(), "TX"),
    ] {
        if !ring {
            return Err(XskError::NoRing(name));
        }
    }
    loop {
        turns = turns.wrapping_add(1);
        if turns & 0xff == 0 && stop.load(Ordering::Relaxed) {
            return Ok(st);
        }
        if outstanding > 0 {
            sock.kick_tx()?;
        }
        let (Some(fill), Some(comp), Some(rx), Some(tx)) = (
            sock.fill.as_mut(),
            sock.comp.as_mut(),
            sock.rx.as_mut(),
            sock.tx.as_mut(),
        ) else {
            unreachable!("checked above")
        };
        outstanding = outstanding.saturating_sub(comp.consume(&mut frames, batch));
        if !frames.is_empty() {
            fill.produce(&mut frames)?;
        }
        if rx.consume(&mut rx_batch, batch) == 0 {
            sock.wakeup_rx();
            continue;
        }
        st.rx += rx_batch.len() as u64;
        for f in rx_batch.iter_mut() {
            if let Some(d) = umem.data_mut(f) {
                edit(d);
            }
        }
        let sent = tx.produce(&mut rx_batch)?;
        outstanding += sent;
        st.tx += sent as u64;
        st.tx_full += rx_batch.len() as u64;
        frames.append(&mut rx_batch);
    }
}
