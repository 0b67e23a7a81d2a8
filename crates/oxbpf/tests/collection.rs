//! Loading every committed fixture with `Collection::load_report` into the real kernel, then
//! checking what each program computes (BPF_PROG_RUN + map reads) against its header comment;
//! plus global variables, pin-by-name reuse, leak checks and verifier errors.

mod caps_util;
mod coll_support;

use coll_support::*;
use oxbpf::collection::{Collection, CollectionOptions, LoadError, VariableError};
use oxbpf::map::{
    Array, ArrayOfMaps, HashMap, HashOfMaps, LpmTrie, LruHashMap, LruPerCpuHashMap, Map,
    PerCpuArray, PerCpuHashMap, PerfEventArray, PerfRecord, ProgramArray, Queue, RingBuf, Stack,
    BPF_ANY,
};
use oxbpf::prog::{ProgramError, TestRunOpts};
use oxbpf::spec::{CollectionSpec, MapInit, MapSpec, MapType, RelocTarget};
use oxbpf::sys::ObjKind;
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

/// What must happen to one program of a fixture.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Loads.
    Loads,
    /// Refused by the verifier (not meant to pass: disassembler coverage, deliberate bugs).
    VerifierRefuses,
    /// fentry/fexit: loads, or is refused with EPERM by lockdown (said so in the message).
    LoadsUnlessLockdown,
    /// Uses cpu v4 instructions: loads where the kernel has them (v6.6+), else the verifier
    /// refuses it.
    NeedsIsaV4,
    /// Not loaded by default (`?` section prefix), so absent from both lists.
    NotAutoloaded,
}

/// The expected outcome of `load_report` for every program of every committed fixture.
fn expectations() -> BTreeMap<&'static str, Vec<(&'static str, Expect)>> {
    use Expect::*;
    let sections = [
        "sec_cgroup_bind4",
        "sec_cgroup_connect4",
        "sec_cgroup_dev",
        "sec_cgroup_getsockopt",
        "sec_cgroup_setsockopt",
        "sec_cgroup_skb_egress",
        "sec_cgroup_skb_ingress",
        "sec_cgroup_sock_create",
        "sec_cgroup_sysctl",
        "sec_classifier",
        "sec_flow_dissector",
        "sec_lwt_in",
        "sec_perf_event",
        "sec_raw_tp",
        "sec_sk_lookup",
        "sec_sk_msg",
        "sec_sk_skb_parser",
        "sec_sk_skb_verdict",
        "sec_socket",
        "sec_sockops",
        "sec_syscall",
        "sec_tc",
        "sec_tracepoint",
        "sec_xdp",
        "sec_xdp_frags",
    ];
    BTreeMap::from([
        (
            "bad.bpf.o",
            vec![("bad_oob", VerifierRefuses), ("good_neighbour", Loads)],
        ),
        (
            "calls.bpf.o",
            vec![("calls_entry", Loads), ("tail_a", Loads), ("tail_b", Loads)],
        ),
        (
            "disasm.bpf.o",
            vec![
                ("cov_alu", VerifierRefuses),
                ("cov_atomic", VerifierRefuses),
                ("cov_jmp", VerifierRefuses),
                ("cov_mem", VerifierRefuses),
            ],
        ),
        ("global_data.bpf.o", vec![("global_data", Loads)]),
        ("btf_kinds.bpf.o", vec![("btf_kinds", Loads)]),
        ("typed_values.bpf.o", vec![("fill", Loads)]),
        ("isa_v4.bpf.o", vec![("isa_v4", NeedsIsaV4)]),
        // libbpf 1.x refuses legacy map definitions; we load them like cilium/ebpf and aya.
        ("legacy_maps.bpf.o", vec![("legacy_count", Loads)]),
        ("maps.bpf.o", vec![("maps_touch", Loads)]),
        ("ringbuf.bpf.o", vec![("ringbuf_emit", Loads)]),
        ("run_ctx.bpf.o", vec![("double_in", Loads)]),
        // The cold-load benchmark's CO-RE fixtures (benches/cold_load.rs).
        (
            "cold/biotop.bpf.o",
            vec![
                ("block_rq_complete", Loads),
                ("block_rq_issue", Loads),
                ("raw_block_rq_complete", Loads),
                ("raw_block_rq_issue", Loads),
            ],
        ),
        (
            "cold/runqlat.bpf.o",
            vec![
                ("handle_sched_switch", Loads),
                ("handle_sched_wakeup", Loads),
                ("handle_sched_wakeup_new", Loads),
                ("sched_switch", Loads),
                ("sched_wakeup", Loads),
                ("sched_wakeup_new", Loads),
            ],
        ),
        (
            "cold/tcptracer.bpf.o",
            vec![
                ("inet_sock_set_state", Loads),
                ("raw_inet_sock_set_state", Loads),
            ],
        ),
        (
            "sections.bpf.o",
            sections.iter().map(|s| (*s, Loads)).collect(),
        ),
        (
            "tracing.bpf.o",
            vec![
                ("trace_fentry", LoadsUnlessLockdown),
                ("trace_fexit", LoadsUnlessLockdown),
                ("trace_sched_switch", Loads),
            ],
        ),
        (
            "xdp.bpf.o",
            vec![
                ("xdp_drop", Loads),
                ("xdp_pass", Loads),
                ("xdp_tx_swap", Loads),
            ],
        ),
        // The global subprogram takes a `struct task_struct *` the verifier will not accept
        // from a tp_btf context; libbpf 1.1 fails it the same way ("Caller passes invalid args").
        ("elf/core.bpf.o", vec![("fork_core", VerifierRefuses)]),
        ("elf/globals.bpf.o", vec![("touch_globals", Loads)]),
        ("elf/legacy.bpf.o", vec![("legacy_user", Loads)]),
        (
            "elf/maps.bpf.o",
            vec![("tail_a", Loads), ("use_maps", Loads)],
        ),
        (
            "elf/progs.bpf.o",
            vec![
                ("cg_connect4", Loads),
                ("cg_egress", Loads),
                ("fentry_sleepable", LoadsUnlessLockdown),
                ("kprobe_unlink", Loads),
                ("kretprobe_unlink", Loads),
                ("lsm_maybe", NotAutoloaded),
                ("msg_verdict", Loads),
                ("raw_tp_enter", Loads),
                ("sock_filter", Loads),
                ("tcx_in", Loads),
                ("tp_switch", Loads),
                ("xdp_first", Loads),
                ("xdp_frags_prog", Loads),
                ("xdp_second", Loads),
            ],
        ),
    ])
}

