//! `oxlb decap`: the backend side of the `ipip`/`gue` modes. Loads `bpf/decap.bpf.o` with
//! oxbpf, fills in the host's tunnel endpoint addresses, attaches it to an interface and keeps
//! it there until SIGINT/SIGTERM, then detaches.
//!
//! Machines whose kernel has the `ipip`, `ip6_tunnel` and `fou` modules can use kernel devices
//! instead (see the README); this kernel has none, which is why oxlb ships its own.

pub mod abi;

use std::net::IpAddr;
use std::time::Duration;

use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::link::{attach_xdp, XdpMode, XdpOptions};
use oxbpf::map::{Map, BPF_ANY};
use oxbpf::prog::Program;

use abi::DecapReason;

/// The compiled decap program.
pub const OBJECT: &[u8] = include_bytes!("../../bpf/decap.bpf.o");
/// Its program name.
pub const PROGRAM: &str = "oxlb_decap";

/// Why decap could not run.
#[derive(Debug, thiserror::Error)]
pub enum DecapError {
    /// Loading the object or a map operation failed.
    #[error("decap: {what}: {why} (run as root on a kernel with BPF and XDP)")]
    Kernel {
        /// The step.
        what: String,
        /// The kernel's or loader's answer.
        why: String,
    },
    /// The interface does not exist or has no address.
    #[error("decap: interface {iface}: {why}")]
    Interface {
        /// Interface name.
        iface: String,
        /// What is wrong.
        why: String,
    },
    /// More addresses than the map holds.
    #[error("decap: {0} addresses given, at most {max} fit", max = abi::MAX_ADDRS)]
    TooManyAddresses(usize),
}

fn kernel(what: impl Into<String>) -> impl FnOnce(&dyn std::fmt::Display) -> DecapError {
    let what = what.into();
    move |e| DecapError::Kernel {
        what,
        why: e.to_string(),
    }
}

/// The loaded decap program and its maps.
pub struct Decap {
    /// The XDP program.
    pub program: Program,
    /// `oxlb_decap_addrs`.
    pub addrs: Map,
    /// `oxlb_decap_stats`.
    pub stats: Map,
}

impl Decap {
    /// Loads the program with GUE port `gue_port`.
    pub fn load(gue_port: u16) -> Result<Decap, DecapError> {
        let mut spec = oxbpf::elf::load_collection_spec(OBJECT)
            .map_err(|e| kernel("parse decap.bpf.o")(&e))?;
        spec.set_variable(abi::CONFIG_VAR, &abi::config_bytes(gue_port))
            .map_err(|e| kernel("set oxlb_decap_cfg")(&e))?;
        let mut coll = Collection::load(&spec, &CollectionOptions::default())
            .map_err(|e| kernel("load decap.bpf.o")(&e))?;
        let missing = |n: &str| DecapError::Kernel {
            what: format!("object has no {n}"),
            why: "rebuild with cargo xtask build-bpf".into(),
        };
        Ok(Decap {
            program: coll.take_program(PROGRAM).ok_or_else(|| missing(PROGRAM))?,
            addrs: coll
                .take_map(abi::ADDRS_MAP)
                .ok_or_else(|| missing(abi::ADDRS_MAP))?,
            stats: coll
                .take_map(abi::STATS_MAP)
                .ok_or_else(|| missing(abi::STATS_MAP))?,
        })
    }

    /// Accepts tunnel packets addressed to `addr`.
    pub fn add_address(&self, addr: IpAddr) -> Result<(), DecapError> {
        self.addrs
            .update(&abi::addr_key(addr), &[1], BPF_ANY)
            .map_err(|e| kernel(format!("add address {addr}"))(&e))
    }

    /// Packet counters by reason (summed over CPUs).
    pub fn counters(&self) -> Result<Vec<(DecapReason, u64)>, DecapError> {
        DecapReason::ALL
            .iter()
            .map(|&r| {
                let v = self
                    .stats
                    .lookup(&(r as u32).to_ne_bytes())
                    .map_err(|e| kernel("read counters")(&e))?
                    .unwrap_or_default();
                let n = v
                    .chunks(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
                    .sum();
                Ok((r, n))
            })
            .collect()
    }
}

/// Every address of interface `iface` (link-local IPv6 addresses excluded).
pub fn interface_addresses(iface: &str) -> Result<Vec<IpAddr>, DecapError> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(DecapError::Interface {
            iface: iface.into(),
            why: format!("getifaddrs: {}", std::io::Error::last_os_error()),
        });
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() != iface.as_bytes() || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr whose family says which struct it is.
        let addr = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes()))
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::from(sa.sin6_addr.s6_addr))
                }
                _ => None,
            }
        };
        match addr {
            Some(IpAddr::V6(a)) if a.segments()[0] & 0xffc0 == 0xfe80 => {}
            Some(a) => out.push(a),
            None => {}
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// What `oxlb decap` runs.
#[derive(Debug, Clone)]
pub struct DecapOptions {
    /// Interface to attach to.
    pub iface: String,
    /// Tunnel endpoint addresses; empty = every address of the interface.
    pub addresses: Vec<IpAddr>,
    /// GUE destination port.
    pub gue_port: u16,
    /// Attach mode.
    pub xdp_mode: XdpMode,
}

/// Attaches the decap program and stays until SIGINT/SIGTERM; then detaches and prints the
/// counters.
pub fn run(opts: &DecapOptions) -> Result<(), DecapError> {
    let iface_err = |why: String| DecapError::Interface {
        iface: opts.iface.clone(),
        why,
    };
    let ifindex =
        oxbpf::netlink::xdp::ifindex(&opts.iface).map_err(|e| iface_err(e.to_string()))?;
    let addrs = if opts.addresses.is_empty() {
        interface_addresses(&opts.iface)?
    } else {
        opts.addresses.clone()
    };
    if addrs.is_empty() {
        return Err(iface_err(
            "has no address: give the tunnel endpoint with --address".into(),
        ));
    }
    if addrs.len() > abi::MAX_ADDRS {
        return Err(DecapError::TooManyAddresses(addrs.len()));
    }
    let d = Decap::load(opts.gue_port)?;
    for a in &addrs {
        d.add_address(*a)?;
    }
    let signals = crate::daemon::signals::install();
    let link = attach_xdp(
        d.program.fd(),
        ifindex,
        opts.xdp_mode,
        XdpOptions::default(),
    )
    .map_err(|e| iface_err(format!("attach XDP: {e}")))?;
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    println!(
        "oxlb decap: attached to {} (ifindex {ifindex}), stripping IPIP and GUE (port {}) to {}; Ctrl-C or SIGTERM detaches",
        opts.iface,
        opts.gue_port,
        list.join(", ")
    );
    while !signals.stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let counters = d.counters();
    link.detach()
        .map_err(|e| iface_err(format!("detach XDP: {e}")))?;
    println!("oxlb decap: detached from {}", opts.iface);
    for (r, n) in counters? {
        println!("  {}: {n}", r.name());
    }
    Ok(())
}
