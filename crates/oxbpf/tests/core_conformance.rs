//! Conformance with the kernel's own CO-RE selftests (tools/testing/selftests/bpf:
//! progs/test_core_reloc_*.c, progs/btf__core_reloc_*.c, prog_tests/core_reloc.c).
//!
//! At test time (never committed): `apt-get download linux-source-6.12` into
//! `target/core-conformance`, extract the selftest files, compile the BPF programs and the
//! target-BTF objects with clang-19, and compile the expectation table of core_reloc.c
//! (`test_cases[]`, its C initialisers evaluated by the host compiler against
//! core_reloc_types.h) into a small host program that prints each case. Each case is then
//! loaded with our CO-RE against its target BTF, run with BPF_PROG_RUN (raw_tp) and its
//! output bytes compared with the table; `fails` cases must fail to load. The table is what
//! libbpf's own CI checks libbpf against.

use oxbpf::btf::core::{self, CoreTarget};
use oxbpf::btf::{Btf, Kind, Type};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::Map;
use oxbpf::prog::TestRunOpts;
use oxbpf::spec::{CollectionSpec, MapSpec, MapType};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const PKG: &str = "linux-source-6.12";
const SELFTESTS: &str = "tools/testing/selftests/bpf";

fn required() -> bool {
    std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1")
}

fn skip(reason: &str) {
    if required() {
        panic!("core conformance cannot run: {reason}");
    }
    eprintln!("SKIPPED: core conformance: {reason}");
}

fn kernel_reason() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    let spec = MapSpec {
        name: "probe".into(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    Map::create(&spec, None, None).err().map(|e| e.to_string())
}

fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("core-conformance")
}

/// Downloads and extracts the selftest sources once; returns the selftests directory.
fn sources(cache: &Path) -> Result<PathBuf, String> {
    let root = cache.join(format!("{PKG}/{SELFTESTS}"));
    if root.join("prog_tests/core_reloc.c").exists() {
        return Ok(root);
    }
    std::fs::create_dir_all(cache).map_err(|e| e.to_string())?;
    let deb = std::fs::read_dir(cache)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"));
    let deb = match deb {
        Some(d) => d,
        None => {
            run(Command::new("apt-get")
                .arg("download")
                .arg(PKG)
                .current_dir(cache))?;
            std::fs::read_dir(cache)
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
                .ok_or("apt-get download produced no .deb")?
        }
    };
    let tarball = cache.join("src.tar.xz");
    let tar = run(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -xO ./usr/src/{PKG}.tar.xz > '{}'",
        deb.display(),
        tarball.display()
    )))
    .map(|_| ());
    tar?;
    run(Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("--wildcards")
        .arg(format!("{PKG}/{SELFTESTS}/progs/*core_reloc*"))
        .arg(format!("{PKG}/{SELFTESTS}/prog_tests/core_reloc.c"))
        .current_dir(cache))?;
    let _ = std::fs::remove_file(&tarball);
    Ok(root)
}

/// Compiles every selftest BPF source (once) into `<cache>/obj`.
fn build_objects(cache: &Path, root: &Path) -> Result<PathBuf, String> {
    let obj = cache.join("obj");
    std::fs::create_dir_all(&obj).map_err(|e| e.to_string())?;
    let progs = root.join("progs");
    let vmlinux_h = obj.join("vmlinux.h");
    if !vmlinux_h.exists() {
        let h = run(Command::new("bpftool").args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ]))?;
        std::fs::write(&vmlinux_h, h).map_err(|e| e.to_string())?;
    }
    for e in std::fs::read_dir(&progs)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".c") else {
            continue;
        };
        if !(stem.starts_with("test_core_reloc_") || stem.starts_with("btf__core_reloc_")) {
            continue;
        }
        let out = obj.join(format!("{stem}.bpf.o"));
        if out.exists() {
            continue;
        }
        let r = run(Command::new("clang-19")
            .args([
                "-g",
                "-O2",
                "-target",
                "bpf",
                "-mcpu=v3",
                "-D__TARGET_ARCH_x86",
            ])
            .arg("-I.")
            .arg(format!("-I{}", obj.display()))
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-c")
            .arg(&name)
            .arg("-o")
            .arg(&out)
            .current_dir(&progs));
        if let Err(e) = r {
            eprintln!("core conformance: cannot build {name}: {e}");
        }
    }
    Ok(obj)
}

/// One row of core_reloc.c's `test_cases[]`.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    obj: String,
    btf: Option<String>,
    prog: String,
    fails: bool,
    testmod: bool,
    /// 0 none, 1 type-id success, 2 type-id failure.
    setup: u32,
    input: Vec<u8>,
    output: Vec<u8>,
}

