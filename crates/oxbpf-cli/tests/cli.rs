//! The built `oxbpf` binary on the committed fixtures: `inspect`, `load`, `run`, and errors,
//! in text and JSON. Commands that need the kernel skip loudly when not privileged.

use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../oxbpf/testdata")
        .join(rel)
}

fn oxbpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("run oxbpf")
}

fn fx(rel: &str) -> String {
    fixture(rel).to_str().expect("utf-8 path").to_string()
}

/// Runs `oxbpf --json ARGS`, returning (success, parsed stdout).
fn json(args: &[&str]) -> (bool, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = oxbpf(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "oxbpf {args:?}: stdout is not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}

/// True when kernel tests can run; a loud skip otherwise (a failure with OXBPF_REQUIRE_KERNEL=1).
fn require_kernel() -> bool {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    let reason = if uid != 0 {
        Some("not root".to_string())
    } else {
        let out = oxbpf(&["load", &fx("xdp.bpf.o")]);
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    };
    match reason {
        None => true,
        Some(r) => {
            if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("kernel test cannot run: {r}");
            }
            eprintln!("SKIPPED: kernel test needs BPF privileges: {r}");
            false
        }
    }
}

/// A scratch file or bpffs directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(base: &str, prefix: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Scratch(PathBuf::from(base).join(format!("{prefix}{}_{n}", std::process::id())))
    }
    fn file(prefix: &str, bytes: &[u8]) -> Scratch {
        let s = Scratch::new(env!("CARGO_TARGET_TMPDIR"), prefix);
        std::fs::write(&s.0, bytes).expect("write scratch file");
        s
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
    }
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} is not an array: {v}"))
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_string())
        .collect()
}

fn find<'a>(v: &'a Value, list: &str, name: &str) -> &'a Value {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}: {v}"))
}

#[test]
fn inspect_json_lists_programs_maps_variables_and_externs() {
    let (ok, v) = json(&["inspect", &fx("calls.bpf.o")]);
    assert!(ok);
    assert_eq!(v["license"], "Dual MIT/GPL");
    assert_eq!(v["btf"], true);
    assert_eq!(names(&v, "programs"), ["calls_entry", "tail_a", "tail_b"]);
    let entry = find(&v, "programs", "calls_entry");
    assert_eq!(entry["section"], "xdp");
    assert_eq!(entry["type"], "xdp");
    assert!(entry["instructions"].as_u64().unwrap() > 20);
    assert!(entry["relocations"]["map"].as_u64().unwrap() >= 2);
    assert!(
        entry["func_info"].as_u64().unwrap() >= 5,
        "entry + subprograms"
    );
    assert!(entry["line_info"].as_u64().unwrap() > 0);
    let jt = find(&v, "maps", "jmp_table");
    assert_eq!(
        (&jt["type"], &jt["max_entries"], &jt["key_size"]),
        (&Value::from("prog_array"), &Value::from(4), &Value::from(4))
    );

    let (_, v) = json(&["inspect", &fx("global_data.bpf.o")]);
    let maps = names(&v, "maps");
    for m in [".bss", ".data", ".data.foo", ".rodata", ".rodata.bar"] {
        assert!(maps.iter().any(|n| n == m), "{m} in {maps:?}");
    }
    let mult = find(&v, "variables", "cfg_mult");
    assert_eq!(
        (&mult["map"], &mult["size"]),
        (&".rodata".into(), &8.into())
    );
    assert_eq!(find(&v, "variables", "foo_val")["map"], ".data.foo");
    assert_eq!(find(&v, "maps", ".rodata")["source"], "data");

    let (_, v) = json(&["inspect", &fx("elf/externs.bpf.o")]);
    let ext = |n: &str| find(&v, "externs", n).clone();
    assert_eq!(ext("bpf_task_acquire")["kind"], "kfunc");
    assert_eq!(ext("bpf_not_a_real_kfunc")["weak"], true);
    assert_eq!(ext("bpf_prog_active")["kind"], "ksym");
    assert_eq!(ext("CONFIG_HZ")["kind"], "kconfig");

    let (_, v) = json(&["inspect", &fx("maps.bpf.o")]);
    let aom = find(&v, "maps", "array_of_maps");
    assert_eq!(aom["inner"]["type"], "array");
    let (_, v) = json(&["inspect", &fx("elf/maps.bpf.o")]);
    assert_eq!(find(&v, "maps", "hash_map")["pinning"], "by_name");
}

