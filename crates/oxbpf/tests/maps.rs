//! Every map family created from a `MapSpec` and exercised on the real kernel.

use oxbpf::asm::Insn;
use oxbpf::map::{
    self, Array, ArrayOfMaps, CpuMap, DevMap, HashMap, HashOfMaps, LpmTrie, LruHashMap, Map,
    MapError, PerCpuArray, PerCpuHashMap, PerfEventArray, PerfRecord, ProgramArray, Queue, RingBuf,
    Stack, StackTraceMap, XskMap, BPF_ANY, BPF_EXIST, BPF_NOEXIST,
};
use oxbpf::prog::{self, LoadRequest, TestRunOpts};
use oxbpf::spec::{MapSpec, MapType, ProgramType};
use oxbpf::sys::{self, ObjKind};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod caps_util;
mod coll_support;
use coll_support::require_kernel;

fn spec(name: &str, t: MapType, k: u32, v: u32, n: u32) -> MapSpec {
    MapSpec {
        name: name.into(),
        map_type: t,
        key_size: k,
        value_size: v,
        max_entries: n,
        ..Default::default()
    }
}

fn create(name: &str, t: MapType, k: u32, v: u32, n: u32) -> Map {
    Map::create(&spec(name, t, k, v, n), None, None).unwrap()
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}
fn mov64_imm(dst: u8, imm: i32) -> Insn {
    ins(0xb7, dst, 0, 0, imm)
}
fn mov64_reg(dst: u8, src: u8) -> Insn {
    ins(0xbf, dst, src, 0, 0)
}
fn exit() -> Insn {
    ins(0x95, 0, 0, 0, 0)
}
fn call(helper: i32) -> Insn {
    ins(0x85, 0, 0, 0, helper)
}
fn ld_map_fd(dst: u8, map: &Map) -> [Insn; 2] {
    [
        ins(0x18, dst, 1, 0, map.fd().as_raw_fd()),
        ins(0, 0, 0, 0, 0),
    ]
}
/// `*(u32 *)(r10 - 8) = 0x01020304; *(u32 *)(r10 - 4) = 0x05060708`.
fn store_payload() -> [Insn; 2] {
    [
        ins(0x62, 10, 0, -8, 0x0102_0304),
        ins(0x62, 10, 0, -4, 0x0506_0708),
    ]
}
fn payload() -> Vec<u8> {
    let mut p = 0x0102_0304u32.to_ne_bytes().to_vec();
    p.extend(0x0506_0708u32.to_ne_bytes());
    p
}

fn run_xdp(name: &str, insns: &[Insn]) -> u32 {
    let p = prog::load(&LoadRequest::new(name, ProgramType::XDP, insns, "GPL")).unwrap();
    let pkt = [0u8; 64];
    p.test_run(&TestRunOpts {
        data_in: &pkt,
        ..Default::default()
    })
    .unwrap()
    .retval
}

#[test]
fn array_get_set_bounds_and_size_checks() {
    if !require_kernel() {
        return;
    }
    let m = create("arr", MapType::ARRAY, 4, 8, 4);
    let a = Array::<_, u64>::new(&m).unwrap();
    a.set(2, &42, BPF_ANY).unwrap();
    assert_eq!(a.get(2).unwrap(), 42);
    assert_eq!(a.values().unwrap(), vec![0, 0, 42, 0]);
    let e = a.get(4).unwrap_err();
    assert!(matches!(e, MapError::OutOfBounds { .. }), "{e}");
    let e = Array::<_, u32>::new(&m).unwrap_err();
    assert_eq!(
        e.to_string()
            .lines()
            .next()
            .unwrap()
            .split(';')
            .next()
            .unwrap(),
        "open map \"arr\": value size 4 != 8"
    );
    let e = HashMap::<_, u32, u64>::new(&m).unwrap_err();
    assert!(e.to_string().contains("map type is array"), "{e}");
    let e = m.update(&[0; 8], &[0; 8], BPF_ANY).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("update map \"arr\": key size 8 != 4"),
        "{e}"
    );
    // Arrays cannot delete: the kernel's EINVAL comes back naming map and operation.
    let e = m.delete(&0u32.to_ne_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("delete from map \"arr\": BPF_MAP_DELETE_ELEM: invalid argument"),
        "{e}"
    );
    m.freeze().unwrap();
    assert!(a.set(0, &1, BPF_ANY).is_err(), "frozen map refuses writes");
}