const TYPE_ID_FIELDS: &[&str] = &[
    "local_anon_struct",
    "local_anon_union",
    "local_anon_enum",
    "local_anon_func_proto_ptr",
    "local_anon_void_ptr",
    "local_anon_arr",
    "local_struct",
    "local_union",
    "local_enum",
    "local_int",
    "local_struct_typedef",
    "local_func_proto_typedef",
    "local_arr_typedef",
    "targ_struct",
    "targ_union",
    "targ_enum",
    "targ_int",
    "targ_struct_typedef",
    "targ_func_proto_typedef",
    "targ_arr_typedef",
];

/// Builds and runs a host program made of core_reloc.c's macros, case struct and table.
/// Offsets of `struct core_reloc_type_id_output` fields by name.
type Fields = Vec<(String, usize)>;

fn expectations(cache: &Path, root: &Path) -> Result<(Vec<Case>, Fields), String> {
    let src =
        std::fs::read_to_string(root.join("prog_tests/core_reloc.c")).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = src.lines().collect();
    let find = |from: usize, pred: &dyn Fn(&str) -> bool| {
        (from..lines.len())
            .find(|&i| pred(lines[i]))
            .ok_or("core_reloc.c layout not recognised")
    };
    let a = find(0, &|l| l.starts_with("#define STRUCT_TO_CHAR_PTR"))?;
    let b = find(a, &|l| l.starts_with("struct core_reloc_test_case {"))?;
    let b_end = find(b, &|l| l.starts_with("};"))?;
    let c = find(b_end, &|l| {
        l.contains("core_reloc_test_case test_cases[] = {")
    })?;
    let c_end = find(c, &|l| l.starts_with("};"))?;
    let mut prog = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n\
         #include <string.h>\n#include \"core_reloc_types.h\"\n\
         struct bpf_testmod_test_read_ctx { char *buf; long long off; size_t len; };\n",
    );
    prog += &lines[a..=b_end].join("\n");
    prog += "\nstatic int setup_type_id_case_success(struct core_reloc_test_case *t) { return 0; }\n\
             static int setup_type_id_case_failure(struct core_reloc_test_case *t) { return 0; }\n\
             static int __trigger_module_test_read(const struct core_reloc_test_case *t) { return 0; }\n";
    prog += &lines[c..=c_end].join("\n");
    prog += "\nstatic void hex(const char *p, int n) { for (int i = 0; i < n; i++) printf(\"%02x\", (unsigned char)p[i]); printf(\"\\t-\"); }\n\
             int main(void) {\n\
             for (size_t i = 0; i < sizeof(test_cases) / sizeof(test_cases[0]); i++) {\n\
             const struct core_reloc_test_case *t = &test_cases[i];\n\
             printf(\"%s\\t%s\\t%s\\t%s\\t%d\\t%d\\t%d\\t\", t->case_name, t->bpf_obj_file, t->btf_src_file ? t->btf_src_file : \"-\", t->prog_name, t->fails, t->needs_testmod,\n\
             t->setup == setup_type_id_case_success ? 1 : t->setup == setup_type_id_case_failure ? 2 : 0);\n\
             hex(t->input, t->input_len); printf(\"\\t\"); hex(t->output, t->output_len); printf(\"\\n\"); }\n";
    for f in TYPE_ID_FIELDS {
        prog += &format!(
            "printf(\"field\\t{f}\\t%zu\\n\", offsetof(struct core_reloc_type_id_output, {f}));\n"
        );
    }
    prog += "return 0; }\n";
    let c_path = cache.join("expect.c");
    let bin = cache.join("expect");
    std::fs::write(&c_path, prog).map_err(|e| e.to_string())?;
    run(Command::new("clang-19")
        .arg("-w")
        .arg(format!("-I{}", root.join("progs").display()))
        .arg(&c_path)
        .arg("-o")
        .arg(&bin))?;
    let out = run(&mut Command::new(&bin))?;
    let text = String::from_utf8_lossy(&out);
    let mut cases = Vec::new();
    let mut fields = Vec::new();
    for l in text.lines() {
        let p: Vec<&str> = l.split('\t').collect();
        if p[0] == "field" {
            fields.push((p[1].to_string(), p[2].parse().map_err(|_| "bad offset")?));
            continue;
        }
        if p.len() < 11 {
            return Err(format!("bad table line {l:?}"));
        }
        let unhex = |s: &str| -> Vec<u8> {
            (0..s.len() / 2)
                .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect()
        };
        cases.push(Case {
            name: p[0].into(),
            obj: p[1].into(),
            btf: (p[2] != "-").then(|| p[2].to_string()),
            prog: p[3].into(),
            fails: p[4] == "1",
            testmod: p[5] == "1",
            setup: p[6].parse().unwrap_or(0),
            input: unhex(p[7]),
            output: unhex(p[9]),
        });
    }
    Ok((cases, fields))
}

