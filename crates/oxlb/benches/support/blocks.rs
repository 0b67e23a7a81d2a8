//! The datapath's per-packet building blocks as tiny XDP programs, written with oxbpf's
//! instruction builders (no object file): each does one operation [`REPS`] times and returns
//! `XDP_TX` (`XDP_ABORTED` if a lookup misses), so with the empty program measured in the
//! same rounds, one operation costs `(block − empty) / REPS`. Lookups use the loaded
//! datapath's own maps and keys; the counter and insert blocks get maps of the same types
//! and sizes, so the datapath's state and counters stay untouched.

use oxbpf::asm::opcode::{BPF_ADD, BPF_B, BPF_DW, BPF_H, BPF_JEQ, BPF_JNE, BPF_MUL, BPF_W};
use oxbpf::asm::{helper_id, Insn};
use oxbpf::map::Map;
use oxbpf::prog::{self, LoadRequest, Program};
use oxbpf::spec::{MapSpec, MapType, ProgramType};
use oxlb::datapath::abi::RawFlowKey;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// Times each block repeats its operation.
pub const REPS: usize = 8;

/// `BPF_FIB_LOOKUP_OUTPUT`.
const FIB_LOOKUP_OUTPUT: i32 = 1 << 1;
/// `AF_INET`.
const AF_INET: i32 = 2;
/// Stack offset of the key (up to 40 bytes) and of `struct bpf_fib_lookup` (64 bytes).
const KEY: i16 = -40;
const FIB: i16 = -104;
/// Stack offset of a 40-byte map value (the insert block).
const VALUE: i16 = -144;

/// What the blocks look up: the datapath's maps and keys that hit in them.
pub struct Targets<'a> {
    /// `oxlb_vips` and a VIP key in it.
    pub vips: (&'a Map, Vec<u8>),
    /// `oxlb_ct` and a flow key in it.
    pub ct: (&'a Map, Vec<u8>),
    /// Source and destination of a routed IPv4 lookup (the LB's address, a backend).
    pub fib: (Ipv4Addr, Ipv4Addr),
}

/// The loaded building blocks.
pub struct Blocks {
    /// `return XDP_TX`: what `BPF_PROG_RUN` costs by itself.
    pub empty: Program,
    /// (what one operation is, its program).
    pub ops: Vec<(&'static str, Program)>,
    _maps: Vec<Map>,
}

fn helper(name: &str) -> i32 {
    helper_id(name).unwrap_or_else(|| panic!("unknown helper {name}"))
}

fn imm(bytes: &[u8]) -> i32 {
    i32::from_ne_bytes(bytes.try_into().expect("4 bytes"))
}

/// Stores `key` (a multiple of 4 bytes) at `r10 + off`.
fn store(key: &[u8], off: i16) -> Vec<Insn> {
    key.chunks(4)
        .enumerate()
        .map(|(i, w)| Insn::st_mem(BPF_W, 10, off + 4 * i as i16, imm(w)))
        .collect()
}

/// `r0 = bpf_map_lookup_elem(map, r10 + KEY)`; a miss returns `XDP_ABORTED`.
fn lookup(map: &Map) -> Vec<Insn> {
    let mut v = Insn::ld_map_fd(1, map.fd().as_raw_fd()).to_vec();
    v.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, KEY.into()),
        Insn::call_helper(helper("bpf_map_lookup_elem")),
        Insn::jmp_imm(BPF_JNE, 0, 0, 1),
        Insn::exit(),
    ]);
    v
}

/// A program: prologue (`r6` = ctx, `r7` = ingress ifindex), `setup`, `op` [`REPS`] times,
/// `return XDP_TX`.
fn program(name: &str, setup: Vec<Insn>, op: &[Insn]) -> Program {
    let mut insns = vec![Insn::mov64_reg(6, 1), Insn::ldx_mem(BPF_W, 7, 1, 12)];
    insns.extend(setup);
    for _ in 0..REPS {
        insns.extend_from_slice(op);
    }
    insns.extend([Insn::mov64_imm(0, super::XDP_TX as i32), Insn::exit()]);
    prog::load(&LoadRequest::new(name, ProgramType::XDP, &insns, "GPL"))
        .unwrap_or_else(|e| panic!("load block {name}: {e}"))
}

