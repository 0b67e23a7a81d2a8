//! The datapath in the kernel: load `oxlb.bpf.o` sized by a [`Layout`], with its maps pinned (or
//! adopted from an earlier run), and write [`MapOp`]s into them.

use super::undo::Undo;
use super::DaemonError;
use crate::datapath::abi::{RawConfig, RawEncapConfig, RawVipSlot};
use crate::datapath::{Layout, MapId, MapOp, SynCookies};
use oxbpf::collection::{kconfig, Collection, CollectionOptions};
use oxbpf::map::Map;
use oxbpf::prog::Program;
use oxbpf::spec::{CollectionSpec, MapInit, Pinning, ProgramType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The compiled datapath, embedded so the binary needs no files besides its config.
pub const OBJECT: &[u8] = include_bytes!("../../bpf/oxlb.bpf.o");
/// The XDP program's name in [`OBJECT`].
pub const PROGRAM: &str = "oxlb_xdp";
/// The SYN cookie program's name in [`OBJECT`] (tail-called from [`PROGRAM`]).
pub const COOKIE_PROGRAM: &str = "oxlb_cookie";

/// Loaded datapath: the program and its (pinned) maps.
pub struct Datapath {
    /// The XDP program.
    pub program: Program,
    /// Maps by id, all pinned under the pin directory.
    pub maps: BTreeMap<MapId, Map>,
    /// True when the maps already existed (a restart adopted them, conntrack included).
    pub adopted: bool,
}

/// The datapath's spec sized and configured by `layout`; `pinning` for every map.
pub fn spec(layout: &Layout, pinning: Pinning) -> Result<CollectionSpec, DaemonError> {
    layout.validate()?;
    let mut spec = oxbpf::elf::load_collection_spec(OBJECT)?;
    for id in MapId::ALL {
        let m = spec
            .maps
            .get_mut(id.name())
            .ok_or_else(|| DaemonError::Datapath(format!("object has no map {}", id.name())))?;
        m.max_entries = layout.max_entries(id);
        m.pinning = if id.pinned() { pinning } else { Pinning::None };
    }
    let config = RawConfig {
        ns_per_jiffy: clock().ns_per_jiffy,
        ..layout.config()
    };
    spec.set_variable("oxlb_cfg", &config.to_bytes())
        .map_err(|e| DaemonError::Datapath(e.to_string()))?;
    spec.set_variable(RawEncapConfig::VAR_NAME, &layout.encap.raw().to_bytes())
        .map_err(|e| DaemonError::Datapath(e.to_string()))?;
    if let Err(why) = cookies_usable(layout.syn_cookies) {
        if layout.syn_cookies != SynCookies::Off {
            tracing::warn!("SYN cookies are off: {why}");
        }
        without_cookies(&mut spec);
    }
    Ok(spec)
}

/// Leaves the SYN cookie program out: its tail-call slot stays empty, the tail calls fall
/// through and SYNs to NAT VIPs open half-open flows.
fn without_cookies(spec: &mut CollectionSpec) {
    spec.programs.remove(COOKIE_PROGRAM);
    if let Some(m) = spec.maps.get_mut(MapId::Progs.name()) {
        m.init = MapInit::Empty;
    }
}

/// Loads a datapath spec; when the kernel refuses only the SYN cookie program (an older
/// verifier), loads it again without that program rather than not at all, and logs why
/// SYN cookies are off.
pub fn load_collection(
    spec: &CollectionSpec,
    opts: &CollectionOptions,
) -> Result<Collection, oxbpf::collection::LoadError> {
    match Collection::load(spec, opts) {
        Err(oxbpf::collection::LoadError::Program(e))
            if e.to_string().contains(&format!("\"{COOKIE_PROGRAM}\"")) =>
        {
            tracing::warn!("SYN cookies are off: the kernel refused their program: {e}");
            let mut spec = spec.clone();
            without_cookies(&mut spec);
            Collection::load(&spec, opts)
        }
        r => r,
    }
}

/// `BPF_FUNC_tcp_raw_gen_syncookie_ipv4` (kernel >= 6.0).
const BPF_FUNC_TCP_RAW_GEN_SYNCOOKIE_IPV4: u32 = 204;

/// Whether the cookie program can run here with `mode`: `Err` says why not.
pub fn cookies_usable(mode: SynCookies) -> Result<(), String> {
    if mode == SynCookies::Off {
        return Err("syn_cookies = \"off\"".into());
    }
    match oxbpf::features::have_helper(ProgramType::XDP, BPF_FUNC_TCP_RAW_GEN_SYNCOOKIE_IPV4) {
        Ok(true) => Ok(()),
        Ok(false) => Err(
            "the kernel has no bpf_tcp_raw_gen_syncookie_ipv4 helper for XDP (requires >= v6.0 with CONFIG_SYN_COOKIES)"
                .into(),
        ),
        Err(e) => Err(format!("cannot tell whether the SYN cookie helpers exist: {e}")),
    }
}

/// `BPF_FUNC_jiffies64` (kernel >= 5.5).
const BPF_FUNC_JIFFIES64: u32 = 118;

/// The datapath's clock on this host (see `oxlb_config.ns_per_jiffy` in `oxlb.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Nanoseconds per jiffy (10^9 / CONFIG_HZ); 0 = `bpf_ktime_get_ns()`.
    pub ns_per_jiffy: u32,
    /// Why this clock: shown in the startup log.
    pub why: &'static str,
}

