//! AF_XDP in pure Rust: raw frames from an interface queue to user space and back, without
//! libxdp.
//!
//! - [`Umem`] (`umem.rs`): page-aligned packet memory registered with the kernel, cut into
//!   frames; [`Frame`] is the owned handle to one, so no frame can be used after it is handed
//!   back to the kernel.
//! - [`FillQueue`], [`CompQueue`], [`RxQueue`], [`TxQueue`] (`ring.rs`): the four rings,
//!   mapped at the kernel's offsets (`XDP_MMAP_OFFSETS`), with acquire/release indices;
//!   descriptors from the kernel are checked against the UMEM before they become frames.
//! - [`Socket`] (`socket.rs`): bind with copy / zero-copy (falling back to copy with a logged
//!   reason), need-wakeup, multi-buffer, and UMEM sharing across sockets and queues.
//! - [`Statistics`] (`stats.rs`): `XDP_STATISTICS`.
//! - [`forward`] (`forward.rs`): a receive-edit-send loop ([`swap_macs`] for an echo).
//! - [`XskRedirect`] (`redirect.rs`): the default redirect program, or [`insert`] for a
//!   program of one's own.
//!
//! Written by hand from the uapi header (`abi.rs`): the Rust AF_XDP crates that exist wrap
//! libbpf/libxdp, which this crate does without.
//!
//! ```no_run
//! use oxbpf::xsk::{Socket, SocketConfig, Umem, UmemConfig, XskRedirect};
//! # fn main() -> Result<(), oxbpf::xsk::XskError> {
//! let (umem, mut frames) = Umem::new(UmemConfig::default())?;
//! let mut sock = Socket::bind(&umem, 2, 0, &SocketConfig::default())?;
//! sock.fill.as_mut().unwrap().produce(&mut frames)?;
//! let redirect = XskRedirect::load(1)?;
//! redirect.insert(&sock)?;
//! let _link = redirect.attach(2, oxbpf::link::XdpMode::Driver)?;
//! let mut got = Vec::new();
//! sock.poll_rx(1000)?;
//! sock.rx.as_mut().unwrap().consume(&mut got, 64);
//! # Ok(()) }
//! ```

mod abi;
mod error;
mod forward;
mod redirect;
mod ring;
mod socket;
mod sockopt;
mod stats;
mod umem;

pub use abi::XdpDesc;
pub use error::XskError;
pub use forward::{forward, swap_macs, ForwardStats};
pub use redirect::{insert, XskRedirect, REDIRECT_OBJECT};
pub use ring::{CompQueue, FillQueue, RxQueue, TxQueue};
pub use socket::{BindMode, Socket, SocketConfig};
pub use stats::Statistics;
pub use umem::{Frame, Umem, UmemConfig, XDP_PACKET_HEADROOM};
