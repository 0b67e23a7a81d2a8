//! ELF reader against the committed fixtures in `testdata/elf` (compiled with clang-19 from the
//! `.bpf.c` next to them), against hand-built objects, and against malformed input.

use object::read::{Object as _, ObjectSection as _, ObjectSymbol as _};
use oxbpf::asm::Insn;
use oxbpf::elf::{
    load_collection_spec, load_collection_spec_from_file, relocation_summary, ElfError,
};
use oxbpf::spec::{
    AttachType, CollectionSpec, ExternKind, MapInit, MapSource, MapType, Pinning, ProgramSpec,
    ProgramType, RelocTarget,
};

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/elf/{name}.bpf.o", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> CollectionSpec {
    let path = format!("{}/testdata/elf/{name}.bpf.o", env!("CARGO_MANIFEST_DIR"));
    load_collection_spec_from_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const FIXTURES: &[&str] = &["progs", "maps", "legacy", "globals", "externs", "core"];

/// Name of the BTF FUNC whose func_info record starts at `slot`.
fn func_at(spec: &CollectionSpec, p: &ProgramSpec, slot: usize) -> String {
    let btf = spec.btf.as_ref().expect("fixture has BTF");
    let fi = p
        .func_info
        .iter()
        .find(|f| f.insn_off as usize == slot)
        .unwrap_or_else(|| panic!("{}: no func_info at slot {slot}", p.name));
    btf.name_of(fi.type_id).expect("FUNC name").to_string()
}

