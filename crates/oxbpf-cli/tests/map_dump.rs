//! `oxbpf map dump|show` on real maps: the maps of `typed_values.bpf.o`, filled by its `fill`
//! program and pinned, dumped by `oxbpf map dump --json` and by `bpftool -j map dump` must
//! hold the same keys and values; the text form names every field; maps that cannot be
//! dumped, missing pins and pinned programs fail with clear errors.

mod common;

use common::{err, fx, oxbpf, require_root, stdout_json, BpffsDir};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::prog::TestRunOpts;
use serde_json::{Map as JsonMap, Value};
use std::process::Command;

/// The maps of `typed_values.bpf.o` after one run of `fill`, each pinned at `dir/NAME`, and
/// the program pinned at `dir/fill` (bpffs refuses dots in names: `.data` is at `dir/data`).
fn filled(dir: &BpffsDir) {
    std::fs::create_dir_all(&dir.0).unwrap();
    let raw = std::fs::read(fx("typed_values.bpf.o")).unwrap();
    let spec = oxbpf::elf::load_collection_spec(&raw).unwrap();
    let mut coll = Collection::load(&spec, &CollectionOptions::default()).unwrap();
    let ret = coll
        .program("fill")
        .unwrap()
        .test_run(&TestRunOpts::default());
    assert_eq!(ret.unwrap().retval, 0);
    for name in ["tasks", "per_cpu", "states", "empty", "events", ".data"] {
        let mut m = coll.take_map(name).unwrap();
        m.pin(dir.0.join(name.trim_start_matches('.'))).unwrap();
    }
    coll.take_program("fill")
        .unwrap()
        .pin(dir.0.join("fill"))
        .unwrap();
}

fn bpftool() -> bool {
    let ok = Command::new("bpftool").arg("version").output().is_ok();
    if !ok {
        if std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("test cannot run: bpftool not installed");
        }
        eprintln!("SKIPPED: bpftool not installed");
    }
    ok
}

/// bpftool's `formatted` value in oxbpf's conventions: bitfields (bpftool: `"0x..."`
/// strings) as numbers, anonymous struct/union members (bpftool: key `""`) merged into their
/// parent, a DATASEC (bpftool: `{".data": [{"var": v}, ...]}`) as one object of variables.
fn normalize(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("0x") => {
            Value::from(u64::from_str_radix(&s[2..], 16).expect("hex"))
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => {
            if o.len() == 1 {
                let (k, inner) = o.iter().next().unwrap();
                if k.starts_with('.') && inner.is_array() {
                    let mut merged = JsonMap::new();
                    for var in inner.as_array().unwrap() {
                        merged.extend(normalize(var).as_object().unwrap().clone());
                    }
                    return Value::Object(merged);
                }
            }
            let mut out = JsonMap::new();
            for (k, x) in o {
                match (k.as_str(), normalize(x)) {
                    ("", Value::Object(inner)) => out.extend(inner),
                    (_, n) => {
                        out.insert(k.clone(), n);
                    }
                }
            }
            Value::Object(out)
        }
        _ => v.clone(),
    }
}

/// A little-endian u32 from bpftool's raw bytes (`["0x01", "0x00", ...]`).
fn index(raw: &Value) -> u32 {
    let bytes: Vec<u8> = raw
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u8::from_str_radix(&b.as_str().unwrap()[2..], 16).unwrap())
        .collect();
    u32::from_le_bytes(bytes.try_into().unwrap())
}

/// `(key, value)` pairs of bpftool's dump (per-CPU: value = `[{"cpu", "value"}]`), sorted.
fn bpftool_entries(path: &str) -> Vec<(Value, Value)> {
    let o = Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned", path])
        .output()
        .unwrap();
    assert!(o.status.success(), "bpftool: {}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out: Vec<(Value, Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let f = &e["formatted"];
            let val = if f.get("values").is_some() {
                f["values"].clone()
            } else {
                f["value"].clone()
            };
            // No key type (global data): bpftool formats no key; it is the array index.
            let key = match f.get("key") {
                Some(k) => normalize(k),
                None => Value::from(index(&e["key"])),
            };
            (key, normalize(&val))
        })
        .collect();
    out.sort_by_key(|p| p.0.to_string());
    out
}

fn oxbpf_entries(v: &Value) -> Vec<(Value, Value)> {
    let mut out: Vec<(Value, Value)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e.get("error").is_none(), "{e}");
            let val = e.get("values").unwrap_or(&e["value"]).clone();
            (e["key"].clone(), val)
        })
        .collect();
    out.sort_by_key(|p| p.0.to_string());
    out
}