/// Picks the cheapest clock the kernel offers: `bpf_jiffies64()` (one memory read) when the
/// helper exists for XDP and the kernel config gives CONFIG_HZ, else `bpf_ktime_get_ns()`.
/// Decided once per process; the same host always gets the same answer.
pub fn clock() -> Clock {
    static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();
    *CLOCK.get_or_init(|| {
        let ktime = |why| Clock {
            ns_per_jiffy: 0,
            why,
        };
        if !matches!(
            oxbpf::features::have_helper(ProgramType::XDP, BPF_FUNC_JIFFIES64),
            Ok(true)
        ) {
            return ktime("bpf_ktime_get_ns (no bpf_jiffies64 helper: requires >= v5.5)");
        }
        let release = oxbpf::features::kernel_release();
        let hz = kconfig::read_running_config(&release)
            .ok()
            .and_then(|text| kconfig::parse_config(&text).remove("CONFIG_HZ"))
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|hz| (1..=100_000).contains(hz) && 1_000_000_000 % hz == 0);
        match hz {
            Some(hz) => Clock {
                ns_per_jiffy: 1_000_000_000 / hz,
                why: "bpf_jiffies64 (CONFIG_HZ from the kernel config)",
            },
            None => {
                ktime("bpf_ktime_get_ns (CONFIG_HZ unknown: no /boot/config or /proc/config.gz)")
            }
        }
    })
}

/// Takes the program and every map out of a loaded datapath collection.
pub fn take(coll: &mut Collection) -> Result<(Program, BTreeMap<MapId, Map>), DaemonError> {
    let program = coll
        .take_program(PROGRAM)
        .ok_or_else(|| DaemonError::Datapath(format!("object has no program {PROGRAM}")))?;
    let mut maps = BTreeMap::new();
    for id in MapId::ALL {
        let map = coll
            .take_map(id.name())
            .ok_or_else(|| DaemonError::Datapath(format!("object has no map {}", id.name())))?;
        maps.insert(id, map);
    }
    Ok((program, maps))
}

/// Loads the datapath with `layout`, pinning its maps in `pin_dir` or reusing maps pinned there.
/// `undo` learns to remove the pins (and the directory) this call creates, never those it
/// found, even when the load fails half-way.
pub fn load(layout: &Layout, pin_dir: &Path, undo: &mut Undo) -> Result<Datapath, DaemonError> {
    let spec = spec(layout, Pinning::ByName)?;
    require_bpffs(pin_dir)?;
    let created_dir = !pin_dir.exists();
    let new_pins: Vec<PathBuf> = MapId::ALL
        .iter()
        .filter(|id| id.pinned())
        .map(|id| pin_dir.join(id.name()))
        .filter(|p| !p.exists())
        .collect();
    let dir = pin_dir.to_path_buf();
    undo.push(
        format!("{} map pins created in {}", new_pins.len(), dir.display()),
        move || {
            for p in &new_pins {
                match std::fs::remove_file(p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(format!("{}: {e}", p.display()))
                    }
                    _ => {}
                }
            }
            if created_dir {
                std::fs::remove_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            Ok(())
        },
    );
    std::fs::create_dir_all(pin_dir).map_err(|e| DaemonError::io(pin_dir, e))?;
    let adopted = pin_dir.join(MapId::Ct.name()).exists();
    let opts = CollectionOptions {
        pin_dir: Some(pin_dir.to_path_buf()),
        ..Default::default()
    };
    let mut coll = load_collection(&spec, &opts).map_err(|e| match adopted {
        true => DaemonError::Datapath(format!(
            "{e}; hint: the datapath pinned in {} was built with other sizes — `oxlb down` removes it",
            pin_dir.display()
        )),
        false => DaemonError::Load(e),
    })?;
    let (program, maps) = take(&mut coll)?;
    Ok(Datapath {
        program,
        maps,
        adopted,
    })
}

/// Opens the maps pinned in `pin_dir` (for `oxlb stats` and metrics: no program needed);
/// every map but the unpinned VIP filter ([`MapId::pinned`]).
pub fn open_pinned(pin_dir: &Path) -> Result<BTreeMap<MapId, Map>, DaemonError> {
    let mut maps = BTreeMap::new();
    for id in MapId::ALL.into_iter().filter(|id| id.pinned()) {
        let path = pin_dir.join(id.name());
        let map = Map::from_pin(&path).map_err(|e| {
            DaemonError::Datapath(format!(
                "{e}; hint: is oxlb running with pin dir {}?",
                pin_dir.display()
            ))
        })?;
        maps.insert(id, map);
    }
    Ok(maps)
}

