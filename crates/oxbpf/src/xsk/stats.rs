//! Socket statistics (`XDP_STATISTICS`).

use super::abi::{self, StatisticsRaw};
use super::error::XskError;
use super::socket::Socket;
use super::umem::getsockopt;
use std::os::fd::AsFd;

/// The kernel's counters for one AF_XDP socket.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Statistics {
    /// Frames dropped for other reasons (no fill frame, among others).
    pub rx_dropped: u64,
    /// RX descriptors the kernel found invalid.
    pub rx_invalid_descs: u64,
    /// TX descriptors the kernel found invalid.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full (5.9+).
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (5.9+).
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty on a wakeup (5.9+).
    pub tx_ring_empty_descs: u64,
}

impl Socket {
    /// Reads the socket's statistics (kernels before 5.9 report only the first three).
    pub fn statistics(&self) -> Result<Statistics, XskError> {
        let (s, _) =
            getsockopt::<StatisticsRaw>(&self.as_fd(), abi::XDP_STATISTICS, "read statistics")?;
        Ok(Statistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}
