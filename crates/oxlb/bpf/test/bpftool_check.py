#!/usr/bin/env python3
"""Kernel check of oxlb.bpf.o without the Rust loader.

Loads the object with `bpftool prog loadall`, fills the maps with `bpftool map update`
(batch files), and runs crafted frames through BPF_PROG_RUN (`bpftool prog run`) inside
a private network namespace whose veth/neighbour/route setup gives bpf_fib_lookup real
answers. Every rewritten frame is checked field by field and its checksums are verified
with an independent RFC 1071 implementation below (not scapy's).

Needs root, bpftool, iproute2, nsenter and scapy (frame crafting only).
Run: python3 crates/oxlb/bpf/test/bpftool_check.py [path/to/oxlb.bpf.o]
Everything it creates (netns, pins, temp files) carries the pid and is removed at exit.
"""

import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    ICMPv6PacketTooBig,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

HERE = os.path.dirname(os.path.abspath(__file__))
OBJ = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "oxlb.bpf.o")
PID = os.getpid()
NS = f"oxlbdp-{PID}"
PIN = f"/sys/fs/bpf/oxlbdp-{PID}"
TMP = tempfile.mkdtemp(prefix=f"oxlbdp-{PID}-")

# Defaults compiled into the object (oxlb.h / oxlb_cfg); bpftool cannot rewrite .rodata.
TABLE_SIZE = 4099
SEED = 0x6F786C62
NAT_MIN, NAT_COUNT = 16384, 16384

XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = 1, 2, 3, 4
VERDICT = {1: "DROP", 2: "PASS", 3: "TX", 4: "REDIRECT"}
REASONS = [
    "pass_not_ip", "pass_not_vip", "truncated", "fragment", "ip_options", "ipv6_ext",
    "bad_ihl", "drop_no_backend", "drop_nat_ports", "drop_bad_config", "fib_no_neigh",
    "fib_fail", "fib_frag_needed", "icmp_forwarded", "icmp_untracked", "tx", "redirect",
    "ct_hit", "ct_miss", "nat_reply", "vlan",
]
MODE_NAT, MODE_DSR = 1, 2
NO_BACKEND = 0xFFFFFFFF

# Topology inside the namespace: LB on veth "lb0" (10.0.0.1, fd00::1), peers reachable
# through permanent neighbour entries; a second veth "lb1" for the redirect case.
LB4, LB6 = "10.0.0.1", "fd00::1"
CLIENT4, CLIENT6 = "10.0.0.100", "fd00::100"
CLIENT_MAC = "02:00:00:00:00:64"
PEER_MAC = "02:00:00:00:00:fe"  # the client's router as seen by the LB (frame src MAC)
BACKENDS = {
    # id: (addr, port, mac)
    0: ("10.0.0.10", 8080, "02:00:00:00:00:10"),
    1: ("10.0.0.11", 8080, "02:00:00:00:00:11"),
    2: ("10.0.0.12", 0, "02:00:00:00:00:12"),
    3: ("10.0.0.13", 0, None),  # no neighbour entry
    4: ("fd00::10", 8053, "02:00:00:00:01:10"),
    5: ("fd00::11", 8053, "02:00:00:00:01:11"),
    6: ("10.0.5.20", 9000, "02:00:00:00:05:20"),  # behind lb1
    7: ("fd00::12", 0, "02:00:00:00:01:12"),
}
VIPS = [
    # id, addr, port, proto, mode, snat, ring backends
    (0, "10.0.1.1", 80, 6, MODE_NAT, LB4, [0, 1]),
    (1, "10.0.1.1", 53, 17, MODE_NAT, LB4, [0, 1]),
    (2, "10.0.2.1", 443, 6, MODE_DSR, None, [2]),
    (3, "10.0.3.1", 0, 6, MODE_DSR, None, [2]),
    (4, "fd00:1::1", 53, 17, MODE_NAT, LB6, [4, 5]),
    (5, "fd00:1::1", 80, 6, MODE_NAT, LB6, [4, 5]),
    (6, "10.0.4.1", 80, 6, MODE_DSR, None, [3]),
    (7, "10.0.6.1", 80, 6, MODE_NAT, LB4, []),
    (8, "10.0.7.1", 80, 6, MODE_NAT, "10.0.5.1", [6]),
    (9, "fd00:2::1", 443, 6, MODE_DSR, None, [7]),
]

failures = []


def check(cond, what):
    if cond:
        print(f"  ok   {what}")
    else:
        print(f"  FAIL {what}")
        failures.append(what)


