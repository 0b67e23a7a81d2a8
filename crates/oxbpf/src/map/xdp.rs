//! XDP redirect maps: [`DevMap`] / [`DevMapHash`] (interfaces), [`CpuMap`] (CPUs) and
//! [`XskMap`] (AF_XDP sockets).
//!
//! Devmap and cpumap values are `struct bpf_devmap_val { u32 ifindex; union { int fd; u32 id }
//! bpf_prog; }` and `struct bpf_cpumap_val { u32 qsize; ... bpf_prog; }`: 4-byte maps hold only
//! the first field; 8-byte maps may also run a program on each redirected frame.

use super::error::MapError;
use super::handle::Map;
use super::view::check;
use crate::spec::MapType;
use std::borrow::Borrow;
use std::os::fd::{AsRawFd, BorrowedFd};

/// One devmap or cpumap entry as read back: the first field and the attached program's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectEntry {
    /// `ifindex` (devmap) or queue size (cpumap).
    pub value: u32,
    /// Id of the program run on redirected frames, if any.
    pub prog_id: Option<u32>,
}

fn encode(map: &Map, first: u32, prog: Option<BorrowedFd>) -> Result<Vec<u8>, MapError> {
    let mut v = first.to_ne_bytes().to_vec();
    match (map.value_size(), prog) {
        (4, None) => {}
        (4, Some(_)) => {
            return Err(MapError::Invalid {
                map: map.name().into(),
                op: "update",
                reason: "a program needs an 8-byte value (struct with bpf_prog field); this map's value is 4 bytes".into(),
            })
        }
        (_, p) => {
            let fd = p.map_or(0i32, |p| p.as_raw_fd());
            v.extend_from_slice(&fd.to_ne_bytes());
        }
    }
    Ok(v)
}

fn decode(b: &[u8]) -> RedirectEntry {
    let word = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    RedirectEntry {
        value: word(0),
        prog_id: if b.len() >= 8 && word(4) != 0 {
            Some(word(4))
        } else {
            None
        },
    }
}

fn check_redirect(
    map: &Map,
    view: &'static str,
    types: &'static [MapType],
) -> Result<(), MapError> {
    check(map, view, types, Some(4), None)?;
    if map.value_size() != 4 && map.value_size() != 8 {
        return Err(MapError::Invalid {
            map: map.name().into(),
            op: "open",
            reason: format!("{view} value size must be 4 or 8, not {}", map.value_size()),
        });
    }
    Ok(())
}

/// A `BPF_MAP_TYPE_DEVMAP` (index) or `BPF_MAP_TYPE_DEVMAP_HASH` (any `u32` key) of interfaces.
///
/// ```no_run
/// use oxbpf::map::DevMap;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_DEVMAP, and bpf_redirect_map(&ports, 0, 0) in the XDP program.
/// let ports = DevMap::new(coll.map("ports").unwrap())?;
/// let eth1 = oxbpf::netlink::xdp::ifindex("eth1")?;
/// ports.set(0, eth1, None, 0)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DevMap<M> {
    map: M,
}

/// A hashed devmap: the same view as [`DevMap`].
pub type DevMapHash<M> = DevMap<M>;

