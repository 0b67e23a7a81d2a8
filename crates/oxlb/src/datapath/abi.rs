//! Byte-exact Rust mirrors of the structs in `bpf/oxlb.h` (the datapath ABI).
//!
//! Structs whose C fields are plain integers are the types generated from the compiled
//! object ([`super::skel`]: stats, guard, next hop, config), read and written through
//! `oxbpf::skel::{read_pod, write_pod}` (every padding byte is an explicit field there).
//! The others keep addresses and ports as byte arrays, so they stay mirrors here:
//! `#[repr(C)]` with the same explicit padding as the C side and a compile-time size
//! assertion; `tests` checks their sizes and every field offset against the generated
//! types, and the reason numbers against the header text, so the two cannot drift apart
//! silently. Their serialisation is written out field by field (`to_bytes`/`from_bytes`),
//! so padding is always zero and no `unsafe` is needed. Host-order fields use the native
//! byte order (the kernel runs on this host); ports are stored in network order.

use oxbpf::skel::{read_pod, write_pod};
use std::net::IpAddr;

/// `OXLB_AF_INET`.
pub const AF_INET: u8 = 2;
/// `OXLB_AF_INET6`.
pub const AF_INET6: u8 = 10;
/// `OXLB_MODE_NAT`.
pub const MODE_NAT: u8 = 1;
/// `OXLB_MODE_DSR`.
pub const MODE_DSR: u8 = 2;
/// `OXLB_MODE_IPIP`.
pub const MODE_IPIP: u8 = 3;
/// `OXLB_MODE_GUE`.
pub const MODE_GUE: u8 = 4;
/// `OXLB_BACKEND_VALID`.
pub const BACKEND_VALID: u8 = 1;
/// `OXLB_NO_BACKEND`: ring slot value meaning "no usable backend".
pub const NO_BACKEND: u32 = 0xffff_ffff;

/// An address as the datapath stores it: 16 bytes (IPv4 in the first 4) and a family.
pub fn addr_bytes(addr: IpAddr) -> ([u8; 16], u8) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            (out, AF_INET)
        }
        IpAddr::V6(a) => (a.octets(), AF_INET6),
    }
}

/// Inverse of [`addr_bytes`]; `None` for an unknown family.
pub fn addr_from_bytes(bytes: [u8; 16], family: u8) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]])),
        AF_INET6 => Some(IpAddr::from(bytes)),
        _ => None,
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(w)
}

fn arr16(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    a
}

/// `struct oxlb_vip_key`: key of `oxlb_vips`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawVipKey {
    /// Address bytes (network order).
    pub addr: [u8; 16],
    /// Port in network byte order as bytes; 0 = any port.
    pub port: [u8; 2],
    /// IP protocol number.
    pub proto: u8,
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u8,
}
const _: () = assert!(std::mem::size_of::<RawVipKey>() == 20);

impl RawVipKey {
    /// Size in bytes.
    pub const SIZE: usize = 20;

    /// Key of a VIP.
    pub fn new(addr: IpAddr, port: u16, proto: u8) -> Self {
        let (addr, family) = addr_bytes(addr);
        RawVipKey {
            addr,
            port: port.to_be_bytes(),
            proto,
            family,
        }
    }

    /// The bytes the kernel map sees.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::SIZE);
        v.extend_from_slice(&self.addr);
        v.extend_from_slice(&self.port);
        v.push(self.proto);
        v.push(self.family);
        v
    }
}

/// `struct oxlb_vip`: value of `oxlb_vips`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawVip {
    /// VIP id (ring row, stats index).
    pub id: u32,
    /// [`MODE_NAT`] or [`MODE_DSR`].
    pub mode: u8,
    /// Family of `snat_addr` (0 for DSR).
    pub snat_family: u8,
    /// Zero.
    pub _pad: u16,
    /// NAT source address.
    pub snat_addr: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<RawVip>() == 24);

impl RawVip {
    /// Size in bytes.
    pub const SIZE: usize = 24;