#[test]
fn create_retries_without_btf_when_kernel_rejects_it() {
    if !require_kernel() {
        return;
    }
    // Not a BTF object: the kernel refuses the BTF ids, the retry without them succeeds.
    let not_btf = create("notbtf", MapType::ARRAY, 4, 4, 1);
    let mut s = spec("withbtf", MapType::HASH, 4, 4, 4);
    s.key_type_id = Some(1);
    s.value_type_id = Some(1);
    let m = Map::create(&s, Some(not_btf.fd()), None).unwrap();
    let info = m.info().unwrap();
    assert_eq!((info.btf_id, info.btf_value_type_id), (0, 0));
    assert_eq!(m.name(), "withbtf");
    if let Some(m) = caps_util::needs_sys_admin("BPF_MAP_GET_FD_BY_ID", Map::from_id(m.id())) {
        assert_eq!(m.key_size(), 4);
    }
}

#[test]
fn hash_insert_get_remove_iterate_batch() {
    if !require_kernel() {
        return;
    }
    let m = create("hash", MapType::HASH, 4, 8, 256);
    let h = HashMap::<_, u32, u64>::new(&m).unwrap();
    h.insert(&1, &10, BPF_NOEXIST).unwrap();
    assert!(h.insert(&1, &11, BPF_NOEXIST).is_err());
    h.insert(&1, &11, BPF_EXIST).unwrap();
    assert_eq!(h.get(&1).unwrap(), Some(11));
    assert_eq!(h.get(&2).unwrap(), None);
    assert!(h.remove(&1).unwrap());
    assert!(!h.remove(&1).unwrap());

    let entries: Vec<(u32, u64)> = (0..200).map(|i| (i, u64::from(i) * 3)).collect();
    assert_eq!(h.insert_batch(&entries, BPF_ANY).unwrap(), 200);
    let mut got = h.get_batch().unwrap();
    got.sort();
    assert_eq!(got, entries);
    let mut via_iter: Vec<(u32, u64)> = h.iter().collect::<Result<_, _>>().unwrap();
    via_iter.sort();
    assert_eq!(via_iter, entries);
    let odd: Vec<u32> = (0..200).filter(|i| i % 2 == 1).collect();
    assert_eq!(h.remove_batch(&odd).unwrap(), 100);
    assert_eq!(h.keys().count(), 100);
    // Deleting each key while iterating: the kernel restarts from the first remaining key.
    let mut seen = 0;
    for k in h.keys() {
        assert!(h.remove(&k.unwrap()).unwrap());
        seen += 1;
    }
    assert_eq!(seen, 100);
    assert_eq!(h.keys().count(), 0);
    // lookup_and_delete_batch drains.
    h.insert_batch(&entries[..10], BPF_ANY).unwrap();
    assert_eq!(m.lookup_and_delete_batch().unwrap().len(), 10);
    assert_eq!(h.keys().count(), 0);
}

