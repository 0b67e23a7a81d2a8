//! Socket statistics (`XDP_STATISTICS`).

use super::abi;
use super::error::XskError;
use super::socket::Socket;
use super::sockopt::getsockopt;
use std::os::fd::AsFd;

/// The kernel's counters for one AF_XDP socket (`struct xdp_statistics`).
#[repr(C)]
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
            getsockopt::<Statistics>(&self.as_fd(), abi::XDP_STATISTICS, "read statistics")?;
        Ok(s)
    }
}
