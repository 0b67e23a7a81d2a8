//! Skeletons on the running kernel: three fixtures driven only through their generated
//! modules (open, set `.rodata`, load, typed map operations, live `.data`/`.bss` through the
//! memory mapping, BPF_PROG_RUN). Skips loudly without BPF privileges (fails with
//! OXBPF_REQUIRE_KERNEL=1).

use oxbpf::prog::TestRunOpts;
use oxbpf_skel_tests::{global_data, ringbuf, skel_kinds};

/// True when kernel tests can run; a loud skip otherwise (a failure with
/// OXBPF_REQUIRE_KERNEL=1), as oxbpf's tests decide it: root, and a map can be created.
fn require_kernel() -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        "not root".to_string()
    } else {
        let spec = oxbpf::spec::MapSpec {
            name: "probe".into(),
            map_type: oxbpf::spec::MapType::ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..Default::default()
        };
        match oxbpf::map::Map::create(&spec, None, None) {
            Ok(_) => return true,
            Err(e) => e.to_string(),
        }
    };
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("test cannot run (OXBPF_REQUIRE_KERNEL=1): {reason}");
    }
    eprintln!("SKIPPED: kernel test needs BPF privileges: {reason}");
    false
}

fn run(p: &oxbpf::prog::Program, data: &[u8]) -> u32 {
    let opts = TestRunOpts {
        data_in: data,
        ..Default::default()
    };
    p.test_run(&opts).expect("BPF_PROG_RUN").retval
}

#[test]
fn global_data_rodata_before_load_and_live_data_bss() {
    if !require_kernel() {
        return;
    }
    let mut open = global_data::open().expect("open");
    assert_eq!({ open.rodata().cfg_mult }, 1, "object default");
    assert_eq!({ open.data().data_val }, 7);
    let ro = open.rodata_mut();
    ro.cfg_mult = 3;
    ro.cfg_add = 5;
    ro.cfg_ret = 77;
    ro.cfg_name = *b"skel\0\0\0\0"
        .map(|b| b as i8)
        .as_ref()
        .first_chunk()
        .unwrap();
    let skel = open.load().expect("load");
    assert_eq!(skel.bss().runs(), 0);
    let prog = skel.progs().global_data().expect("program");
    assert_eq!(run(prog, &[]), 77, "cfg_ret from .rodata");
    // result = data_val * cfg_mult + cfg_add + foo_val + bar_val = 7*3 + 5 + 11 + 13.
    assert_eq!(skel.bss().runs(), 1, "bss read live");
    assert_eq!(skel.bss().result(), 50);
    assert_eq!(skel.bss().echo().map(|c| c as u8), *b"skel\0\0\0\0");
    assert_eq!(skel.data().data_val(), 8, "program's .data write seen live");
    skel.data().set_data_val(100);
    skel.data_foo().set_foo_val(1000);
    skel.bss().set_runs(40);
    run(prog, &[]);
    assert_eq!(skel.bss().runs(), 41, "our .bss write reached the program");
    assert_eq!(skel.bss().result(), 100 * 3 + 5 + 1000 + 13);
    assert_eq!({ skel.bss().get().result }, 1318, "whole-section copy");
    assert_eq!({ skel.rodata().cfg_mult }, 3, "rodata as loaded");
    use oxbpf::features::map_flags::BPF_F_MMAPABLE;
    let flags = |m: &str| skel.collection().map(m).expect(m).flags();
    assert_ne!(
        flags(".bss") & BPF_F_MMAPABLE,
        0,
        "writable sections are mmapable"
    );
    assert_ne!(flags(".data.foo") & BPF_F_MMAPABLE, 0);
    assert_eq!(
        flags(".rodata") & BPF_F_MMAPABLE,
        0,
        ".rodata is frozen, not mapped"
    );
}

#[test]
fn skel_kinds_typed_maps_bitfields_unions_and_ringbuf() {
    if !require_kernel() {
        return;
    }
    let addr = u32::from_ne_bytes([10, 1, 2, 3]);
    let mut open = skel_kinds::open().expect("open");
    open.rodata_mut().cfg_addr = addr;
    open.rodata_mut().cfg_delta = -3;
    assert_eq!({ open.rodata().cfg_wide }, skel_kinds::wide::WIDE_HI);
    let skel = open.load().expect("load");
    let maps = skel.maps();
    maps.routes()
        .expect("routes view")
        .insert(8, &[10, 0, 0, 0], &42, 0)
        .expect("insert route");
    skel.data().set_bias(1000);
    let prog = skel.progs().skel_kinds().expect("program");
    assert_eq!(run(prog, &[0u8; 64]), 2, "XDP_PASS");
    assert_eq!(skel.bss().total(), 1001, "bias written live + runs");
    assert_eq!(skel.bss().route_hit(), 42, "LPM typed insert matched");

    let key = skel_kinds::flow_key {
        addr,
        port: 80,
        proto: 6,
        pad: 0,
    };
    let flows = maps.flows().expect("flows view");
    let mut v = flows.get(&key).expect("lookup").expect("flow created");
    assert_eq!(v.hits, 1);
    assert_eq!(v.flags.seen(), 1);
    assert_eq!(v.flags.delta(), -3, "signed bitfield");
    assert_eq!(v.flags.kind(), skel_kinds::ev_kind::EV_NEG, "enum bitfield");
    assert_eq!(v.flags.kind().name(), Some("EV_NEG"));
    assert_eq!(v.flags.wide(), 0x2abcde);
    assert_eq!(v.word.__anon1().lo, 0x1234, "union's anonymous struct");
    assert_eq!(v.word.hi(), 0xabcd, "its members flattened as in C");
    assert_eq!(v.word.as_u32(), 0xabcd_1234);
    assert_eq!(v.tag, 7);
    v.hits = 41;
    v.flags.set_delta(5);
    flows.insert(&key, &v, 0).expect("update");
    run(prog, &[0u8; 64]);
    let v = flows.get(&key).expect("lookup").expect("flow");
    assert_eq!(v.hits, 42, "our typed write reached the program");
    assert_eq!(v.flags.delta(), 5);
    assert_eq!(v.flags.wide(), 0x2abcde, "neighbouring bitfields kept");

    let hist: u64 = maps
        .hist()
        .expect("hist")
        .get(0)
        .expect("hist[0]")
        .iter()
        .sum();
    assert_eq!(hist, 2, "per-CPU array over two runs");
    let last = skel.bss().last_event();
    assert_eq!(
        (last.run, last.kind, last.delta),
        (2, skel_kinds::ev_kind::EV_RUN, -3)
    );
    assert_eq!({ last.hdr.len }, 0x0102_0304, "packed struct member");
    assert_eq!({ last.hdr.id }, 0xbeef);
    let mut rb = maps.events().expect("ringbuf");
    let mut seen = Vec::new();
    while let Some(item) = rb.next() {
        seen.push(oxbpf::skel::record::<skel_kinds::event>(&item).expect("whole record"));
    }
    assert_eq!(seen.len(), 2, "one record per run");
    assert_eq!(seen[1], last, "ring-buffer record equals the .bss copy");
    assert_eq!(seen[0].run, 1);
}