    /// The bytes the kernel map sees.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::SIZE);
        v.extend_from_slice(&self.id.to_ne_bytes());
        v.push(self.mode);
        v.push(self.snat_family);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&self.snat_addr);
        v
    }
}

/// `struct oxlb_vip_slot`: value of `oxlb_vip_ids` (index: VIP id).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawVipSlot {
    /// The VIP's key in `oxlb_vips`.
    pub key: RawVipKey,
    /// Its value there.
    pub vip: RawVip,
}
const _: () = assert!(std::mem::size_of::<RawVipSlot>() == 44);

impl RawVipSlot {
    /// Size in bytes.
    pub const SIZE: usize = 44;

    /// The bytes the kernel map sees.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.key.to_bytes();
        v.extend_from_slice(&self.vip.to_bytes());
        v
    }

    /// An empty slot (no VIP under this id).
    pub fn empty_bytes() -> Vec<u8> {
        vec![0; Self::SIZE]
    }
}

/// `struct oxlb_backend`: value of `oxlb_backends`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawBackend {
    /// Backend address.
    pub addr: [u8; 16],
    /// NAT destination port (network order bytes); 0 = keep the client's.
    pub port: [u8; 2],
    /// Address family.
    pub family: u8,
    /// [`BACKEND_VALID`] for a live entry; an all-zero entry is "no backend".
    pub flags: u8,
}
const _: () = assert!(std::mem::size_of::<RawBackend>() == 20);

impl RawBackend {
    /// Size in bytes.
    pub const SIZE: usize = 20;

    /// A valid backend entry.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        let (addr, family) = addr_bytes(addr);
        RawBackend {
            addr,
            port: port.to_be_bytes(),
            family,
            flags: BACKEND_VALID,
        }
    }

    /// The bytes the kernel map sees.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::SIZE);
        v.extend_from_slice(&self.addr);
        v.extend_from_slice(&self.port);
        v.push(self.family);
        v.push(self.flags);
        v
    }
}

/// `struct oxlb_flow_key`: key of `oxlb_ct` (client → VIP) and `oxlb_nat` (backend → LB).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawFlowKey {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port, network order bytes.
    pub sport: [u8; 2],
    /// Destination port, network order bytes.
    pub dport: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Address family.
    pub family: u8,
    /// Zero.
    pub _pad: u16,
}
const _: () = assert!(std::mem::size_of::<RawFlowKey>() == 40);

impl RawFlowKey {
    /// Size in bytes.
    pub const SIZE: usize = 40;

    /// Key of a flow `src:sport -> dst:dport` (both addresses of the same family).
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> Self {
        let (s, family) = addr_bytes(src);
        let (d, _) = addr_bytes(dst);
        RawFlowKey {
            src: s,
            dst: d,
            sport: sport.to_be_bytes(),
            dport: dport.to_be_bytes(),
            proto,
            family,
            _pad: 0,
        }
    }

    /// The bytes the kernel map sees.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::SIZE);
        v.extend_from_slice(&self.src);
        v.extend_from_slice(&self.dst);
        v.extend_from_slice(&self.sport);
        v.extend_from_slice(&self.dport);
        v.extend_from_slice(&[self.proto, self.family, 0, 0]);
        v
    }

    /// Parse map bytes; `None` when the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        Some(RawFlowKey {
            src: arr16(&b[0..]),
            dst: arr16(&b[16..]),
            sport: [b[32], b[33]],
            dport: [b[34], b[35]],
            proto: b[36],
            family: b[37],
            _pad: 0,
        })
    }

    /// The datapath's flow hash (MurmurHash3 x86_32 of the tuple bytes), used to pick
    /// the Maglev slot (`hash % table_size`) and the first NAT port probe.
    pub fn hash(&self, seed: u32) -> u32 {
        let alen = if self.family == AF_INET6 { 16 } else { 4 };
        let mut data = Vec::with_capacity(40);
        data.extend_from_slice(&self.src[..alen]);
        data.extend_from_slice(&self.dst[..alen]);
        data.extend_from_slice(&self.sport);
        data.extend_from_slice(&self.dport);
        data.extend_from_slice(&[self.proto, 0, 0, 0]);
        murmur3_32(&data, seed)
    }
}

