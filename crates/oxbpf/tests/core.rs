//! CO-RE on the real kernel: fixtures under testdata/core built twice (local and `-DTARGET`
//! layouts); the target object's `.BTF` is the target, its `expect` array (computed by the
//! compiler for the target layout) the expected values; programs run with BPF_PROG_RUN.

use oxbpf::btf::core::{
    self, explain_poison, CoreError, CoreKind, CoreOutcome, CoreResult, CoreTarget,
};
use oxbpf::btf::{Btf, Kind};
use oxbpf::collection::{Collection, CollectionOptions, LoadError};
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::{CollectionSpec, MapInit};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

mod caps_util;
mod coll_support;

use coll_support::require_kernel;
use coll_support::{read_global, write_global};

fn fixture(name: &str) -> CollectionSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/core")
        .join(name);
    oxbpf::elf::load_collection_spec_from_file(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Bytes of global `name` from its data section's initial contents.
fn global_bytes(spec: &CollectionSpec, name: &str) -> Vec<u8> {
    let v = &spec.variables[name];
    let MapInit::Data(d) = &spec.maps[&v.map].init else {
        panic!("{name} has no initial data")
    };
    d[v.offset as usize..(v.offset + v.size) as usize].to_vec()
}

fn u64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

struct Fixture {
    local: CollectionSpec,
    target: CollectionSpec,
    tbtf: Arc<Btf>,
}

fn layouts() -> Fixture {
    let local = fixture("layouts.bpf.o");
    let target = fixture("layouts.target.bpf.o");
    let tbtf = target.btf.clone().expect("target object has BTF");
    Fixture {
        local,
        target,
        tbtf,
    }
}

impl Fixture {
    /// Relocates `prog` against the target BTF, in place in the spec.
    fn relocate(&mut self, prog: &str) -> Result<Vec<CoreResult>, CoreError> {
        let local_btf = self.local.btf.clone().unwrap();
        let p = self.local.programs.get_mut(prog).unwrap();
        let btfs = [self.tbtf.clone()];
        let res = core::relocate(
            prog,
            &p.core_relos,
            &mut p.instructions,
            &local_btf,
            &CoreTarget { btfs: &btfs },
        )?;
        p.core_relos.clear();
        Ok(res)
    }

    fn load(&self, prog: &str) -> Result<Collection, LoadError> {
        let opts = CollectionOptions {
            programs: Some(BTreeSet::from([prog.to_string()])),
            ..Default::default()
        };
        Collection::load(&self.local, &opts)
    }
}

fn bss(coll: &Collection) -> Vec<u8> {
    coll.map(".bss")
        .unwrap()
        .lookup(&0u32.to_ne_bytes())
        .unwrap()
        .unwrap()
}

const OUT_NAMES: &[&str] = &[
    "off_a",
    "off_b",
    "off_c",
    "off_in_x",
    "off_in_y",
    "off_arr2",
    "off_tail",
    "sz_b",
    "sz_c",
    "sz_arr",
    "exists_removed",
    "exists_a",
    "signed_b",
    "signed_bf3",
    "signed_c",
    "bf1",
    "bf2",
    "bf3",
    "bf1_direct",
    "bf3_direct",
    "val_b",
    "val_c",
    "val_in_x",
    "val_arr2",
    "type_exists_gone",
    "type_exists_s",
    "type_size_s",
    "type_size_inner",
    "type_matches",
    "type_nomatch",
    "enum_exists_gone",
    "enum_exists_b",
    "enum_b",
    "enum_a",
    "enum64_big",
    "removed_or_default",
];

#[test]
fn offline_relocation_covers_every_kind() {
    let mut f = layouts();
    let mut kinds = BTreeSet::new();
    for prog in ["core_main", "core_ids"] {
        for r in f.relocate(prog).unwrap() {
            kinds.insert(r.kind.raw());
        }
    }
    let all: BTreeSet<u32> = (0..=12).collect();
    assert_eq!(kinds, all, "fixture must exercise every relocation kind");
}

#[test]
fn offline_guarded_removed_field_is_poisoned_and_named() {
    let mut f = layouts();
    let res = f.relocate("core_main").unwrap();
    let poisoned: Vec<&CoreResult> = res
        .iter()
        .filter(|r| matches!(r.outcome, CoreOutcome::Poisoned { .. }))
        .collect();
    assert_eq!(poisoned.len(), 1, "{poisoned:#?}");
    let p = poisoned[0];
    assert_eq!(p.kind, CoreKind::FieldByteOffset);
    assert!(
        p.local_spec.starts_with("struct core_s.removed ("),
        "{}",
        p.local_spec
    );
    let insns = &f.local.programs["core_main"].instructions;
    assert_eq!(insns[p.relo.insn_off as usize].imm, core::POISON_HELPER_ID);
    let why = explain_poison(&res, p.relo.insn_off).unwrap();
    assert!(why.contains("struct core_s.removed"), "{why}");
    assert!(explain_poison(&res, p.relo.insn_off + 1).is_none());
    // Existence checks resolve to 0 without poisoning.
    let ex = res
        .iter()
        .find(|r| r.kind == CoreKind::FieldExists && r.local_spec.contains("removed"))
        .unwrap();
    assert!(
        matches!(ex.outcome, CoreOutcome::Resolved { new: 0, .. }),
        "{ex:?}"
    );
}

#[test]
fn offline_ambiguous_candidates_are_an_error() {
    let mut f = layouts();
    let e = f.relocate("core_ambiguous").unwrap_err();
    assert!(
        matches!(e, CoreError::Ambiguous { candidates: 2, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("ambiguous CO-RE relocation"), "{msg}");
    assert!(msg.contains("2 candidates for struct amb.y"), "{msg}");
    assert!(
        msg.contains("amb___v1") && msg.contains("amb___v2"),
        "{msg}"
    );
    // Agreeing candidates are fine.
    let ok = f.relocate("core_same").unwrap();
    assert!(matches!(
        ok[0].outcome,
        CoreOutcome::Resolved { new: 0, .. }
    ));
}

#[test]
fn offline_signed_resize_poisons_direct_load() {
    let mut f = layouts();
    let res = f.relocate("core_poison_memsz").unwrap();
    let r = res
        .iter()
        .find(|r| r.local_spec.starts_with("struct core_s.d "))
        .unwrap();
    match &r.outcome {
        CoreOutcome::Poisoned { reason } => assert!(reason.contains("4 bytes"), "{reason}"),
        o => panic!("expected poison, got {o:?}"),
    }
}

#[test]
fn every_kind_matches_target_layout_when_run() {
    if !require_kernel() {
        return;
    }
    let mut f = layouts();
    f.relocate("core_main").unwrap();
    let coll = f.load("core_main").unwrap();
    let sample = global_bytes(&f.target, "sample");
    write_global(&f.local, &coll, "in", &sample);
    let run = coll
        .program("core_main")
        .unwrap()
        .test_run(&TestRunOpts::default())
        .unwrap();
    assert_eq!(run.retval, 0);
    let out = u64s(&read_global(&f.local, &coll, "out"));
    let expect = u64s(&global_bytes(&f.target, "expect"));
    assert_eq!(out.len(), OUT_NAMES.len());
    let bad: Vec<String> = OUT_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| out[*i] != expect[*i])
        .map(|(i, n)| format!("{n}: got {:#x}, want {:#x}", out[i], expect[i]))
        .collect();
    assert!(bad.is_empty(), "mismatches:\n{}", bad.join("\n"));
    let _ = bss(&coll);
}

#[test]
fn type_ids_local_and_target() {
    if !require_kernel() {
        return;
    }
    let mut f = layouts();
    f.relocate("core_ids").unwrap();
    let coll = f.load("core_ids").unwrap();
    coll.program("core_ids")
        .unwrap()
        .test_run(&TestRunOpts::default())
        .unwrap();
    let ids = u64s(&read_global(&f.local, &coll, "ids"));
    let lbtf = f.local.btf.as_ref().unwrap();
    let local_id = lbtf.find_by_name_kind("core_s", Kind::Struct).unwrap();
    let targ_id = f.tbtf.find_by_name_kind("core_s", Kind::Struct).unwrap();
    assert_eq!(ids, vec![local_id as u64, targ_id as u64]);
    assert_ne!(local_id, targ_id, "fixture should make the ids differ");
}

#[test]
fn poisoned_live_code_fails_with_explained_relocation() {
    if !require_kernel() {
        return;
    }
    let mut f = layouts();
    let res = f.relocate("core_poison_live").unwrap();
    let e = f.load("core_poison_live").unwrap_err();
    let LoadError::Program(pe) = &e else {
        panic!("{e}")
    };
    let log = pe.verifier_log().expect("verifier log");
    assert!(log.contains("unknown#195896080"), "{log}");
    let why = core::explain_verifier_log(&res, log).expect("explained");
    assert!(why.contains("byte_off"), "{why}");
    assert!(why.contains("struct core_s.removed (0:3)"), "{why}");
}

fn kernel_fixture() -> CollectionSpec {
    fixture("kernel.bpf.o")
}

#[test]
fn vmlinux_task_struct_pid_through_the_loader() {
    if !require_kernel() {
        return;
    }
    let spec = kernel_fixture();
    let opts = CollectionOptions {
        programs: Some(BTreeSet::from(["kernel_core".to_string()])),
        ..Default::default()
    };
    let coll = Collection::load(&spec, &opts).unwrap();
    coll.program("kernel_core")
        .unwrap()
        .test_run(&TestRunOpts::default())
        .unwrap();
    let out = u64s(&read_global(&spec, &coll, "out"));
    let vmlinux = oxbpf::btf::kernel::vmlinux().unwrap();
    let ts = vmlinux
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap();
    let t = vmlinux.type_by_id(ts).unwrap();
    let pid = t
        .as_composite()
        .unwrap()
        .members()
        .find(|m| m.name == "pid")
        .unwrap();
    assert_eq!(out[0], pid.bit_offset as u64 / 8, "pid offset");
    assert_eq!(out[1], vmlinux.resolve_size(pid.type_id).unwrap() as u64);
    assert_eq!(out[2], ts as u64, "bpf_core_type_id_kernel");
    assert_eq!(out[3], 0, "no such field");
    // The pid of the running thread, read through the relocated offset.
    let tid = unsafe { libc::gettid() } as u64;
    assert_eq!(out[4], tid, "task->pid");
    assert_eq!(out[5], vmlinux.resolve_size(ts).unwrap() as u64);
}

#[test]
fn vmlinux_poison_error_names_relocation_and_source() {
    if !require_kernel() {
        return;
    }
    let spec = kernel_fixture();
    let opts = CollectionOptions {
        programs: Some(BTreeSet::from(["kernel_poison".to_string()])),
        ..Default::default()
    };
    let e = Collection::load(&spec, &opts).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("invalid func unknown#195896080"), "{msg}");
    assert!(
        msg.contains("struct task_struct___oxbpf.oxbpf_no_such_field (0:0)"),
        "{msg}"
    );
    assert!(msg.contains("kernel.bpf.c:"), "source line: {msg}");
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}