def sh(*args, ns=False, check_rc=True):
    cmd = (["nsenter", f"--net=/run/netns/{NS}"] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


# ---- independent checksums (RFC 1071) ---------------------------------------------


def ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ip4_hdr_ok(b: bytes) -> bool:
    ihl = (b[0] & 0xF) * 4
    return ones_sum(b[:ihl]) == 0xFFFF


def l4_ok(ip: bytes, v6: bool) -> bool:
    """Verify the TCP/UDP/ICMPv6 checksum of an IP packet with its pseudo-header."""
    if v6:
        proto, plen = ip[6], struct.unpack("!H", ip[4:6])[0]
        seg = ip[40 : 40 + plen]
        pseudo = ip[8:40] + struct.pack("!IxxxB", len(seg), proto)
    else:
        ihl = (ip[0] & 0xF) * 4
        proto, tot = ip[9], struct.unpack("!H", ip[2:4])[0]
        seg = ip[ihl:tot]
        pseudo = ip[12:20] + struct.pack("!xBH", proto, len(seg))
    if proto == 17 and not v6 and seg[6:8] == b"\0\0":
        return True  # no checksum
    return ones_sum(pseudo + seg) == 0xFFFF


def icmp4_ok(ip: bytes) -> bool:
    ihl = (ip[0] & 0xF) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    return ones_sum(ip[ihl:tot]) == 0xFFFF


# ---- the flow hash, mirrored from oxlb.bpf.c (MurmurHash3 x86_32) --------------------


def murmur3_32(data: bytes, seed: int) -> int:
    c1, c2, h = 0xCC9E2D51, 0x1B873593, seed
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF
    for i in range(0, len(data), 4):
        (k,) = struct.unpack("<I", data[i : i + 4])
        k = rotl((k * c1) & 0xFFFFFFFF, 15) * c2 & 0xFFFFFFFF
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    h ^= len(data)
    h ^= h >> 16
    h = h * 0x85EBCA6B & 0xFFFFFFFF
    h ^= h >> 13
    h = h * 0xC2B2AE35 & 0xFFFFFFFF
    return h ^ (h >> 16)


def addr_bytes(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def flow_hash(src, dst, sport, dport, proto):
    data = addr_bytes(src) + addr_bytes(dst) + struct.pack("!HH", sport, dport) + bytes([proto, 0, 0, 0])
    return murmur3_32(data, SEED)


# ---- ABI builders (oxlb.h) -----------------------------------------------------------


def addr16(a):
    b = addr_bytes(a)
    return b + bytes(16 - len(b)), (10 if len(b) == 16 else 2)


def vip_key(addr, port, proto):
    a, fam = addr16(addr)
    return a + struct.pack("!H", port) + bytes([proto, fam])


def vip_val(vid, mode, snat):
    if snat:
        s, sfam = addr16(snat)
    else:
        s, sfam = bytes(16), 0
    return struct.pack("<I", vid) + bytes([mode, sfam]) + b"\0\0" + s


def backend_val(addr, port):
    a, fam = addr16(addr)
    return a + struct.pack("!H", port) + bytes([fam, 1])


def hexs(b: bytes) -> str:
    return "hex " + " ".join(f"{x:02x}" for x in b)


# ---- setup -----------------------------------------------------------------------------


def setup():
    sh("ip", "netns", "add", NS)
    cmds = [
        "ip link add lb0 type veth peer name peer0",
        "ip link add lb1 type veth peer name peer1",
        "ip link set lo up",
        "ip link set lb0 up", "ip link set peer0 up", "ip link set lb1 up", "ip link set peer1 up",
        f"ip addr add {LB4}/24 dev lb0",
        f"ip addr add {LB6}/64 dev lb0 nodad",
        "ip addr add 10.0.5.1/24 dev lb1",
        f"ip neigh add {CLIENT4} lladdr {CLIENT_MAC} dev lb0 nud permanent",
        f"ip -6 neigh add {CLIENT6} lladdr {CLIENT_MAC} dev lb0 nud permanent",
    ]
    for bid, (a, _, mac) in BACKENDS.items():
        if mac:
            dev = "lb1" if a.startswith("10.0.5.") else "lb0"
            cmds.append(f"ip neigh add {a} lladdr {mac} dev {dev} nud permanent")
    for c in cmds:
        sh(*c.split(), ns=True)
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=True)
    if os.environ.get("V6FWD", "1") == "1":
        sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=True)
    links = json.loads(sh("ip", "-j", "link", "show", ns=True).stdout)
    return {l["ifname"]: (l["ifindex"], l["address"]) for l in links}


def load():
    os.makedirs(PIN)
    sh("bpftool", "prog", "loadall", OBJ, f"{PIN}/progs", "pinmaps", f"{PIN}/maps")
    batch = []
    for vid, addr, port, proto, mode, snat, ring in VIPS:
        batch.append(f"map update pinned {PIN}/maps/oxlb_vips key {hexs(vip_key(addr, port, proto))} "
                     f"value {hexs(vip_val(vid, mode, snat))}")
        for slot in range(TABLE_SIZE):
            b = ring[slot % len(ring)] if ring else NO_BACKEND
            batch.append(f"map update pinned {PIN}/maps/oxlb_ring key {hexs(struct.pack('<I', vid * TABLE_SIZE + slot))} "
                         f"value {hexs(struct.pack('<I', b))}")
    for bid, (a, port, _) in BACKENDS.items():
        batch.append(f"map update pinned {PIN}/maps/oxlb_backends key {hexs(struct.pack('<I', bid))} "
                     f"value {hexs(backend_val(a, port))}")
    path = os.path.join(TMP, "batch")
    with open(path, "w") as f:
        f.write("\n".join(batch) + "\n")
    sh("bpftool", "batch", "file", path)