/// MurmurHash3 x86_32 over whole 4-byte blocks (the datapath never hashes a tail).
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    for block in data.chunks_exact(4) {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        h = (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// `struct oxlb_hop`: a next hop cached by the datapath in conntrack and NAT entries
/// (`dmac`, `smac`, egress `ifindex`, `at_ns` of the lookup, 0: none cached). Generated.
pub use super::skel::oxlb::oxlb_hop as RawHop;
const _: () = assert!(std::mem::size_of::<RawHop>() == 24);

/// `struct oxlb_ct`: value of `oxlb_ct`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawCt {
    /// Backend id of the flow.
    pub backend_id: u32,
    /// VIP id of the flow.
    pub vip_id: u32,
    /// NAT source port (network order bytes); zero for DSR.
    pub nat_port: [u8; 2],
    /// Mode at flow creation.
    pub mode: u8,
    /// Zero.
    pub _pad: u8,
    /// SYN-proxied flow: backend ISN - cookie, added to the client's ACK numbers; else 0.
    pub seq_delta: u32,
    /// Cached next hop towards the backend.
    pub hop: RawHop,
}
const _: () = assert!(std::mem::size_of::<RawCt>() == 40);

impl RawCt {
    /// Size in bytes.
    pub const SIZE: usize = 40;

    /// Parse map bytes; `None` when the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() == Self::SIZE).then(|| RawCt {
            backend_id: u32_at(b, 0),
            vip_id: u32_at(b, 4),
            nat_port: [b[8], b[9]],
            mode: b[10],
            _pad: 0,
            seq_delta: u32_at(b, 12),
            hop: read_pod(b, 16),
        })
    }
}

/// `struct oxlb_nat`: value of `oxlb_nat`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawNat {
    /// The original client → VIP tuple.
    pub client: RawFlowKey,
    /// VIP id.
    pub vip_id: u32,
    /// Backend id.
    pub backend_id: u32,
    /// Cached next hop towards the client.
    pub hop: RawHop,
    /// Last packet of the flow: the datapath's clock in ns >> [`NAT_TICK_SHIFT`].
    pub seen: u32,
    /// How the TCP flow ended: one of the `NAT_*` states.
    pub closing: u8,
    /// Zero.
    pub _pad: [u8; 3],
    /// As [`RawCt::seq_delta`]: subtracted from the backend's sequence numbers.
    pub seq_delta: u32,
    /// Zero.
    pub _pad2: u32,
}
const _: () = assert!(std::mem::size_of::<RawNat>() == 88);

/// `OXLB_COOKIES_OFF`: SYNs to NAT VIPs always open half-open flows.
pub const COOKIES_OFF: u8 = 0;
/// `OXLB_COOKIES_GUARD`: SYN cookies while the VIP's new-flow guard is engaged.
pub const COOKIES_GUARD: u8 = 1;
/// `OXLB_COOKIES_ALWAYS`: every SYN to a NAT VIP is answered with a SYN cookie.
pub const COOKIES_ALWAYS: u8 = 2;

/// `OXLB_NAT_TICK_SHIFT`: `RawNat::seen` counts ticks of 2^NAT_TICK_SHIFT ns.
pub const NAT_TICK_SHIFT: u32 = 30;
/// `OXLB_NAT_OPEN`: the flow has not closed.
pub const NAT_OPEN: u8 = 0;
/// `OXLB_NAT_CLOSED`: the client sent the first FIN, or either side a RST.
pub const NAT_CLOSED: u8 = 1;
/// `OXLB_NAT_TIME_WAIT`: the backend sent the first FIN.
pub const NAT_TIME_WAIT: u8 = 2;

impl RawNat {
    /// Size in bytes.
    pub const SIZE: usize = 88;

    /// Parse map bytes; `None` when the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        Some(RawNat {
            client: RawFlowKey::from_bytes(&b[..40])?,
            vip_id: u32_at(b, 40),
            backend_id: u32_at(b, 44),
            hop: read_pod(b, 48),
            seen: u32_at(b, 72),
            closing: b[76],
            _pad: [0; 3],
            seq_delta: u32_at(b, 80),
            _pad2: 0,
        })
    }
}

