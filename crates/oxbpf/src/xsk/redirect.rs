//! The default redirect program (`bpf/xsk_redirect.bpf.c`: a frame received on queue N goes
//! to the socket in slot N of `xsks_map`, else to the kernel stack; a multi-buffer variant
//! for jumbo frames) and XSKMAP insertion for it or for a user's own program.

use super::error::XskError;
use super::socket::Socket;
use crate::collection::{Collection, CollectionOptions};
use crate::link::{attach_xdp, XdpLink, XdpMode, XdpOptions};
use crate::map::{Map, XskMap};
use crate::prog::Program;
use std::os::fd::AsFd;

/// The committed object of the default redirect program.
pub const REDIRECT_OBJECT: &[u8] = include_bytes!("../../bpf/xsk_redirect.bpf.o");

/// The loaded default redirect program and its XSKMAP.
#[derive(Debug)]
pub struct XskRedirect {
    coll: Collection,
    frags: bool,
}

impl XskRedirect {
    /// Loads the program with an XSKMAP of `queues` slots (one per queue, at least 1).
    pub fn load(queues: u32) -> Result<XskRedirect, XskError> {
        Self::load_with(queues, false)
    }

    /// Like [`XskRedirect::load`]; with `frags`, the program accepts multi-buffer frames
    /// (`xdp.frags`: needed on interfaces whose MTU exceeds a page, with `XDP_USE_SG` sockets).
    pub fn load_with(queues: u32, frags: bool) -> Result<XskRedirect, XskError> {
        let mut spec = crate::elf::load_collection_spec(REDIRECT_OBJECT).map_err(|e| {
            XskError::sys(
                "parse the redirect object",
                std::io::Error::other(e.to_string()),
            )
        })?;
        if let Some(m) = spec.maps.get_mut("xsks_map") {
            m.max_entries = queues.max(1);
        }
        let name = if frags {
            "xsk_redirect_frags"
        } else {
            "xsk_redirect"
        };
        let opts = CollectionOptions {
            programs: Some([name.to_string()].into()),
            ..Default::default()
        };
        let coll = Collection::load(&spec, &opts)?;
        Ok(XskRedirect { coll, frags })
    }

    /// The XDP program.
    pub fn program(&self) -> &Program {
        let name = if self.frags {
            "xsk_redirect_frags"
        } else {
            "xsk_redirect"
        };
        self.coll
            .program(name)
            .expect("the object defines both redirect programs")
    }

    /// The XSKMAP (`xsks_map`), keyed by queue.
    pub fn map(&self) -> &Map {
        self.coll
            .map("xsks_map")
            .expect("the object defines xsks_map")
    }

    /// Sends the frames of `socket`'s queue to `socket`.
    pub fn insert(&self, socket: &Socket) -> Result<(), XskError> {
        insert(self.map(), socket.queue(), socket)
    }

    /// Stops redirecting queue `queue`; false if no socket was there.
    pub fn remove(&self, queue: u32) -> Result<bool, XskError> {
        Ok(XskMap::new(self.map())?.clear(queue)?)
    }

    /// Attaches the program to `ifindex` in `mode`; detached when the link drops.
    pub fn attach(&self, ifindex: u32, mode: XdpMode) -> Result<XdpLink, XskError> {
        Ok(attach_xdp(
            self.program().fd(),
            ifindex,
            mode,
            XdpOptions::default(),
        )?)
    }
}

/// Puts `socket` at `index` of the XSKMAP `map` (for a user's own redirect program).
pub fn insert(map: &Map, index: u32, socket: &Socket) -> Result<(), XskError> {
    XskMap::new(map)?.set(index, socket.as_fd(), 0)?;
    Ok(())
}