def cleanup():
    subprocess.run(["rm", "-rf", PIN])
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["rm", "-rf", TMP])


IFS = {}


def run(frame: bytes, ifname="lb0"):
    """Run one frame through the program; returns (verdict, output bytes)."""
    din, dout, ctx = (os.path.join(TMP, n) for n in ("in", "out", "ctx"))
    with open(din, "wb") as f:
        f.write(frame)
    with open(ctx, "wb") as f:
        # struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
        f.write(struct.pack("<6I", 0, len(frame), 0, IFS[ifname][0], 0, 0))
    r = sh("bpftool", "prog", "run", "pinned", f"{PIN}/progs/oxlb_xdp", "data_in", din, "data_out", dout,
           "data_size_out", "4096", "ctx_in", ctx, ns=True)
    rv = int(r.stdout.split("Return value:")[1].split(",")[0])
    with open(dout, "rb") as f:
        out = f.read()
    return rv, out


def reasons():
    d = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", f"{PIN}/maps/oxlb_reasons").stdout)
    tot = {}
    for e in d:
        k = e.get("key")
        k = int(k) if isinstance(k, int) else struct.unpack("<I", bytes(int(x, 16) for x in k))[0]
        vals = e.get("values") or e.get("formatted", {}).get("values")
        s = 0
        for v in vals:
            val = v["value"]
            s += val if isinstance(val, int) else struct.unpack("<Q", bytes(int(x, 16) for x in val))[0]
        tot[REASONS[k]] = s
    return tot


def stats(mapname, idx):
    d = json.loads(sh("bpftool", "-j", "map", "lookup", "pinned", f"{PIN}/maps/{mapname}",
                      "key", *f"{idx} 0 0 0".split()).stdout)
    vals = d.get("values") or d.get("formatted", {}).get("values")
    tot = [0] * 5
    for v in vals:
        val = v["value"]
        if isinstance(val, dict):
            fields = [val[k] for k in ("packets", "bytes", "new_flows", "reply_packets", "reply_bytes")]
        else:
            fields = struct.unpack("<5Q", bytes(int(x, 16) for x in val))
        tot = [a + b for a, b in zip(tot, fields)]
    return tot


class Delta:
    """Reason counters changed by a block of packets."""

    def __enter__(self):
        self.before = reasons()
        return self

    def __exit__(self, *a):
        after = reasons()
        self.d = {k: after.get(k, 0) - self.before.get(k, 0) for k in after if after.get(k, 0) != self.before.get(k, 0)}


# ---- tests ---------------------------------------------------------------------------


def mac_of(ifname):
    return IFS[ifname][1]


def eth(payload, src=PEER_MAC):
    return Ether(src=src, dst=mac_of("lb0")) / payload


def expect_nat_port(client, cport, vip, vport, proto):
    h = flow_hash(client, vip, cport, vport, proto)
    return NAT_MIN + ((h >> 7) % NAT_COUNT), h