#[test]
fn json_dump_matches_bpftool() {
    if !require_root() || !bpftool() {
        return;
    }
    let dir = BpffsDir::new("oxbpf_mapdump_");
    filled(&dir);
    for name in ["tasks", "per_cpu", "states", "empty", "data"] {
        let path = format!("{}/{name}", dir.path());
        let o = oxbpf(&["--json", "map", "dump", "--pinned", &path]);
        assert!(o.status.success(), "{name}: {}", err(&o));
        let ours = oxbpf_entries(&stdout_json(&o));
        let theirs = bpftool_entries(&path);
        assert_eq!(ours, theirs, "{name}");
        let want = match name {
            "tasks" => 2,
            "states" => 4,
            "empty" => 0,
            _ => 1,
        };
        assert_eq!(ours.len(), want, "{name}: {ours:?}");
    }
    // Spot checks that the comparison compared typed values, not hex.
    let o = oxbpf(&[
        "--json",
        "map",
        "dump",
        "--pinned",
        &format!("{}/tasks", dir.path()),
    ]);
    let v = stdout_json(&o);
    let bash = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"]["comm"] == "bash")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(bash["key"]["pid"], 42);
    assert_eq!(bash["value"]["flags"]["code"], 0xabc);
    assert_eq!(bash["value"]["wide"], "W_HUGE");
    assert_eq!(v["map"]["key_type"], "task_key_t");
    assert_eq!(v["map"]["value_type"], "struct task_val");
}