/// Asserts a lockdown refusal says so: EPERM and the lockdown hint.
fn assert_lockdown_refusal(program: &str, e: &ProgramError) {
    let msg = e.to_string();
    assert_eq!(e.errno(), Some(libc::EPERM), "{program}: {msg}");
    assert!(
        msg.contains("lockdown") && msg.contains(program),
        "{program}: refusal must name the program and lockdown: {msg}"
    );
}

#[test]
fn every_fixture_loads_exactly_the_expected_programs() {
    if !require_kernel() {
        return;
    }
    let table = expectations();
    let fixtures = all_fixtures();
    let special = ["elf/externs.bpf.o"];
    for f in &fixtures {
        assert!(
            table.contains_key(f.as_str()) || special.contains(&f.as_str()),
            "fixture {f} has no expectations: add it to expectations()"
        );
    }
    for (fixture, progs) in &table {
        assert!(fixtures.iter().any(|f| f == fixture), "{fixture} missing");
        let spec = spec(fixture);
        let names: BTreeSet<&str> = spec.programs.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = progs.iter().map(|p| p.0).collect();
        assert_eq!(names, want, "{fixture}: programs in the object");
        // Pin-by-name maps go to a private directory, never to the shared /sys/fs/bpf.
        let pins = BpffsDir::new("oxfix");
        let opts = CollectionOptions {
            pin_dir: Some(pins.0.clone()),
            ..Default::default()
        };
        let report = load_report(&spec, &opts, fixture);
        let coll = &report.collection;
        assert_eq!(
            coll.maps().keys().collect::<BTreeSet<_>>(),
            spec.maps.keys().collect::<BTreeSet<_>>(),
            "{fixture}: every map is created"
        );
        for (name, expect) in progs {
            let loaded = coll.program(name);
            let failed = report.failed.get(*name);
            match expect {
                Expect::Loads => {
                    if let Some(e) = failed {
                        panic!("{fixture}: {name} should load: {e}");
                    }
                    let p = loaded.unwrap_or_else(|| panic!("{fixture}: {name} missing"));
                    assert!(p.id() > 0, "{fixture}: {name} has a kernel id");
                    assert_eq!(p.prog_type(), spec.programs[*name].prog_type);
                }
                Expect::VerifierRefuses => {
                    assert!(loaded.is_none(), "{fixture}: {name} must not load");
                    let e = failed.unwrap_or_else(|| panic!("{fixture}: {name} not reported"));
                    let errno = e.errno();
                    assert!(
                        matches!(errno, Some(libc::EACCES) | Some(libc::EINVAL)),
                        "{fixture}: {name}: verifier errno, got {errno:?}: {e}"
                    );
                    assert!(
                        e.verifier_log().is_some_and(|l| !l.is_empty()),
                        "{fixture}: {name}: refusal carries the verifier log"
                    );
                }
                Expect::LoadsUnlessLockdown => match (loaded, failed) {
                    (Some(_), None) => eprintln!("{fixture}: {name} loaded (no lockdown here)"),
                    // Older kernels refuse some targets outright (v6.1: "do_unlinkat is not
                    // sleepable"); that must come with the verifier's own reason.
                    (None, Some(e))
                        if e.errno() == Some(libc::EINVAL) && e.verifier_log().is_some() =>
                    {
                        eprintln!("{fixture}: {name} refused by this kernel's verifier: {e}")
                    }
                    (None, Some(e)) => assert_lockdown_refusal(name, e),
                    other => panic!("{fixture}: {name}: inconsistent report {other:?}"),
                },
                Expect::NeedsIsaV4 if kernel_has_isa_v4() => {
                    assert!(loaded.is_some(), "{fixture}: {name}: {failed:?}")
                }
                Expect::NeedsIsaV4 => {
                    let e =
                        failed.unwrap_or_else(|| panic!("{fixture}: {name} loaded without ISA v4"));
                    assert!(e.verifier_log().is_some(), "{fixture}: {name}: {e}");
                    eprintln!("{fixture}: {name} refused: this kernel has no cpu v4 instructions");
                }
                Expect::NotAutoloaded => {
                    assert!(loaded.is_none() && failed.is_none(), "{fixture}: {name}")
                }
            }
        }
    }
}