/// Every pseudo call / callback address in `p`, as (slot, kind, name of the target function).
fn call_targets(spec: &CollectionSpec, p: &ProgramSpec) -> Vec<(usize, u8, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.instructions.len() {
        let insn = p.instructions[i];
        let pseudo = (insn.is_call() && insn.src() == 1) || (insn.is_ld_imm64() && insn.src() == 4);
        if pseudo {
            let t = i as i64 + i64::from(insn.imm) + 1;
            assert!(
                t >= 0 && (t as usize) < p.instructions.len(),
                "{}: target {t} out of range",
                p.name
            );
            out.push((i, insn.src(), func_at(spec, p, t as usize)));
        }
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

/// The instructions of ELF function `name` (as compiled, before relocation).
fn elf_func(bytes: &[u8], name: &str) -> Vec<Insn> {
    let file = object::File::parse(bytes).unwrap();
    let sym = file.symbols().find(|s| s.name() == Ok(name)).unwrap();
    let sec = file.section_by_index(sym.section_index().unwrap()).unwrap();
    let data = sec.data().unwrap();
    Insn::decode_all(&data[sym.address() as usize..(sym.address() + sym.size()) as usize]).unwrap()
}

/// (program, section, type, expected attach type, attach target, flags).
type Expect = (
    &'static str,
    &'static str,
    ProgramType,
    Option<AttachType>,
    Option<&'static str>,
    u32,
);

#[test]
fn program_sections_map_to_types() {
    let s = fixture("progs");
    let expect: &[Expect] = &[
        (
            "xdp_first",
            "xdp",
            ProgramType::XDP,
            Some(AttachType::XDP),
            None,
            0,
        ),
        (
            "xdp_second",
            "xdp",
            ProgramType::XDP,
            Some(AttachType::XDP),
            None,
            0,
        ),
        (
            "xdp_frags_prog",
            "xdp.frags",
            ProgramType::XDP,
            Some(AttachType::XDP),
            None,
            32,
        ),
        (
            "tp_switch",
            "tp/sched/sched_switch",
            ProgramType::TRACEPOINT,
            None,
            Some("sched/sched_switch"),
            0,
        ),
        (
            "kprobe_unlink",
            "kprobe/do_unlinkat",
            ProgramType::KPROBE,
            None,
            Some("do_unlinkat"),
            0,
        ),
        (
            "kretprobe_unlink",
            "kretprobe/do_unlinkat",
            ProgramType::KPROBE,
            None,
            Some("do_unlinkat"),
            0,
        ),
        (
            "fentry_sleepable",
            "fentry.s/do_unlinkat",
            ProgramType::TRACING,
            Some(AttachType::TRACE_FENTRY),
            Some("do_unlinkat"),
            16,
        ),
        (
            "raw_tp_enter",
            "raw_tp/sys_enter",
            ProgramType::RAW_TRACEPOINT,
            None,
            Some("sys_enter"),
            0,
        ),
        (
            "tcx_in",
            "tc/ingress",
            ProgramType::SCHED_CLS,
            Some(AttachType::TCX_INGRESS),
            None,
            0,
        ),
        (
            "cg_egress",
            "cgroup_skb/egress",
            ProgramType::CGROUP_SKB,
            Some(AttachType::CGROUP_INET_EGRESS),
            None,
            0,
        ),
        (
            "cg_connect4",
            "cgroup/connect4",
            ProgramType::CGROUP_SOCK_ADDR,
            Some(AttachType::CGROUP_INET4_CONNECT),
            None,
            0,
        ),
        (
            "sock_filter",
            "socket",
            ProgramType::SOCKET_FILTER,
            None,
            None,
            0,
        ),
        (
            "lsm_maybe",
            "?lsm/file_open",
            ProgramType::LSM,
            Some(AttachType::LSM_MAC),
            Some("file_open"),
            0,
        ),
        (
            "msg_verdict",
            "sk_msg",
            ProgramType::SK_MSG,
            Some(AttachType::SK_MSG_VERDICT),
            None,
            0,
        ),
    ];
    assert_eq!(
        s.programs.len(),
        expect.len(),
        "{:?}",
        s.programs.keys().collect::<Vec<_>>()
    );
    for (name, sec, pt, at, to, flags) in expect {
        let p = s.program(name).unwrap_or_else(|| panic!("missing {name}"));
        assert_eq!(
            (
                p.section.as_str(),
                p.prog_type,
                p.expected_attach_type,
                p.attach_to.as_deref(),
                p.flags
            ),
            (*sec, *pt, *at, *to, *flags),
            "{name}"
        );
        assert_eq!(p.license, "GPL");
    }
    // .text functions are subprograms, not programs.
    assert!(s.program("global_helper").is_none() && s.program("leaf").is_none());
}

#[test]
fn subprograms_are_linked_after_the_entry() {
    let bytes = fixture_bytes("progs");
    let s = fixture("progs");

    let p = s.program("xdp_first").unwrap();
    assert_eq!(func_at(&s, p, 0), "xdp_first");
    let calls = call_targets(&s, p);
    let mut names: Vec<_> = calls.iter().map(|c| c.2.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["global_helper", "leaf", "middle"]);
    assert!(calls.iter().all(|c| c.1 == 1));
    // Entry + three subprograms, each copied once, each with one func_info.
    assert_eq!(p.func_info.len(), 4);
    let expected_len: usize = ["xdp_first", "middle", "global_helper", "leaf"]
        .iter()
        .map(|f| elf_func(&bytes, f).len())
        .sum();
    assert_eq!(p.instructions.len(), expected_len);
    // Each appended function is the ELF function verbatim except for call immediates.
    for fi in &p.func_info {
        let name = s.btf.as_ref().unwrap().name_of(fi.type_id).unwrap();
        let orig = elf_func(&bytes, name);
        let at = fi.insn_off as usize;
        for (k, o) in orig.iter().enumerate() {
            let l = p.instructions[at + k];
            if o.is_call() && o.src() == 1 {
                assert_eq!((l.code, l.dst(), l.src()), (o.code, o.dst(), 1));
            } else {
                assert_eq!(&l, o, "{name} slot {k}");
            }
        }
    }

    // bpf_loop callback: an ld_imm64 with BPF_PSEUDO_FUNC pointing at loop_cb, which calls leaf.
    let p = s.program("xdp_second").unwrap();
    let calls = call_targets(&s, p);
    assert!(
        calls.iter().any(|c| c.1 == 4 && c.2 == "loop_cb"),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| c.1 == 1 && c.2 == "leaf"), "{calls:?}");
    let ld = calls.iter().find(|c| c.1 == 4).unwrap().0;
    assert_eq!(p.instructions[ld + 1].imm, 0);

    // Programs that call nothing stay as compiled.
    let p = s.program("kprobe_unlink").unwrap();
    assert_eq!(p.instructions, elf_func(&bytes, "kprobe_unlink"));
    assert_eq!(p.func_info.len(), 1);
}

#[test]
fn line_info_is_rebased_onto_linked_programs() {
    let s = fixture("progs");
    for p in s.programs.values() {
        assert!(!p.line_info.is_empty(), "{}", p.name);
        assert_eq!(p.line_info[0].insn_off, 0, "{}", p.name);
        assert!(p
            .line_info
            .windows(2)
            .all(|w| w[0].insn_off <= w[1].insn_off));
        assert!(p
            .line_info
            .iter()
            .all(|l| (l.insn_off as usize) < p.instructions.len()));
        // Every subprogram start has line info too.
        for f in &p.func_info {
            assert!(
                p.line_info.iter().any(|l| l.insn_off == f.insn_off),
                "{}",
                p.name
            );
        }
        let btf = s.btf.as_ref().unwrap();
        let file = btf.str_at(p.line_info[0].file_name_off).unwrap();
        assert!(file.ends_with("progs.bpf.c"), "{file}");
    }
}

#[test]
fn btf_maps_of_many_types() {
    let s = fixture("maps");
    let btf = s.btf.clone().unwrap();
    let m = s.map("hash_map").unwrap();
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries, m.flags),
        (MapType::HASH, 8, 32, 128, 1)
    );
    assert_eq!(m.pinning, Pinning::ByName);
    assert_eq!(btf.name_of(m.key_type_id.unwrap()).unwrap(), "key");
    assert_eq!(btf.name_of(m.value_type_id.unwrap()).unwrap(), "val");
    assert_eq!(m.source, MapSource::Btf);

    let m = s.map("percpu").unwrap();
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries),
        (MapType::PERCPU_ARRAY, 4, 8, 4)
    );
    let m = s.map("sized_lru").unwrap();
    assert_eq!(
        (m.key_size, m.value_size, m.numa_node, m.key_type_id),
        (8, 16, Some(0), None)
    );
    let m = s.map("events").unwrap();
    assert_eq!(
        (m.map_type, m.max_entries, m.key_size),
        (MapType::RINGBUF, 4096, 0)
    );
    let m = s.map("bloom").unwrap();
    assert_eq!(
        (m.map_type, m.map_extra, m.value_size, m.key_size),
        (MapType::BLOOM_FILTER, 3, 4, 0)
    );
    let m = s.map("perf").unwrap();
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries),
        (MapType::PERF_EVENT_ARRAY, 4, 4, 0)
    );

    let m = s.map("outer").unwrap();
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries),
        (MapType::ARRAY_OF_MAPS, 4, 4, 4)
    );
    let inner = m.inner.as_ref().unwrap();
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (MapType::ARRAY, 4, 4, 2)
    );
    assert_eq!(
        m.init,
        MapInit::Slots(vec![(0, "inner_a".into()), (3, "inner_b".into())])
    );
    assert!(s.map("inner_a").is_some() && s.map("inner_b").is_some());

    let m = s.map("outer_hash").unwrap();
    let inner = m.inner.as_ref().unwrap();
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (MapType::HASH, 8, 8, 16)
    );
    assert_eq!(m.init, MapInit::Empty);

    let m = s.map("jumps").unwrap();
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries),
        (MapType::PROG_ARRAY, 4, 4, 3)
    );
    assert_eq!(m.init, MapInit::Slots(vec![(1, "tail_a".into())]));
    assert!(m.inner.is_none());

    let p = s.program("use_maps").unwrap();
    let targets: Vec<_> = p.relocations.iter().map(|r| r.target.clone()).collect();
    for name in ["hash_map", "percpu", "outer", "events", "bloom", "jumps"] {
        assert!(
            targets.contains(&RelocTarget::Map(name.into())),
            "{name}: {targets:?}"
        );
    }
    for r in &p.relocations {
        assert!(p.instructions[r.insn].is_ld_imm64());
    }
    let sum = relocation_summary(&s);
    let u = sum.iter().find(|c| c.program == "use_maps").unwrap();
    assert_eq!((u.maps, u.data, u.externs), (6, 0, 0));
    assert!(u.to_string().contains("6 map"));
}