#[test]
fn key_iteration_aborts_when_deletion_keeps_restarting_it() {
    if !require_kernel() {
        return;
    }
    let m = create("churn", MapType::HASH, 4, 4, 4);
    let h = HashMap::<_, u32, u32>::new(&m).unwrap();
    for i in 0..4 {
        h.insert(&i, &i, BPF_ANY).unwrap();
    }
    // Replacing every yielded key keeps the map full, and each deletion restarts the walk:
    // without a bound this would never end.
    let mut results = Vec::new();
    for k in h.keys() {
        match k {
            Ok(k) => {
                h.remove(&k).unwrap();
                h.insert(&(k + 100), &0, BPF_ANY).unwrap();
                results.push(Ok(k));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    assert_eq!(results.len(), 5);
    let e = results.pop().unwrap().unwrap_err();
    assert!(
        matches!(e, MapError::IterationAborted { seen: 4, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("\"churn\""), "{e}");
}

#[cfg(feature = "fault-injection")]
#[test]
fn batch_ops_fall_back_per_element_without_kernel_support() {
    use oxbpf::sys::{fault::Guard, Cmd};
    if !require_kernel() {
        return;
    }
    let m = create("nobatch", MapType::HASH, 4, 4, 64);
    let h = HashMap::<_, u32, u32>::new(&m).unwrap();
    let _g = Guard::fail(Cmd::MapLookupBatch, libc::EINVAL)
        .and(Cmd::MapUpdateBatch, libc::EINVAL)
        .and(Cmd::MapDeleteBatch, 524);
    let entries: Vec<(u32, u32)> = (0..40).map(|i| (i, i + 1)).collect();
    assert_eq!(h.insert_batch(&entries, BPF_ANY).unwrap(), 40);
    let mut got = h.get_batch().unwrap();
    got.sort();
    assert_eq!(got, entries);
    assert_eq!(h.remove_batch(&[1, 2, 3]).unwrap(), 3);
    assert_eq!(h.keys().count(), 37);
    let e = h.remove_batch(&[1]).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn lru_hash_evicts() {
    if !require_kernel() {
        return;
    }
    let m = create("lru", MapType::LRU_HASH, 4, 4, 32);
    let h = LruHashMap::<_, u32, u32>::new(&m).unwrap();
    for i in 0..1000u32 {
        h.insert(&i, &i, BPF_ANY).unwrap();
    }
    let n = h.keys().count();
    assert!(n <= 32 + 16 && n > 0, "LRU kept {n} entries");
    assert_eq!(h.get(&999).unwrap(), Some(999), "newest survives");
}

#[test]
fn per_cpu_array_and_hash_values() {
    if !require_kernel() {
        return;
    }
    let ncpu = map::nr_possible_cpus().unwrap();
    let m = create("pcarr", MapType::PERCPU_ARRAY, 4, 4, 2);
    assert_eq!(m.value_buf_size().unwrap(), 8 * ncpu);
    let a = PerCpuArray::<_, u32>::new(&m).unwrap();
    let vals: Vec<u32> = (0..ncpu as u32).map(|c| 100 + c).collect();
    a.set(1, &vals, BPF_ANY).unwrap();
    assert_eq!(a.get(1).unwrap(), vals);
    assert_eq!(a.get(0).unwrap(), vec![0; ncpu]);
    let e = a.set(0, &[1], BPF_ANY);
    if ncpu != 1 {
        assert!(e.unwrap_err().to_string().contains("possible CPUs"));
    }

    let m = create("pchash", MapType::PERCPU_HASH, 8, 8, 16);
    let h = PerCpuHashMap::<_, u64, u64>::new(&m).unwrap();
    let vals: Vec<u64> = (0..ncpu as u64).map(|c| c * 7 + 1).collect();
    h.insert(&5, &vals, BPF_ANY).unwrap();
    assert_eq!(h.get(&5).unwrap(), Some(vals.clone()));
    assert_eq!(h.get_batch().unwrap(), vec![(5, vals)]);
    let lru = create("lrupc", MapType::LRU_PERCPU_HASH, 8, 8, 16);
    assert!(oxbpf::map::LruPerCpuHashMap::<_, u64, u64>::new(&lru).is_ok());
}

#[test]
fn lpm_trie_longest_prefix() {
    if !require_kernel() {
        return;
    }
    let mut s = spec("lpm", MapType::LPM_TRIE, 8, 4, 16);
    s.flags = 1; // BPF_F_NO_PREALLOC, required by LPM tries
    let m = Map::create(&s, None, None).unwrap();
    let t = LpmTrie::<_, [u8; 4], u32>::new(&m).unwrap();
    t.insert(8, &[10, 0, 0, 0], &1, BPF_ANY).unwrap();
    t.insert(16, &[10, 1, 0, 0], &2, BPF_ANY).unwrap();
    assert_eq!(t.get(32, &[10, 1, 2, 3]).unwrap(), Some(2));
    assert_eq!(t.get(32, &[10, 2, 3, 4]).unwrap(), Some(1));
    assert_eq!(t.get(32, &[11, 0, 0, 1]).unwrap(), None);
    let mut keys: Vec<(u32, [u8; 4])> = t.keys().collect::<Result<_, _>>().unwrap();
    keys.sort();
    assert_eq!(keys, vec![(8, [10, 0, 0, 0]), (16, [10, 1, 0, 0])]);
    assert!(t.remove(16, &[10, 1, 0, 0]).unwrap());
    assert_eq!(t.get(32, &[10, 1, 2, 3]).unwrap(), Some(1));
}

#[test]
fn lpm_trie_errors_name_the_layout() {
    if !require_kernel() {
        return;
    }
    let mut s = spec("lpm", MapType::LPM_TRIE, 8, 4, 16);
    s.flags = 1; // BPF_F_NO_PREALLOC
    let m = Map::create(&s, None, None).unwrap();
    // An 8-byte K for a map whose key is prefix + 4 bytes: say both sizes the right way round.
    let e = LpmTrie::<_, u64, u32>::new(&m).unwrap_err();
    assert_eq!(
        e.to_string(),
        "open as LpmTrie map \"lpm\": the map's key is 8 bytes (a u32 prefix length + 4 data \
         bytes) but K is 8 bytes; hint: K is only the data after the prefix length, 4 bytes \
         here (e.g. [u8; 4] for IPv4, [u8; 16] for IPv6)"
    );
    // A prefix past 32 bits is refused before the kernel's bare EINVAL, naming the maximum.
    let t = LpmTrie::<_, [u8; 4], u32>::new(&m).unwrap();
    for e in [
        t.insert(33, &[10, 0, 0, 0], &1, BPF_ANY).unwrap_err(),
        t.get(33, &[10, 0, 0, 0]).unwrap_err(),
        t.remove(40, &[10, 0, 0, 0]).map(|_| ()).unwrap_err(),
    ] {
        let text = e.to_string();
        assert!(
            text.contains("is longer than the key's 32 data bits; hint: the maximum prefix is 32"),
            "{text}"
        );
        assert_eq!(e.errno(), None, "refused before the kernel: {text}");
    }
    assert!(t.insert(32, &[10, 0, 0, 1], &7, BPF_ANY).is_ok());
    assert_eq!(t.get(32, &[10, 0, 0, 1]).unwrap(), Some(7));
}

#[test]
fn queue_fifo_and_stack_lifo() {
    if !require_kernel() {
        return;
    }
    let q = Queue::<_, u32>::new(create("q", MapType::QUEUE, 0, 4, 3)).unwrap();
    for v in [1, 2, 3] {
        q.push(&v, BPF_ANY).unwrap();
    }
    assert!(q.push(&4, BPF_ANY).is_err(), "full");
    q.push(&4, BPF_EXIST).unwrap(); // drops the oldest
    assert_eq!(q.peek().unwrap(), Some(2));
    assert_eq!(
        [
            q.pop().unwrap(),
            q.pop().unwrap(),
            q.pop().unwrap(),
            q.pop().unwrap()
        ],
        [Some(2), Some(3), Some(4), None]
    );

    let s = Stack::<_, u64>::new(create("s", MapType::STACK, 0, 8, 8)).unwrap();
    for v in [1, 2, 3] {
        s.push(&v, BPF_ANY).unwrap();
    }
    assert_eq!(s.peek().unwrap(), Some(3));
    assert_eq!(
        [
            s.pop().unwrap(),
            s.pop().unwrap(),
            s.pop().unwrap(),
            s.pop().unwrap()
        ],
        [Some(3), Some(2), Some(1), None]
    );
}

#[test]
fn program_array_set_get_clear() {
    if !require_kernel() {
        return;
    }
    let insns = [mov64_imm(0, 2), exit()];
    let p = prog::load(&LoadRequest::new("tail", ProgramType::XDP, &insns, "GPL")).unwrap();
    let pa = ProgramArray::new(create("jmp", MapType::PROG_ARRAY, 4, 4, 4)).unwrap();
    pa.set(1, p.fd(), BPF_ANY).unwrap();
    assert_eq!(pa.get(1).unwrap(), Some(p.id()));
    assert_eq!(pa.get(0).unwrap(), None);
    assert_eq!(
        pa.indices().collect::<Result<Vec<_>, _>>().unwrap(),
        vec![1]
    );
    assert!(pa.clear(1).unwrap());
    assert_eq!(pa.get(1).unwrap(), None);
}

#[test]
fn map_in_map_with_template_inner() {
    if !require_kernel() {
        return;
    }
    let inner_spec = spec("inner", MapType::ARRAY, 4, 4, 1);
    let mut outer_spec = spec("outer", MapType::ARRAY_OF_MAPS, 4, 4, 2);
    let e = Map::create(&outer_spec, None, None).unwrap_err();
    assert!(matches!(e, MapError::MissingInner { .. }), "{e}");
    outer_spec.inner = Some(Box::new(inner_spec.clone()));
    let outer = ArrayOfMaps::new(Map::create(&outer_spec, None, None).unwrap()).unwrap();
    let inner = Map::create(&inner_spec, None, None).unwrap();
    outer.set(0, inner.fd(), BPF_ANY).unwrap();
    assert_eq!(outer.get(0).unwrap(), Some(inner.id()));
    let inner_id = outer.get(0).unwrap().unwrap();
    if let Some(m) = caps_util::needs_sys_admin("BPF_MAP_GET_FD_BY_ID", Map::from_id(inner_id)) {
        assert_eq!(m.map_type(), MapType::ARRAY);
    }
    assert!(outer.clear(0).unwrap());
    // An incompatible inner map is refused.
    let wrong = create("wrong", MapType::ARRAY, 4, 8, 1);
    assert!(outer.set(1, wrong.fd(), BPF_ANY).is_err());

    let hs = spec("hom", MapType::HASH_OF_MAPS, 8, 4, 4);
    let hom_inner = create("hinner", MapType::HASH, 4, 4, 4);
    let hom =
        HashOfMaps::<_, u64>::new(Map::create(&hs, None, Some(hom_inner.fd())).unwrap()).unwrap();
    hom.insert(&77, hom_inner.fd(), BPF_ANY).unwrap();
    assert_eq!(hom.get(&77).unwrap(), Some(hom_inner.id()));
    assert_eq!(hom.keys().collect::<Result<Vec<_>, _>>().unwrap(), vec![77]);
}

/// A network namespace with a veth pair, removed on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Option<Netns> {
        let name = unique("oxmp");
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
        let ns = Netns { name };
        let ok = Command::new("ip")
            .args([
                "-n", &ns.name, "link", "add", "va", "type", "veth", "peer", "name", "vb",
            ])
            .status()
            .ok()?
            .success();
        ok.then_some(ns)
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                assert_eq!(
                    unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                    0
                );
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

#[test]
fn devmap_cpumap_xskmap() {
    if !require_kernel() {
        return;
    }
    // Making a namespace needs CAP_SYS_ADMIN (test setup, not oxbpf): without it the entries
    // point at this namespace's loopback.
    let ns = (!caps_util::lacks(caps_util::SYS_ADMIN))
        .then(|| Netns::new().expect("create netns with veth (iproute2)"));
    let dm = DevMap::new(create("dev", MapType::DEVMAP, 4, 8, 4)).unwrap();
    let dmh = DevMap::new(create("devh", MapType::DEVMAP_HASH, 4, 4, 4)).unwrap();
    let insns = [mov64_imm(0, 2), exit()];
    let mut req = LoadRequest::new("devprog", ProgramType::XDP, &insns, "GPL");
    req.expected_attach_type = Some(oxbpf::spec::AttachType::XDP_DEVMAP);
    let devprog = prog::load(&req).unwrap();
    let fill = |(a, b): (&str, &str)| {
        let (va, vb) = (ifindex(a), ifindex(b));
        assert!(va > 0 && vb > 0);
        dm.set(0, va, None, BPF_ANY).unwrap();
        dm.set(1, vb, Some(devprog.fd()), BPF_ANY).unwrap();
        dmh.set(1000, vb, None, BPF_ANY).unwrap();
        let e = dmh.set(1001, vb, Some(devprog.fd()), BPF_ANY).unwrap_err();
        assert!(e.to_string().contains("8-byte value"), "{e}");
        (va, vb)
    };
    let (va, vb) = match &ns {
        Some(ns) => ns.run(|| fill(("va", "vb"))),
        None => fill(("lo", "lo")),
    };
    assert_eq!(dm.get(0).unwrap().unwrap().value, va);
    assert_eq!(dm.get(0).unwrap().unwrap().prog_id, None);
    let e1 = dm.get(1).unwrap().unwrap();
    assert_eq!((e1.value, e1.prog_id), (vb, Some(devprog.id())));
    assert_eq!(dmh.get(1000).unwrap().unwrap().value, vb);
    assert!(dm.remove(0).unwrap());

    let cm = CpuMap::new(create("cpu", MapType::CPUMAP, 4, 4, 2)).unwrap();
    cm.set(0, 64, None, BPF_ANY).unwrap();
    assert_eq!(cm.get(0).unwrap().unwrap().value, 64);
    assert!(cm.remove(0).unwrap());

    let xm = XskMap::new(create("xsk", MapType::XSKMAP, 4, 4, 2)).unwrap();
    let not_a_socket = create("nosock", MapType::ARRAY, 4, 4, 1);
    let e = xm.set(0, not_a_socket.fd(), BPF_ANY).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("update map \"xsk\": BPF_MAP_UPDATE_ELEM"),
        "{e}"
    );
}

#[test]
fn ringbuf_reads_records_from_xdp_program() {
    if !require_kernel() {
        return;
    }
    let m = create("rb", MapType::RINGBUF, 0, 0, 4096 * 4);
    let mut insns = store_payload().to_vec();
    insns.extend(ld_map_fd(1, &m));
    insns.extend([
        mov64_reg(2, 10),
        ins(0x07, 2, 0, 0, -8),
        mov64_imm(3, 8),
        mov64_imm(4, 0),
        call(130), // bpf_ringbuf_output
        mov64_imm(0, 2),
        exit(),
    ]);
    let mut rb = RingBuf::new(&m).unwrap();
    assert!(rb.next().is_none());
    assert!(rb
        .next_timeout(Duration::from_millis(10))
        .unwrap()
        .is_none());
    let p = prog::load(&LoadRequest::new("rbout", ProgramType::XDP, &insns, "GPL")).unwrap();
    let pkt = [0u8; 64];
    p.test_run(&TestRunOpts {
        data_in: &pkt,
        repeat: 3,
        ..Default::default()
    })
    .unwrap();
    for _ in 0..3 {
        let item = rb
            .next_timeout(Duration::from_secs(1))
            .unwrap()
            .expect("record");
        assert_eq!(&*item, payload().as_slice());
    }
    assert!(rb.next().is_none());
    // Wrap around many times: 16 KiB ring, 16-byte records.
    for round in 0..5 {
        p.test_run(&TestRunOpts {
            data_in: &pkt,
            repeat: 500,
            ..Default::default()
        })
        .unwrap();
        let mut n = 0;
        while let Some(item) = rb.next() {
            assert_eq!(&*item, payload().as_slice(), "round {round}");
            n += 1;
        }
        assert_eq!(n, 500);
    }
}

#[test]
fn perf_event_array_reads_samples() {
    if !require_kernel() {
        return;
    }
    let m = Map::create(
        &spec("perf", MapType::PERF_EVENT_ARRAY, 0, 0, 0),
        None,
        None,
    )
    .unwrap();
    assert_eq!(m.max_entries() as usize, map::nr_possible_cpus().unwrap());
    let pa = PerfEventArray::new(&m).unwrap();
    let mut bufs = pa.open_all(2).unwrap();
    let mut insns = vec![mov64_reg(6, 1)];
    insns.extend(store_payload());
    insns.push(mov64_reg(1, 6));
    insns.extend(ld_map_fd(2, &m));
    insns.extend([
        ins(0xb4, 3, 0, 0, -1), // w3 = 0xffffffff (BPF_F_CURRENT_CPU)
        mov64_reg(4, 10),
        ins(0x07, 4, 0, 0, -8),
        mov64_imm(5, 8),
        call(25), // bpf_perf_event_output
        mov64_imm(0, 2),
        exit(),
    ]);
    assert_eq!(run_xdp("perfout", &insns), 2);
    let ready = map::poll_buffers(&bufs, Duration::from_secs(1)).unwrap();
    assert_eq!(ready.len(), 1, "exactly one CPU got the sample");
    let recs = bufs[ready[0]].read_all();
    assert_eq!(recs.len(), 1);
    let PerfRecord::Sample(data) = &recs[0] else {
        panic!("{recs:?}")
    };
    assert_eq!(&data[..8], payload().as_slice());
    assert!(
        data.len() < 16 && data[8..].iter().all(|&b| b == 0),
        "only padding follows"
    );
    // Dropping the buffers removes them from the map.
    let cpus: Vec<u32> = bufs.iter().map(|b| b.cpu()).collect();
    bufs.clear();
    for cpu in cpus {
        assert!(
            !m.delete(&cpu.to_ne_bytes()).unwrap(),
            "slot {cpu} already empty"
        );
    }
}

#[test]
fn stack_trace_map_from_raw_tracepoint() {
    if !require_kernel() {
        return;
    }
    let m = create("stacks", MapType::STACK_TRACE, 4, 8 * 32, 16);
    let st = StackTraceMap::new(&m).unwrap();
    let mut insns = vec![mov64_reg(6, 1), mov64_reg(1, 6)];
    insns.extend(ld_map_fd(2, &m));
    insns.extend([mov64_imm(3, 0), call(27), exit()]); // return bpf_get_stackid(ctx, map, 0)
    let p = prog::load(&LoadRequest::new(
        "stk",
        ProgramType::RAW_TRACEPOINT,
        &insns,
        "GPL",
    ))
    .unwrap();
    let out = p.test_run(&TestRunOpts::default()).unwrap();
    let id = out.retval as i32;
    assert!(id >= 0, "bpf_get_stackid failed: {id}");
    let frames = st.get(id as u32).unwrap().expect("stack stored");
    assert!(
        !frames.is_empty() && frames.iter().all(|&ip| ip >= 0xffff_0000_0000_0000),
        "{frames:x?}"
    );
    assert_eq!(
        st.stack_ids().collect::<Result<Vec<_>, _>>().unwrap(),
        vec![id as u32]
    );
    assert!(st.remove(id as u32).unwrap());
}

/// A bpffs directory for this test, removed (with its pins) on drop.
struct PinDir(PathBuf);

impl PinDir {
    fn new() -> PinDir {
        let p = PathBuf::from("/sys/fs/bpf").join(unique("oxbpf-mp"));
        std::fs::create_dir(&p).unwrap();
        PinDir(p)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn pin_by_name_reuses_and_reports_mismatch() {
    if !require_kernel() {
        return;
    }
    let dir = PinDir::new();
    let s = spec("pinned_counts", MapType::HASH, 4, 8, 16);
    let mut first = Map::pin_by_name(&s, &dir.0, None, None).unwrap();
    HashMap::<_, u32, u64>::new(&first)
        .unwrap()
        .insert(&1, &99, BPF_ANY)
        .unwrap();
    let second = Map::pin_by_name(&s, &dir.0, None, None).unwrap();
    assert_eq!(second.id(), first.id());
    assert_eq!(
        HashMap::<_, u32, u64>::new(&second)
            .unwrap()
            .get(&1)
            .unwrap(),
        Some(99)
    );
    let from_pin = Map::from_pin(dir.0.join("pinned_counts")).unwrap();
    assert_eq!(from_pin.id(), first.id());
    assert_eq!(from_pin.name(), "pinned_counts");

    let mut bigger = s.clone();
    bigger.max_entries = 32;
    let e = Map::pin_by_name(&bigger, &dir.0, None, None).unwrap_err();
    match &e {
        MapError::PinMismatch {
            field,
            pinned,
            wanted,
            ..
        } => {
            assert_eq!(
                (*field, pinned.as_str(), wanted.as_str()),
                ("max_entries", "16", "32")
            );
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("pinned_counts"), "{e}");
    let mut other_type = s.clone();
    other_type.map_type = MapType::ARRAY;
    let e = Map::pin_by_name(&other_type, &dir.0, None, None).unwrap_err();
    assert!(
        e.to_string().contains("map type is hash, wanted array"),
        "{e}"
    );

    first.unpin().unwrap();
    assert!(!dir.0.join("pinned_counts").exists());
    let e = Map::from_pin(dir.0.join("pinned_counts")).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn created_and_dropped_objects_leave_no_ids() {
    if !require_kernel() {
        return;
    }
    if caps_util::needs_sys_admin("BPF_MAP_GET_NEXT_ID", sys::all_ids(ObjKind::Map)).is_none() {
        return;
    }
    // Names unique to this process, so concurrent tests elsewhere do not disturb the count.
    let tag = format!("lk{}", std::process::id() % 10_000_000);
    let live = |kind: ObjKind| -> Vec<u32> {
        sys::all_ids(kind)
            .unwrap()
            .into_iter()
            .filter(|&id| {
                let Ok(fd) = sys::get_fd_by_id(kind, id) else {
                    return false;
                };
                let name = match kind {
                    ObjKind::Map => sys::map_info(std::os::fd::AsFd::as_fd(&fd)).map(|i| i.name),
                    _ => sys::prog_info(std::os::fd::AsFd::as_fd(&fd)).map(|i| i.name),
                };
                name.is_ok_and(|n| sys::name_from_bytes(&n) == tag)
            })
            .collect()
    };
    {
        let dir = PinDir::new();
        let arr = create(&tag, MapType::ARRAY, 4, 8, 4);
        let mut outer = spec(&tag, MapType::ARRAY_OF_MAPS, 4, 4, 1);
        outer.inner = Some(Box::new(spec(&tag, MapType::ARRAY, 4, 4, 1)));
        let outer = Map::create(&outer, None, None).unwrap();
        let mut pinned =
            Map::pin_by_name(&spec(&tag, MapType::HASH, 4, 4, 4), &dir.0, None, None).unwrap();
        let perf =
            Map::create(&spec(&tag, MapType::PERF_EVENT_ARRAY, 0, 0, 0), None, None).unwrap();
        let bufs = PerfEventArray::new(&perf).unwrap().open_all(1).unwrap();
        let rbm = create(&tag, MapType::RINGBUF, 0, 0, 4096);
        let rb = RingBuf::new(rbm).unwrap();
        let mut insns = ld_map_fd(1, &arr).to_vec();
        insns.extend([mov64_imm(0, 2), exit()]);
        let p = prog::load(&LoadRequest::new(&tag, ProgramType::XDP, &insns, "GPL")).unwrap();
        p.test_run(&TestRunOpts {
            data_in: &[0; 64],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            live(ObjKind::Map).len(),
            5,
            "array, outer, pinned, perf, ringbuf (template freed)"
        );
        assert_eq!(live(ObjKind::Prog).len(), 1);
        pinned.unpin().unwrap();
        drop((bufs, rb, outer, pinned, perf, p, arr));
    }
    // Frees are deferred in the kernel; ids disappear promptly but give it a moment.
    for _ in 0..100 {
        if live(ObjKind::Map).is_empty() && live(ObjKind::Prog).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "leaked maps {:?} progs {:?}",
        live(ObjKind::Map),
        live(ObjKind::Prog)
    );
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}

#[test]
fn loaded_ids_list_a_new_map_until_it_is_dropped() {
    if !require_kernel() {
        return;
    }
    if caps_util::needs_sys_admin("BPF_MAP_GET_NEXT_ID", Map::loaded_ids()).is_none() {
        return;
    }
    let map = create("ids_listed", MapType::ARRAY, 4, 8, 1);
    let id = map.id();
    assert!(Map::loaded_ids().unwrap().contains(&id), "map id {id}");
    assert_eq!(Map::from_id(id).unwrap().name(), "ids_listed");
    drop(map);
    // The kernel frees a map after an RCU grace period: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Map::loaded_ids().unwrap().contains(&id) {
        assert!(
            std::time::Instant::now() < deadline,
            "map id {id} still listed after 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