def test_nat(v6, proto):
    name = f"NAT {'v6' if v6 else 'v4'} {'TCP' if proto == 6 else 'UDP'}"
    print(f"[{name}]")
    if v6:
        vip, vport, vid = "fd00:1::1", (53 if proto == 17 else 80), (4 if proto == 17 else 5)
        client, lb, IPc = CLIENT6, LB6, IPv6
    else:
        vip, vport, vid = "10.0.1.1", (53 if proto == 17 else 80), (1 if proto == 17 else 0)
        client, lb, IPc = CLIENT4, LB4, IP
    cport = 40000 + proto
    l4 = TCP(sport=cport, dport=vport, flags="S", seq=1234) if proto == 6 else UDP(sport=cport, dport=vport)
    frame = bytes(eth(IPc(src=client, dst=vip) / l4 / Raw(b"hello oxlb payload")))
    nat_port, h = expect_nat_port(client, cport, vip, vport, proto)
    ring = VIPS[vid][6]
    bid = ring[(h % TABLE_SIZE) % len(ring)]
    baddr, bport, bmac = BACKENDS[bid]
    with Delta() as d:
        rv, out = run(frame)
    check(rv == XDP_TX, f"{name}: forward verdict TX (got {VERDICT.get(rv, rv)})")
    o = Ether(out)
    ipo = o[IPc]
    check(o.dst == bmac and o.src == mac_of("lb0"), f"{name}: MACs {o.src} -> {o.dst} (backend {bid} {bmac})")
    check(ipo.src == lb and ipo.dst == baddr, f"{name}: IP {ipo.src} -> {ipo.dst}")
    l4o = ipo.payload
    check(l4o.sport == nat_port and l4o.dport == bport, f"{name}: ports {l4o.sport} -> {l4o.dport} (nat port {nat_port})")
    rawip = out[14:]
    if not v6:
        check(ip4_hdr_ok(rawip), f"{name}: IPv4 header checksum valid")
    check(l4_ok(rawip, v6), f"{name}: {'TCP' if proto == 6 else 'UDP'} checksum valid")
    check(bytes(l4o.payload) == b"hello oxlb payload", f"{name}: payload intact")
    check(d.d.get("ct_miss") == 1 and d.d.get("tx") == 1, f"{name}: counters ct_miss+tx {d.d}")

    # Second packet of the flow: conntrack hit, same backend and port.
    with Delta() as d:
        rv2, out2 = run(frame)
    check(rv2 == XDP_TX and out2 == out, f"{name}: second packet identical rewrite")
    check(d.d.get("ct_hit") == 1, f"{name}: ct_hit counted {d.d}")

    # Reply from the backend.
    rl4 = TCP(sport=bport, dport=nat_port, flags="SA", seq=99, ack=1235) if proto == 6 else UDP(sport=bport, dport=nat_port)
    rframe = bytes(Ether(src=bmac, dst=mac_of("lb0")) / IPc(src=baddr, dst=lb) / rl4 / Raw(b"reply!"))
    with Delta() as d:
        rv, rout = run(rframe)
    check(rv == XDP_TX, f"{name}: reply verdict TX (got {VERDICT.get(rv, rv)})")
    r = Ether(rout)
    rip = r[IPc]
    check(r.dst == CLIENT_MAC, f"{name}: reply dst MAC client")
    check(rip.src == vip and rip.dst == client, f"{name}: reply IP {rip.src} -> {rip.dst}")
    check(rip.payload.sport == vport and rip.payload.dport == cport, f"{name}: reply ports {rip.payload.sport} -> {rip.payload.dport}")
    if not v6:
        check(ip4_hdr_ok(rout[14:]), f"{name}: reply IPv4 header checksum valid")
    check(l4_ok(rout[14:], v6), f"{name}: reply L4 checksum valid")
    check(d.d.get("nat_reply") == 1, f"{name}: nat_reply counted")
    return nat_port, bid


def test_udp_zero_csum():
    print("[UDP v4 checksum 0 stays 0]")
    pkt = eth(IP(src=CLIENT4, dst="10.0.1.1") / UDP(sport=5555, dport=53) / Raw(b"zero csum"))
    b = bytearray(bytes(pkt))
    b[14 + 20 + 6 : 14 + 20 + 8] = b"\0\0"
    rv, out = run(bytes(b))
    check(rv == XDP_TX, "udp csum 0: TX")
    check(out[14 + 20 + 6 : 14 + 20 + 8] == b"\0\0", "udp csum 0: still 0 after NAT")
    check(ip4_hdr_ok(out[14:]), "udp csum 0: IPv4 header checksum valid")


def test_udp6_ffff():
    print("[UDP v6 computed 0 -> 0xffff]")
    client, cport, vip = CLIENT6, 41000, "fd00:1::1"
    nat_port, h = expect_nat_port(client, cport, vip, 53, 17)
    bid = VIPS[4][6][(h % TABLE_SIZE) % 2]
    baddr, bport, _ = BACKENDS[bid]
    # Choose two payload bytes so that the translated datagram's checksum is 0.
    payload = bytearray(b"\0\0padpad")
    after = bytes(IPv6(src=LB6, dst=baddr) / UDP(sport=nat_port, dport=bport, chksum=0) / Raw(bytes(payload)))
    s = ones_sum(after[8:40] + struct.pack("!IxxxB", len(after) - 40, 17) + after[40:])
    # Adding w to the sum: want ones_sum == 0xffff -> checksum ~0xffff = 0.
    w = 0xFFFF - s
    payload[0:2] = struct.pack("!H", w)
    frame = bytes(eth(IPv6(src=client, dst=vip) / UDP(sport=cport, dport=53) / Raw(bytes(payload))))
    rv, out = run(frame)
    csum = out[14 + 40 + 6 : 14 + 40 + 8]
    check(rv == XDP_TX and csum == b"\xff\xff", f"udp6: checksum transmitted as ffff (got {csum.hex()})")
    check(l4_ok(out[14:], True), "udp6: checksum verifies")


def test_dsr():
    print("[DSR]")
    for vip, dport in (("10.0.2.1", 443), ("10.0.3.1", 12345)):
        frame = bytes(eth(IP(src=CLIENT4, dst=vip) / TCP(sport=33333, dport=dport, flags="S") / Raw(b"dsr")))
        rv, out = run(frame)
        check(rv == XDP_TX, f"DSR {vip}:{dport}: TX")
        check(out[:6] == bytes.fromhex(BACKENDS[2][2].replace(":", "")), f"DSR {vip}:{dport}: dst MAC = backend 2")
        check(out[6:12] == bytes.fromhex(mac_of("lb0").replace(":", "")), f"DSR {vip}:{dport}: src MAC = lb0")
        check(out[12:] == frame[12:], f"DSR {vip}:{dport}: L3 and above byte-identical")
    frame = bytes(eth(IPv6(src=CLIENT6, dst="fd00:2::1") / TCP(sport=33333, dport=443, flags="S")))
    rv, out = run(frame)
    check(rv == XDP_TX and out[:6] == bytes.fromhex(BACKENDS[7][2].replace(":", "")) and out[12:] == frame[12:],
          "DSR v6: only dst/src MAC changed")