/// `struct oxlb_syn`: value of `oxlb_syn`, a half-open NAT flow.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSyn {
    /// The client → VIP tuple.
    pub client: RawFlowKey,
    /// VIP id.
    pub vip_id: u32,
    /// Backend id.
    pub backend_id: u32,
    /// Datapath clock at the client's last SYN.
    pub at_ns: u64,
    /// The backend's SYN-ACK sequence number (host order); a proxied flow waiting for it:
    /// the cookie the client acknowledged.
    pub server_isn: u32,
    /// 1 once the backend's SYN-ACK went back to the client.
    pub synack: u8,
    /// 1: opened by a SYN cookie (the LB completes the backend's handshake).
    pub proxied: u8,
    /// Proxied: the client's receive window (network order bytes).
    pub window: [u8; 2],
    /// Proxied: the sequence number of the LB's SYN to the backend (host order).
    pub client_isn: u32,
    /// Zero.
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<RawSyn>() == 72);

impl RawSyn {
    /// Size in bytes.
    pub const SIZE: usize = 72;

    /// Parse map bytes; `None` when the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        Some(RawSyn {
            client: RawFlowKey::from_bytes(&b[..40])?,
            vip_id: u32_at(b, 40),
            backend_id: u32_at(b, 44),
            at_ns: u64_at(b, 48),
            server_isn: u32_at(b, 56),
            synack: b[60],
            proxied: b[61],
            window: [b[62], b[63]],
            client_isn: u32_at(b, 64),
            _pad: 0,
        })
    }
}

/// `struct oxlb_guard`: one CPU's new-flow guard state of a VIP (`window`: the datapath
/// clock shifted right by `OXLB_GUARD_WINDOW_SHIFT`, `count`: new flows in it, `guarded`:
/// new flows scheduled while engaged). Generated.
pub use super::skel::oxlb::oxlb_guard as RawGuard;
const _: () = assert!(std::mem::size_of::<RawGuard>() == 24);

impl RawGuard {
    /// Size in bytes.
    pub const SIZE: usize = std::mem::size_of::<Self>();

    /// Parse one CPU's value; `None` when the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() == Self::SIZE).then(|| read_pod(b, 0))
    }
}

/// `struct oxlb_stats`: one CPU's counters of a VIP or backend (`packets`/`bytes` forwarded
/// client → backend, `new_flows` scheduled, `reply_packets`/`reply_bytes` of NAT replies
/// translated back). Generated.
pub use super::skel::oxlb::oxlb_stats as RawStats;
const _: () = assert!(std::mem::size_of::<RawStats>() == 40);

impl RawStats {
    /// Size in bytes.
    pub const SIZE: usize = std::mem::size_of::<Self>();

    /// Parse one CPU's value; `None` when the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() == Self::SIZE).then(|| read_pod(b, 0))
    }

    /// Sum of per-CPU values.
    pub fn sum<'a>(per_cpu: impl IntoIterator<Item = &'a RawStats>) -> RawStats {
        per_cpu
            .into_iter()
            .fold(RawStats::default(), |a, s| RawStats {
                packets: a.packets + s.packets,
                bytes: a.bytes + s.bytes,
                new_flows: a.new_flows + s.new_flows,
                reply_packets: a.reply_packets + s.reply_packets,
                reply_bytes: a.reply_bytes + s.reply_bytes,
            })
    }
}

/// `struct oxlb_config`: the `.rodata` variable `oxlb_cfg`, set before load (fields
/// documented in `oxlb.h`). Generated.
pub use super::skel::oxlb::oxlb_config as RawConfig;
const _: () = assert!(std::mem::size_of::<RawConfig>() == 52);

impl RawConfig {
    /// Size in bytes.
    pub const SIZE: usize = std::mem::size_of::<Self>();
    /// Name of the `.rodata` variable.
    pub const VAR_NAME: &'static str = "oxlb_cfg";

    /// The bytes of the variable.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0; Self::SIZE];
        write_pod(&mut v, 0, self);
        v
    }
}