#[test]
fn legacy_maps_license_and_version() {
    let s = fixture("legacy");
    assert_eq!(s.license, "Dual MIT/GPL");
    assert_eq!(s.kernel_version, 0x060c00);
    let m = s.map("legacy_hash").unwrap();
    assert_eq!(
        (
            m.map_type,
            m.key_size,
            m.value_size,
            m.max_entries,
            m.source
        ),
        (MapType::HASH, 4, 8, 32, MapSource::Legacy)
    );
    let m = s.map("legacy_array").unwrap();
    assert_eq!(
        (m.map_type, m.key_size, m.value_size, m.max_entries),
        (MapType::ARRAY, 4, 4, 2)
    );
    let p = s.program("legacy_user").unwrap();
    assert_eq!(p.kernel_version, 0x060c00);
    let t: Vec<_> = p.relocations.iter().map(|r| &r.target).collect();
    assert_eq!(
        t,
        [
            &RelocTarget::Map("legacy_hash".into()),
            &RelocTarget::Map("legacy_array".into())
        ]
    );
}

#[test]
fn global_data_sections_and_variables() {
    let s = fixture("globals");
    let data = |name: &str| match &s.map(name).unwrap().init {
        MapInit::Data(d) => d.clone(),
        other => panic!("{name}: {other:?}"),
    };
    for (name, ro) in [
        (".data", false),
        (".rodata", true),
        (".bss", false),
        (".data.custom", false),
        (".rodata.custom", true),
    ] {
        let m = s.map(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            (m.map_type, m.key_size, m.max_entries, m.source),
            (MapType::ARRAY, 4, 1, MapSource::Data)
        );
        assert_eq!(m.freeze, ro, "{name}");
        assert_eq!(m.flags, if ro { 0x80 } else { 0 }, "{name}");
        assert_eq!(data(name).len(), m.value_size as usize);
    }
    assert!(data(".bss").iter().all(|&b| b == 0));
    let var = |n: &str| s.variables.get(n).unwrap_or_else(|| panic!("{n}"));
    let read = |n: &str| {
        let v = var(n);
        data(&v.map)[v.offset as usize..(v.offset + v.size) as usize].to_vec()
    };
    assert_eq!(read("data_var"), 7i32.to_le_bytes());
    assert_eq!(read("ro_var"), 42u32.to_le_bytes());
    assert_eq!(&read("ro_name")[..6], b"oxbpf\0");
    assert_eq!(read("static_data"), 5u32.to_le_bytes());
    assert_eq!(read("custom_data"), 11i32.to_le_bytes());
    assert_eq!(read("custom_ro"), 13i32.to_le_bytes());
    assert_eq!(var("bss_arr").size, 16);
    assert_eq!(var("static_bss").map, ".bss");
    // BTF types of variables.
    let btf = s.btf.clone().unwrap();
    assert_eq!(
        btf.resolve_size(var("data_arr").type_id.unwrap()).unwrap(),
        24
    );

    // Relocations point at the variables.
    let p = s.program("touch_globals").unwrap();
    for n in [
        "data_var",
        "ro_var",
        "ro_name",
        "custom_data",
        "custom_ro",
        "static_bss",
        "bss_counter",
        "bss_arr",
    ] {
        let v = var(n);
        let want = RelocTarget::MapValue {
            map: v.map.clone(),
            offset: v.offset,
        };
        assert!(
            p.relocations.iter().any(|r| r.target == want),
            "{n}: {:?}",
            p.relocations
        );
    }

    // The DATASECs were fixed up: sizes from the sections, offsets from the symbols, sorted.
    for name in [".data", ".rodata", ".bss"] {
        let id = btf
            .find_by_name_kind(name, oxbpf::btf::Kind::Datasec)
            .unwrap();
        let oxbpf::btf::Type::Datasec(ds) = btf.type_by_id(id).unwrap() else {
            panic!()
        };
        assert_eq!(ds.size, s.map(name).unwrap().value_size, "{name}");
        let vars: Vec<_> = ds.vars().collect();
        assert!(
            vars.windows(2)
                .all(|w| w[0].offset + w[0].size <= w[1].offset),
            "{name}: {vars:?}"
        );
        for v in vars {
            let vn = btf.name_of(v.type_id).unwrap();
            if let Some(spec) = s.variables.get(vn) {
                assert_eq!(spec.offset, v.offset, "{vn}");
            }
        }
    }
}