/// Applies `ops` in order; returns how many map elements were written or deleted.
pub fn apply(maps: &BTreeMap<MapId, Map>, ops: &[MapOp]) -> Result<usize, DaemonError> {
    let mut n = 0;
    for op in ops {
        if let MapOp::ResetPerCpu { map, key } = op {
            let m = &maps[map];
            let zeros = vec![0u8; m.value_buf_size()?];
            m.update(key, &zeros, 0)?;
            n += 1;
            continue;
        }
        for (map, key, value) in op.elements() {
            let m = &maps[&map];
            match value {
                Some(v) => m.update(&key, &v, 0)?,
                None => {
                    m.delete(&key)?;
                }
            }
            n += 1;
        }
    }
    Ok(n)
}

/// A map element as it was before a write: `None` when the key was absent.
pub type Saved = (MapId, Vec<u8>, Option<Vec<u8>>);

/// The current values of every element `ops` will write (to put them back with [`restore`]).
pub fn saved_values(maps: &BTreeMap<MapId, Map>, ops: &[MapOp]) -> Result<Vec<Saved>, DaemonError> {
    let mut out = Vec::new();
    for op in ops {
        let keys: Vec<(MapId, Vec<u8>)> = match op {
            MapOp::ResetPerCpu { map, key } => vec![(*map, key.clone())],
            _ => op.elements().into_iter().map(|(m, k, _)| (m, k)).collect(),
        };
        for (map, key) in keys {
            let old = maps[&map].lookup(&key)?;
            out.push((map, key, old));
        }
    }
    Ok(out)
}

/// Writes `saved` values back (newest first), into the maps pinned in `pin_dir`.
pub fn restore(pin_dir: &Path, saved: &[Saved]) -> Result<(), String> {
    let maps = open_pinned(pin_dir).map_err(|e| e.to_string())?;
    for (map, key, old) in saved.iter().rev() {
        // An unpinned map (the VIP filter) belongs to the program being rolled back: the
        // attached program keeps its own.
        let Some(m) = maps.get(map) else {
            continue;
        };
        match old {
            Some(v) => m.update(key, v, 0),
            None => m.delete(key).map(drop),
        }
        .map_err(|e| format!("{}: {e}", map.name()))?;
    }
    Ok(())
}

/// Deletes VIP keys the kernel map holds but `keep` does not, and empties the id slots of
/// VIP ids not in `keep_ids` (after adopting an old datapath). Returns the elements changed,
/// as they were.
pub fn prune_vips(
    maps: &BTreeMap<MapId, Map>,
    keep: &[Vec<u8>],
    keep_ids: &[u32],
) -> Result<Vec<Saved>, DaemonError> {
    let mut saved = Vec::new();
    let vips = &maps[&MapId::Vips];
    let stale: Vec<Vec<u8>> = vips
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !keep.contains(k))
        .collect();
    for k in stale {
        if let Some(old) = vips.lookup(&k)? {
            vips.delete(&k)?;
            saved.push((MapId::Vips, k, Some(old)));
        }
    }
    let slots = &maps[&MapId::VipIds];
    let empty = RawVipSlot::empty_bytes();
    for id in (0..slots.max_entries()).filter(|id| !keep_ids.contains(id)) {
        let key = id.to_ne_bytes();
        if let Some(old) = slots.lookup(&key)?.filter(|v| *v != empty) {
            slots.update(&key, &empty, 0)?;
            saved.push((MapId::VipIds, key.to_vec(), Some(old)));
        }
    }
    Ok(saved)
}

/// `BPF_FS_MAGIC` from `statfs(2)`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Fails with a hint unless the nearest existing ancestor of `pin_dir` is on bpffs.
fn require_bpffs(pin_dir: &Path) -> Result<(), DaemonError> {
    let mut dir = pin_dir;
    while !dir.exists() {
        dir = dir.parent().unwrap_or(Path::new("/"));
    }
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: statfs writes into a zeroed struct we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let on_bpffs =
        unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type as i64 == BPF_FS_MAGIC;
    if on_bpffs {
        return Ok(());
    }
    Err(DaemonError::Datapath(format!(
        "{} is not on a bpffs mount; mount one (`mount -t bpf bpf /sys/fs/bpf`). Note that \
         `ip netns exec` hides /sys/fs/bpf: use `oxlb --netns NAME run ...` instead",
        pin_dir.display()
    )))
}

/// Drops the counter resets of `ops` (from a diff against empty maps) whose VIP or backend is
/// already in the adopted maps with the same value: a restarted daemon keeps the counters of
/// everything it did not change.
pub fn keep_adopted_counters(maps: &BTreeMap<MapId, Map>, ops: Vec<MapOp>) -> Vec<MapOp> {
    let unchanged = |op: Option<&MapOp>| match op {
        Some(MapOp::Update {
            map, key, value, ..
        }) => maps
            .get(map)
            .and_then(|m| m.lookup(key).ok().flatten())
            .is_some_and(|v| v == *value),
        _ => false,
    };
    let mut out = Vec::with_capacity(ops.len());
    let mut it = ops.into_iter().peekable();
    while let Some(op) = it.next() {
        // The diff emits each reset right before the write of its VIP or backend.
        if matches!(op, MapOp::ResetPerCpu { .. }) && unchanged(it.peek()) {
            continue;
        }
        out.push(op);
    }
    out
}