#[test]
fn inspect_text_has_tables() {
    let out = oxbpf(&["inspect", &fx("xdp.bpf.o")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "programs (3):",
        "xdp_tx_swap",
        "maps (2):",
        "pkt_count",
        "percpu_array",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
}

#[test]
fn errors_exit_non_zero_with_a_clear_message() {
    let not_elf = Scratch::file("notelf", b"this is not an ELF object\n");
    let missing = format!("{}/does-not-exist.bpf.o", env!("CARGO_TARGET_TMPDIR"));
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["inspect", &missing], "does-not-exist.bpf.o"),
        (vec!["inspect", not_elf.path()], "ELF"),
        (vec!["load", not_elf.path()], "ELF"),
        (
            vec!["run", &missing, "xdp_drop"],
            "No such file or directory",
        ),
    ];
    for (args, want) in &cases {
        let out = oxbpf(args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: errors go to stderr");
        let (ok, v) = json(args);
        assert!(!ok);
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(msg.contains(want), "{args:?}: {msg}");
    }
    // Unknown program: refused before touching the kernel.
    let (ok, v) = json(&["run", &fx("xdp.bpf.o"), "no_such_prog"]);
    assert!(!ok);
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("no_such_prog") && msg.contains("oxbpf inspect"),
        "{msg}"
    );
    let out = oxbpf(&["run", &fx("xdp.bpf.o"), "no_such_prog"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no program \"no_such_prog\""));
}

#[test]
fn load_json_reports_each_program_and_exits_non_zero_on_failure() {
    if !require_kernel() {
        return;
    }
    let (ok, v) = json(&["load", &fx("xdp.bpf.o")]);
    assert!(ok, "{v}");
    assert_eq!(
        names(&v, "programs"),
        ["xdp_drop", "xdp_pass", "xdp_tx_swap"]
    );
    for p in v["programs"].as_array().unwrap() {
        assert_eq!(p["loaded"], true, "{p}");
        assert!(p["id"].as_u64().unwrap() > 0);
        assert!(p.get("error").is_none());
    }
    assert_eq!(names(&v, "maps"), ["pkt_count", "swapped"]);
    let pc = find(&v, "maps", "pkt_count");
    assert_eq!(
        (&pc["type"], &pc["max_entries"], &pc["value_size"]),
        (&"percpu_array".into(), &2.into(), &8.into())
    );
    assert!(pc["id"].as_u64().unwrap() > 0);

    // tracing.bpf.o: tp_btf loads; fentry/fexit may be refused (lockdown) and then fail the command.
    let (ok, v) = json(&["load", &fx("tracing.bpf.o")]);
    let progs = v["programs"].as_array().unwrap();
    assert_eq!(find(&v, "programs", "trace_sched_switch")["loaded"], true);
    let failed: Vec<&Value> = progs.iter().filter(|p| p["loaded"] == false).collect();
    assert_eq!(ok, failed.is_empty(), "exit status follows failures: {v}");
    for p in &failed {
        let err = p["error"].as_str().unwrap();
        assert!(p.get("id").is_none());
        assert!(
            err.contains("errno 1") && err.contains("lockdown"),
            "{}: {err}",
            p["name"]
        );
    }
    if failed.is_empty() {
        eprintln!("tracing.bpf.o loaded fully here (no lockdown)");
    }
    // A verifier failure always fails the command, with the reason in text mode too.
    let (ok, v) = json(&["load", &fx("bad.bpf.o")]);
    assert!(!ok);
    assert_eq!(find(&v, "programs", "good_neighbour")["loaded"], true);
    let bad = find(&v, "programs", "bad_oob");
    assert_eq!(bad["loaded"], false);
    assert!(bad["error"]
        .as_str()
        .unwrap()
        .contains("invalid access to map value"));
    let out = oxbpf(&["load", &fx("bad.bpf.o")]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad_oob") && text.contains("FAILED") && text.contains("bad.bpf.c:"),
        "{text}"
    );
}

#[test]
fn load_pin_pins_programs_and_maps() {
    if !require_kernel() {
        return;
    }
    let dir = Scratch::new("/sys/fs/bpf", "oxcli");
    let (ok, v) = json(&["load", "--pin", dir.path(), &fx("global_data.bpf.o")]);
    assert!(ok, "{v}");
    let mut pinned: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pinned.sort();
    assert_eq!(
        pinned,
        [
            "bss",
            "data",
            "data_foo",
            "global_data",
            "rodata",
            "rodata_bar"
        ],
        "bpffs names have no dots"
    );
    // The pins keep the objects alive after the command exited, under the reported ids.
    let id = find(&v, "programs", "global_data")["id"].as_u64().unwrap();
    let show = Command::new("bpftool")
        .args([
            "prog",
            "show",
            "pinned",
            &format!("{}/global_data", dir.path()),
        ])
        .output();
    match show {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.starts_with(&format!("{id}: ")), "{text}");
        }
        _ => eprintln!("bpftool unavailable: not cross-checking the pinned program id"),
    }
}

/// `.rodata` image of global_data.bpf.o with the given cfg_* values, laid out from `inspect`.
fn rodata_hex(mult: u64, add: u64, ret: u32) -> String {
    let (_, v) = json(&["inspect", &fx("global_data.bpf.o")]);
    let size = find(&v, "maps", ".rodata")["value_size"].as_u64().unwrap() as usize;
    let mut img = vec![0u8; size];
    let mut put = |var: &str, bytes: &[u8]| {
        let off = find(&v, "variables", var)["offset"].as_u64().unwrap() as usize;
        img[off..off + bytes.len()].copy_from_slice(bytes);
    };
    put("cfg_mult", &mult.to_ne_bytes());
    put("cfg_add", &add.to_ne_bytes());
    put("cfg_ret", &ret.to_ne_bytes());
    put("cfg_name", b"cli\0\0\0\0\0");
    img.chunks(8)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn u64_at(hex: &str, off: usize) -> u64 {
    let bytes: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&hex[(off + i) * 2..(off + i) * 2 + 2], 16).unwrap())
        .collect();
    u64::from_ne_bytes(bytes.try_into().unwrap())
}

