//! `oxbpf attach/detach xdp` across network namespaces that share one bpffs (`nsenter --net`):
//! detach touches only this namespace's attachment and leaves no pin, link or program behind;
//! pins in the way get a clear error (issue 16: 3, and the `attach xdp` part of 10).

mod common;

use common::{err, fx, require_root, BpffsDir, Netns};
use oxbpf::sys::{self, ObjKind};
use serde_json::Value;
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests run one at a time: they share /run/oxbpf's pin records, whose keys (netns inode,
/// ifindex) repeat when one test's deleted namespace inode is reused by another's new one.
static SERIAL: Mutex<()> = Mutex::new(());

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", err(out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `oxbpf attach xdp xdp.bpf.o xdp_pass --iface v0 EXTRA --json` in `ns`.
fn attach(ns: &Netns, extra: &[&str]) -> Output {
    attach_text(ns, &[extra, &["--json"]].concat())
}

/// The same, reporting in text (errors on stderr).
fn attach_text(ns: &Netns, extra: &[&str]) -> Output {
    let obj = fx("xdp.bpf.o");
    let mut args = vec!["attach", "xdp", &obj, "xdp_pass", "--iface", "v0"];
    args.extend_from_slice(extra);
    ns.oxbpf(&args)
}

/// The program id attached to v0 in `ns`, if any.
fn shown(ns: &Netns) -> Option<u64> {
    let v = json(&ns.oxbpf(&["--json", "show", "xdp", "--iface", "v0"]));
    v["programs"]
        .as_array()
        .unwrap()
        .first()
        .map(|p| p["id"].as_u64().unwrap())
}

/// True once program `id` is freed (the kernel frees it shortly after its last reference).
fn prog_freed(id: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if sys::get_fd_by_id(ObjKind::Prog, id as u32).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn detach_in_one_namespace_leaves_the_others_attachment_and_removes_its_own_pin() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_root() {
        return;
    }
    let (a, b) = (Netns::new("oxatA"), Netns::new("oxatB"));
    let custom = BpffsDir::new("oxatpin");
    let va = json(&attach(&a, &[]));
    let vb = json(&attach(&b, &["--pin", custom.path()]));
    assert_eq!(
        va["ifindex"], vb["ifindex"],
        "same interface index in both namespaces"
    );
    if va["path"] != "link" {
        eprintln!("SKIPPED: the kernel attached via netlink (no XDP links): no pins to check");
        return;
    }
    let pin_a = va["pin"].as_str().unwrap().to_string();
    let shown_b = json(&b.oxbpf(&["--json", "show", "xdp", "--iface", "v0"]));
    assert_eq!(
        shown_b["pins"],
        serde_json::json!([custom.path()]),
        "{shown_b}"
    );
    assert_ne!(pin_a, vb["pin"].as_str().unwrap());
    // Detach in B: B's program, link and custom pin go; A keeps its program and pin.
    let out = json(&b.oxbpf(&["--json", "detach", "xdp", "--iface", "v0"]));
    assert_eq!(
        out["removed_pins"],
        serde_json::json!([custom.path()]),
        "{out}"
    );
    assert_eq!(out["link_freed"], true, "{out}");
    assert!(!custom.0.exists());
    assert!(
        prog_freed(vb["prog_id"].as_u64().unwrap()),
        "B's program is freed"
    );
    assert_eq!(shown(&a), va["prog_id"].as_u64(), "A's program still runs");
    assert!(
        std::path::Path::new(&pin_a).exists(),
        "A's pin is untouched"
    );
    assert_eq!(shown(&b), None);
    // Detach in A: its default pin goes too, and attaching again works.
    let out = json(&a.oxbpf(&["--json", "detach", "xdp", "--iface", "v0"]));
    assert_eq!(out["removed_pins"], serde_json::json!([pin_a]), "{out}");
    assert!(prog_freed(va["prog_id"].as_u64().unwrap()));
    let again = json(&attach(&a, &[]));
    assert_eq!(again["pin"], va["pin"]);
    json(&a.oxbpf(&["--json", "detach", "xdp", "--iface", "v0"]));
}

#[test]
fn a_pin_in_the_way_gets_one_clear_message_and_a_stale_one_is_replaced() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_root() {
        return;
    }
    let ns = Netns::new("oxatC");
    let first = json(&attach(&ns, &[]));
    if first["path"] != "link" {
        eprintln!("SKIPPED: the kernel attached via netlink (no XDP links)");
        return;
    }
    // Attaching again: refused before anything is attached, saying what holds the pin.
    let out = attach_text(&ns, &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = err(&out);
    assert!(
        e.contains("already holds link") && e.contains("oxbpf detach xdp --iface v0"),
        "{e}"
    );
    assert_eq!(e.matches("pin link at").count(), 0, "{e}");
    assert_eq!(
        shown(&ns),
        first["prog_id"].as_u64(),
        "the first program still runs"
    );
    // A pinned program (not a link) at --pin is not replaced.
    let dir = BpffsDir::new("oxatD");
    let load = common::oxbpf(&[
        "load",
        "--pin",
        dir.path(),
        "--program",
        "xdp_drop",
        &fx("xdp.bpf.o"),
    ]);
    assert!(load.status.success(), "{}", err(&load));
    let foreign = format!("{}/xdp_drop", dir.path());
    let out = attach_text(&ns, &["--pin", &foreign]);
    assert!(err(&out).contains("is not an XDP link"), "{}", err(&out));
    // The interface goes away: its link is detached but the pin keeps it; a new attach on a
    // new interface with the same pin replaces the stale pin.
    let custom = format!("{}/custom", dir.path());
    let out = json(&ns.oxbpf(&["--json", "detach", "xdp", "--iface", "v0"]));
    assert_eq!(out["link_freed"], true);
    let v = json(&attach(&ns, &["--pin", &custom]));
    let del = std::process::Command::new("ip")
        .args(["-n", &ns.0, "link", "del", "v0"])
        .status()
        .unwrap();
    assert!(del.success());
    assert!(
        std::path::Path::new(&custom).exists(),
        "the pin holds the detached link"
    );
    let add = std::process::Command::new("ip")
        .args([
            "-n", &ns.0, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ])
        .status()
        .unwrap();
    assert!(add.success());
    let out = attach_text(&ns, &["--pin", &custom]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(err(&out).contains("removed stale pin"), "{}", err(&out));
    assert!(
        prog_freed(v["prog_id"].as_u64().unwrap()),
        "the stale link's program is freed"
    );
    json(&ns.oxbpf(&["--json", "detach", "xdp", "--iface", "v0"]));
    assert!(!std::path::Path::new(&custom).exists());
    // No record of the custom pin is left for either interface index.
    let records: Vec<String> = std::fs::read_dir("/run/oxbpf")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .filter(|p| *p == custom)
        .collect();
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn a_program_that_is_not_xdp_is_refused_with_its_type() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_root() {
        return;
    }
    let ns = Netns::new("oxatE");
    let obj = fx("tracing.bpf.o");
    let out = ns.oxbpf(&["attach", "xdp", &obj, "trace_sched_switch", "--iface", "v0"]);
    assert_eq!(out.status.code(), Some(1));
    let e = err(&out);
    assert!(
        e.contains("tracing program") && e.contains("tp_btf/sched_switch"),
        "{e}"
    );
    assert!(e.contains("SEC(\"xdp\")"), "{e}");
    assert_eq!(shown(&ns), None);
}