#[test]
fn externs_fixture_typed_ksym_loads_and_kconfig_is_reported() {
    if !require_kernel() {
        return;
    }
    let spec = spec("elf/externs.bpf.o");
    let opts = CollectionOptions {
        programs: Some(BTreeSet::from(["use_ksym".to_string()])),
        ..Default::default()
    };
    let report = load_report(&spec, &opts, "externs use_ksym");
    assert!(report.collection.program("new_task").is_none());
    // A typed ksym of a per-CPU variable needs its address in kallsyms (CONFIG_KALLSYMS_ALL).
    let in_kallsyms = std::fs::read_to_string("/proc/kallsyms")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("bpf_prog_active"));
    if in_kallsyms {
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(report.collection.program("use_ksym").is_some());
    } else {
        eprintln!("bpf_prog_active is not in kallsyms (no CONFIG_KALLSYMS_ALL): expecting ENOENT");
        let e = &report.failed["use_ksym"];
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
        assert!(
            e.to_string().contains("kernel symbol 'bpf_prog_active'"),
            "{e}"
        );
    }
}

/// Runs `prog` of `coll` on `data` once.
fn run(coll: &Collection, prog: &str, data: &[u8]) -> oxbpf::prog::TestRunOutput {
    coll.program(prog)
        .unwrap_or_else(|| panic!("program {prog} not loaded"))
        .test_run(&TestRunOpts {
            data_in: data,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("run {prog}: {e}"))
}

fn map<'a>(coll: &'a Collection, name: &str) -> &'a Map {
    coll.map(name).unwrap_or_else(|| panic!("no map {name}"))
}

fn u64_array(coll: &Collection, name: &str) -> Vec<u64> {
    Array::<_, u64>::new(map(coll, name))
        .unwrap()
        .values()
        .unwrap()
}