#[test]
fn externs_kfunc_ksym_kconfig() {
    let s = fixture("externs");
    let e = |n: &str| s.externs.get(n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(
        (e("bpf_task_acquire").kind, e("bpf_task_acquire").weak),
        (ExternKind::Kfunc, false)
    );
    assert_eq!(
        (
            e("bpf_not_a_real_kfunc").kind,
            e("bpf_not_a_real_kfunc").weak
        ),
        (ExternKind::Kfunc, true)
    );
    assert_eq!(e("bpf_prog_active").kind, ExternKind::Ksym);
    assert_eq!(
        (
            e("LINUX_KERNEL_VERSION").kind,
            e("LINUX_KERNEL_VERSION").weak
        ),
        (ExternKind::Kconfig, false)
    );
    assert_eq!(
        (e("CONFIG_BPF_SYSCALL").kind, e("CONFIG_BPF_SYSCALL").size),
        (ExternKind::Kconfig, 1)
    );
    assert!(e("CONFIG_HZ").weak);
    let btf = s.btf.clone().unwrap();
    for x in s.externs.values() {
        assert_eq!(btf.name_of(x.type_id.unwrap()).unwrap(), x.name);
    }
    // Kconfig layout: aligned, non-overlapping, inside the .kconfig map.
    let m = s.map(".kconfig").unwrap();
    assert_eq!(
        (m.source, m.freeze, m.flags),
        (MapSource::Kconfig, true, 0x80)
    );
    let mut k: Vec<_> = s
        .externs
        .values()
        .filter(|x| x.kind == ExternKind::Kconfig)
        .collect();
    k.sort_by_key(|x| x.offset);
    assert!(k.windows(2).all(|w| w[0].offset + w[0].size <= w[1].offset));
    assert!(k
        .iter()
        .all(|x| x.offset % x.size.min(8) == 0 && x.offset + x.size <= m.value_size));

    let p = s.program("new_task").unwrap();
    let ext: Vec<_> = p
        .relocations
        .iter()
        .map(|r| match &r.target {
            RelocTarget::Extern(n) => (n.as_str(), p.instructions[r.insn].is_call()),
            t => panic!("{t:?}"),
        })
        .collect();
    assert!(ext.contains(&("bpf_task_acquire", true)));
    assert!(ext.contains(&("bpf_not_a_real_kfunc", true)));
    assert!(ext.contains(&("bpf_not_a_real_kfunc", false)));
    assert!(ext.contains(&("CONFIG_HZ", false)));
    assert_eq!(p.attach_to.as_deref(), Some("task_newtask"));
}

#[test]
fn core_relocations_follow_appended_subprograms() {
    let s = fixture("core");
    let p = s.program("fork_core").unwrap();
    let btf = s.btf.clone().unwrap();
    assert_eq!(p.instructions.len(), 17 + 16);
    assert_eq!(func_at(&s, p, 17), "parent_tgid");
    let got: Vec<(u32, u32, String)> = p
        .core_relos
        .iter()
        .map(|r| {
            assert_eq!(btf.name_of(r.type_id).unwrap(), "task_struct");
            (
                r.insn_off,
                r.kind,
                btf.str_at(r.access_str_off).unwrap().to_string(),
            )
        })
        .collect();
    // FIELD_BYTE_OFFSET = 0, FIELD_EXISTS = 2; .text slots 1 and 7 land at 18 and 24.
    let want = [(0, 0, "0:0"), (9, 2, "0:1"), (18, 0, "0:2"), (24, 0, "0:1")];
    let want: Vec<_> = want
        .iter()
        .map(|(o, k, a)| (*o, *k, a.to_string()))
        .collect();
    assert_eq!(got, want);
    let sum = relocation_summary(&s);
    assert_eq!(sum[0].core, 4);
}

#[test]
fn same_bytes_same_spec() {
    for f in FIXTURES {
        let b = fixture_bytes(f);
        let a = format!("{:?}", load_collection_spec(&b).unwrap());
        let c = format!("{:?}", load_collection_spec(&b).unwrap());
        assert_eq!(a, c, "{f}");
    }
}

#[test]
fn truncated_objects_are_errors_not_panics() {
    for f in FIXTURES {
        let b = fixture_bytes(f);
        let mut lens: Vec<usize> = (0..256).collect();
        lens.extend((256..b.len()).step_by(7));
        for len in lens {
            // Cutting the file removes the section header table (at the end) at least.
            assert!(
                load_collection_spec(&b[..len]).is_err(),
                "{f} truncated to {len} parsed"
            );
        }
    }
}

#[test]
fn corrupted_objects_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for f in FIXTURES {
        let b = fixture_bytes(f);
        for _ in 0..600 {
            let mut c = b.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % c.len() as u64) as usize;
                c[at] = next() as u8;
            }
            let _ = load_collection_spec(&c);
        }
    }
}

