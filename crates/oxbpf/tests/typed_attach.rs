//! Typed attach on the running kernel: `collection.program(name)?.attach()` uses the section's
//! own target (tracepoint, raw tracepoint, tp_btf) and the program runs while attached; XDP
//! and tc attach by interface name inside a namespace the test creates, XDP replaces and
//! detaches through its handle, cgroup attaches by path at the section's attach type; a
//! program whose type does not fit the hook is refused with an error naming both types.

mod links_util;

use links_util::*;
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::link::{
    attach_tracepoint, attach_xdp, detach_xdp, query_attached, query_xdp, AttachPath, LinkError,
    PerfOptions, TcDirection, TcOptions, XdpMode, XdpOptions, XdpPath,
};
use oxbpf::spec::AttachType;

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_typed_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(5) + 2
}

fn getpids() {
    for _ in 0..5 {
        unsafe { libc::getpid() };
    }
}

/// Loads the named programs of `testdata/<obj>`.
fn load_top(obj: &str, programs: &[&str]) -> Collection {
    let path = format!("{}/testdata/{obj}", env!("CARGO_MANIFEST_DIR"));
    let spec = oxbpf::elf::load_collection_spec_from_file(path).expect("parse fixture");
    let opts = CollectionOptions {
        programs: Some(programs.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    Collection::load(&spec, &opts).expect("load fixture")
}

/// Slot `slot` of `counts` moves while `link` lives, and stops after it is dropped.
fn moves_while_attached(coll: &Collection, slot: u32, link: oxbpf::link::Link) {
    let counts = coll.map("counts").unwrap();
    let before = count(counts, slot);
    getpids();
    assert!(count(counts, slot) > before, "slot {slot} did not move");
    drop(link);
    let before = count(counts, slot);
    getpids();
    assert_eq!(count(counts, slot), before, "slot {slot} moved after drop");
}

#[test]
fn attach_uses_the_sections_target() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("trace.bpf.o", &["tp_getpid", "raw_sys_enter"]).unwrap();
    set_u32(coll.map("cfg").unwrap(), 0, std::process::id());
    let tp = coll.program("tp_getpid").unwrap();
    assert_eq!(tp.section(), Some("tracepoint/syscalls/sys_enter_getpid"));
    assert_eq!(tp.attach_to(), Some("syscalls/sys_enter_getpid"));
    moves_while_attached(&coll, 0, tp.attach().unwrap());
    let raw = coll.program("raw_sys_enter").unwrap();
    moves_while_attached(&coll, 1, raw.attach().unwrap());

    let coll = match load("trace.bpf.o", &["btf_sys_enter"]) {
        Err(e) => return skip_kernel(&format!("tp_btf program refused at load: {e}")),
        Ok(c) => c,
    };
    set_u32(coll.map("cfg").unwrap(), 0, std::process::id());
    let p = coll.program("btf_sys_enter").unwrap();
    assert_eq!(p.expected_attach_type(), Some(AttachType::TRACE_RAW_TP));
    let link = p.attach().unwrap();
    assert_eq!(link.info().unwrap().prog_id, p.id());
    moves_while_attached(&coll, 2, link);
}

#[test]
fn uprobe_on_this_binary_by_symbol() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("trace.bpf.o", &["uprobe_hit"]).unwrap();
    set_u32(coll.map("cfg").unwrap(), 0, std::process::id());
    let p = coll.program("uprobe_hit").unwrap();
    // SEC("uprobe") names no binary: attach() says what to call.
    let e = p.attach().unwrap_err();
    assert!(
        e.to_string().starts_with(
            "program \"uprobe_hit\" (SEC(\"uprobe\")): the section names no binary and function"
        ),
        "{e}"
    );
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    let link = p
        .attach_uprobe(
            &exe,
            oxbpf::link::UprobeTarget::Symbol("oxbpf_typed_uprobe_target", 0),
        )
        .unwrap();
    let counts = coll.map("counts").unwrap();
    let before = count(counts, 3);
    for i in 0..5 {
        std::hint::black_box(oxbpf_typed_uprobe_target(std::hint::black_box(i)));
    }
    assert_eq!(count(counts, 3), before + 5, "uprobe ran once per call");
    drop(link);
    std::hint::black_box(oxbpf_typed_uprobe_target(1));
    assert_eq!(count(counts, 3), before + 5, "ran after drop");
}