#[test]
fn run_json_xdp_and_global_data() {
    if !require_kernel() {
        return;
    }
    let mut frame = vec![0u8; 64];
    frame[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    let data = Scratch::file("frame", &frame);
    let xdp = fx("xdp.bpf.o");

    let (ok, v) = json(&["run", &xdp, "xdp_drop", "--data", data.path()]);
    assert!(ok, "{v}");
    assert_eq!(v["retval"], 1, "XDP_DROP");

    let (ok, v) = json(&[
        "run",
        &xdp,
        "xdp_tx_swap",
        "--data",
        data.path(),
        "--map-out",
        "swapped",
    ]);
    assert!(ok, "{v}");
    assert_eq!(v["retval"], 3, "XDP_TX");
    let out = v["data_out_hex"].as_str().unwrap();
    assert_eq!(
        &out[0..12],
        "020000000002",
        "destination MAC is the old source"
    );
    assert_eq!(
        &out[12..24],
        "020000000001",
        "source MAC is the old destination"
    );
    assert_eq!(out.len(), frame.len() * 2);
    assert_eq!(v["maps"]["swapped"], format!("{:016x}", 1u64.swap_bytes()));

    let (ok, v) = json(&[
        "run",
        &xdp,
        "xdp_pass",
        "--data",
        data.path(),
        "--repeat",
        "100",
    ]);
    assert!(ok, "{v}");
    assert_eq!(v["retval"], 2);
    assert!(v["duration_ns"].as_u64().unwrap() > 0, "{v}");

    // Without --data a packet program cannot run: the error says what to pass.
    let (ok, v) = json(&["run", &xdp, "xdp_drop"]);
    assert!(!ok);
    assert!(v["error"].as_str().unwrap().contains("--data"), "{v}");

    // global_data: defaults, then .rodata replaced before load through --map-in.
    let gd = fx("global_data.bpf.o");
    let (_, insp) = json(&["inspect", &gd]);
    let result_off = find(&insp, "variables", "result")["offset"]
        .as_u64()
        .unwrap() as usize;
    let (ok, v) = json(&["run", &gd, "global_data", "--map-out", ".bss"]);
    assert!(ok, "{v}");
    assert_eq!(v["retval"], 0);
    assert_eq!(u64_at(v["maps"][".bss"].as_str().unwrap(), result_off), 31);

    let hex = Scratch::file("rodata", rodata_hex(3, 100, 7).as_bytes());
    let map_in = format!(".rodata={}", hex.path());
    let (ok, v) = json(&[
        "run",
        &gd,
        "global_data",
        "--map-in",
        &map_in,
        "--map-out",
        ".bss",
    ]);
    assert!(ok, "{v}");
    assert_eq!(v["retval"], 7, "cfg_ret from --map-in");
    assert_eq!(
        u64_at(v["maps"][".bss"].as_str().unwrap(), result_off),
        7 * 3 + 100 + 11 + 13
    );
    // Text mode prints the same.
    let out = oxbpf(&["run", &gd, "global_data", "--map-in", &map_in]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("retval: 7"));

    // A wrong-sized image is refused with both sizes.
    let short = Scratch::file("short", b"00 11 22");
    let (ok, v) = json(&[
        "run",
        &gd,
        "global_data",
        "--map-in",
        &format!(".rodata={}", short.path()),
    ]);
    assert!(!ok);
    assert!(v["error"].as_str().unwrap().contains("file has 3"), "{v}");
}

#[test]
fn load_dev_bound_binds_xdp_programs_to_a_device() {
    if !require_kernel() {
        return;
    }
    let obj = fx("links/xdp_meta.bpf.o");
    // Without binding, the verifier refuses the metadata kfunc and the hint names the flag.
    let (ok, v) = json(&["load", &obj]);
    assert!(!ok);
    let err = find(&v, "programs", "meta_hash")["error"].as_str().unwrap();
    assert!(err.contains("--dev-bound PROG@IFACE"), "{err}");
    let ns = format!("oxcli{}", std::process::id());
    let ip = |args: &[&str]| {
        let st = Command::new("ip").args(args).status().expect("run ip");
        assert!(st.success(), "ip {args:?}");
    };
    ip(&["netns", "add", &ns]);
    ip(&[
        "-n", &ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            env!("CARGO_BIN_EXE_oxbpf"),
            "--json",
            "load",
        ])
        .args([&obj, "--dev-bound", "meta_hash@v0"])
        .output()
        .expect("run oxbpf in netns");
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(out.status.success(), "{v}");
    assert_eq!(find(&v, "programs", "meta_hash")["loaded"], true, "{v}");
    let bad = oxbpf(&["load", &obj, "--dev-bound", "meta_hash"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("PROG@IFACE"));
}