/// Fills the expected type ids like core_reloc.c's setup functions do.
fn type_id_expectation(
    case: &mut Case,
    fields: &[(String, usize)],
    local: &Btf,
    targ: &Btf,
) -> Result<(), String> {
    let mut set = |name: &str, v: i32| {
        if let Some((_, off)) = fields.iter().find(|(f, _)| f == name) {
            if case.output.len() >= off + 4 {
                case.output[*off..off + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    };
    for f in &TYPE_ID_FIELDS[..6] {
        set(f, -1);
    }
    let first_member = |t: &Type| -> String {
        t.as_composite()
            .and_then(|c| c.members().next())
            .map(|m| m.name.to_string())
            .unwrap_or_default()
    };
    for (id, t) in local.iter() {
        if !t.name().is_empty() || local.name_off(id).unwrap_or(1) != 0 {
            continue;
        }
        let id = id as i32;
        match t {
            Type::Struct(_) if first_member(&t) == "marker_field" => set("local_anon_struct", id),
            Type::Union(_) if first_member(&t) == "marker_field" => set("local_anon_union", id),
            Type::Enum(e)
                if e.values()
                    .next()
                    .is_some_and(|v| v.name == "MARKER_ENUM_VAL") =>
            {
                set("local_anon_enum", id)
            }
            Type::Ptr(p) => match local.type_by_id(p.type_id) {
                Ok(Type::FuncProto(fp))
                    if local
                        .type_by_id(fp.ret)
                        .map(|r| r.name() == "_Bool")
                        .unwrap_or(false)
                        && matches!(local.type_by_id(fp.ret), Ok(Type::Int(_))) =>
                {
                    set("local_anon_func_proto_ptr", id)
                }
                Ok(Type::Void) => set("local_anon_void_ptr", id),
                _ => {}
            },
            Type::Array(a) => {
                if matches!(local.type_by_id(a.elem_type), Ok(Type::Int(i)) if i.name == "_Bool") {
                    set("local_anon_arr", id)
                }
            }
            _ => {}
        }
    }
    let named: [(&str, &str, Kind); 7] = [
        ("struct", "a_struct", Kind::Struct),
        ("union", "a_union", Kind::Union),
        ("enum", "an_enum", Kind::Enum),
        ("int", "int", Kind::Int),
        ("struct_typedef", "named_struct_typedef", Kind::Typedef),
        ("func_proto_typedef", "func_proto_typedef", Kind::Typedef),
        ("arr_typedef", "arr_typedef", Kind::Typedef),
    ];
    for (field, name, kind) in named {
        let l = local
            .find_by_name_kind(name, kind)
            .ok_or(format!("local BTF lacks {name}"))?;
        set(&format!("local_{field}"), l as i32);
        let t = if case.setup == 1 {
            targ.find_by_name_kind(name, kind)
                .ok_or(format!("target BTF lacks {name}"))? as i32
        } else {
            0
        };
        set(&format!("targ_{field}"), t);
    }
    Ok(())
}

enum Verdict {
    Pass,
    Skip(String),
    Fail(String),
}

/// Runs the case's program like the selftest harness, whose main thread triggers it: in a
/// forked single-threaded child (so tid == tgid) named `test_progs`, the child writes the
/// input and `my_pid_tgid` into `.bss` and runs the program (BPF_PROG_RUN for raw_tp; for
/// tp_btf, which has no test run, attach to sys_enter and make a syscall).
fn trigger_in_child(
    bss: &Map,
    prog: &oxbpf::prog::Program,
    input: &[u8],
    tp_btf: bool,
) -> Result<(), String> {
    let size = bss.value_size() as usize;
    let mut data = vec![0u8; size];
    let n = input.len().min(256).min(size);
    data[..n].copy_from_slice(&input[..n]);
    let link = if tp_btf {
        Some(oxbpf::sys::raw_tracepoint_open(None, prog.fd()).map_err(|e| format!("attach: {e}"))?)
    } else {
        None
    };
    // SAFETY: the child only makes syscalls on inherited fds and exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        let code = unsafe {
            libc::prctl(libc::PR_SET_NAME, c"test_progs".as_ptr());
            let pt = ((libc::getpid() as u64) << 32) | libc::gettid() as u64;
            if size >= 528 {
                data[520..528].copy_from_slice(&pt.to_ne_bytes());
            }
            let ok = bss.update(&0u32.to_ne_bytes(), &data, 0).is_ok()
                && if tp_btf {
                    libc::usleep(1);
                    true
                } else {
                    prog.test_run(&TestRunOpts::default()).is_ok()
                };
            if ok {
                0
            } else {
                1
            }
        };
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    drop(link);
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("child run failed (status {status:#x})"));
    }
    Ok(())
}

