//! BTF against the running kernel: vmlinux parsing, queries, marshalling and BPF_BTF_LOAD.

use oxbpf::btf::{kernel, Btf, Kind, Type};
use std::sync::Arc;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

fn vmlinux() -> Option<Arc<Btf>> {
    match kernel::vmlinux() {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("kernel BTF required but unavailable: {e}");
            }
            eprintln!("SKIPPED: no kernel BTF: {e}");
            None
        }
    }
}

#[test]
fn vmlinux_task_struct() {
    let Some(btf) = vmlinux() else { return };
    assert!(btf.types_len() > 1000, "{btf:?}");
    let id = btf
        .find_by_name_kind("task_struct", Kind::Struct)
        .expect("task_struct");
    let Type::Struct(s) = btf.type_by_id(id).unwrap() else {
        panic!("not a struct")
    };
    assert_eq!(s.name, "task_struct");
    assert_eq!(btf.resolve_size(id).unwrap(), s.size);
    assert!(s.size > 1000, "task_struct is big: {}", s.size);
    let pid = s.members().find(|m| m.name == "pid").expect("pid member");
    // pid_t -> __kernel_pid_t -> int
    let int = btf.skip_mods_and_typedefs(pid.type_id).unwrap();
    match btf.type_by_id(int).unwrap() {
        Type::Int(i) => {
            assert_eq!((i.name, i.size, i.is_signed()), ("int", 4, true));
        }
        t => panic!("pid is {t:?}"),
    }
    assert_eq!(btf.resolve_size(pid.type_id).unwrap(), 4);
    assert_eq!(pid.bit_offset % 32, 0);
    // comm is char[16]
    let comm = s.members().find(|m| m.name == "comm").expect("comm");
    assert_eq!(btf.resolve_size(comm.type_id).unwrap(), 16);
    // Members are ordered and inside the struct.
    let mut last = 0;
    for m in s.members() {
        assert!(m.bit_offset >= last, "{m:?}");
        assert!(m.bit_offset / 8 <= s.size);
        last = m.bit_offset;
    }
}

#[test]
fn vmlinux_round_trips_byte_equal() {
    let Some(_) = vmlinux() else { return };
    let raw = std::fs::read(VMLINUX).unwrap();
    let btf = Btf::parse(&raw).unwrap();
    assert!(btf.to_bytes() == raw, "marshalled vmlinux differs");
}
