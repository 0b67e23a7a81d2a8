//! The VIP filter `oxlb_vipfilter` (see `bpf/vipfilter.h`): one array read tells the
//! datapath that a packet is not ours, before any conntrack, NAT or VIP hash lookup. The
//! words are a global array of the program (map `.bss.vipfilter`: one element, key 0), so
//! every write replaces all of them. It is not pinned ([`MapId::pinned`]): each loaded
//! program has its own, written from the plan before the program is attached.
//!
//! An address hashes ([`hash`]) to one of [`WORDS`] 64-bit words and one of its 16
//! nibbles; each nibble has four lanes (VIP TCP, VIP UDP, SNAT TCP, SNAT UDP). A set bit
//! means "no address of this lane hashes here", so a never-written (all-zero) map lets
//! every packet through to the full path. The words are derived from the `oxlb_vips`
//! entries of a plan ([`VipFilter::of`]); [`ops_before`] and [`ops_after`] are the
//! writes `diff` puts around the VIP writes.

use std::collections::BTreeMap;

use super::abi::{RawVip, RawVipKey, MODE_NAT};
use super::diff::{Change, MapOp};
use super::layout::MapId;

/// Index bits of `oxlb_vipfilter` (`OXLB_VIPFILTER_BITS`).
pub const BITS: u32 = 12;
/// Words of `oxlb_vipfilter` (`OXLB_VIPFILTER_WORDS`): the map value is `WORDS * 8` bytes.
pub const WORDS: u32 = 1 << BITS;
/// `OXLB_VIPFILTER_GOLDEN`: the multiplier of the hash.
const GOLDEN: u32 = 0x9e37_79b1;
/// `OXLB_VIPFILTER_V6`: folded into IPv6 addresses.
const V6: u32 = 0x5bd1_e995;
/// IP protocol number of UDP (the UDP lanes; anything else uses the TCP lanes).
const UDP: u8 = 17;

/// The datapath's `vipfilter_hash` of an address as `oxlb_vip_key` stores it (16 bytes,
/// IPv4 in the first 4) and its family.
pub fn hash(addr: &[u8; 16], family: u8) -> u32 {
    let word = |i: usize| {
        u32::from_ne_bytes([
            addr[4 * i],
            addr[4 * i + 1],
            addr[4 * i + 2],
            addr[4 * i + 3],
        ])
    };
    let mut x = word(0);
    if family == super::abi::AF_INET6 {
        x ^= word(1) ^ word(2) ^ word(3) ^ V6;
    }
    (x ^ (x >> 16)).wrapping_mul(GOLDEN)
}

/// Word index and bit of an address's lane: `snat` picks the SNAT lanes.
pub fn slot(addr: &[u8; 16], family: u8, proto: u8, snat: bool) -> (u32, u32) {
    let h = hash(addr, family);
    let lane = u32::from(proto == UDP) + if snat { 2 } else { 0 };
    (h >> (32 - BITS), ((h >> 16) & 15) * 4 + lane)
}

/// The filter's words: a set bit is "certainly no address of this lane here".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipFilter {
    words: Vec<u64>,
}

impl VipFilter {
    /// The filter of the `oxlb_vips` entries `vips`: every VIP address in its protocol's
    /// VIP lane, every NAT VIP's SNAT address in its SNAT lane.
    pub fn of(vips: &BTreeMap<RawVipKey, RawVip>) -> Self {
        let mut f = VipFilter {
            words: vec![u64::MAX; WORDS as usize],
        };
        for (k, v) in vips {
            f.open(slot(&k.addr, k.family, k.proto, false));
            if v.mode == MODE_NAT {
                f.open(slot(&v.snat_addr, v.snat_family, k.proto, true));
            }
        }
        f
    }

    /// A filter from its [`WORDS`] words (None: another count).
    pub fn from_words(words: Vec<u64>) -> Option<Self> {
        (words.len() == WORDS as usize).then_some(VipFilter { words })
    }