fn map(name: &str, map_type: MapType, key: u32, value: u32, entries: u32) -> Map {
    let spec = MapSpec {
        name: name.into(),
        map_type,
        key_size: key,
        value_size: value,
        max_entries: entries,
        ..Default::default()
    };
    Map::create(&spec, None, None).unwrap_or_else(|e| panic!("create {name}: {e}"))
}

/// `bpf_fib_lookup(ctx, r10 + FIB, 64, OUTPUT)` for `src -> dst` (TCP, ports as a NAT flow),
/// the struct filled afresh each time (the helper overwrites it); a failure returns
/// `XDP_ABORTED`.
fn fib_lookup(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<Insn> {
    let port = |p: u16| i32::from(u16::from_ne_bytes(p.to_be_bytes()));
    let mut v: Vec<Insn> = (0..8)
        .map(|i| Insn::st_mem(BPF_DW, 10, FIB + 8 * i, 0))
        .collect();
    v.extend([
        Insn::st_mem(BPF_B, 10, FIB, AF_INET),
        Insn::st_mem(BPF_B, 10, FIB + 1, 6),
        Insn::st_mem(BPF_H, 10, FIB + 2, port(20000)),
        Insn::st_mem(BPF_H, 10, FIB + 4, port(8080)),
        Insn::st_mem(BPF_H, 10, FIB + 6, 56),
        Insn::stx_mem(BPF_W, 10, 7, FIB + 8),
        Insn::st_mem(BPF_W, 10, FIB + 16, imm(&src.octets())),
        Insn::st_mem(BPF_W, 10, FIB + 32, imm(&dst.octets())),
        Insn::mov64_reg(1, 6),
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, FIB.into()),
        Insn::mov64_imm(3, 64),
        Insn::mov64_imm(4, FIB_LOOKUP_OUTPUT),
        Insn::call_helper(helper("bpf_fib_lookup")),
        Insn::jmp_imm(BPF_JEQ, 0, 0, 2),
        Insn::mov64_imm(0, super::XDP_ABORTED as i32),
        Insn::exit(),
    ]);
    v
}

/// Entries of the page-touch array: 8-byte values, 64 KiB apart for the far block, so the
/// array (512 KiB) is vmalloc'd (4 KiB pages) like the datapath's large maps.
const PAGE_STRIDE: u32 = 8192;

/// `REPS` reads of array values `stride` entries apart (constant keys, inlined lookups).
fn touch(name: &str, array: &Map, stride: u32) -> Program {
    let mut ops = Vec::new();
    for i in 0..REPS as u32 {
        ops.push(Insn::st_mem(BPF_W, 10, KEY, (i * stride) as i32));
        ops.extend(lookup(array));
        ops.push(Insn::ldx_mem(BPF_DW, 1, 0, 0));
    }
    program(name, ops, &[])
}