impl<M: Borrow<Map>> DevMap<M> {
    /// Wraps `map`, checking its type and shape.
    pub fn new(map: M) -> Result<Self, MapError> {
        check_redirect(
            map.borrow(),
            "DevMap",
            &[MapType::DEVMAP, MapType::DEVMAP_HASH],
        )?;
        Ok(DevMap { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Redirects `key` to interface `ifindex`, optionally running `prog` (an XDP program
    /// loaded with expected attach type `xdp_devmap`) on each frame.
    pub fn set(
        &self,
        key: u32,
        ifindex: u32,
        prog: Option<BorrowedFd>,
        flags: u64,
    ) -> Result<(), MapError> {
        let v = encode(self.map(), ifindex, prog)?;
        self.map().update(&key.to_ne_bytes(), &v, flags)
    }

    /// The entry at `key`.
    pub fn get(&self, key: u32) -> Result<Option<RedirectEntry>, MapError> {
        Ok(self.map().lookup(&key.to_ne_bytes())?.map(|b| decode(&b)))
    }

    /// Removes `key`; `false` if absent.
    pub fn remove(&self, key: u32) -> Result<bool, MapError> {
        self.map().delete(&key.to_ne_bytes())
    }
}

/// A `BPF_MAP_TYPE_CPUMAP`: CPU id → queue size (and optional program).
///
/// ```no_run
/// use oxbpf::map::CpuMap;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// // C: BPF_MAP_TYPE_CPUMAP, and bpf_redirect_map(&cpus, cpu, 0) in the XDP program.
/// let cpus = CpuMap::new(coll.map("cpus").unwrap())?;
/// for cpu in oxbpf::map::online_cpus()? {
///     cpus.set(cpu, 2048, None, 0)?; // queue of 2048 frames per CPU
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CpuMap<M> {
    map: M,
}

impl<M: Borrow<Map>> CpuMap<M> {
    /// Wraps `map`, checking its type and shape.
    pub fn new(map: M) -> Result<Self, MapError> {
        check_redirect(map.borrow(), "CpuMap", &[MapType::CPUMAP])?;
        Ok(CpuMap { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Enables redirect to `cpu` with a queue of `queue_size` frames, optionally running `prog`
    /// (an XDP program loaded with expected attach type `xdp_cpumap`).
    pub fn set(
        &self,
        cpu: u32,
        queue_size: u32,
        prog: Option<BorrowedFd>,
        flags: u64,
    ) -> Result<(), MapError> {
        let v = encode(self.map(), queue_size, prog)?;
        self.map().update(&cpu.to_ne_bytes(), &v, flags)
    }

    /// The entry for `cpu`.
    pub fn get(&self, cpu: u32) -> Result<Option<RedirectEntry>, MapError> {
        Ok(self.map().lookup(&cpu.to_ne_bytes())?.map(|b| decode(&b)))
    }

    /// Disables redirect to `cpu`.
    pub fn remove(&self, cpu: u32) -> Result<bool, MapError> {
        self.map().delete(&cpu.to_ne_bytes())
    }
}

/// A `BPF_MAP_TYPE_XSKMAP`: index → AF_XDP socket.
///
/// ```no_run
/// use oxbpf::map::XskMap;
/// use std::os::fd::AsFd;
/// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
/// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
/// # let socket: std::os::fd::OwnedFd = unimplemented!();
/// // C: BPF_MAP_TYPE_XSKMAP, and bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS).
/// // `socket`: an AF_XDP socket bound to queue 0 of the interface.
/// let xsks = XskMap::new(coll.map("xsks").unwrap())?;
/// xsks.set(0, socket.as_fd(), 0)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct XskMap<M> {
    map: M,
}

impl<M: Borrow<Map>> XskMap<M> {
    /// Wraps `map`, checking its type and 4-byte keys and values.
    pub fn new(map: M) -> Result<Self, MapError> {
        check(map.borrow(), "XskMap", &[MapType::XSKMAP], Some(4), Some(4))?;
        Ok(XskMap { map })
    }

    /// The underlying map.
    pub fn map(&self) -> &Map {
        self.map.borrow()
    }

    /// Puts the bound AF_XDP socket `socket` at `index`.
    pub fn set(&self, index: u32, socket: BorrowedFd, flags: u64) -> Result<(), MapError> {
        let fd = socket.as_raw_fd() as u32;
        self.map()
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), flags)
    }

    /// Empties slot `index`; `false` if it was empty.
    pub fn clear(&self, index: u32) -> Result<bool, MapError> {
        self.map().delete(&index.to_ne_bytes())
    }
}