def test_vlan():
    print("[VLAN]")
    frame = bytes(Ether(src=PEER_MAC, dst=mac_of("lb0")) / Dot1Q(vlan=10) /
                  IP(src=CLIENT4, dst="10.0.2.1") / TCP(sport=1000, dport=443))
    rv, out = run(frame)
    check(rv == XDP_TX and out[12:] == frame[12:], "VLAN-tagged DSR: TX, tag kept, rest untouched")
    frame = bytes(Ether(src=PEER_MAC, dst=mac_of("lb0")) / Dot1Q(vlan=10) / Dot1Q(vlan=20) /
                  IP(src=CLIENT4, dst="10.0.2.1") / TCP(sport=1000, dport=443))
    rv, out = run(frame)
    check(rv == XDP_PASS and out == frame, "double VLAN: PASS untouched")


def test_pass_and_drops():
    print("[non-VIP, no backend, no neighbour, redirect]")
    ssh = bytes(eth(IP(src=CLIENT4, dst=LB4) / TCP(sport=50000, dport=22, flags="PA") / Raw(b"ssh")))
    with Delta() as d:
        rv, out = run(ssh)
    check(rv == XDP_PASS and out == ssh and d.d.get("pass_not_vip") == 1, "ssh to the host: PASS untouched")
    arp = bytes(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=LB4))
    rv, out = run(arp)
    check(rv == XDP_PASS and out == arp, "ARP: PASS untouched")
    ns = bytes(eth(IPv6(src=CLIENT6, dst=LB6) / ICMP6ND()))
    rv, out = run(ns)
    check(rv == XDP_PASS and out == ns, "ICMPv6 neighbour solicitation: PASS untouched")
    frame = bytes(eth(IP(src=CLIENT4, dst="10.0.6.1") / TCP(sport=1, dport=80)))
    with Delta() as d:
        rv, _ = run(frame)
    check(rv == XDP_DROP and d.d.get("drop_no_backend") == 1, f"VIP with empty ring: DROP {d.d}")
    frame = bytes(eth(IP(src=CLIENT4, dst="10.0.4.1") / TCP(sport=1, dport=80)))
    with Delta() as d:
        rv, out = run(frame)
    check(rv == XDP_PASS and out == frame and d.d.get("fib_no_neigh") == 1, f"backend without neighbour: PASS untouched {d.d}")
    frame = bytes(eth(IP(src=CLIENT4, dst="10.0.7.1") / TCP(sport=2, dport=80)))
    with Delta() as d:
        rv, out = run(frame)
    o = Ether(out)
    check(rv == XDP_REDIRECT and d.d.get("redirect") == 1, f"backend behind another interface: REDIRECT {d.d}")
    check(o.dst == BACKENDS[6][2] and o.src == mac_of("lb1") and o[IP].src == "10.0.5.1" and o[IP].dst == "10.0.5.20",
          "redirect: MACs of lb1 / backend 6, NAT addresses")
    check(ip4_hdr_ok(out[14:]) and l4_ok(out[14:], False), "redirect: checksums valid")


def ICMP6ND():
    from scapy.layers.inet6 import ICMPv6ND_NS

    return ICMPv6ND_NS(tgt=LB6)