#[test]
fn junk_in_maps_btf_is_a_map_error() {
    // Rename the member `max_entries` in the BTF string table: an unknown field.
    let mut b = fixture_bytes("maps");
    let hits: Vec<usize> = (0..b.len() - 12)
        .filter(|&i| &b[i..i + 12] == b"max_entries\0")
        .collect();
    assert!(!hits.is_empty());
    for at in hits {
        b[at + 10] = b'z';
    }
    let err = load_collection_spec(&b).unwrap_err();
    assert!(matches!(err, ElfError::Map { .. }), "{err}");
    assert!(err.to_string().contains("max_entriez"), "{err}");
}

#[test]
fn not_an_elf_or_not_bpf() {
    assert!(matches!(
        load_collection_spec(b"hello"),
        Err(ElfError::Format(_))
    ));
    let exe = std::fs::read("/proc/self/exe").unwrap();
    let err = load_collection_spec(&exe).unwrap_err();
    assert!(
        matches!(err, ElfError::NotBpf { .. } | ElfError::Format(_)),
        "{err}"
    );
    let err = load_collection_spec_from_file("/nonexistent/x.o").unwrap_err();
    assert!(matches!(err, ElfError::Io { .. }));
}

mod hand_built {
    use super::*;
    use object::write::{Object, Relocation, Symbol, SymbolSection};
    use object::{
        elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
        SymbolKind, SymbolScope,
    };

    const EXIT: Insn = Insn {
        code: 0x95,
        regs: 0,
        off: 0,
        imm: 0,
    };
    const MOV0: Insn = Insn {
        code: 0xb7,
        regs: 0,
        off: 0,
        imm: 0,
    };

    fn call(src: u8, imm: i32) -> Insn {
        Insn {
            code: 0x85,
            regs: src << 4,
            off: 0,
            imm,
        }
    }
    fn ld64(imm: i32) -> [Insn; 2] {
        [
            Insn {
                code: 0x18,
                regs: 1,
                off: 0,
                imm,
            },
            Insn::default(),
        ]
    }