#[test]
fn text_dump_names_every_field() {
    if !require_root() {
        return;
    }
    let dir = BpffsDir::new("oxbpf_mapdump_");
    filled(&dir);
    let o = oxbpf(&["map", "dump", "--pinned", &format!("{}/tasks", dir.path())]);
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    for want in [
        "hash  name tasks  key 20B  value 88B  max_entries 8",
        "key task_key_t  value struct task_val",
        "[{ .pid = 42, .comm = \"bash\" }] = {\n  .count = 1000,\n  .state = ST_RUN,\n",
        "  .flags = { .ro = 0x1, .level = 0x5, .code = 0xabc, .neg = 0xd },\n",
        "  .addr = { .v4 = 16777343, .bytes = { 127, 0, 0, 1 } },\n",
        "  .tag = \"ok\",\n  .raw = { 1, 2, -1, 0 },\n  .ptr = 0xdeadbeef,\n",
        "  .as_u32 = 131073,\n  .halves = { 1, 2 },\n",
        "  .chained = 77,\n  .wide = W_HUGE,\n  .tail = 0x11,\n}\n",
        "[{ .pid = 7, .comm = \"sshd\" }] = {\n  .count = 1,\n  .state = ST_DEAD,\n",
        "\n2 entries\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let o = oxbpf(&["map", "dump", "--pinned", &format!("{}/states", dir.path())]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("[0] = ST_RUN\n[1] = ST_DEAD\n[2] = 5\n[3] = ST_IDLE\n4 entries\n"),
        "{text}"
    );
    let o = oxbpf(&[
        "map",
        "dump",
        "--pinned",
        &format!("{}/per_cpu", dir.path()),
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("[0] =\n  cpu 0: { .packets = "), "{text}");
    assert!(text.contains(".packets = 3, .st = ST_RUN }"), "{text}");
    let o = oxbpf(&["map", "dump", "--pinned", &format!("{}/empty", dir.path())]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.ends_with("value struct task_key\n0 entries\n"),
        "{text}"
    );
    let o = oxbpf(&["map", "show", "--pinned", &format!("{}/data", dir.path())]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("key -  value section .data"), "{text}");
}

#[test]
fn object_and_id_targets() {
    if !require_root() {
        return;
    }
    // OBJ NAME: the object's maps as created, with their initial contents.
    let o = oxbpf(&["map", "dump", &fx("typed_values.bpf.o"), ".data"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("[0] = { .last = { .pid = 1, .comm = \"init\" } }\n1 entry\n"),
        "{text}"
    );
    // Without BTF, a map-in-map's values are the inner maps' ids.
    let o = oxbpf(&["map", "dump", &fx("maps.bpf.o"), "array_of_maps"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("\n[0] = { .map_id = "), "{text}");
    assert!(text.contains("\n[1] = { .map_id = "), "{text}");
    // --id: the same map as --pinned.
    let dir = BpffsDir::new("oxbpf_mapdump_");
    filled(&dir);
    let path = format!("{}/states", dir.path());
    let by_pin = stdout_json(&oxbpf(&["--json", "map", "dump", "--pinned", &path]));
    let id = by_pin["map"]["id"].as_u64().unwrap().to_string();
    let by_id = stdout_json(&oxbpf(&["--json", "map", "dump", "--id", &id]));
    assert_eq!(by_pin, by_id);
    let shown = stdout_json(&oxbpf(&["--json", "map", "show", "--id", &id]));
    assert_eq!(shown, by_pin["map"]);
    let all = stdout_json(&oxbpf(&["--json", "map", "show"]));
    assert!(all.as_array().unwrap().contains(&by_pin["map"]), "{all}");
}

#[test]
fn maps_that_cannot_be_dumped_and_bad_targets_fail_clearly() {
    if !require_root() {
        return;
    }
    let dir = BpffsDir::new("oxbpf_mapdump_");
    filled(&dir);
    let at = |name: &str| format!("{}/{name}", dir.path());
    let (events, missing, prog, obj) = (
        at("events"),
        at("missing"),
        at("fill"),
        fx("typed_values.bpf.o"),
    );
    let cases = [
        (
            vec!["map", "dump", "--pinned", &events],
            "map \"events\" (ringbuf) cannot be dumped: a ring buffer holds records to consume",
        ),
        (
            vec!["map", "dump", "--pinned", &missing],
            "no map pinned at",
        ),
        (
            vec!["map", "dump", "--pinned", &prog],
            "the object is a bpf-prog, not a map",
        ),
        (vec!["map", "dump", &obj, "nope"], "no map \"nope\" in"),
        (
            vec!["map", "dump"],
            "which map? give --pinned PATH, --id N or OBJ NAME",
        ),
    ];
    for (args, want) in cases {
        let o = oxbpf(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err(&o).contains(want), "{args:?}: {}", err(&o));
    }
}

#[test]
fn run_map_out_prints_typed_entries() {
    if !require_root() {
        return;
    }
    let obj = fx("typed_values.bpf.o");
    let args = [
        "run",
        &obj,
        "fill",
        "--map-out",
        "states",
        "--map-out",
        ".data",
    ];
    let o = oxbpf(&args);
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains(
            "map states:\n[0] = ST_RUN\n[1] = ST_DEAD\n[2] = 5\n[3] = ST_IDLE\n4 entries\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("map .data:\n[0] = { .last = { .pid = 7, .comm = \"sshd\" } }\n"),
        "{text}"
    );
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let v = stdout_json(&oxbpf(&json_args));
    assert_eq!(v["maps_typed"]["states"][1]["value"], "ST_DEAD", "{v}");
    assert_eq!(v["maps_typed"][".data"][0]["value"]["last"]["comm"], "sshd");
    // The raw hex stays where it was.
    assert_eq!(v["maps"]["states"]["01000000"], "feffffff", "{v}");
}

/// A map created without BTF prints as hex, keys and values; bpftool reads the same bytes.
#[test]
fn map_without_btf_prints_hex() {
    if !require_root() || !bpftool() {
        return;
    }
    let dir = BpffsDir::new("oxbpf_mapdump_");
    std::fs::create_dir_all(&dir.0).unwrap();
    let spec = oxbpf::spec::MapSpec {
        name: "plain".into(),
        map_type: oxbpf::spec::MapType::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        ..Default::default()
    };
    let mut m = oxbpf::map::Map::create(&spec, None, None).unwrap();
    m.update(
        &42u32.to_ne_bytes(),
        &0x0102_0304_0506_0708u64.to_ne_bytes(),
        0,
    )
    .unwrap();
    let path = format!("{}/plain", dir.path());
    m.pin(&path).unwrap();
    let o = oxbpf(&["map", "dump", "--pinned", &path]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("no BTF key/value types: printed as hex (indexes and ids as numbers)\n[2a 00 00 00] = 08 07 06 05 04 03 02 01\n1 entry\n"),
        "{text}"
    );
    let v = stdout_json(&oxbpf(&["--json", "map", "dump", "--pinned", &path]));
    assert_eq!(v["entries"][0]["key"], "2a 00 00 00", "{v}");
    let theirs = Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned", &path])
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let raw: Vec<String> = theirs[0]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap()[2..].to_string())
        .collect();
    assert_eq!(v["entries"][0]["value"], raw.join(" "));
}

/// A reader that stops early (`| head`) ends the dump quietly: the output (4096 entries, more
/// than a pipe holds) blocks on the full pipe until the reader closes it, then gets EPIPE.
#[test]
fn dump_into_a_closed_pipe_does_not_panic() {
    if !require_root() {
        return;
    }
    let dir = BpffsDir::new("oxbpf_mapdump_");
    std::fs::create_dir_all(&dir.0).unwrap();
    let spec = oxbpf::spec::MapSpec {
        name: "many".into(),
        map_type: oxbpf::spec::MapType::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 4096,
        ..Default::default()
    };
    let mut m = oxbpf::map::Map::create(&spec, None, None).unwrap();
    for i in 0u32..4096 {
        m.update(&i.to_ne_bytes(), &u64::from(i).to_ne_bytes(), 0)
            .unwrap();
    }
    let path = format!("{}/many", dir.path());
    m.pin(&path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(["map", "dump", "--pinned", &path])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 64];
    let mut stdout = child.stdout.take().unwrap();
    std::io::Read::read_exact(&mut stdout, &mut head).unwrap();
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("panicked"), "{}", err(&o));
    assert!(String::from_utf8_lossy(&head).contains("hash  name many"));
}