fn inner_array_spec(name: &str) -> MapSpec {
    MapSpec {
        name: name.into(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..Default::default()
    }
}

#[test]
fn maps_fixture_touches_every_family() {
    if !require_kernel() {
        return;
    }
    let coll = load("maps.bpf.o");
    // User-space setup the header describes: an LPM prefix, an inner map at HOM_KEY, perf rings.
    let lpm = LpmTrie::<_, [u8; 4], u64>::new(map(&coll, "lpm_trie")).unwrap();
    lpm.insert(16, &[10, 1, 0, 0], &77, BPF_ANY).unwrap();
    let hom_inner = Map::create(&inner_array_spec("hom_inner"), None, None).unwrap();
    HashOfMaps::<_, u32>::new(map(&coll, "hash_of_maps"))
        .unwrap()
        .insert(&7, hom_inner.as_fd(), BPF_ANY)
        .unwrap();
    let mut perf = PerfEventArray::new(map(&coll, "perf_events"))
        .unwrap()
        .open_all(8)
        .unwrap();

    let pkt = [0u8; 64];
    for _ in 0..3 {
        assert_eq!(run(&coll, "maps_touch", &pkt).retval, XDP_PASS);
    }

    let array = u64_array(&coll, "array");
    assert_eq!((array[0], array[1]), (3, 77), "count and LPM match");
    let sum = |v: Vec<u64>| v.iter().sum::<u64>();
    let pca = PerCpuArray::<_, u64>::new(map(&coll, "percpu_array")).unwrap();
    assert_eq!(sum(pca.get(0).unwrap()), 3);
    let k = 1u32;
    let h = HashMap::<_, u32, u64>::new(map(&coll, "hash")).unwrap();
    assert_eq!(h.get(&k).unwrap(), Some(3));
    let lru = LruHashMap::<_, u32, u64>::new(map(&coll, "lru_hash")).unwrap();
    assert_eq!(lru.get(&k).unwrap(), Some(3));
    let pch = PerCpuHashMap::<_, u32, u64>::new(map(&coll, "percpu_hash")).unwrap();
    assert_eq!(sum(pch.get(&k).unwrap().unwrap()), 3);
    let lpch = LruPerCpuHashMap::<_, u32, u64>::new(map(&coll, "lru_percpu_hash")).unwrap();
    assert_eq!(sum(lpch.get(&k).unwrap().unwrap()), 3);

    let q = Queue::<_, u64>::new(map(&coll, "queue")).unwrap();
    let queued: Vec<u64> = std::iter::from_fn(|| q.pop().unwrap()).collect();
    assert_eq!(queued, [1, 2, 3], "queue is FIFO");
    let s = Stack::<_, u64>::new(map(&coll, "stack")).unwrap();
    let stacked: Vec<u64> = std::iter::from_fn(|| s.pop().unwrap()).collect();
    assert_eq!(stacked, [3, 2, 1], "stack is LIFO");

    let mut rb = RingBuf::new(map(&coll, "ringbuf")).unwrap();
    let mut ring = Vec::new();
    while let Some(item) = rb.next() {
        ring.push(u64::from_ne_bytes(item[..8].try_into().unwrap()));
    }
    assert_eq!(ring, [1, 2, 3], "ring buffer records");
    let samples: Vec<u64> = perf
        .iter_mut()
        .flat_map(|b| b.read_all())
        .map(|r| match r {
            PerfRecord::Sample(d) => u64::from_ne_bytes(d[..8].try_into().unwrap()),
            PerfRecord::Lost(n) => panic!("lost {n} perf samples"),
        })
        .collect();
    let mut sorted = samples.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3], "perf samples {samples:?}");

    // Inner maps: array_of_maps slots were filled from `.values = { &inner_a, &inner_b }`.
    let aom = ArrayOfMaps::new(map(&coll, "array_of_maps")).unwrap();
    assert_eq!(aom.get(0).unwrap(), Some(map(&coll, "inner_a").id()));
    assert_eq!(aom.get(1).unwrap(), Some(map(&coll, "inner_b").id()));
    assert_eq!(u64_array(&coll, "inner_a"), [3]);
    assert_eq!(u64_array(&coll, "inner_b"), [3]);
    let hom = Array::<_, u64>::new(&hom_inner).unwrap();
    assert_eq!(hom.get(0).unwrap(), 3, "inner map of hash_of_maps");

    for (name, t) in [
        ("stack_trace", MapType::STACK_TRACE),
        ("devmap", MapType::DEVMAP),
        ("devmap_hash", MapType::DEVMAP_HASH),
        ("cpumap", MapType::CPUMAP),
        ("xskmap", MapType::XSKMAP),
        ("prog_array", MapType::PROG_ARRAY),
    ] {
        assert_eq!(map(&coll, name).map_type(), t, "{name}");
    }
    assert_eq!(
        map(&coll, "perf_events").max_entries() as usize,
        oxbpf::map::nr_possible_cpus().unwrap(),
        "perf event array sized to the possible CPUs"
    );
}

fn var_value(spec: &CollectionSpec, coll: &Collection, var: &str) -> Vec<u8> {
    let v = &spec.variables[var];
    let data = map(coll, &v.map)
        .lookup(&0u32.to_ne_bytes())
        .unwrap()
        .expect("data map value");
    data[v.offset as usize..(v.offset + v.size) as usize].to_vec()
}

fn var_u64(spec: &CollectionSpec, coll: &Collection, var: &str) -> u64 {
    u64::from_ne_bytes(var_value(spec, coll, var).try_into().unwrap())
}