    struct B {
        obj: Object<'static>,
    }

    impl B {
        fn new() -> Self {
            B {
                obj: Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little),
            }
        }
        fn code(&mut self, name: &str, insns: &[Insn]) -> object::write::SectionId {
            let id = self
                .obj
                .add_section(vec![], name.as_bytes().to_vec(), SectionKind::Text);
            self.obj
                .append_section_data(id, &Insn::encode_all(insns), 8);
            id
        }
        fn data(&mut self, name: &str, bytes: &[u8]) -> object::write::SectionId {
            let id = self
                .obj
                .add_section(vec![], name.as_bytes().to_vec(), SectionKind::Data);
            self.obj.append_section_data(id, bytes, 8);
            id
        }
        fn sym(
            &mut self,
            name: &str,
            sec: Option<object::write::SectionId>,
            value: u64,
            size: u64,
            kind: SymbolKind,
            weak: bool,
        ) -> object::write::SymbolId {
            self.obj.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value,
                size,
                kind,
                scope: if sec.is_some() {
                    SymbolScope::Linkage
                } else {
                    SymbolScope::Unknown
                },
                weak,
                section: sec.map_or(SymbolSection::Undefined, SymbolSection::Section),
                flags: SymbolFlags::None,
            })
        }
        fn func(&mut self, name: &str, sec: object::write::SectionId, slot: u64, len: u64) {
            self.sym(name, Some(sec), slot * 8, len * 8, SymbolKind::Text, false);
        }
        fn rel(
            &mut self,
            sec: object::write::SectionId,
            slot: u64,
            sym: object::write::SymbolId,
            r_type: u32,
        ) {
            self.obj
                .add_relocation(
                    sec,
                    Relocation {
                        offset: slot * 8,
                        symbol: sym,
                        addend: 0,
                        flags: RelocationFlags::Elf { r_type },
                    },
                )
                .unwrap();
        }
        fn load(&self) -> Result<CollectionSpec, ElfError> {
            load_collection_spec(&self.obj.write().unwrap())
        }
    }

    #[test]
    fn two_programs_in_one_section_and_a_static_call() {
        let mut b = B::new();
        // prog_a calls prog_b (before it in the section) by pc-relative offset, no relocation.
        let x = b.code("xdp", &[MOV0, EXIT, call(1, -3), EXIT]);
        b.func("prog_b", x, 0, 2);
        b.func("prog_a", x, 2, 2);
        let s = b.load().unwrap();
        assert_eq!(s.programs.len(), 2);
        let a = s.program("prog_a").unwrap();
        assert_eq!(a.instructions, [call(1, 1), EXIT, MOV0, EXIT]);
        assert_eq!(s.program("prog_b").unwrap().instructions, [MOV0, EXIT]);
    }

    #[test]
    fn text_calls_via_relocations_are_linked_once() {
        let mut b = B::new();
        let t = b.code(".text", &[call(1, -1), EXIT, MOV0, EXIT]);
        b.func("sub1", t, 0, 2);
        b.func("sub2", t, 2, 2);
        let p = b.code("socket", &[call(1, -1), call(1, -1), EXIT]);
        b.func("entry", p, 0, 3);
        let s1 = b.sym("sub1", None, 0, 0, SymbolKind::Unknown, false);
        let _ = s1;
        // Relocations against the .text function symbols (ids looked up by name).
        let sub1 = b.obj.symbol_id(b"sub1").unwrap();
        let sub2 = b.obj.symbol_id(b"sub2").unwrap();
        b.rel(p, 0, sub1, elf::R_BPF_64_32);
        b.rel(p, 1, sub2, elf::R_BPF_64_32);
        b.rel(t, 0, sub2, elf::R_BPF_64_32);
        let s = b.load().unwrap();
        let e = s.program("entry").unwrap();
        // entry (3) + sub1 (2) + sub2 (2); sub2 appended once although called twice.
        assert_eq!(e.instructions.len(), 7);
        assert_eq!(e.instructions[0], call(1, 2)); // -> 3
        assert_eq!(e.instructions[1], call(1, 3)); // -> 5
        assert_eq!(e.instructions[3], call(1, 1)); // sub1 -> 5
        assert_eq!(&e.instructions[5..], [MOV0, EXIT]);
    }

    #[test]
    fn relocation_out_of_range_is_an_error() {
        let mut b = B::new();
        let p = b.code("socket", &[MOV0, EXIT]);
        b.func("entry", p, 0, 2);
        let ext = b.sym("some_kfunc", None, 0, 0, SymbolKind::Text, false);
        b.rel(p, 9, ext, elf::R_BPF_64_32);
        let err = b.load().unwrap_err();
        assert!(
            matches!(err, ElfError::Relocation { offset: 72, .. }),
            "{err}"
        );
    }

    #[test]
    fn relocation_on_a_plain_instruction_is_an_error() {
        let mut b = B::new();
        let p = b.code("socket", &[MOV0, EXIT]);
        b.func("entry", p, 0, 2);
        let ext = b.sym("x", None, 0, 0, SymbolKind::Data, false);
        b.rel(p, 0, ext, elf::R_BPF_64_64);
        let err = b.load().unwrap_err();
        assert!(
            err.to_string().contains("expected a call or ld_imm64"),
            "{err}"
        );
    }

    #[test]
    fn call_target_outside_any_function_is_an_error() {
        let mut b = B::new();
        let p = b.code("socket", &[call(1, 5), EXIT]);
        b.func("entry", p, 0, 2);
        let err = b.load().unwrap_err();
        assert!(matches!(err, ElfError::Program { .. }), "{err}");
    }

    #[test]
    fn weak_kfunc_and_ksym_externs() {
        let mut b = B::new();
        let [l0, l1] = ld64(0);
        let p = b.code("socket", &[call(0, -1), l0, l1, MOV0, EXIT]);
        b.func("entry", p, 0, 5);
        let f = b.sym("kf", None, 0, 0, SymbolKind::Text, true);
        let v = b.sym("kv", None, 0, 0, SymbolKind::Data, false);
        b.rel(p, 0, f, elf::R_BPF_64_32);
        b.rel(p, 1, v, elf::R_BPF_64_64);
        let s = b.load().unwrap();
        assert_eq!(
            (s.externs["kf"].kind, s.externs["kf"].weak),
            (ExternKind::Kfunc, true)
        );
        assert_eq!(
            (s.externs["kv"].kind, s.externs["kv"].weak),
            (ExternKind::Ksym, false)
        );
        let e = s.program("entry").unwrap();
        assert_eq!(e.relocations.len(), 2);
        assert_eq!(e.relocations[1].insn, 1);
        assert_eq!(e.relocations[1].target, RelocTarget::Extern("kv".into()));
    }

    #[test]
    fn data_reference_offset_comes_from_symbol_and_addend() {
        let mut b = B::new();
        let [a0, a1] = ld64(0);
        let [c0, c1] = ld64(8);
        let p = b.code("socket", &[a0, a1, c0, c1, MOV0, EXIT]);
        b.func("entry", p, 0, 6);
        let d = b.data(".data", &[0u8; 16]);
        let var = b.sym("v", Some(d), 4, 4, SymbolKind::Data, false);
        let secsym = b.obj.section_symbol(d);
        b.rel(p, 0, var, elf::R_BPF_64_64);
        b.rel(p, 2, secsym, elf::R_BPF_64_64);
        let s = b.load().unwrap();
        let e = s.program("entry").unwrap();
        let t: Vec<_> = e.relocations.iter().map(|r| r.target.clone()).collect();
        assert_eq!(
            t,
            [
                RelocTarget::MapValue {
                    map: ".data".into(),
                    offset: 4
                },
                RelocTarget::MapValue {
                    map: ".data".into(),
                    offset: 8
                },
            ]
        );
        assert_eq!(s.variables["v"].offset, 4);
    }

    #[test]
    fn data_reference_past_the_section_is_an_error() {
        let mut b = B::new();
        let [a0, a1] = ld64(100);
        let p = b.code("socket", &[a0, a1, MOV0, EXIT]);
        b.func("entry", p, 0, 4);
        let d = b.data(".rodata", &[0u8; 16]);
        let secsym = b.obj.section_symbol(d);
        b.rel(p, 0, secsym, elf::R_BPF_64_64);
        let err = b.load().unwrap_err();
        assert!(err.to_string().contains("outside data section"), "{err}");
    }

    #[test]
    fn legacy_maps_with_a_short_definition_are_an_error() {
        let mut b = B::new();
        let p = b.code("socket", &[MOV0, EXIT]);
        b.func("entry", p, 0, 2);
        let m = b.data("maps", &[1u8; 12]);
        b.sym("tiny", Some(m), 0, 12, SymbolKind::Data, false);
        let err = b.load().unwrap_err();
        assert!(matches!(err, ElfError::Map { .. }), "{err}");
    }

    #[test]
    fn btf_maps_without_btf_are_an_error() {
        let mut b = B::new();
        let p = b.code("socket", &[MOV0, EXIT]);
        b.func("entry", p, 0, 2);
        let m = b.data(".maps", &[0u8; 32]);
        b.sym("m", Some(m), 0, 32, SymbolKind::Data, false);
        let err = b.load().unwrap_err();
        assert!(err.to_string().contains("BTF"), "{err}");
    }

    #[test]
    fn unknown_section_gives_unspec_program_and_odd_code_size_is_an_error() {
        let mut b = B::new();
        let p = b.code("mystery", &[MOV0, EXIT]);
        b.func("entry", p, 0, 2);
        let s = b.load().unwrap();
        assert_eq!(s.program("entry").unwrap().prog_type, ProgramType::UNSPEC);

        let mut b = B::new();
        let id = b
            .obj
            .add_section(vec![], b"xdp".to_vec(), SectionKind::Text);
        b.obj.append_section_data(id, &[0u8; 12], 8);
        assert!(matches!(b.load(), Err(ElfError::Format(_))));
    }

    #[test]
    fn ld_imm64_cut_off_at_function_end_is_an_error() {
        let mut b = B::new();
        let [l0, l1] = ld64(0);
        let p = b.code("socket", &[MOV0, l0, l1]);
        b.func("entry", p, 0, 2);
        b.func("other", p, 2, 1);
        assert!(b.load().is_err());
    }
}

