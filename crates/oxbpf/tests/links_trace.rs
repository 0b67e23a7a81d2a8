//! Tracing hooks on the running kernel: tracepoint (perf link and ioctl), raw tracepoint,
//! tp_btf (link and raw_tracepoint_open), uprobe/uretprobe on a function of this test binary,
//! fentry/fexit (skipped with the kernel's reason under lockdown), and kprobes (this kernel
//! may have none: then the error must say so). Counters filter on our pid and must move while
//! attached and stop after detach.

mod links_util;

use links_util::*;
use oxbpf::collection::Collection;
use oxbpf::link::{
    attach_btf_tracing, attach_kprobe, attach_kprobe_multi, attach_raw_tracepoint,
    attach_tracepoint, attach_uprobe, symbol_offset, AttachPath, Link, LinkError, LinkTarget,
    Mechanism, PerfOptions, UprobeOptions, UprobeTarget,
};
use oxbpf::spec::{AttachType, LinkType};

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3) + 1
}

fn getpids() {
    for _ in 0..5 {
        unsafe { libc::getpid() };
    }
}

fn uprobe_calls() {
    for i in 0..5 {
        std::hint::black_box(oxbpf_uprobe_target(std::hint::black_box(i)));
    }
}

fn fixture(progs: &[&str]) -> Collection {
    let coll = load("trace.bpf.o", progs).expect("load trace fixture");
    set_u32(coll.map("cfg").unwrap(), 0, std::process::id());
    coll
}

/// Slot `slot` moves when `poke` runs while `link` is attached, and stops once detached.
fn runs_then_stops(coll: &Collection, slot: u32, poke: fn(), link: Link) {
    let counts = coll.map("counts").unwrap();
    let before = count(counts, slot);
    poke();
    assert!(
        count(counts, slot) > before,
        "slot {slot}: program did not run"
    );
    link.detach().unwrap();
    let before = count(counts, slot);
    poke();
    assert_eq!(
        count(counts, slot),
        before,
        "slot {slot}: still runs after detach"
    );
}

#[test]
fn tracepoint_perf_link_and_ioctl() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = fixture(&["tp_getpid"]);
    let p = coll.program("tp_getpid").unwrap();
    for (mech, want) in [
        (Mechanism::Auto, AttachPath::Link),
        (Mechanism::Legacy, AttachPath::PerfIoctl),
    ] {
        let mut l = attach_tracepoint(
            p.fd(),
            "syscalls",
            "sys_enter_getpid",
            PerfOptions::default().mechanism(mech),
        )
        .unwrap();
        assert_eq!(l.path(), want);
        let info = l.info().unwrap();
        assert_eq!(info.prog_id, p.id());
        assert_eq!(info.target, LinkTarget::PerfEvent);
        if want == AttachPath::Link {
            assert_eq!(info.link_type, Some(LinkType::PERF_EVENT));
            let pin = format!("/sys/fs/bpf/{}", unique("tp"));
            l.pin(&pin).unwrap();
            l.unpin().unwrap();
        } else {
            let e = l.pin("/sys/fs/bpf/x").unwrap_err();
            assert!(matches!(e, LinkError::NoLinkObject { .. }), "{e}");
        }
        runs_then_stops(&coll, 0, getpids, l);
    }
    let e = attach_tracepoint(
        p.fd(),
        "syscalls",
        "no_such_tracepoint",
        PerfOptions::default(),
    )
    .unwrap_err();
    let root = oxbpf::link::tracefs().unwrap().display().to_string();
    assert_eq!(
        e.to_string(),
        format!(
            "find tracepoint syscalls/no_such_tracepoint: {root}/events/syscalls/no_such_tracepoint/id \
             does not exist; hint: list {root}/events/syscalls/ for the tracepoints of \"syscalls\" \
             (and {root}/events/ for the categories)"
        )
    );
    assert!(!e.to_string().contains("events/events"), "{e}");
    let e = attach_tracepoint(p.fd(), "../x", "y", PerfOptions::default()).unwrap_err();
    assert!(matches!(e, LinkError::Invalid { .. }), "{e}");
}

#[test]
fn raw_tracepoint_runs() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = fixture(&["raw_sys_enter"]);
    let p = coll.program("raw_sys_enter").unwrap();
    let l = attach_raw_tracepoint(p.fd(), "sys_enter").unwrap();
    let info = l.info().unwrap();
    assert_eq!(info.link_type, Some(LinkType::RAW_TRACEPOINT));
    assert_eq!(info.prog_id, p.id());
    runs_then_stops(&coll, 1, getpids, l);
    let e = attach_raw_tracepoint(p.fd(), "no_such_raw_tp").unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
}

#[test]
fn tp_btf_link_and_raw_tracepoint_open() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = match load("trace.bpf.o", &["btf_sys_enter"]) {
        Err(e) => return skip_kernel(&format!("tp_btf program refused at load: {e}")),
        Ok(c) => c,
    };
    set_u32(coll.map("cfg").unwrap(), 0, std::process::id());
    let p = coll.program("btf_sys_enter").unwrap();
    for mech in [Mechanism::Auto, Mechanism::Legacy] {
        let l = attach_btf_tracing(p.fd(), AttachType::TRACE_RAW_TP, 0, mech).unwrap();
        let info = l.info().unwrap();
        assert_eq!(info.prog_id, p.id());
        assert!(info.id.is_some(), "both paths give a kernel link");
        runs_then_stops(&coll, 2, getpids, l);
    }
}