def test_icmp(nat4, nat6):
    print("[ICMP too-big]")
    # v4: router says the reply VIP:80 -> client:40006 was too big.
    nat_port, bid = nat4
    baddr, bport, bmac = BACKENDS[bid]
    quoted = IP(src="10.0.1.1", dst=CLIENT4, flags="DF") / TCP(sport=80, dport=40006, flags="A", seq=5)
    frame = bytes(eth(IP(src="10.0.0.254", dst="10.0.1.1") / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(quoted)[:28]))
    with Delta() as d:
        rv, out = run(frame)
    check(rv == XDP_TX and d.d.get("icmp_forwarded") == 1, f"ICMPv4 frag-needed (NAT): TX {d.d}")
    o = Ether(out)
    q = IP(bytes(o[ICMP].payload))
    check(o.dst == bmac and o[IP].src == LB4 and o[IP].dst == baddr, "ICMPv4: outer SNAT -> backend")
    check(q.src == baddr and q.dst == LB4, "ICMPv4: quoted backend -> SNAT")
    qports = struct.unpack("!HH", bytes(o[ICMP].payload)[20:24])
    check(qports == (bport, nat_port), f"ICMPv4: quoted ports {qports}")
    check(ip4_hdr_ok(out[14:]) and icmp4_ok(out[14:]) and ip4_hdr_ok(bytes(o[ICMP].payload)),
          "ICMPv4: outer IP, ICMP and quoted IP checksums valid")
    # v6
    nat_port, bid = nat6
    baddr, bport, bmac = BACKENDS[bid]
    quoted = IPv6(src="fd00:1::1", dst=CLIENT6) / TCP(sport=80, dport=40006, flags="A")
    frame = bytes(eth(IPv6(src="fd00::fe", dst="fd00:1::1") / ICMPv6PacketTooBig(mtu=1280) / bytes(quoted)[:48]))
    rv, out = run(frame)
    o = Ether(out)
    q = bytes(o[IPv6].payload)[8:]
    check(rv == XDP_TX and o.dst == bmac and o[IPv6].src == LB6 and o[IPv6].dst == baddr, "ICMPv6 too-big (NAT): TX to backend")
    check(socket.inet_ntop(socket.AF_INET6, q[8:24]) == baddr and socket.inet_ntop(socket.AF_INET6, q[24:40]) == LB6
          and struct.unpack("!HH", q[40:44]) == (bport, nat_port), "ICMPv6: quoted tuple backend -> SNAT:nat port")
    check(l4_ok(out[14:], True), "ICMPv6: checksum (with pseudo-header) valid")
    # DSR: unchanged but for MACs
    quoted = IP(src="10.0.2.1", dst=CLIENT4) / TCP(sport=443, dport=33333, flags="A")
    frame = bytes(eth(IP(src="10.0.0.254", dst="10.0.2.1") / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(quoted)[:28]))
    rv, out = run(frame)
    check(rv == XDP_TX and out[12:] == frame[12:] and out[:6] == bytes.fromhex(BACKENDS[2][2].replace(":", "")),
          "ICMPv4 frag-needed (DSR): MAC rewrite only")
    quoted = IP(src="10.0.1.1", dst="10.9.9.9") / TCP(sport=80, dport=1)
    frame = bytes(eth(IP(src="10.0.0.254", dst="10.0.1.1") / ICMP(type=3, code=4) / bytes(quoted)[:28]))
    with Delta() as d:
        rv, out = run(frame)
    check(rv == XDP_PASS and out == frame and d.d.get("icmp_untracked") == 1, "ICMP about an unknown NAT flow: PASS")
    frame = bytes(eth(IP(src=CLIENT4, dst="10.0.1.1") / ICMP(type=8) / Raw(b"ping")))
    rv, out = run(frame)
    check(rv == XDP_PASS and out == frame, "ICMP echo to a VIP: PASS")


def test_odd():
    print("[odd packets]")
    base = eth(IP(src=CLIENT4, dst="10.0.1.1") / TCP(sport=40100, dport=80) / Raw(b"x" * 20))
    b = bytes(base)
    cases = []
    # BPF_PROG_RUN refuses frames shorter than an Ethernet header; drivers never
    # hand those to XDP either. The shortest frame: a bare Ethernet header.
    cases.append(("bare Ethernet header (IPv4 type)", b[:14], XDP_PASS, "truncated"))
    cases.append(("truncated IPv4 header", b[:14 + 12], XDP_PASS, "truncated"))
    cases.append(("truncated TCP header", bytes(eth(IP(src=CLIENT4, dst="10.0.1.1", proto=6) / Raw(b"abcd"))), XDP_PASS, "truncated"))
    x = bytearray(b)
    x[14] = 0x44
    cases.append(("IPv4 IHL 4", bytes(x), XDP_PASS, "bad_ihl"))
    x = bytearray(b)
    x[16:18] = struct.pack("!H", 2000)
    cases.append(("IPv4 tot_len past the frame", bytes(x), XDP_PASS, "truncated"))
    cases.append(("IPv4 first fragment to VIP", bytes(eth(IP(src=CLIENT4, dst="10.0.1.1", flags="MF") / TCP(sport=1, dport=80))), XDP_PASS, "fragment"))
    cases.append(("IPv4 later fragment to VIP", bytes(eth(IP(src=CLIENT4, dst="10.0.1.1", frag=100, proto=6) / Raw(b"y" * 16))), XDP_PASS, "fragment"))
    x = bytearray(bytes(TCP(sport=40100, dport=80)))
    x[12] = 0x30
    cases.append(("TCP doff 3", bytes(eth(IP(src=CLIENT4, dst="10.0.1.1", proto=6) / Raw(bytes(x)))), XDP_PASS, "truncated"))
    cases.append(("IPv6 hop-by-hop to VIP", bytes(eth(IPv6(src=CLIENT6, dst="fd00:1::1") / IPv6ExtHdrHopByHop() / TCP(sport=1, dport=80))), XDP_PASS, "ipv6_ext"))
    cases.append(("IPv6 fragment to VIP", bytes(eth(IPv6(src=CLIENT6, dst="fd00:1::1") / IPv6ExtHdrFragment() / TCP(sport=1, dport=80))), XDP_PASS, "fragment"))
    cases.append(("IPv6 truncated payload", bytes(eth(IPv6(src=CLIENT6, dst="fd00:1::1", plen=500) / TCP(sport=1, dport=80))), XDP_PASS, "truncated"))
    cases.append(("IPv4 version 6 in an IPv4 ethertype", bytes(Ether(dst=mac_of("lb0"), type=0x0800) / IPv6(src=CLIENT6, dst="fd00:1::1") / TCP()), XDP_PASS, "bad_ihl"))
    quoted = bytes(IP(src="10.0.1.1", dst=CLIENT4) / TCP(sport=80, dport=40006))
    short_icmp = bytes(eth(IP(src="10.0.0.254", dst="10.0.1.1") / ICMP(type=3, code=4) / quoted[:22]))
    cases.append(("ICMP quote cut short, rest is frame padding", short_icmp + quoted[22:28] + bytes(10), XDP_PASS, "truncated"))
    for name, frame, want, reason in cases:
        with Delta() as d:
            rv, out = run(frame)
        check(rv == want and out == frame and d.d.get(reason, 0) >= 1, f"{name}: {VERDICT.get(rv, rv)} untouched, {reason} {d.d}")

    # IPv4 options: handled (NAT) with options untouched.
    opt = IP(src=CLIENT4, dst="10.0.1.1", options=[b"\x01\x01\x01\x00"]) / TCP(sport=40200, dport=80) / Raw(b"opts")
    frame = bytes(eth(opt))
    with Delta() as d:
        rv, out = run(frame)
    o = Ether(out)
    check(rv == XDP_TX and d.d.get("ip_options") == 1 and o[IP].ihl == 6 and out[14 + 20 : 14 + 24] == frame[14 + 20 : 14 + 24],
          f"IPv4 options: NAT applied, options kept {d.d}")
    check(ip4_hdr_ok(out[14:]) and l4_ok(out[14:], False), "IPv4 options: checksums valid")