/// `struct oxlb_encap_config`: the `.rodata` variable `oxlb_encap` (ipip/gue settings).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawEncapConfig {
    /// IPv4 outer source prefix (network order); zero: none.
    pub src4: [u8; 4],
    /// Its host bits (network order).
    pub mask4: [u8; 4],
    /// IPv6 outer source prefix; zero: none.
    pub src6: [u8; 16],
    /// Host bits of the last 32-bit word of `src6` (network order).
    pub mask6: [u8; 4],
    /// GUE destination port (network order).
    pub gue_port: [u8; 2],
    /// Zero.
    pub _pad: u16,
}
const _: () = assert!(std::mem::size_of::<RawEncapConfig>() == 32);

impl RawEncapConfig {
    /// Size in bytes.
    pub const SIZE: usize = 32;
    /// Name of the `.rodata` variable.
    pub const VAR_NAME: &'static str = "oxlb_encap";

    /// The bytes of the variable.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::SIZE);
        v.extend_from_slice(&self.src4);
        v.extend_from_slice(&self.mask4);
        v.extend_from_slice(&self.src6);
        v.extend_from_slice(&self.mask6);
        v.extend_from_slice(&self.gue_port);
        v.extend_from_slice(&[0, 0]);
        v
    }
}

/// `enum oxlb_reason`: index into `oxlb_reasons` (per-CPU packet counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Reason {
    /// Non-IP ethertype or stacked VLANs (XDP_PASS).
    PassNotIp = 0,
    /// Neither VIP nor tracked NAT reply (XDP_PASS).
    PassNotVip = 1,
    /// Header past the frame or bad lengths (XDP_PASS).
    Truncated = 2,
    /// IPv4 fragment or IPv6 fragment header (XDP_PASS).
    Fragment = 3,
    /// IPv4 options present (counted, handled).
    IpOptions = 4,
    /// IPv6 extension header (XDP_PASS).
    Ipv6Ext = 5,
    /// IPv4 IHL < 5 or wrong version (XDP_PASS).
    BadIhl = 6,
    /// VIP without a usable backend (XDP_DROP).
    DropNoBackend = 7,
    /// No free NAT source port (XDP_DROP).
    DropNatPorts = 8,
    /// Family mismatch or table size 0 (XDP_DROP).
    DropBadConfig = 9,
    /// Next hop has no neighbour entry (XDP_PASS).
    FibNoNeigh = 10,
    /// No route (XDP_PASS).
    FibFail = 11,
    /// Larger than the egress MTU (XDP_PASS).
    FibFragNeeded = 12,
    /// ICMP too-big sent to a flow's backend.
    IcmpForwarded = 13,
    /// ICMP too-big about an unknown flow (XDP_PASS).
    IcmpUntracked = 14,
    /// XDP_TX verdicts.
    Tx = 15,
    /// Redirects to another interface.
    Redirect = 16,
    /// Conntrack hits.
    CtHit = 17,
    /// New flows scheduled through the ring.
    CtMiss = 18,
    /// NAT replies translated back.
    NatReply = 19,
    /// Frames with one VLAN tag.
    Vlan = 20,
    /// New NAT flows that took the port of an idle or closed flow.
    NatPortReused = 21,
    /// NAT SYNs forwarded as half-open flows.
    SynHalfOpen = 22,
    /// Half-open NAT flows whose handshake completed.
    SynPromoted = 23,
    /// SYNs that took the port of a younger half-open flow (a SYN flood).
    SynReplaced = 24,
    /// NAT TCP packets (not SYN) of no known or valid flow (XDP_DROP).
    DropNoFlow = 25,
    /// New flows scheduled without conntrack: the new-flow guard was engaged.
    Guarded = 26,
    /// Packets of live flows whose conntrack entry was gone (evicted).
    CtResumed = 27,
    /// Packets to a NAT port without a NAT entry: evicted NAT state or stray (XDP_PASS).
    NatReplyMiss = 28,
    /// ipip/gue packets too big once encapsulated, answered with ICMP (XDP_TX).
    EncapTooBig = 29,
    /// ipip/gue packets too big that could not be answered (XDP_DROP).
    EncapTooBigDrop = 30,
    /// NAT SYNs answered by the LB with a SYN cookie (XDP_TX).
    CookieSent = 31,
    /// ACKs with a valid cookie: the LB sent the SYN to a backend.
    CookieOk = 32,
    /// Backends' SYN-ACKs of cookie flows answered by the LB: flows established.
    CookieProxied = 33,
    /// Cookie frames that could not be built (odd options or size) (XDP_DROP).
    CookieFail = 34,
    /// Backends' answers for an older use of a half-open flow's NAT port, reset by the LB.
    StaleReset = 35,
}