#[test]
fn uprobe_and_uretprobe_on_this_binary() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let off = symbol_offset(&exe, "oxbpf_uprobe_target").unwrap();
    assert!(off > 0);
    let e = symbol_offset(&exe, "oxbpf_no_such_symbol").unwrap_err();
    assert!(e.to_string().contains("no defined symbol"), "{e}");
    let coll = fixture(&["uprobe_hit", "uretprobe_hit"]);
    for (name, ret, slot) in [("uprobe_hit", false, 3), ("uretprobe_hit", true, 4)] {
        let p = coll.program(name).unwrap();
        for (mech, want) in [
            (Mechanism::Auto, AttachPath::Link),
            (Mechanism::Legacy, AttachPath::PerfIoctl),
        ] {
            let opts = UprobeOptions::default()
                .retprobe(ret)
                .pid(std::process::id() as i32)
                .perf(PerfOptions::default().mechanism(mech));
            let target = if mech == Mechanism::Auto {
                UprobeTarget::Symbol("oxbpf_uprobe_target", 0)
            } else {
                UprobeTarget::Offset(off)
            };
            let l = attach_uprobe(p.fd(), &exe, target, opts).unwrap();
            assert_eq!(l.path(), want);
            runs_then_stops(&coll, slot, uprobe_calls, l);
        }
    }
}

#[test]
fn fentry_fexit_or_the_kernels_refusal() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    for (name, t, slot) in [
        ("fentry_getpid", AttachType::TRACE_FENTRY, 5),
        ("fexit_getpid", AttachType::TRACE_FEXIT, 6),
    ] {
        let coll = match load("trace.bpf.o", &[name]) {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("EPERM")
                        || msg.contains("not permitted")
                        || msg.contains("errno 1)"),
                    "unexpected load failure: {msg}"
                );
                skip_kernel(&format!(
                    "{name}: kernel refuses trampoline programs (lockdown={}): {msg}",
                    oxbpf::link::lockdown_mode().unwrap_or_else(|| "unknown".into())
                ));
                continue;
            }
        };
        set_u32(coll.map("cfg").unwrap(), 0, std::process::id());
        let p = coll.program(name).unwrap();
        match attach_btf_tracing(p.fd(), t, 0, Mechanism::Auto) {
            Ok(l) => {
                assert_eq!(l.info().unwrap().link_type, Some(LinkType::TRACING));
                runs_then_stops(&coll, slot, getpids, l);
            }
            Err(e)
                if e.to_string().contains("lockdown")
                    || e.to_string().contains("not permitted") =>
            {
                skip_kernel(&format!("{name}: attach refused: {e}"))
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn kprobes_run_or_say_the_kernel_has_none() {
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = fixture(&["kprobe_getpid"]);
    let p = coll.program("kprobe_getpid").unwrap();
    let have = std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    match attach_kprobe(p.fd(), "__x64_sys_getpid", 0, false, PerfOptions::default()) {
        Ok(l) => {
            assert!(have);
            runs_then_stops(&coll, 7, getpids, l);
        }
        Err(e) => {
            assert!(!have, "kprobe PMU exists but attach failed: {e}");
            assert_eq!(
                e.to_string(),
                "kprobes not supported by this kernel (CONFIG_KPROBE_EVENTS off: no kprobe PMU in /sys/bus/event_source/devices)"
            );
            skip_kernel(&e.to_string());
        }
    }
    if !have {
        // kprobe.multi needs a kprobe.multi-typed load; the plain kprobe program is refused
        // either way, and without a kprobe PMU the refusal names the missing support.
        let e = attach_kprobe_multi(p.fd(), &["__x64_sys_getpid"], false).unwrap_err();
        assert!(
            matches!(e, LinkError::KernelLacks { .. } | LinkError::Sys { .. }),
            "{e}"
        );
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn old_kernel_without_perf_links_uses_ioctl() {
    use oxbpf::link::support::{link_known, reset_link_probes};
    use oxbpf::sys::{fault::Guard, Cmd};
    let _g = serial();
    if !require_kernel() {
        return;
    }
    let coll = fixture(&["tp_getpid"]);
    let p = coll.program("tp_getpid").unwrap();
    reset_link_probes();
    let l = {
        let _f = Guard::fail(Cmd::LinkCreate, libc::EINVAL);
        attach_tracepoint(
            p.fd(),
            "syscalls",
            "sys_enter_getpid",
            PerfOptions::default(),
        )
        .unwrap()
    };
    assert_eq!(l.path(), AttachPath::PerfIoctl);
    assert_eq!(link_known(AttachType::PERF_EVENT), Some(false));
    runs_then_stops(&coll, 0, getpids, l);
    // tp_btf on a kernel without tracing links: BPF_RAW_TRACEPOINT_OPEN.
    if let Ok(c2) = load("trace.bpf.o", &["btf_sys_enter"]) {
        set_u32(c2.map("cfg").unwrap(), 0, std::process::id());
        let p2 = c2.program("btf_sys_enter").unwrap();
        let l = {
            let _f = Guard::fail(Cmd::LinkCreate, libc::EINVAL);
            attach_btf_tracing(p2.fd(), AttachType::TRACE_RAW_TP, 0, Mechanism::Auto).unwrap()
        };
        assert_eq!(l.info().unwrap().link_type, Some(LinkType::RAW_TRACEPOINT));
        runs_then_stops(&c2, 2, getpids, l);
    }
    reset_link_probes();
}