#[test]
fn global_data_defaults_and_rodata_set_before_load() {
    if !require_kernel() {
        return;
    }
    let spec0 = spec("global_data.bpf.o");
    let coll = load_spec(&spec0, "global_data defaults");
    assert_eq!(run(&coll, "global_data", &[]).retval, 0);
    assert_eq!(var_u64(&spec0, &coll, "result"), 31, "7*1+0+11+13");
    assert_eq!(var_u64(&spec0, &coll, "runs"), 1);
    assert_eq!(
        var_u64(&spec0, &coll, "data_val"),
        8,
        ".data updated by the program"
    );
    assert_eq!(&var_value(&spec0, &coll, "echo")[..6], b"oxbpf\0");

    let mut spec = spec0.clone();
    spec.set_variable("cfg_mult", &3u64.to_ne_bytes()).unwrap();
    spec.set_variable("cfg_add", &100u64.to_ne_bytes()).unwrap();
    spec.set_variable("cfg_ret", &42u32.to_ne_bytes()).unwrap();
    spec.set_variable("cfg_name", b"rustbpf\0").unwrap();
    spec.set_variable("bar_val", &1000u64.to_ne_bytes())
        .unwrap();
    spec.set_variable("data_val", &20u64.to_ne_bytes()).unwrap();
    let coll = load_spec(&spec, "global_data configured");
    assert_eq!(run(&coll, "global_data", &[]).retval, 42, "cfg_ret");
    assert_eq!(var_u64(&spec, &coll, "result"), 20 * 3 + 100 + 11 + 1000);
    assert_eq!(run(&coll, "global_data", &[]).retval, 42);
    assert_eq!(var_u64(&spec, &coll, "result"), 21 * 3 + 100 + 11 + 1000);
    assert_eq!(var_u64(&spec, &coll, "runs"), 2);
    assert_eq!(var_value(&spec, &coll, "echo"), b"rustbpf\0");
    // .rodata is frozen: user space cannot change it after load.
    let ro = map(&coll, ".rodata");
    let cur = ro.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    assert!(
        ro.update(&0u32.to_ne_bytes(), &cur, BPF_ANY).is_err(),
        ".rodata must be frozen"
    );
    // Changing .data after load is seen by the next run.
    let d = &spec.variables["data_val"];
    let dmap = map(&coll, &d.map);
    let mut val = dmap.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    val[d.offset as usize..d.offset as usize + 8].copy_from_slice(&5u64.to_ne_bytes());
    dmap.update(&0u32.to_ne_bytes(), &val, BPF_ANY).unwrap();
    run(&coll, "global_data", &[]);
    assert_eq!(var_u64(&spec, &coll, "result"), 5 * 3 + 100 + 11 + 1000);
}

