//! BTF against the running kernel: vmlinux parsing, queries, marshalling and BPF_BTF_LOAD.

mod caps_util;

use oxbpf::btf::{kernel, Btf, BtfError, Kind, Type};
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

#[test]
fn vmlinux_name_index_matches_brute_force() {
    let Some(_) = vmlinux() else { return };
    // A private copy, so the index built here is not the shared one.
    let btf = Btf::from_file(VMLINUX).unwrap();
    let mut by_name: std::collections::HashMap<&str, Vec<u32>> = Default::default();
    for (id, t) in btf.iter() {
        if !t.name().is_empty() {
            by_name.entry(t.name()).or_default().push(id);
        }
    }
    assert!(by_name.len() > 10_000);
    // Scanned lookups (first few), then indexed ones for every name.
    for name in ["task_struct", "sk_buff", "int", "bpf_prog"] {
        assert_eq!(btf.find_by_name(name), by_name[name], "{name}");
    }
    btf.build_name_index();
    for (name, ids) in &by_name {
        assert_eq!(&btf.find_by_name(name), ids, "{name}");
    }
    assert!(btf.find_by_name("no_such_type_oxbpf").is_empty());
    assert!(btf.find_by_name_kind("task_struct", Kind::Union).is_none());
}

/// True if kernel tests can run (root); otherwise skips loudly, or fails under
/// `OXBPF_REQUIRE_KERNEL=1`.
fn require_kernel() -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip("not root");
    false
}

fn skip(why: &str) {
    if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("kernel test required but skipped: {why}");
    }
    eprintln!("SKIPPED (kernel test): {why}");
}

/// A permission error from BPF_BTF_LOAD: in a re-run without CAP_BPF the exact refusal is
/// asserted; otherwise the test skips.
fn refused_or_skip(e: &BtfError) {
    let text = e.to_string();
    if !caps_util::refused_entry(
        &text,
        "BPF_BTF_LOAD needs CAP_BPF, which this process lacks",
    ) {
        skip(&text);
    }
}

/// True if `e` is a permission error from the kernel (then the test skips).
fn is_eperm(e: &BtfError) -> bool {
    matches!(e, BtfError::Load { source, .. } if source.is_permission())
}

const OBJ_SRC: &str = r#"
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
typedef unsigned int u32;
typedef unsigned long long u64;

struct task {
    int pid;
    char comm[16];
    unsigned flag : 3;
    unsigned other : 5;
    double d;
} __attribute__((preserve_access_index));

enum big { BIG_A = 1, BIG_B = 0x100000000ULL };

struct {
    __uint(type, 2);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, u64);
} counts SEC(".maps");

int counter = 1;
const volatile int ro = 5;
int zero;
int __attribute__((btf_decl_tag("tagged"))) tagged_var = 3;
enum big big_val = BIG_B;
int __attribute__((btf_type_tag("user"))) *uptr;

static __attribute__((noinline)) int helper(struct task *t)
{
    return t->pid + t->flag;
}

SEC("xdp") int prog(void *ctx)
{
    return helper(ctx) + counter + ro + zero + (int)big_val + (uptr ? 1 : 0) + tagged_var;
}

char _license[] SEC("license") = "GPL";
"#;