    /// A filter from the map value as read from the kernel (None: not `WORDS * 8` bytes).
    pub fn from_bytes(value: &[u8]) -> Option<Self> {
        let words = value
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect();
        (value.len() == WORDS as usize * 8).then_some(VipFilter { words })
    }

    /// The map value the datapath reads.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    fn open(&mut self, (word, bit): (u32, u32)) {
        self.words[word as usize] &= !(1u64 << bit);
    }

    /// Every address either filter lets through.
    pub fn union(&self, other: &VipFilter) -> VipFilter {
        VipFilter {
            words: self
                .words
                .iter()
                .zip(&other.words)
                .map(|(a, b)| a & b)
                .collect(),
        }
    }

    /// The word at `index` as the datapath reads it.
    pub fn word(&self, index: u32) -> u64 {
        self.words[index as usize]
    }

    /// The datapath's verdict (`vipfilter_not_ours`): true when a TCP/UDP packet to `addr`
    /// (dport in the NAT port range: `nat_port`) is certainly not ours.
    pub fn not_ours(&self, addr: &[u8; 16], family: u8, proto: u8, nat_port: bool) -> bool {
        let (w, bit) = slot(addr, family, proto, false);
        let lanes = self.words[w as usize] >> bit;
        lanes & 1 == 1 && (!nat_port || lanes & 4 == 4)
    }

    /// The write that puts `self` into the map.
    fn write(&self, change: Change) -> MapOp {
        MapOp::Update {
            map: MapId::VipFilter,
            change,
            key: 0u32.to_ne_bytes().to_vec(),
            value: self.to_bytes(),
        }
    }

    /// The write turning `self` (in the map) into `next`, if they differ.
    fn ops_to(&self, next: &VipFilter, change: Change) -> Vec<MapOp> {
        if self == next {
            return Vec::new();
        }
        vec![next.write(change)]
    }
}

/// Writes to make before any VIP is inserted: the filter lets through the addresses of
/// both plans. From nothing (fresh or adopted maps), the new plan's filter is written.
pub(super) fn ops_before(
    old: Option<&BTreeMap<RawVipKey, RawVip>>,
    new: &BTreeMap<RawVipKey, RawVip>,
) -> Vec<MapOp> {
    let next = VipFilter::of(new);
    match old {
        None => vec![next.write(Change::New)],
        Some(old) => {
            let prev = VipFilter::of(old);
            prev.ops_to(&prev.union(&next), Change::Changed)
        }
    }
}