def test_mtu():
    print("[egress MTU]")
    sh("ip", "link", "set", "lb0", "mtu", "1280", ns=True)
    try:
        frame = bytes(eth(IP(src=CLIENT4, dst="10.0.2.1") / TCP(sport=4444, dport=443) / Raw(b"m" * 1300)))
        with Delta() as d:
            rv, out = run(frame)
        check(rv == XDP_PASS and out == frame and d.d.get("fib_frag_needed") == 1,
              f"frame larger than the egress MTU: PASS untouched {d.d}")
    finally:
        sh("ip", "link", "set", "lb0", "mtu", "1500", ns=True)


def fuzz(n=300):
    """Mutated frames: any PASS must be byte-identical; TX/REDIRECT must carry valid checksums
    when the IPv4/L4 headers are intact; nothing else than PASS/DROP/TX/REDIRECT."""
    print(f"[fuzz {n} mutated frames]")
    rnd = random.Random(PID)
    seeds = [
        bytes(eth(IP(src=CLIENT4, dst="10.0.1.1") / TCP(sport=40300, dport=80) / Raw(b"f" * 12))),
        bytes(eth(IP(src=CLIENT4, dst="10.0.1.1") / UDP(sport=40300, dport=53) / Raw(b"f" * 12))),
        bytes(eth(IPv6(src=CLIENT6, dst="fd00:1::1") / UDP(sport=40300, dport=53) / Raw(b"f" * 12))),
        bytes(eth(IP(src="10.0.0.254", dst="10.0.1.1") / ICMP(type=3, code=4) /
                  bytes(IP(src="10.0.1.1", dst=CLIENT4) / TCP(sport=80, dport=40006))[:28])),
        bytes(Ether(src=PEER_MAC, dst=mac_of("lb0")) / Dot1Q(vlan=5) / IP(src=CLIENT4, dst="10.0.2.1") / TCP(sport=7, dport=443)),
    ]
    bad = 0
    for i in range(n):
        f = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            if op < 0.5 and len(f) > 13:
                pos = rnd.randrange(12, min(len(f), 80))
                f[pos] = rnd.randrange(256)
            elif op < 0.8:
                f = f[: rnd.randrange(min(14, len(f)), len(f) + 1)]
            else:
                f += bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 20)))
        if len(f) < 14:  # BPF_PROG_RUN needs an Ethernet header
            continue
        rv, out = run(bytes(f))
        if rv not in (XDP_PASS, XDP_DROP, XDP_TX, XDP_REDIRECT) or (rv == XDP_PASS and out != bytes(f)):
            bad += 1
            print(f"    bad: verdict {rv} frame {bytes(f).hex()}")
    check(bad == 0, f"fuzz: {n} frames, every PASS untouched")


def batch(lines):
    path = os.path.join(TMP, "batch2")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    sh("bpftool", "batch", "file", path)


def set_ring(vid, backends):
    batch([f"map update pinned {PIN}/maps/oxlb_ring key {hexs(struct.pack('<I', vid * TABLE_SIZE + s))} "
           f"value {hexs(struct.pack('<I', backends[s % len(backends)]))}" for s in range(TABLE_SIZE)])


