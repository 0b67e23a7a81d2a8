//! Frame builders and an independent checksum check (RFC 1071 one's-complement sums over the
//! whole header or segment plus pseudo-header — deliberately not the datapath's incremental
//! RFC 1624 updates).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const ETH_IP: u16 = 0x0800;
pub const ETH_IP6: u16 = 0x86dd;
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_VLAN: u16 = 0x8100;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMP6: u8 = 58;

/// `"02:00:00:00:00:10"` → bytes.
pub fn mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(p, 16).unwrap();
    }
    m
}

/// One's-complement sum of 16-bit big-endian words, folded to 16 bits.
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u64::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn pseudo(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, proto]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => panic!("mixed address families"),
    }
    p
}

/// Checksum field value for `segment` (checksum field zeroed) under the pseudo-header.
pub fn l4_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut data = pseudo(src, dst, proto, segment.len());
    data.extend_from_slice(segment);
    !ones_sum(&data)
}

pub fn tcp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    tcp_seq(src, dst, sport, dport, flags, (1000, 0), payload)
}

/// A TCP segment with the given (sequence, acknowledgement) numbers.
pub fn tcp_seq(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    flags: u8,
    (seq, ack): (u32, u32),
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags]);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = l4_checksum(src, dst, TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

pub fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut c = l4_checksum(src, dst, UDP, &u);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// IPv4 header (+ options) + payload, with a valid header checksum.
pub fn ipv4_opts(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    options: &[u8],
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let hl = 20 + options.len();
    let mut h = Vec::with_capacity(hl + payload.len());
    h.push(0x40 | (hl / 4) as u8);
    h.push(0);
    h.extend_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(options);
    let c = !ones_sum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_opts(src, dst, proto, &[], 0x4000, payload)
}

pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

/// An IP packet (family from the addresses) carrying a TCP (ACK) or UDP segment.
pub fn ip_l4(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let seg = if proto == TCP {
        tcp(src, dst, sport, dport, 0x10, payload)
    } else {
        udp(src, dst, sport, dport, payload)
    };
    ip_wrap(src, dst, proto, &seg)
}

/// An IP packet (family from the addresses) carrying a TCP segment with these flags and
/// (sequence, acknowledgement) numbers.
pub fn ip_tcp(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    flags: u8,
    seq_ack: (u32, u32),
    payload: &[u8],
) -> Vec<u8> {
    let seg = tcp_seq(src, dst, sport, dport, flags, seq_ack, payload);
    ip_wrap(src, dst, TCP, &seg)
}

/// An IP header (family from the addresses) in front of an L4 segment.
pub fn ip_wrap(src: IpAddr, dst: IpAddr, proto: u8, seg: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, proto, seg),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s, d, proto, seg),
        _ => panic!("mixed families"),
    }
}

pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Ethertype of an IP packet.
pub fn ethertype(ip: &[u8]) -> u16 {
    if ip[0] >> 4 == 6 {
        ETH_IP6
    } else {
        ETH_IP
    }
}

/// ICMPv4 message with a valid checksum.
pub fn icmp4(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = !ones_sum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// ICMPv6 message with a valid checksum.
pub fn icmp6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = l4_checksum(src.into(), dst.into(), ICMP6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// A parsed IP packet of an output frame.
#[derive(Debug)]
pub struct Ip<'a> {
    pub v6: bool,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// Header length.
    pub hl: usize,
    /// The whole packet (header + payload, without L2 padding).
    pub bytes: &'a [u8],
}

impl<'a> Ip<'a> {
    pub fn parse(ip: &'a [u8]) -> Ip<'a> {
        if ip[0] >> 4 == 6 {
            let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            let s: [u8; 16] = ip[8..24].try_into().unwrap();
            let d: [u8; 16] = ip[24..40].try_into().unwrap();
            Ip {
                v6: true,
                src: IpAddr::from(s),
                dst: IpAddr::from(d),
                proto: ip[6],
                hl: 40,
                bytes: &ip[..(40 + plen).min(ip.len())],
            }
        } else {
            let hl = usize::from(ip[0] & 0xf) * 4;
            let tot = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            Ip {
                v6: false,
                src: IpAddr::from([ip[12], ip[13], ip[14], ip[15]]),
                dst: IpAddr::from([ip[16], ip[17], ip[18], ip[19]]),
                proto: ip[9],
                hl,
                // Quoted packets (ICMP errors) are cut short: keep what is there.
                bytes: &ip[..tot.min(ip.len())],
            }
        }
    }

    pub fn l4(&self) -> &'a [u8] {
        &self.bytes[self.hl..]
    }

    pub fn sport(&self) -> u16 {
        u16::from_be_bytes([self.l4()[0], self.l4()[1]])
    }

    pub fn dport(&self) -> u16 {
        u16::from_be_bytes([self.l4()[2], self.l4()[3]])
    }

    /// The IPv4 header checksum verifies (always true for IPv6).
    pub fn header_ok(&self) -> bool {
        self.v6 || ones_sum(&self.bytes[..self.hl]) == 0xffff
    }

    /// The TCP/UDP/ICMP/ICMPv6 checksum verifies (a zero UDP-over-IPv4 checksum means none).
    pub fn l4_ok(&self) -> bool {
        let seg = self.l4();
        match self.proto {
            UDP if !self.v6 && seg[6..8] == [0, 0] => true,
            ICMP => ones_sum(seg) == 0xffff,
            p => {
                let mut data = pseudo(self.src, self.dst, p, seg.len());
                data.extend_from_slice(seg);
                ones_sum(&data) == 0xffff
            }
        }
    }

    /// Both checksums verify.
    pub fn checksums_ok(&self) -> bool {
        self.header_ok() && self.l4_ok()
    }
}

/// The IP packet of an Ethernet frame (skipping one VLAN tag).
pub fn ip_of(frame: &[u8]) -> Ip<'_> {
    let off = if u16::from_be_bytes([frame[12], frame[13]]) == ETH_VLAN {
        18
    } else {
        14
    };
    Ip::parse(&frame[off..])
}