/// Writes to make once the removed VIPs are gone: the filter drops their addresses.
pub(super) fn ops_after(
    old: Option<&BTreeMap<RawVipKey, RawVip>>,
    new: &BTreeMap<RawVipKey, RawVip>,
) -> Vec<MapOp> {
    let Some(old) = old else {
        return Vec::new();
    };
    let next = VipFilter::of(new);
    VipFilter::of(old)
        .union(&next)
        .ops_to(&next, Change::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::abi::{RawVip, MODE_DSR};
    use std::net::IpAddr;

    fn vip(addr: &str, port: u16, proto: u8, snat: Option<&str>) -> (RawVipKey, RawVip) {
        let (snat_addr, snat_family) = snat
            .map(|s| super::super::abi::addr_bytes(s.parse::<IpAddr>().unwrap()))
            .unwrap_or_default();
        let key = RawVipKey::new(addr.parse().unwrap(), port, proto);
        let value = RawVip {
            id: 0,
            mode: if snat.is_some() { MODE_NAT } else { MODE_DSR },
            snat_family,
            _pad: 0,
            snat_addr,
        };
        (key, value)
    }

    fn bytes(addr: &str) -> ([u8; 16], u8) {
        super::super::abi::addr_bytes(addr.parse().unwrap())
    }

    #[test]
    fn header_constants_match() {
        let h = include_str!("../../bpf/vipfilter.h");
        assert!(h.contains(&format!("#define OXLB_VIPFILTER_BITS {BITS}\n")));
        assert!(h.contains("#define OXLB_VIPFILTER_WORDS (1 << OXLB_VIPFILTER_BITS)"));
        assert!(h.contains(&format!("#define OXLB_VIPFILTER_GOLDEN {GOLDEN:#x}u")));
        assert!(h.contains(&format!("#define OXLB_VIPFILTER_V6 {V6:#x}u")));
    }

    #[test]
    fn filter_lets_through_vips_and_snat_addresses_only() {
        let vips: BTreeMap<_, _> = [
            vip("10.0.1.1", 80, 6, Some("10.0.0.1")),
            vip("fd00:1::1", 0, 17, None),
        ]
        .into_iter()
        .collect();
        let f = VipFilter::of(&vips);
        let (a, fam) = bytes("10.0.1.1");
        assert!(!f.not_ours(&a, fam, 6, false), "VIP, any port");
        let (a6, fam6) = bytes("fd00:1::1");
        assert!(!f.not_ours(&a6, fam6, 17, true), "IPv6 VIP");
        let (lb, lbf) = bytes("10.0.0.1");
        assert!(!f.not_ours(&lb, lbf, 6, true), "SNAT address, NAT port");
        // Not ours unless a collision: check the exact lanes.
        let (w, bit) = slot(&lb, lbf, 6, false);
        let vip_lane_shared = f.word(w) >> bit & 1 == 0;
        assert_eq!(f.not_ours(&lb, lbf, 6, false), !vip_lane_shared);
        // An IPv6 address whose last word equals an IPv4 address hashes elsewhere.
        assert_ne!(hash(&a, fam), hash(&a, super::super::abi::AF_INET6));
        // Open bits: exactly one per lane in use.
        let open: u32 = (0..WORDS).map(|i| f.word(i).count_zeros()).sum();
        assert!((2..=3).contains(&open), "{open}");
    }

    #[test]
    fn hash_spreads_address_blocks() {
        use std::collections::BTreeSet;
        let spread = |addrs: &mut dyn Iterator<Item = IpAddr>| {
            let slots: BTreeSet<_> = addrs
                .map(|a| {
                    let (b, f) = super::super::abi::addr_bytes(a);
                    slot(&b, f, 6, false)
                })
                .collect();
            slots.len()
        };
        // A /20 of IPv4 VIPs, and 4096 IPv6 VIPs in the last two bytes: mostly own slots.
        let v4 = spread(&mut (0..4096u32).map(|i| IpAddr::from((0x0a01_0000 + i).to_be_bytes())));
        let v6 = spread(
            &mut (0..4096u128).map(|i| IpAddr::from(((0xfd00u128 << 112) + i).to_be_bytes())),
        );
        assert!(v4 > 3500 && v6 > 3500, "{v4} {v6} of 4096");
    }

    #[test]
    fn writes_open_before_and_close_after() {
        let a: BTreeMap<_, _> = [vip("10.0.1.1", 80, 6, Some("10.0.0.1"))]
            .into_iter()
            .collect();
        let b: BTreeMap<_, _> = [vip("10.0.2.1", 80, 6, None)].into_iter().collect();
        assert!(ops_before(Some(&a), &a).is_empty() && ops_after(Some(&a), &a).is_empty());
        let before = ops_before(Some(&a), &b);
        let after = ops_after(Some(&a), &b);
        let value = |ops: &[MapOp]| match ops {
            [MapOp::Update { key, value, .. }] if key == &0u32.to_ne_bytes() => {
                VipFilter::from_bytes(value).unwrap()
            }
            other => panic!("one write of the whole filter: {other:?}"),
        };
        // Before: both plans' addresses; after: b's only.
        let (fa, fb) = (VipFilter::of(&a), VipFilter::of(&b));
        let mid = value(&before);
        assert_eq!(mid, fa.union(&fb));
        assert_eq!(value(&after), fb);
        // The first write only opens lanes, the second only closes them.
        for i in 0..WORDS {
            assert_eq!(mid.word(i) & !fa.word(i), 0, "word {i} opened only");
            assert_eq!(mid.word(i) & !fb.word(i), 0, "word {i} closed only");
        }
        // From nothing: the whole filter, once.
        assert_eq!(value(&ops_before(None, &b)), fb);
        assert!(ops_after(None, &b).is_empty());
    }
}