#[test]
fn set_variable_errors_are_typed() {
    let mut spec = spec("global_data.bpf.o");
    match spec.set_variable("cfg_mult", &1u32.to_ne_bytes()) {
        Err(VariableError::Size { name, want, got }) => {
            assert_eq!((name.as_str(), want, got), ("cfg_mult", 8, 4))
        }
        other => panic!("expected a size error, got {other:?}"),
    }
    let e = spec.set_variable("cfg_name", b"toolong!!").unwrap_err();
    assert!(e.to_string().contains("8 bytes, got 9"), "{e}");
    match spec.set_variable("no_such_var", &[0]) {
        Err(VariableError::NotFound(n)) => assert_eq!(n, "no_such_var"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Nothing was written by the failed calls.
    let fresh = coll_support::spec("global_data.bpf.o");
    assert_eq!(spec.maps[".rodata"].init, fresh.maps[".rodata"].init);
}

#[test]
fn calls_fixture_subprograms_loop_and_tail_calls() {
    if !require_kernel() {
        return;
    }
    let spec = spec("calls.bpf.o");
    let coll = load_spec(&spec, "calls");
    let pa = ProgramArray::new(map(&coll, "jmp_table")).unwrap();
    let idx: Vec<u32> = pa.indices().map(Result::unwrap).collect();
    assert_eq!(idx, [0, 2], "slots from __array(values, ...)");
    assert_eq!(
        pa.get(0).unwrap(),
        Some(coll.program("tail_a").unwrap().id())
    );
    assert_eq!(
        pa.get(2).unwrap(),
        Some(coll.program("tail_b").unwrap().id())
    );

    let len = 64u64;
    let out = run(&coll, "calls_entry", &vec![0u8; len as usize]);
    assert_eq!(out.retval, XDP_PASS, "both tail calls ran");
    let r = u64_array(&coll, "results");
    assert_eq!(r[0], len + 3, "add3");
    assert_eq!(r[1], (len + 3) * 2, "global_mul");
    assert_eq!(r[2], 45, "bpf_loop callback sum");
    assert_eq!(r[5], 10, "bpf_loop iterations");
    assert_eq!(r[6], 2 * (len + 3), "twice_add3");
    assert_eq!((r[3], r[4]), (0xa, 0xb), "tail_a and tail_b ran");

    // Without tail_b loaded, its slot stays empty and tail_a's tail call falls through.
    let opts = CollectionOptions {
        programs: Some(["calls_entry", "tail_a"].map(String::from).into()),
        ..Default::default()
    };
    let report = load_report(&spec, &opts, "calls without tail_b");
    assert!(report.failed.is_empty());
    let coll = report.collection;
    let pa = ProgramArray::new(map(&coll, "jmp_table")).unwrap();
    assert_eq!(pa.indices().map(Result::unwrap).collect::<Vec<_>>(), [0]);
    assert_eq!(run(&coll, "calls_entry", &[0u8; 20]).retval, XDP_TX);
    let r = u64_array(&coll, "results");
    assert_eq!((r[0], r[3], r[4]), (23, 0xa, 0));
}

#[test]
fn ringbuf_fixture_records_through_ringbuf_and_perf() {
    if !require_kernel() {
        return;
    }
    let mut spec = spec("ringbuf.bpf.o");
    let n = 7u32;
    spec.set_variable("nr_records", &n.to_ne_bytes()).unwrap();
    let coll = load_spec(&spec, "ringbuf");
    let mut perf = PerfEventArray::new(map(&coll, "perf_events"))
        .unwrap()
        .open_all(8)
        .unwrap();
    let mut rb = RingBuf::new(map(&coll, "events")).unwrap();
    for _ in 0..2 {
        assert_eq!(run(&coll, "ringbuf_emit", &[0u8; 32]).retval, XDP_PASS);
    }
    let parse = |d: &[u8]| {
        assert!(d.len() >= 24, "record of {} bytes", d.len());
        let u32_at = |o: usize| u32::from_ne_bytes(d[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_ne_bytes(d[o..o + 8].try_into().unwrap());
        assert_eq!(u32_at(4), 0x0b9f0b9f, "magic");
        (u32_at(0), u64_at(8), u64_at(16))
    };
    let mut ring = Vec::new();
    while let Some(item) = rb.next_timeout(Duration::from_millis(100)).unwrap() {
        assert_eq!(item.len(), 24);
        ring.push(parse(&item));
    }
    let want: Vec<(u32, u64, u64)> = (1..=2u64)
        .flat_map(|run| (0..n).map(move |i| (i, run, i as u64 * 1000)))
        .collect();
    assert_eq!(ring, want, "ring buffer records in order");
    let mut perf_recs: Vec<(u32, u64, u64)> = perf
        .iter_mut()
        .flat_map(|b| b.read_all())
        .map(|r| match r {
            PerfRecord::Sample(d) => parse(&d),
            PerfRecord::Lost(k) => panic!("lost {k}"),
        })
        .collect();
    perf_recs.sort_by_key(|r| (r.1, r.0));
    assert_eq!(perf_recs, want, "perf records");
    assert_eq!(
        u64_array(&coll, "stats"),
        [2, 0, 0],
        "runs, perf failures, ring failures"
    );
}

/// Ethernet + IPv4 frame: dst MAC 02:..:01, src MAC 02:..:02, 10.0.0.1 → 10.0.0.2.
fn ipv4_frame() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f
}

#[test]
fn xdp_fixture_pass_drop_and_swap() {
    if !require_kernel() {
        return;
    }
    let coll = load("xdp.bpf.o");
    for _ in 0..2 {
        assert_eq!(run(&coll, "xdp_pass", &[0u8; 60]).retval, XDP_PASS);
    }
    let pc = PerCpuArray::<_, u64>::new(map(&coll, "pkt_count")).unwrap();
    let sum = |i| pc.get(i).unwrap().iter().sum::<u64>();
    assert_eq!((sum(0), sum(1)), (2, 120), "packets and bytes");
    assert_eq!(run(&coll, "xdp_drop", &[0u8; 60]).retval, XDP_DROP);

    let frame = ipv4_frame();
    let out = run(&coll, "xdp_tx_swap", &frame);
    assert_eq!(out.retval, XDP_TX);
    let d = &out.data_out;
    assert_eq!(d.len(), frame.len());
    assert_eq!((&d[0..6], &d[6..12]), (&frame[6..12], &frame[0..6]), "MACs");
    assert_eq!(
        (&d[26..30], &d[30..34]),
        (&frame[30..34], &frame[26..30]),
        "IPs"
    );
    assert_eq!(u64_array(&coll, "swapped"), [1]);
    // Not IPv4: untouched, XDP_PASS.
    let mut arp = frame.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let out = run(&coll, "xdp_tx_swap", &arp);
    assert_eq!((out.retval, out.data_out), (XDP_PASS, arp));
    assert_eq!(u64_array(&coll, "swapped"), [1]);
}

#[test]
fn isa_v4_fixture_values() {
    if !require_kernel() {
        return;
    }
    if !kernel_has_isa_v4() {
        eprintln!("SKIPPED (kernel): no cpu v4 instructions in this kernel (v6.6+)");
        return;
    }
    let mut pkt = [0u8; 32];
    pkt[14] = 0xfe;
    pkt[15] = 0x12;
    let s16 = i16::from_ne_bytes([0xfe, 0x12]) as i64;
    let mut spec = spec("isa_v4.bpf.o");
    for (sdiv_in, overridden) in [(-100i64, false), (50, true)] {
        if overridden {
            spec.set_variable("sdiv_in", &sdiv_in.to_ne_bytes())
                .unwrap();
        }
        let coll = load_spec(&spec, "isa_v4");
        assert_eq!(run(&coll, "isa_v4", &pkt).retval, XDP_PASS);
        let out: Vec<i64> = Array::<_, i64>::new(map(&coll, "out"))
            .unwrap()
            .values()
            .unwrap();
        assert_eq!(
            out[..6],
            [-2, s16, sdiv_in / -3, sdiv_in % 7, sdiv_in.swap_bytes(), 5],
            "sdiv_in = {sdiv_in}"
        );
    }
    assert_eq!((-100i64).swap_bytes() as u64, 0x9cffffffffffffff);
}

#[test]
fn sections_and_legacy_fixtures_run() {
    if !require_kernel() {
        return;
    }
    let coll = load("sections.bpf.o");
    assert_eq!(coll.programs().len(), 25);
    run(&coll, "sec_syscall", &[]);
    let out = run(&coll, "sec_socket", &[0u8; 64]);
    assert_eq!(
        out.retval,
        64 - 14,
        "socket filter returns skb->len (after the Ethernet header)"
    );
    let hits = u64_array(&coll, "hits");
    assert_eq!((hits[0], hits[16]), (1, 1));

    let coll = load("legacy_maps.bpf.o");
    for _ in 0..2 {
        assert_eq!(run(&coll, "legacy_count", &[0u8; 20]).retval, XDP_PASS);
    }
    assert_eq!(u64_array(&coll, "legacy_array")[0], 2);
    let h = HashMap::<_, u32, u64>::new(map(&coll, "legacy_hash")).unwrap();
    assert_eq!(h.get(&1).unwrap(), Some(2));
}

#[test]
fn pin_by_name_reuses_maps_and_refuses_mismatches() {
    if !require_kernel() {
        return;
    }
    let dir = BpffsDir::new("oxcoll");
    let spec = spec("elf/maps.bpf.o");
    assert_eq!(
        spec.maps["hash_map"].pinning,
        oxbpf::spec::Pinning::ByName,
        "fixture pins hash_map by name"
    );
    let opts = CollectionOptions {
        pin_dir: Some(dir.0.clone()),
        ..Default::default()
    };
    let key = {
        let mut k = [0u8; 8];
        k[..4].copy_from_slice(&1u32.to_ne_bytes());
        k
    };
    let value = [9u8; 32];
    let first_id = {
        let coll = load_spec_opts(&spec, &opts);
        let m = map(&coll, "hash_map");
        assert!(dir.0.join("hash_map").exists(), "pinned at <dir>/hash_map");
        m.update(&key, &value, BPF_ANY).unwrap();
        m.id()
    };
    // The collection is gone but the pin keeps the map alive.
    let coll = load_spec_opts(&spec, &opts);
    let m = map(&coll, "hash_map");
    assert_eq!(m.id(), first_id, "second load reuses the pinned map");
    assert_eq!(m.lookup(&key).unwrap().as_deref(), Some(&value[..]));
    assert_ne!(map(&coll, "percpu").id(), 0);
    drop(coll);

    let mut bad = spec.clone();
    bad.maps.get_mut("hash_map").unwrap().max_entries = 64;
    let e = Collection::load(&bad, &opts).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, LoadError::Map { ref map, .. } if map == "hash_map")
            && msg.contains("max_entries")
            && msg.contains("128")
            && msg.contains("64"),
        "{msg}"
    );
    std::fs::remove_file(dir.0.join("hash_map")).unwrap();
    let coll = load_spec_opts(&bad, &opts);
    assert_ne!(
        map(&coll, "hash_map").id(),
        first_id,
        "fresh map after unpinning"
    );
}

fn load_spec_opts(spec: &CollectionSpec, opts: &CollectionOptions) -> Collection {
    Collection::load(spec, opts).unwrap_or_else(|e| panic!("load: {e}"))
}

/// Prefixes every program and map name (kernel names keep 15 bytes) so this test's objects
/// can be told apart from those of tests running at the same time.
fn rename_all(spec: &mut CollectionSpec, prefix: &str) {
    let short = |n: &str| format!("{prefix}{}", n.trim_start_matches('.'));
    spec.programs = std::mem::take(&mut spec.programs)
        .into_values()
        .map(|mut p| {
            p.name = short(&p.name);
            for r in &mut p.relocations {
                match &mut r.target {
                    RelocTarget::Map(m) | RelocTarget::MapValue { map: m, .. } => *m = short(m),
                    RelocTarget::Extern(_) => {}
                }
            }
            (p.name.clone(), p)
        })
        .collect();
    spec.maps = std::mem::take(&mut spec.maps)
        .into_values()
        .map(|mut m| {
            m.name = short(&m.name);
            if let Some(inner) = &mut m.inner {
                inner.name = short(&inner.name);
            }
            if let MapInit::Slots(slots) = &mut m.init {
                for (_, target) in slots {
                    *target = short(target);
                }
            }
            (m.name.clone(), m)
        })
        .collect();
    for v in spec.variables.values_mut() {
        v.map = short(&v.map);
    }
}

/// Waits (the kernel frees objects asynchronously) until none of `ids` is alive; returns
/// those still alive after the deadline.
fn wait_gone(kind: ObjKind, ids: &[(u32, String)]) -> Vec<(u32, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = live_ids(kind);
        let left: Vec<_> = ids
            .iter()
            .filter(|(id, _)| live.contains(id))
            .cloned()
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dropping_a_collection_frees_every_program_and_map() {
    if !require_kernel() {
        return;
    }
    let ids = oxbpf::sys::all_ids(oxbpf::sys::ObjKind::Prog);
    if caps_util::needs_sys_admin("BPF_PROG_GET_NEXT_ID", ids).is_none() {
        return;
    }
    let prefix = format!("lk{}_", std::process::id() % 100_000);
    for fixture in [
        "maps.bpf.o",
        "calls.bpf.o",
        "global_data.bpf.o",
        "bad.bpf.o",
    ] {
        let mut spec = spec(fixture);
        rename_all(&mut spec, &prefix);
        let (progs0, maps0) = (live_ids(ObjKind::Prog), live_ids(ObjKind::Map));
        let report = load_report(&spec, &CollectionOptions::default(), fixture);
        let progs = new_named(ObjKind::Prog, &progs0, &prefix);
        let maps = new_named(ObjKind::Map, &maps0, &prefix);
        assert_eq!(
            progs.len(),
            report.collection.programs().len(),
            "{fixture}: loaded programs {progs:?}"
        );
        // Inner map templates are created and closed during the load: only real maps remain.
        assert_eq!(
            maps.len(),
            spec.maps.len(),
            "{fixture}: live maps {maps:?} (a leaked template or probe would show here)"
        );
        drop(report);
        assert_eq!(
            wait_gone(ObjKind::Prog, &progs),
            [],
            "{fixture}: programs left"
        );
        assert_eq!(wait_gone(ObjKind::Map, &maps), [], "{fixture}: maps left");
    }
}

#[test]
fn verifier_error_names_program_reason_and_source_line() {
    if !require_kernel() {
        return;
    }
    let src = std::fs::read_to_string(testdata("bad.bpf.c")).unwrap();
    let line = src
        .lines()
        .position(|l| l.contains("BAD_LINE"))
        .expect("marker line")
        + 1;
    let spec = spec("bad.bpf.o");
    let e = match Collection::load(&spec, &CollectionOptions::default()) {
        Err(e @ LoadError::Program(_)) => e,
        other => panic!("expected a program load error, got {other:?}"),
    };
    let msg = e.to_string();
    assert!(msg.contains("\"bad_oob\""), "program name: {msg}");
    assert!(
        msg.contains("invalid access to map value"),
        "verifier reason: {msg}"
    );
    assert!(
        msg.contains(&format!("at bad.bpf.c:{line}:")),
        "source line: {msg}"
    );
    assert!(msg.contains("one past the value"), "source text: {msg}");
    let LoadError::Program(pe) = e else {
        unreachable!()
    };
    assert_eq!(pe.errno(), Some(libc::EACCES));
    assert!(pe.verifier_log().unwrap().contains("R1 min value"));

    // load_report keeps the good program and reports the bad one.
    let report = load_report(&spec, &CollectionOptions::default(), "bad");
    assert!(report.collection.program("good_neighbour").is_some());
    assert_eq!(report.failed.keys().collect::<Vec<_>>(), ["bad_oob"]);
}

#[test]
fn unknown_program_in_options_is_an_error() {
    let spec = spec("xdp.bpf.o");
    let opts = CollectionOptions {
        programs: Some(BTreeSet::from(["nope".to_string()])),
        ..Default::default()
    };
    match Collection::load_report(&spec, &opts) {
        Err(LoadError::NoSuchProgram(n)) => assert_eq!(n, "nope"),
        other => panic!("expected NoSuchProgram, got {other:?}"),
    }
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}