impl Reason {
    /// Number of reasons (`OXLB_R_MAX`).
    pub const COUNT: u32 = 36;
    /// Every reason in index order.
    pub const ALL: [Reason; 36] = [
        Reason::PassNotIp,
        Reason::PassNotVip,
        Reason::Truncated,
        Reason::Fragment,
        Reason::IpOptions,
        Reason::Ipv6Ext,
        Reason::BadIhl,
        Reason::DropNoBackend,
        Reason::DropNatPorts,
        Reason::DropBadConfig,
        Reason::FibNoNeigh,
        Reason::FibFail,
        Reason::FibFragNeeded,
        Reason::IcmpForwarded,
        Reason::IcmpUntracked,
        Reason::Tx,
        Reason::Redirect,
        Reason::CtHit,
        Reason::CtMiss,
        Reason::NatReply,
        Reason::Vlan,
        Reason::NatPortReused,
        Reason::SynHalfOpen,
        Reason::SynPromoted,
        Reason::SynReplaced,
        Reason::DropNoFlow,
        Reason::Guarded,
        Reason::CtResumed,
        Reason::NatReplyMiss,
        Reason::EncapTooBig,
        Reason::EncapTooBigDrop,
        Reason::CookieSent,
        Reason::CookieOk,
        Reason::CookieProxied,
        Reason::CookieFail,
        Reason::StaleReset,
    ];

    /// Metric-style name, e.g. `pass_not_vip`.
    pub fn name(self) -> &'static str {
        match self {
            Reason::PassNotIp => "pass_not_ip",
            Reason::PassNotVip => "pass_not_vip",
            Reason::Truncated => "truncated",
            Reason::Fragment => "fragment",
            Reason::IpOptions => "ip_options",
            Reason::Ipv6Ext => "ipv6_ext",
            Reason::BadIhl => "bad_ihl",
            Reason::DropNoBackend => "drop_no_backend",
            Reason::DropNatPorts => "drop_nat_ports",
            Reason::DropBadConfig => "drop_bad_config",
            Reason::FibNoNeigh => "fib_no_neigh",
            Reason::FibFail => "fib_fail",
            Reason::FibFragNeeded => "fib_frag_needed",
            Reason::IcmpForwarded => "icmp_forwarded",
            Reason::IcmpUntracked => "icmp_untracked",
            Reason::Tx => "tx",
            Reason::Redirect => "redirect",
            Reason::CtHit => "ct_hit",
            Reason::CtMiss => "ct_miss",
            Reason::NatReply => "nat_reply",
            Reason::Vlan => "vlan",
            Reason::NatPortReused => "nat_port_reused",
            Reason::SynHalfOpen => "syn_half_open",
            Reason::SynPromoted => "syn_promoted",
            Reason::SynReplaced => "syn_replaced",
            Reason::DropNoFlow => "drop_no_flow",
            Reason::Guarded => "guarded",
            Reason::CtResumed => "ct_resumed",
            Reason::NatReplyMiss => "nat_reply_miss",
            Reason::EncapTooBig => "encap_too_big",
            Reason::EncapTooBigDrop => "encap_too_big_drop",
            Reason::CookieSent => "cookie_sent",
            Reason::CookieOk => "cookie_ok",
            Reason::CookieProxied => "cookie_proxied",
            Reason::CookieFail => "cookie_fail",
            Reason::StaleReset => "stale_reset",
        }
    }
}