#[test]
fn ringbuf_rodata_count_and_typed_stats() {
    if !require_kernel() {
        return;
    }
    let mut open = ringbuf::open().expect("open");
    assert_eq!({ open.rodata().nr_records }, 4);
    open.rodata_mut().nr_records = 6;
    let skel = open.load().expect("load");
    let prog = skel.progs().ringbuf_emit().expect("program");
    assert_eq!(run(prog, &[0u8; 64]), 2, "XDP_PASS");
    let stats = skel.maps().stats().expect("stats view");
    assert_eq!(stats.get(0).expect("runs"), 1);
    assert_eq!(stats.get(2).expect("ringbuf failures"), 0);
    let mut rb = skel.maps().events().expect("ringbuf");
    let mut n = 0u64;
    while let Some(item) = rb.next() {
        let seq: u32 = oxbpf::skel::read_pod(&item, 0);
        let value: u64 = oxbpf::skel::read_pod(&item, 16);
        assert_eq!(u64::from(seq) * 1000, value);
        n += 1;
    }
    assert_eq!(n, 6, ".rodata nr_records set before load");
}

#[test]
fn links_trace_attach_stage_hooks_every_named_section() {
    if !require_kernel() {
        return;
    }
    use oxbpf::collection::LoadError;
    use oxbpf::skel::SkelError;
    use oxbpf_skel_tests::links_trace;
    // kprobes need CONFIG_KPROBE_EVENTS; fentry/fexit need trampolines, which lockdown or a
    // security module may refuse (both as on the machine this was written on): programs the
    // kernel cannot run are left out, loudly.
    let mut progs: Vec<&str> = vec!["btf_sys_enter", "raw_sys_enter", "tp_getpid"];
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        progs.push("kprobe_getpid");
    } else {
        eprintln!("SKIPPED (kprobe only): no kprobe PMU (CONFIG_KPROBE_EVENTS off)");
    }
    let load = |progs: &[&str]| {
        let opts = oxbpf::collection::CollectionOptions {
            programs: Some(progs.iter().map(|p| p.to_string()).collect()),
            ..Default::default()
        };
        links_trace::open().expect("open").load_with(&opts)
    };
    let with_trampolines: Vec<&str> = progs
        .iter()
        .copied()
        .chain(["fentry_getpid", "fexit_getpid"])
        .collect();
    let skel = match load(&with_trampolines) {
        Ok(s) => {
            progs = with_trampolines;
            s
        }
        Err(SkelError::Load(LoadError::Program(e)))
            if e.to_string().contains("fentry_getpid") && e.errno() == Some(libc::EPERM) =>
        {
            eprintln!(
                "SKIPPED (fentry/fexit only): kernel refuses trampoline programs (lockdown={}): {e}",
                oxbpf::link::lockdown_mode().unwrap_or_else(|| "unknown".into())
            );
            load(&progs).expect("load")
        }
        Err(e) => panic!("load: {e}"),
    };
    progs.sort();
    let pid = std::process::id();
    skel.maps()
        .cfg()
        .expect("cfg")
        .set(0, &pid, 0)
        .expect("cfg[0] = our tgid");
    let links = skel.attach().expect("attach");
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    // uprobe/uretprobe name no binary: left to oxbpf::link::attach_uprobe.
    assert_eq!(names, progs);
    for _ in 0..3 {
        // SAFETY: getpid has no preconditions (glibc does not cache it).
        unsafe { libc::getpid() };
    }
    let counts = skel.maps().counts().expect("counts");
    let slots = [
        (0, "tp_getpid"),
        (1, "raw_sys_enter"),
        (2, "btf_sys_enter"),
        (5, "fentry_getpid"),
        (6, "fexit_getpid"),
        (7, "kprobe_getpid"),
    ];
    for (slot, prog) in slots.into_iter().filter(|(_, p)| progs.contains(p)) {
        assert!(
            counts.get(slot).expect("count") >= 3,
            "{prog} (slot {slot}) ran"
        );
    }
    assert_eq!(counts.get(3).expect("uprobe slot"), 0, "not attached");
    drop(links);
    let before = counts.get(0).expect("count");
    unsafe { libc::getpid() };
    assert_eq!(
        counts.get(0).expect("count"),
        before,
        "links detach on drop"
    );
}