/// Loads every block against `t`.
pub fn load(t: &Targets) -> Blocks {
    let (vips, vip_key) = &t.vips;
    let (ct, flow_key) = &t.ct;
    let counter = map("bench_counter", MapType::PERCPU_ARRAY, 4, 8, 1);
    let lru = map(
        "bench_lru",
        MapType::LRU_HASH,
        ct.key_size(),
        ct.value_size(),
        ct.max_entries(),
    );
    assert!(ct.key_size() <= 40 && ct.value_size() <= 40, "stack layout");

    let mut count = lookup(&counter);
    count.extend([
        Insn::ldx_mem(BPF_DW, 1, 0, 0),
        Insn::alu64_imm(BPF_ADD, 1, 1),
        Insn::stx_mem(BPF_DW, 0, 1, 0),
    ]);
    // A fresh key each time: its first word from bpf_get_prandom_u32.
    let mut insert = vec![Insn::call_helper(helper("bpf_get_prandom_u32"))];
    insert.extend([Insn::stx_mem(BPF_W, 10, 0, KEY)]);
    insert.extend(Insn::ld_map_fd(1, lru.fd().as_raw_fd()));
    insert.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, KEY.into()),
        Insn::mov64_reg(3, 10),
        Insn::alu64_imm(BPF_ADD, 3, VALUE.into()),
        Insn::mov64_imm(4, 0),
        Insn::call_helper(helper("bpf_map_update_elem")),
        Insn::jmp_imm(BPF_JEQ, 0, 0, 2),
        Insn::mov64_imm(0, super::XDP_ABORTED as i32),
        Insn::exit(),
    ]);
    // A lookup that misses on a fresh key (first word from bpf_get_prandom_u32) in the
    // datapath's conntrack map: what each lookup of a new flow's tuple costs (a cold bucket).
    let mut miss = vec![Insn::call_helper(helper("bpf_get_prandom_u32"))];
    miss.extend([Insn::stx_mem(BPF_W, 10, 0, KEY)]);
    miss.extend(Insn::ld_map_fd(1, ct.fd().as_raw_fd()));
    miss.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, KEY.into()),
        Insn::call_helper(helper("bpf_map_lookup_elem")),
        Insn::jmp_imm(BPF_JEQ, 0, 0, 2),
        Insn::mov64_imm(0, super::XDP_ABORTED as i32),
        Insn::exit(),
    ]);
    // The same flow under a 16-byte IPv4 key (addresses, ports, proto) in an LRU of the same
    // size: what a compact key would save on every conntrack lookup.
    let lru16 = map(
        "bench_lru16",
        MapType::LRU_HASH,
        16,
        ct.value_size(),
        ct.max_entries(),
    );
    let k = RawFlowKey::from_bytes(flow_key).expect("a conntrack key");
    let key16: Vec<u8> = [
        &k.src[..4],
        &k.dst[..4],
        &k.sport[..],
        &k.dport[..],
        &[k.proto, 0, 0, 0],
    ]
    .concat();
    lru16
        .update(&key16, &vec![0; ct.value_size() as usize], 0)
        .expect("bench_lru16 entry");
    let mut zero_value = store(&vec![0; ct.value_size() as usize], VALUE);
    zero_value.extend(store(flow_key, KEY));
    // The clock the datapath uses on this host (oxlb_config.ns_per_jiffy).
    let (clock_name, clock) = match oxlb::daemon::kernel::clock().ns_per_jiffy {
        0 => (
            "datapath clock: bpf_ktime_get_ns",
            vec![Insn::call_helper(helper("bpf_ktime_get_ns"))],
        ),
        ns => (
            "datapath clock: bpf_jiffies64 × ns per jiffy",
            vec![
                Insn::call_helper(helper("bpf_jiffies64")),
                Insn::alu64_imm(BPF_MUL, 0, ns as i32),
            ],
        ),
    };

    let pages = map(
        "bench_pages",
        MapType::ARRAY,
        4,
        8,
        PAGE_STRIDE * REPS as u32,
    );
    let ops = vec![
        (
            "HASH lookup: oxlb_vips, 20-byte key, hit",
            program("blk_vip", store(vip_key, KEY), &lookup(vips)),
        ),
        (
            "LRU_HASH lookup: oxlb_ct, 40-byte key, hit",
            program("blk_ct", store(flow_key, KEY), &lookup(ct)),
        ),
        (
            "LRU_HASH lookup: 16-byte IPv4 key, hit",
            program("blk_ct16", store(&key16, KEY), &lookup(&lru16)),
        ),
        (
            "LRU_HASH lookup: oxlb_ct, fresh key, miss (+ prandom)",
            program("blk_miss", store(flow_key, KEY), &miss),
        ),
        (
            "LRU_HASH insert: 40-byte key (+ prandom)",
            program("blk_insert", zero_value, &insert),
        ),
        (
            "PERCPU_ARRAY counter += 1",
            program("blk_count", store(&[0; 4], KEY), &count),
        ),
        (clock_name, program("blk_clock", Vec::new(), &clock)),
        (
            "array read, same 4 KiB page as the last",
            touch("blk_near", &pages, 1),
        ),
        (
            "array read, another 4 KiB page each time",
            touch("blk_far", &pages, PAGE_STRIDE),
        ),
        (
            "bpf_fib_lookup: IPv4 via a gateway",
            program("blk_fib", Vec::new(), &fib_lookup(t.fib.0, t.fib.1)),
        ),
    ];
    Blocks {
        empty: program("blk_empty", Vec::new(), &[]),
        ops,
        _maps: vec![counter, lru, lru16, pages],
    }
}