fn run_case(case: &Case, obj: &Path, fields: &[(String, usize)], vmlinux: &Arc<Btf>) -> Verdict {
    if case.testmod {
        return Verdict::Skip("needs bpf_testmod (no loadable modules here)".into());
    }
    let mut case = case.clone();
    let mut spec: CollectionSpec =
        match oxbpf::elf::load_collection_spec_from_file(obj.join(&case.obj)) {
            Ok(s) => s,
            Err(e) => return Verdict::Fail(format!("parse {}: {e}", case.obj)),
        };
    let target: Arc<Btf> = match &case.btf {
        None => vmlinux.clone(),
        Some(f) => match oxbpf::elf::load_collection_spec_from_file(obj.join(f))
            .ok()
            .and_then(|s| s.btf)
        {
            Some(b) => b,
            None => return Verdict::Fail(format!("no BTF in {f}")),
        },
    };
    let local = spec.btf.clone().expect("selftest objects have BTF");
    if case.setup != 0 {
        if let Err(e) = type_id_expectation(&mut case, fields, &local, &target) {
            return Verdict::Fail(format!("type id setup: {e}"));
        }
    }
    // Like bpf_object__load: every program of the object is relocated and loaded.
    let btfs = [target];
    let mut err = None;
    for p in spec.programs.values_mut() {
        if let Err(e) = core::relocate(
            &p.name,
            &p.core_relos,
            &mut p.instructions,
            &local,
            &CoreTarget { btfs: &btfs },
        ) {
            err = Some(e.to_string());
            break;
        }
        p.core_relos.clear();
    }
    let coll = match err {
        Some(e) => Err(e),
        None => Collection::load(&spec, &CollectionOptions::default()).map_err(|e| e.to_string()),
    };
    let coll = match (coll, case.fails) {
        // Must fail because of CO-RE: a relocation error or a reachable poisoned instruction.
        (Err(e), true) if e.contains("CO-RE") || e.contains("unknown#195896080") => {
            return Verdict::Pass
        }
        (Err(e), true) => return Verdict::Fail(format!("failed, but not because of CO-RE: {e}")),
        (Ok(_), true) => {
            return Verdict::Fail("loaded, but libbpf's table says it must fail".into())
        }
        (Err(e), false) => return Verdict::Fail(format!("load failed: {e}")),
        (Ok(c), false) => c,
    };
    let Some(bss) = coll.map(".bss") else {
        return Verdict::Fail("no .bss map".into());
    };
    let key = 0u32.to_ne_bytes();
    let Ok(prog) = coll.program(&case.prog) else {
        return Verdict::Fail(format!("no program {}", case.prog));
    };
    let tp_btf = spec.programs[&case.prog].section.starts_with("tp_btf/");
    if let Err(e) = trigger_in_child(bss, prog, &case.input, tp_btf) {
        return Verdict::Fail(e);
    }
    let data = match bss.lookup(&key) {
        Ok(Some(d)) => d,
        r => return Verdict::Fail(format!("read .bss: {r:?}")),
    };
    if data.len() > 512 && data[512] != 0 {
        return Verdict::Skip("program reported skip".into());
    }
    let out = &data[256..256 + case.output.len()];
    if out == case.output.as_slice() {
        Verdict::Pass
    } else {
        let diffs: Vec<String> = out
            .iter()
            .zip(&case.output)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(8)
            .map(|(i, (a, b))| format!("byte {i}: got {a:#04x} want {b:#04x}"))
            .collect();
        Verdict::Fail(format!("output differs: {}", diffs.join(", ")))
    }
}

#[test]
fn kernel_core_reloc_selftests() {
    if let Some(r) = kernel_reason() {
        return skip(&format!("kernel test needs BPF privileges: {r}"));
    }
    let cache = cache_dir();
    let root = match sources(&cache) {
        Ok(r) => r,
        Err(e) => return skip(&format!("{PKG} unavailable: {e}")),
    };
    let obj = build_objects(&cache, &root).unwrap();
    let (cases, fields) = expectations(&cache, &root).unwrap();
    assert!(cases.len() > 50, "only {} cases parsed", cases.len());
    let vmlinux = oxbpf::btf::kernel::vmlinux().unwrap();
    let (mut passed, mut skipped, mut failed) = (0, Vec::new(), Vec::new());
    for c in &cases {
        match run_case(c, &obj, &fields, &vmlinux) {
            Verdict::Pass => passed += 1,
            Verdict::Skip(r) => skipped.push(format!("{}: {r}", c.name)),
            Verdict::Fail(r) => failed.push(format!("{}: {r}", c.name)),
        }
    }
    let ran = cases.len() - skipped.len();
    println!(
        "core conformance: {passed}/{ran} passed ({} skipped of {} cases)",
        skipped.len(),
        cases.len()
    );
    for s in &skipped {
        println!("  skipped {s}");
    }
    for f in &failed {
        println!("  FAILED {f}");
    }
    assert!(
        failed.is_empty(),
        "{} core conformance case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