#[test]
fn wrong_program_type_is_refused_naming_both() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load_top("xdp.bpf.o", &["xdp_pass"]);
    let xdp = coll.program("xdp_pass").unwrap();
    let hint = "hint: an XDP program attaches with attach_xdp(iface, mode)";
    let e = xdp
        .attach_tracepoint("syscalls", "sys_enter_getpid")
        .unwrap_err();
    assert!(matches!(e, LinkError::WrongProgramType { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("program \"xdp_pass\" has type xdp, but a tracepoint attach needs type tracepoint; {hint}")
    );
    // The low-level function checks too, instead of two stacked EINVALs.
    let e = attach_tracepoint(
        xdp.fd(),
        "syscalls",
        "sys_enter_getpid",
        PerfOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("has type xdp, but a tracepoint attach needs type tracepoint"),
        "{e}"
    );
    let e = xdp.attach_raw_tracepoint("sys_enter").unwrap_err();
    assert!(
        e.to_string()
            .contains("needs type raw_tracepoint or raw_tracepoint_writable"),
        "{e}"
    );
    let e = xdp.attach_cgroup("/sys/fs/cgroup").unwrap_err();
    assert!(
        e.to_string()
            .contains("a cgroup attach needs type cgroup_skb or"),
        "{e}"
    );
    // attach() on a section that names no target says which method to call.
    let e = xdp.attach().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("program \"xdp_pass\" (SEC(\"xdp\")): attach() needs a section that names its target; {hint}")
    );
    // A program opened by fd has no section to read.
    let bare = oxbpf::prog::Program::from_fd(xdp.fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(bare.section(), None);
    let e = bare.attach().unwrap_err();
    assert!(
        e.to_string()
            .ends_with("hint: use the functions of oxbpf::link"),
        "{e}"
    );
    let e = coll.program("xdp_pas").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no program \"xdp_pas\" in this collection (loaded: xdp_pass); hint: the name is the C function's, not the section's"
    );

    let coll = load("trace.bpf.o", &["tp_getpid"]).unwrap();
    let tp = coll.program("tp_getpid").unwrap();
    let e = tp.attach_xdp("lo", XdpMode::Generic).unwrap_err();
    assert_eq!(
        e.to_string(),
        "program \"tp_getpid\" has type tracepoint, but an XDP attach needs type xdp; hint: a tracepoint \
         program attaches with attach() (section tracepoint/<category>/<name>) or attach_tracepoint(category, name)"
    );
    let e = tp.attach_tc("lo").unwrap_err();
    assert!(
        e.to_string()
            .contains("but a tc attach needs type sched_cls"),
        "{e}"
    );
}

#[test]
fn xdp_by_name_replace_and_detach() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load_top("xdp.bpf.o", &["xdp_pass", "xdp_drop"]);
    let (pass, drop_) = (
        coll.program("xdp_pass").unwrap(),
        coll.program("xdp_drop").unwrap(),
    );
    let pair = VethPair::new();
    pair.a.enter(|| {
        let e = pass.attach_xdp("nosuch0", XdpMode::Generic).unwrap_err();
        assert!(
            e.to_string()
                .contains("no network interface named \"nosuch0\""),
            "{e}"
        );
        let mut link = pass.attach_xdp("veth0", XdpMode::Generic).unwrap();
        assert_eq!(query_xdp("veth0").unwrap().prog_id, Some(pass.id()));
        link.replace(drop_.fd()).unwrap();
        assert_eq!(query_xdp("veth0").unwrap().prog_id, Some(drop_.id()));
        // The by-index form reaches the same device.
        let idx = query_xdp(link.ifindex()).unwrap();
        assert_eq!(idx.prog_id, Some(drop_.id()));
        if link.path() == AttachPath::Link {
            // Link::update swaps on the generic handle as well.
            link.link().update(pass.fd()).unwrap();
            assert_eq!(query_xdp("veth0").unwrap().prog_id, Some(pass.id()));
        }
        link.detach().unwrap();
        assert_eq!(query_xdp("veth0").unwrap().prog_id, None);
    });
}

