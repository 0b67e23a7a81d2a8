//! Steps of the capability matrix (tests/caps_matrix.rs): what each needs, the walk that
//! expects success or the exact refusal, and fixture plumbing (loading, counters, traffic).

use oxbpf::collection::{Collection, CollectionOptions};
use std::time::{Duration, Instant};

/// CAP_BPF.
pub const BPF: u32 = 39;
/// CAP_PERFMON.
pub const PERFMON: u32 = 38;
/// CAP_NET_ADMIN.
pub const NET_ADMIN: u32 = 12;
/// CAP_SYS_ADMIN.
pub const SYS_ADMIN: u32 = 21;
/// CAP_SYS_RESOURCE.
pub const SYS_RESOURCE: u32 = 24;
/// The capabilities the matrix looks at.
pub const WATCHED: [u32; 5] = [BPF, PERFMON, NET_ADMIN, SYS_ADMIN, SYS_RESOURCE];

/// The `CAP_*` name of capability number `cap`.
pub fn name(cap: u32) -> &'static str {
    match cap {
        BPF => "CAP_BPF",
        PERFMON => "CAP_PERFMON",
        NET_ADMIN => "CAP_NET_ADMIN",
        SYS_ADMIN => "CAP_SYS_ADMIN",
        _ => "CAP_SYS_RESOURCE",
    }
}

/// The effective set from `/proc/self/status`.
pub fn cap_eff() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff line");
    u64::from_str_radix(hex.trim(), 16).expect("CapEff hex")
}

/// The kernel's check for `cap`: CAP_SYS_ADMIN also passes for CAP_BPF, CAP_PERFMON and
/// CAP_NET_ADMIN.
pub fn passes(eff: u64, cap: u32) -> bool {
    eff & (1 << cap) != 0 || (cap != SYS_RESOURCE && eff & (1 << SYS_ADMIN) != 0)
}

/// One step of a row: what the refusal names ("BPF_PROG_LOAD (program type xdp)"), the
/// capabilities the kernel checks, and what doing it looks like.
pub struct Step<'a> {
    /// What the refusal names.
    pub subject: &'a str,
    /// The capabilities the kernel checks.
    pub needs: &'a [u32],
    /// Doing it: what happened, or the error text.
    pub run: &'a mut dyn FnMut() -> Result<String, String>,
}

/// Walks `steps`: each must succeed while its capabilities pass; the first that does not
/// must fail with the exact hint, and the rest are not tried. Returns the row's outcome.
pub fn row(eff: u64, steps: &mut [Step]) -> String {
    let mut done = Vec::new();
    for s in steps.iter_mut() {
        let lacking: Vec<&str> = s
            .needs
            .iter()
            .filter(|&&c| !passes(eff, c))
            .map(|&c| name(c))
            .collect();
        let result = (s.run)();
        if lacking.is_empty() {
            match result {
                Ok(what) => done.push(what),
                Err(e) => panic!("{}: failed although allowed: {e}", s.subject),
            }
            continue;
        }
        let want = format!(
            "{} needs {}, which this process lacks",
            s.subject,
            lacking.join(" + ")
        );
        match result {
            Ok(what) => panic!("{}: {what}, but expected the refusal {want:?}", s.subject),
            Err(e) => {
                assert!(e.contains(&want), "expected {want:?} in: {e}");
                assert!(
                    !e.contains("run as root") && !e.contains("RLIMIT_MEMLOCK"),
                    "{e}"
                );
                done.push(format!("refused: {want}"));
                break;
            }
        }
    }
    done.join("; ")
}

/// Loads programs `progs` (and every map) of object file `obj`.
pub fn load(obj: &str, progs: &[&str]) -> Result<Collection, String> {
    let spec = oxbpf::elf::load_collection_spec_from_file(obj).expect("parse fixture");
    let opts = CollectionOptions {
        programs: Some(progs.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    Collection::load(&spec, &opts).map_err(|e| format!("{e:#}"))
}

/// The sum of the `u64`s at `slot` of map `map` (all CPUs' values of a per-CPU map).
pub fn u64_at(coll: &Collection, map: &str, slot: u32) -> u64 {
    let v = coll
        .map(map)
        .unwrap()
        .lookup(&slot.to_ne_bytes())
        .expect("lookup")
        .expect("slot");
    v.chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .sum()
}

/// Polls `f` (after `poke`) until it is above `before`, for up to 2 s.
pub fn moved(before: u64, mut poke: impl FnMut(), f: impl Fn() -> u64) -> Result<u64, String> {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        poke();
        let now = f();
        if now > before {
            return Ok(now - before);
        }
        if Instant::now() > end {
            return Err("attached, but the program did not run".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Five UDP datagrams to the peer namespace: ARP replies and ICMP port-unreachable come
/// back into veth0's ingress.
pub fn traffic() {
    let s = std::net::UdpSocket::bind("10.0.0.1:0").expect("bind in the child's namespace");
    for _ in 0..5 {
        let _ = s.send_to(b"ping", "10.0.0.2:9");
    }
}

/// Five getpid() calls.
pub fn getpids() {
    for _ in 0..5 {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() };
    }
}

/// Creates map `map` of `obj` alone (it needs CAP_BPF: `map_subject` names its type), then
/// loads each of `progs` (name, refusal subject, capabilities) in turn; the collection of the
/// last one when every step was allowed, and the outcome so far.
pub fn load_row(
    eff: u64,
    obj: &str,
    (map, map_subject): (&str, &str),
    progs: &[(&str, &str, &[u32])],
) -> (String, Option<Collection>) {
    let coll = std::cell::RefCell::new(None);
    let mut create = || {
        let spec = oxbpf::elf::load_collection_spec_from_file(obj).unwrap();
        oxbpf::map::Map::create(&spec.maps[map], None, None)
            .map(|_| format!("{map} created"))
            .map_err(|e| format!("{e:#}"))
    };
    let mut loads: Vec<_> = progs
        .iter()
        .map(|&(prog, _, _)| {
            let coll = &coll;
            move || -> Result<String, String> {
                *coll.borrow_mut() = Some(load(obj, &[prog])?);
                Ok(format!("{prog} loaded"))
            }
        })
        .collect();
    let mut steps = vec![Step {
        subject: map_subject,
        needs: &[BPF],
        run: &mut create,
    }];
    for (l, &(_, subject, needs)) in loads.iter_mut().zip(progs) {
        steps.push(Step {
            subject,
            needs,
            run: l,
        });
    }
    let outcome = row(eff, &mut steps);
    drop(steps);
    drop(loads);
    let all = progs.iter().all(|p| p.2.iter().all(|&c| passes(eff, c)));
    (outcome, coll.into_inner().filter(|_| all))
}
