//! `oxbpf btf dump`: the C header compiles with clang-19 for the BPF target and reproduces
//! every struct's size and member offsets; JSON Lines has one object per type; raw is the
//! BTF itself.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn oxbpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("run oxbpf")
}

fn have(what: &str, ok: bool) -> bool {
    if !ok {
        if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("test cannot run: {what}");
        }
        eprintln!("SKIPPED: {what}");
    }
    ok
}

fn kernel_btf() -> bool {
    have(
        "no readable /sys/kernel/btf/vmlinux",
        std::fs::File::open("/sys/kernel/btf/vmlinux").is_ok(),
    )
}

fn clang() -> bool {
    have(
        "clang-19 not installed",
        Command::new("clang-19").arg("--version").output().is_ok(),
    )
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("oxbpf-dump-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `_Static_assert`s on the size of every struct/union and the offset of every named,
/// non-bitfield member, for tags whose name is not shared (shared ones get `___N`).
fn layout_asserts(types: &[Value]) -> String {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in types {
        if matches!(
            t["kind"].as_str(),
            Some("STRUCT" | "UNION" | "ENUM" | "ENUM64")
        ) {
            if let Some(n) = t["name"].as_str().filter(|n| !n.is_empty()) {
                *count.entry(n).or_default() += 1;
            }
        }
    }
    let mut s = String::new();
    for t in types {
        let kw = match t["kind"].as_str() {
            Some("STRUCT") => "struct",
            Some("UNION") => "union",
            _ => continue,
        };
        let n = t["name"].as_str().unwrap();
        if n.is_empty() || count[n] != 1 {
            continue;
        }
        s += &format!(
            "_Static_assert(sizeof({kw} {n}) == {}, \"{n}\");\n",
            t["size"]
        );
        for m in t["members"].as_array().unwrap() {
            let mn = m["name"].as_str().unwrap();
            if mn.is_empty() || m["bitfield_size"] != 0 {
                continue;
            }
            let off = m["bits_offset"].as_u64().unwrap();
            if off % 8 != 0 {
                continue;
            }
            s += &format!(
                "_Static_assert(__builtin_offsetof({kw} {n}, {mn}) == {}, \"{n}.{mn}\");\n",
                off / 8
            );
        }
    }
    s
}

fn compile(dir: &Path, header: &[u8], body: &str) {
    std::fs::write(dir.join("vmlinux.h"), header).unwrap();
    let src = dir.join("use.c");
    std::fs::write(&src, format!("#include \"vmlinux.h\"\n{body}")).unwrap();
    let out = Command::new("clang-19")
        .args(["-target", "bpf", "-O2", "-g", "-Werror", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(dir.join("use.o"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let first: Vec<&str> = err.lines().take(30).collect();
    assert!(out.status.success(), "clang failed:\n{}", first.join("\n"));
}

#[test]
fn kernel_header_compiles_with_exact_layouts() {
    if !kernel_btf() || !clang() {
        return;
    }
    let dir = TempDir::new("kernel");
    let c = oxbpf(&["btf", "dump"]);
    assert!(c.status.success());
    let text = String::from_utf8_lossy(&c.stdout);
    assert!(text.contains(
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"
    ));
    assert!(text.contains("struct task_struct {"));
    let j = oxbpf(&["btf", "dump", "--format", "json"]);
    assert!(j.status.success());
    let types = json_lines(&j.stdout);
    let body = format!(
        "int pid_of(struct task_struct *t) {{ return t->pid; }}\n{}",
        layout_asserts(&types)
    );
    compile(&dir.0, &c.stdout, &body);
}

#[test]
fn json_and_raw_cover_every_type() {
    if !kernel_btf() {
        return;
    }
    let raw = oxbpf(&["btf", "dump", "--format", "raw"]);
    assert!(raw.status.success());
    let sysfs = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    assert_eq!(raw.stdout, sysfs, "raw is the kernel's BTF unchanged");
    let btf = oxbpf::btf::Btf::parse(&sysfs).unwrap();
    let j = oxbpf(&["btf", "dump", "--format", "json"]);
    let types = json_lines(&j.stdout);
    assert_eq!(types.len() as u32, btf.types_len() - 1);
    for (i, t) in types.iter().enumerate() {
        assert_eq!(t["id"].as_u64(), Some(i as u64 + 1));
    }
    let ts = types
        .iter()
        .find(|t| t["kind"] == "STRUCT" && t["name"] == "task_struct")
        .unwrap();
    assert!(ts["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "pid"));
    // --file with a copy gives the same header as the default.
    let dir = TempDir::new("file");
    let f = dir.0.join("vmlinux.btf");
    std::fs::write(&f, &sysfs).unwrap();
    let a = oxbpf(&["btf", "dump", "--file", f.to_str().unwrap()]);
    let b = oxbpf(&["btf", "dump"]);
    assert!(a.status.success() && a.stdout == b.stdout);
}

/// Tricky C (bitfields, packed and aligned structs, anonymous members, enums of every
/// size, function-pointer typedef cycles) compiled to an object, its BTF dumped back to C,
/// recompiled, and every layout compared.
#[test]
fn object_btf_round_trips_through_c() {
    if !clang() {
        return;
    }
    let dir = TempDir::new("obj");
    let src = r#"
typedef unsigned long long u64;
typedef struct node node_t;
typedef int (*visit_fn)(node_t *n, void *arg);
struct node { node_t *next; visit_fn visit; struct { int a; union { char c; long l; }; } anon; };
struct bits { unsigned int a: 3; unsigned int b: 13; int c: 1; u64 d: 40; char e; };
struct packed { char c; int i; long l; } __attribute__((packed));
struct aligned { int x; int y __attribute__((aligned(64))); } __attribute__((aligned(128)));
struct holder { char c; struct packed p; struct aligned a; struct bits b[2]; };
enum small { S1 = 1, S2 = 2 } __attribute__((packed));
enum big { B1 = 0xffffffffffULL };
enum neg { N1 = -5, N2 = 7 };
struct enums { enum small s; enum big b; enum neg n; const volatile int cv; int *const cp; char name[3][4]; };
struct fns { int (*cb[2])(int, ...); void (*(*ret_fn)(int))(void); };
node_t n; struct holder h; struct enums e; struct fns f;
"#;
    let c = dir.0.join("in.c");
    std::fs::write(&c, src).unwrap();
    let obj = dir.0.join("in.o");
    let st = Command::new("clang-19")
        .args(["-target", "bpf", "-g", "-O2", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap();
    assert!(st.success());
    let h = oxbpf(&["btf", "dump", "--file", obj.to_str().unwrap()]);
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stderr));
    let j = oxbpf(&[
        "btf",
        "dump",
        "--file",
        obj.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let types = json_lines(&j.stdout);
    let asserts = layout_asserts(&types);
    for s in [
        "struct bits",
        "struct packed",
        "struct aligned",
        "struct holder",
        "struct enums",
        "struct fns",
    ] {
        assert!(asserts.contains(&format!("sizeof({s})")), "{s}");
    }
    let body = format!(
        "_Static_assert(sizeof(enum small) == 1, \"small\");\n\
         _Static_assert(sizeof(enum big) == 8, \"big\");\n\
         int walk(node_t *n) {{ return n->visit(n, 0) + n->anon.a; }}\n{asserts}"
    );
    compile(&dir.0, &h.stdout, &body);
}