/// True if this process may use bpf(2); otherwise says why loudly, and fails when
/// `OXBPF_REQUIRE_KERNEL=1`.
fn require_kernel(probe: &Result<std::os::fd::OwnedFd, oxbpf::btf::BtfError>) -> bool {
    let reason = match probe {
        Ok(_) => return true,
        Err(e) => format!("cannot load BTF into the kernel: {e}"),
    };
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("kernel test required but skipped: {reason}");
    }
    eprintln!("SKIPPED kernel test: {reason} (need root/CAP_BPF)");
    false
}

/// The verifier accepts linked programs (subprograms, bpf_loop callbacks) with their rebased
/// func_info and line_info, against the fixed-up object BTF.
#[test]
fn kernel_accepts_linked_programs_with_btf_ext() {
    use oxbpf::sys::{self, attr::ProgLoadAttr, ptr_to_u64};
    use std::os::fd::AsRawFd;

    let s = fixture("progs");
    let raw = s.btf.as_ref().unwrap().to_bytes();
    let btf_fd = oxbpf::btf::load_btf_fd(&raw);
    if !require_kernel(&btf_fd) {
        return;
    }
    let btf_fd = btf_fd.unwrap();
    let license = c"GPL";
    for name in [
        "xdp_first",
        "xdp_second",
        "tcx_in",
        "tp_switch",
        "sock_filter",
    ] {
        let p = s.program(name).unwrap();
        let insns = Insn::encode_all(&p.instructions);
        let fi: Vec<u32> = p
            .func_info
            .iter()
            .flat_map(|f| [f.insn_off, f.type_id])
            .collect();
        let li: Vec<u32> = p
            .line_info
            .iter()
            .flat_map(|l| [l.insn_off, l.file_name_off, l.line_off, l.line_col])
            .collect();
        let mut log = vec![0u8; 1 << 20];
        let mut attr = ProgLoadAttr {
            prog_type: p.prog_type.0,
            insn_cnt: p.instructions.len() as u32,
            insns: ptr_to_u64(insns.as_ptr()),
            license: ptr_to_u64(license.as_ptr()),
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: ptr_to_u64(log.as_mut_ptr()),
            prog_flags: p.flags,
            expected_attach_type: p.expected_attach_type.map_or(0, |a| a.0),
            prog_btf_fd: btf_fd.as_raw_fd() as u32,
            func_info_rec_size: 8,
            func_info: ptr_to_u64(fi.as_ptr()),
            func_info_cnt: p.func_info.len() as u32,
            line_info_rec_size: 16,
            line_info: ptr_to_u64(li.as_ptr()),
            line_info_cnt: p.line_info.len() as u32,
            ..Default::default()
        };
        match sys::prog_load(&mut attr) {
            Ok(_) => {}
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                panic!("{name}: {e}\n{}", String::from_utf8_lossy(&log[..end]));
            }
        }
    }
}

/// Bytes that are not 8-byte aligned (as from `include_bytes!`) parse like aligned ones.
#[test]
fn unaligned_input_parses() {
    let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xdp.bpf.o")).unwrap();
    let mut shifted = vec![0u8; data.len() + 1];
    shifted[1..].copy_from_slice(&data);
    let unaligned = &shifted[1..];
    assert_ne!(unaligned.as_ptr() as usize % 8, 0);
    let a = oxbpf::elf::load_collection_spec(&data).unwrap();
    let b = oxbpf::elf::load_collection_spec(unaligned).unwrap();
    assert_eq!(
        a.programs.keys().collect::<Vec<_>>(),
        b.programs.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        a.maps.keys().collect::<Vec<_>>(),
        b.maps.keys().collect::<Vec<_>>()
    );
}