/// Compiles `OBJ_SRC` with clang-19; `None` (skipped loudly) if clang is unavailable.
fn compile_object() -> Option<Vec<u8>> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("oxbpf-btf-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("obj.bpf.c");
    let obj = dir.join("obj.bpf.o");
    std::fs::write(&src, OBJ_SRC).unwrap();
    let out = std::process::Command::new("clang-19")
        .args(["-g", "-O2", "-target", "bpf", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output();
    let bytes = match out {
        Ok(o) if o.status.success() => std::fs::read(&obj).ok(),
        Ok(o) => panic!("clang failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("SKIPPED: clang-19 not runnable: {e}");
            None
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn section<'a>(elf: &'a object::File<'a>, name: &str) -> &'a [u8] {
    use object::{Object, ObjectSection};
    elf.section_by_name(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .data()
        .unwrap()
}

/// Fixes DATASEC sizes and variable offsets from the ELF (what the ELF reader does).
fn fixup_datasecs(btf: &mut Btf, elf: &object::File) {
    use object::{Object, ObjectSection, ObjectSymbol};
    let secs: Vec<(u32, String)> = btf
        .ids_of_kind(Kind::Datasec)
        .map(|id| (id, btf.name_of(id).unwrap().to_string()))
        .collect();
    for (id, name) in secs {
        let Some(sec) = elf.section_by_name(&name) else {
            continue;
        };
        btf.set_datasec_size(id, sec.size() as u32).unwrap();
        let Type::Datasec(d) = btf.type_by_id(id).unwrap() else {
            unreachable!()
        };
        let vars: Vec<_> = d.vars().collect();
        for (i, v) in vars.iter().enumerate() {
            let var_name = btf.name_of(v.type_id).unwrap().to_string();
            if let Some(sym) = elf.symbols().find(|s| s.name() == Ok(&var_name)) {
                btf.set_datasec_var(id, i, sym.address() as u32, v.size)
                    .unwrap();
            }
        }
    }
}

#[test]
fn object_btf_round_trip_kinds_and_ext() {
    let Some(obj) = compile_object() else { return };
    let elf = object::File::parse(&*obj).unwrap();
    let raw = section(&elf, ".BTF");
    let btf = Btf::parse(raw).unwrap();
    assert_eq!(btf.to_bytes(), raw, "object BTF round trip");
    for kind in [
        Kind::Struct,
        Kind::Datasec,
        Kind::Var,
        Kind::Func,
        Kind::FuncProto,
        Kind::Float,
        Kind::DeclTag,
        Kind::TypeTag,
        Kind::Enum64,
    ] {
        assert!(
            btf.ids_of_kind(kind).next().is_some(),
            "no {kind} in object BTF"
        );
    }
    let task = btf.find_by_name_kind("task", Kind::Struct).unwrap();
    let Type::Struct(s) = btf.type_by_id(task).unwrap() else {
        panic!()
    };
    let flag = s.members().find(|m| m.name == "flag").unwrap();
    assert_eq!(flag.bit_offset, 160);
    assert_eq!(flag.bitfield_size, 3);
    assert_eq!(btf.resolve_size(task).unwrap(), 32);
    let prog = btf.find_by_name_kind("prog", Kind::Func).unwrap();
    let Type::Func(f) = btf.type_by_id(prog).unwrap() else {
        panic!()
    };
    assert_eq!(f.linkage, oxbpf::btf::FuncLinkage::Global);

    // The same BTF read from the ELF file as external BTF.
    let path = std::env::temp_dir().join(format!("oxbpf-btf-ext-{}.o", std::process::id()));
    std::fs::write(&path, &obj).unwrap();
    let from_elf = kernel::from_path(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(from_elf.unwrap().to_bytes(), raw);

    let ext = oxbpf::btf::BtfExt::parse(section(&elf, ".BTF.ext"), &btf).unwrap();
    let fi = &ext.func_info["xdp"];
    assert_eq!((fi[0].insn_off, fi[0].type_id), (0, prog));
    assert!(!ext.line_info["xdp"].is_empty());
    let helper = btf.find_by_name_kind("helper", Kind::Func).unwrap();
    assert_eq!(ext.func_info[".text"][0].type_id, helper);
    let relos = &ext.core_relos[".text"];
    assert!(!relos.is_empty());
    for r in relos {
        assert_eq!(r.insn_off % 8, 0, "insn_off is in bytes");
        let access = btf.str_at(r.access_str_off).unwrap();
        assert!(access.starts_with("0:"), "{access}");
        assert_eq!(btf.skip_mods_and_typedefs(r.type_id).unwrap(), task);
    }
    for li in &ext.line_info["xdp"] {
        btf.str_at(li.file_name_off).unwrap();
        btf.str_at(li.line_off).unwrap();
    }
}

#[test]
fn object_btf_loads_into_kernel_plain_and_sanitized() {
    let Some(obj) = compile_object() else { return };
    if !require_kernel() {
        return;
    }
    let elf = object::File::parse(&*obj).unwrap();
    let mut btf = Btf::parse(section(&elf, ".BTF")).unwrap();
    fixup_datasecs(&mut btf, &elf);
    match btf.load() {
        Ok(_) => {}
        Err(e) if is_eperm(&e) => return refused_or_skip(&e),
        Err(e) => panic!("{e}"),
    }
    // Everything an old kernel may lack rewritten: still valid BTF for this kernel.
    let all = oxbpf::btf::MissingFeatures {
        func: true,
        func_global: true,
        datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    };
    let mut old = btf.clone();
    assert!(old.sanitize(&all).unwrap() > 5);
    for k in [
        Kind::Datasec,
        Kind::Var,
        Kind::Float,
        Kind::DeclTag,
        Kind::TypeTag,
        Kind::Enum64,
        Kind::Func,
    ] {
        assert!(
            old.ids_of_kind(k).next().is_none(),
            "{k} left after sanitize"
        );
    }
    old.load()
        .unwrap_or_else(|e| panic!("sanitized BTF rejected: {e}"));
}

#[test]
fn small_btf_loads_and_bad_btf_returns_the_kernel_log() {
    if !require_kernel() {
        return;
    }
    // Build from nothing: int, struct { int a; int b; }.
    let mut btf = Btf::parse(&[
        0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ])
    .unwrap();
    assert_eq!(btf.types_len(), 1);
    let int = btf.add_int("int", 4, 1).unwrap();
    let (s, a, b) = (
        btf.add_string("pair"),
        btf.add_string("a"),
        btf.add_string("b"),
    );
    let words = [s, (4 << 24) | 2, 8, a, int, 0, b, int, 32];
    let rec: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let pair = btf.push_type(&rec).unwrap();
    assert_eq!(btf.resolve_size(pair).unwrap(), 8);
    let raw = btf.to_bytes();
    let reparsed = Btf::parse(&raw).unwrap();
    assert_eq!(reparsed.find_by_name_kind("pair", Kind::Struct), Some(pair));
    match oxbpf::btf::load_btf_fd(&raw) {
        Ok(fd) => {
            let info = oxbpf::sys::btf_info(std::os::fd::AsFd::as_fd(&fd)).unwrap();
            assert_eq!(info.btf_size as usize, raw.len());
        }
        Err(e) if is_eperm(&e) => return refused_or_skip(&e),
        Err(e) => panic!("{e}"),
    }
    // Member b past the end of an 8-byte struct: the kernel rejects it and says why.
    let bad_words = [s, (4 << 24) | 2, 8, a, int, 0, b, int, 64];
    let bad: Vec<u8> = bad_words.iter().flat_map(|w| w.to_le_bytes()).collect();
    btf.replace_type(pair, &bad).unwrap();
    let err = btf.load().unwrap_err();
    let BtfError::Load { source, log } = &err else {
        panic!("{err}")
    };
    assert_eq!(source.errno, libc::EINVAL, "{err}");
    assert!(!log.is_empty(), "no kernel log in {err}");
    assert!(err.to_string().contains("kernel BTF log"), "{err}");
    eprintln!("{err}");
}

#[test]
fn passes_with_bpf_net_admin_perfmon_only() {
    caps_util::rerun_in(caps_util::MINIMAL, &[]);
}

#[test]
fn passes_with_no_capabilities() {
    caps_util::rerun_in("none", &[]);
}
