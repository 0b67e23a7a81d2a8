//! bpffs pins for any BPF object — programs, maps and links all pin the same way: prepare a
//! pin directory (checked to be on bpffs, with the `mount` command when it is not), pin an
//! fd, open a pin. Objects also pin themselves ([`Map::pin`](crate::map::Map::pin),
//! [`Link::pin`](crate::link::Link::pin)); these are for code that pins many objects at once
//! and must undo its work on failure.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let coll: oxbpf::collection::Collection = unimplemented!();
//! use std::path::Path;
//! let dir = Path::new("/sys/fs/bpf/myapp");
//! let created = oxbpf::pin::create_dir(dir)?;
//! if let Err(e) = oxbpf::pin::pin(coll.program("xdp_prog")?.fd(), &dir.join("xdp_prog")) {
//!     oxbpf::pin::remove_created_dirs(&created); // leave nothing behind
//!     return Err(e.into());
//! }
//! # Ok(())
//! # }
//! ```

pub use crate::sys::pin::{
    create_pin_dir as create_dir, on_bpffs, open_pinned, pin, remove_created_dirs, unpin,
    PinFailure,
};