#[test]
fn detach_xdp_without_a_handle_on_either_path() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load_top("xdp.bpf.o", &["xdp_pass"]);
    let pass = coll.program("xdp_pass").unwrap();
    let pair = VethPair::new();
    pair.a.enter(|| {
        assert_eq!(detach_xdp("veth0").unwrap(), None, "nothing attached yet");
        for path in [XdpPath::Auto, XdpPath::Netlink] {
            let link = attach_xdp(
                pass.fd(),
                "veth0",
                XdpMode::Generic,
                XdpOptions::default().path(path),
            )
            .unwrap();
            let how = link.path();
            link.keep(); // as if another process had attached it
            assert_eq!(query_xdp("veth0").unwrap().prog_id, Some(pass.id()));
            assert_eq!(detach_xdp("veth0").unwrap(), Some(how), "{path:?}");
            assert_eq!(query_xdp("veth0").unwrap().prog_id, None, "{path:?}");
        }
        let e = detach_xdp("nosuch0").unwrap_err();
        assert!(
            e.to_string()
                .contains("no network interface named \"nosuch0\""),
            "{e}"
        );
    });
}

#[test]
fn tc_direction_from_the_section_or_given() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = load("tc.bpf.o", &["tc_a"]).unwrap();
    let p = coll.program("tc_a").unwrap();
    let pair = VethPair::new();
    pair.a.enter(|| {
        let e = p.attach_tc("veth0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "program \"tc_a\" (SEC(\"tc\")): the section names no direction (tc/ingress, tc/egress); \
             hint: attach_tc_with(iface, TcDirection::Ingress, TcOptions::default())"
        );
        let link = p
            .attach_tc_with("veth0", TcDirection::Ingress, TcOptions::default())
            .unwrap();
        assert_eq!(link.info().unwrap().prog_id, p.id());
    });
    let counts = coll.map("counts").unwrap();
    // The link was dropped when the closure ended: attach again and see packets counted.
    pair.a.enter(|| {
        let _link = p
            .attach_tc_with("veth0", TcDirection::Ingress, TcOptions::default())
            .unwrap();
        let before = count(counts, 0);
        pair.traffic();
        assert!(eventually(|| count(counts, 0) > before), "tc_a did not run");
    });
}

#[test]
fn cgroup_by_path_at_the_sections_attach_type() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let root = std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| std::path::PathBuf::from(&f[1]));
    let Some(root) = root else {
        return skip("no cgroup v2 mount");
    };
    let dir = root.join(unique("typed"));
    std::fs::create_dir(&dir).unwrap();
    let coll = load("cgroup.bpf.o", &["skb_egress", "connect4"]).unwrap();
    for (name, t) in [
        ("skb_egress", AttachType::CGROUP_INET_EGRESS),
        ("connect4", AttachType::CGROUP_INET4_CONNECT),
    ] {
        let p = coll.program(name).unwrap();
        let link = p.attach_cgroup(&dir).unwrap();
        let cg = oxbpf::link::open_cgroup(&dir).unwrap();
        use std::os::fd::AsFd;
        assert_eq!(
            query_attached(cg.as_fd(), t).unwrap(),
            vec![p.id()],
            "{name}"
        );
        drop(link);
        assert!(query_attached(cg.as_fd(), t).unwrap().is_empty(), "{name}");
    }
    let e = coll
        .program("skb_egress")
        .unwrap()
        .attach_cgroup(dir.join("missing"))
        .unwrap_err();
    assert!(e.to_string().starts_with("open cgroup "), "{e}");
    std::fs::remove_dir(&dir).unwrap();
}