def flow_key(src, sport, dst, dport, proto):
    a, fam = addr16(src)
    b, _ = addr16(dst)
    return a + b + struct.pack("!HH", sport, dport) + bytes([proto, fam, 0, 0])


def test_conntrack(nat4):
    print("[conntrack and NAT ports]")
    nat_port, bid = nat4
    other = 1 - bid
    vip, cport = "10.0.1.1", 40006
    frame = bytes(eth(IP(src=CLIENT4, dst=vip) / TCP(sport=cport, dport=80, flags="A") / Raw(b"again")))

    # Ring now sends everything to the other backend: the established flow stays.
    set_ring(0, [other])
    rv, out = run(frame)
    o = Ether(out)
    check(rv == XDP_TX and o[IP].dst == BACKENDS[bid][0] and o[TCP].sport == nat_port,
          f"ring change: established flow keeps backend {bid} and NAT port")
    new = bytes(eth(IP(src=CLIENT4, dst=vip) / TCP(sport=cport + 1000, dport=80, flags="S")))
    rv, out = run(new)
    check(rv == XDP_TX and Ether(out)[IP].dst == BACKENDS[other][0], f"ring change: a new flow goes to backend {other}")

    # Conntrack entry evicted: rescheduled (ring restored) and the NAT port is reused
    # because the reverse entry still belongs to this client.
    set_ring(0, [0, 1])
    sh("bpftool", "map", "delete", "pinned", f"{PIN}/maps/oxlb_ct", "key", *hexs(flow_key(CLIENT4, cport, vip, 80, 6)).split())
    with Delta() as d:
        rv, out = run(frame)
    o = Ether(out)
    check(rv == XDP_TX and d.d.get("ct_miss") == 1 and o[IP].dst == BACKENDS[bid][0] and o[TCP].sport == nat_port,
          f"ct evicted: same backend via Maglev, NAT port {nat_port} reused {d.d}")

    # Backend removed (all-zero entry): the flow is rescheduled onto the ring.
    set_ring(0, [other])
    sh("bpftool", "map", "update", "pinned", f"{PIN}/maps/oxlb_backends", "key", *hexs(struct.pack("<I", bid)).split(),
       "value", *hexs(bytes(20)).split())
    rv, out = run(frame)
    o = Ether(out)
    check(rv == XDP_TX and o[IP].dst == BACKENDS[other][0] and l4_ok(out[14:], False),
          f"backend {bid} removed: established flow moves to backend {other}")
    a, port, _ = BACKENDS[bid]
    sh("bpftool", "map", "update", "pinned", f"{PIN}/maps/oxlb_backends", "key", *hexs(struct.pack("<I", bid)).split(),
       "value", *hexs(backend_val(a, port)).split())
    set_ring(0, [0, 1])

    # Port collision: another client whose first probe is the same port on the same
    # backend gets the next port.
    h1 = flow_hash(CLIENT4, vip, 50000, 80, 6)
    want_start, want_be = (h1 >> 7) % NAT_COUNT, (h1 % TABLE_SIZE) % 2
    found = None
    for host in range(101, 250):
        for p in range(1024, 65536):
            h = flow_hash(f"10.0.0.{host}", vip, p, 80, 6)
            if (h >> 7) % NAT_COUNT == want_start and (h % TABLE_SIZE) % 2 == want_be:
                found = (f"10.0.0.{host}", p)
                break
        if found:
            break
    f1 = bytes(eth(IP(src=CLIENT4, dst=vip) / TCP(sport=50000, dport=80, flags="S")))
    f2 = bytes(eth(IP(src=found[0], dst=vip) / TCP(sport=found[1], dport=80, flags="S")))
    rv1, o1 = run(f1)
    rv2, o2 = run(f2)
    p1, p2 = Ether(o1)[TCP].sport, Ether(o2)[TCP].sport
    check(rv1 == rv2 == XDP_TX and p1 == NAT_MIN + want_start and p2 == NAT_MIN + (want_start + 1) % NAT_COUNT,
          f"NAT port collision: {found} probes to the next port ({p1}, {p2})")


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (bpftool prog load, netns)")
        sys.exit(77)
    try:
        IFS.update(setup())
        load()
        nat4 = test_nat(False, 6)
        test_nat(False, 17)
        nat6 = test_nat(True, 6)
        test_nat(True, 17)
        test_udp_zero_csum()
        test_udp6_ffff()
        test_dsr()
        test_vlan()
        test_pass_and_drops()
        test_icmp(nat4, nat6)
        test_conntrack(nat4)
        test_odd()
        test_mtu()
        print("[stats]")
        s0 = stats("oxlb_vip_stats", 0)
        check(s0[0] >= 2 and s0[2] >= 1 and s0[3] >= 1, f"VIP 0 stats packets/new_flows/replies {s0}")
        fuzz()
        print(f"reason totals: {reasons()}")
    finally:
        cleanup()
    if failures:
        print(f"{len(failures)} FAILED")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
