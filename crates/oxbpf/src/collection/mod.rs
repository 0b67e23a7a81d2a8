//! Loading a [`CollectionSpec`] into the kernel: BTF, maps, externs, programs, then map contents
//! that refer to programs (tail-call slots) or other maps (map-in-map slots).

mod attach_btf;
pub mod check;
pub mod externs;
pub mod kconfig;
pub mod kernel_btf;
pub mod reach;
pub mod reloc;
mod variables;

use crate::btf::Btf;
use crate::map::{Map, MapError};
use crate::prog::{Program, ProgramError};
use crate::spec::{
    CollectionSpec, FuncInfo, LineInfo, MapInit, MapSource, MapSpec, MapType, Pinning, ProgramSpec,
};
use reloc::{ExternValue, Resolver};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

pub use kernel_btf::{KernelBtfSource, KernelBtfs};
pub use variables::VariableError;

/// Errors from loading a collection.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A relocation could not be applied.
    #[error("relocate program {program:?} at instruction {insn}: {reason}")]
    Relocation {
        /// Program name.
        program: String,
        /// Instruction slot.
        insn: usize,
        /// Why.
        reason: String,
    },
    /// Creating or filling a map failed.
    #[error("map {map:?}: {source}")]
    Map {
        /// Map name.
        map: String,
        /// The map error.
        #[source]
        source: MapError,
    },
    /// A map slot names a program or map that does not exist.
    #[error("map {map:?} slot {index}: {reason}")]
    Slot {
        /// Map name.
        map: String,
        /// Slot index.
        index: u32,
        /// Why.
        reason: String,
    },
    /// A program failed to load.
    #[error(transparent)]
    Program(Box<ProgramError>),
    /// A program named in the options does not exist in the spec.
    #[error("no program {0:?} in the object (see `oxbpf inspect`)")]
    NoSuchProgram(String),
    /// A program asked to be device-bound is not an XDP program.
    #[error("program {program:?} is {prog_type}, only XDP programs can be device-bound")]
    NotXdp {
        /// Program name.
        program: String,
        /// Its type.
        prog_type: crate::spec::ProgramType,
    },
    /// An extern could not be resolved.
    #[error("extern {name:?}: {reason}")]
    Extern {
        /// Symbol name.
        name: String,
        /// Why, with a hint.
        reason: String,
    },
    /// A BTF-typed program's attach target is not in the kernel's BTF.
    #[error("program {program:?}: attach target {target:?}: {reason}")]
    AttachTarget {
        /// Program name.
        program: String,
        /// BTF name looked up.
        target: String,
        /// Why.
        reason: String,
    },
    /// Setting a global variable failed.
    #[error(transparent)]
    Variable(#[from] VariableError),
    /// A CO-RE relocation could not be applied.
    #[error(transparent)]
    Core(#[from] crate::btf::core::CoreError),
    /// The program needs CO-RE but no BTF (local or kernel) is available.
    #[error("program {program:?} has CO-RE relocations: {reason}")]
    CoreBtf {
        /// Program name.
        program: String,
        /// Why, with a hint.
        reason: String,
    },
}

impl From<ProgramError> for LoadError {
    fn from(e: ProgramError) -> Self {
        LoadError::Program(Box::new(e))
    }
}

/// How to load a collection.
#[derive(Debug, Clone, Default)]
pub struct CollectionOptions {
    /// Directory on bpffs for `LIBBPF_PIN_BY_NAME` maps (`/sys/fs/bpf` when `None`).
    pub pin_dir: Option<PathBuf>,
    /// Load only these programs (all when `None`).
    pub programs: Option<BTreeSet<String>>,
    /// Verifier log level for every load (0: load without a log, and retry with level 1 only
    /// to explain a failure).
    pub log_level: u32,
    /// Kernel BTF used as CO-RE target: the running kernel's (default) or external BTF
    /// (kfuncs, typed ksyms and attach targets always use the running kernel's BTF).
    pub kernel_btf: KernelBtfSource,
    /// Act as if `/sys/kernel/btf` did not exist (vmlinux and module BTF); for testing the
    /// paths taken on kernels without BTF.
    pub hide_sysfs_btf: bool,
    /// XDP programs to load bound to one device (program name → ifindex, loaded with
    /// `prog_ifindex` and `BPF_F_XDP_DEV_BOUND_ONLY`, requires >= v6.3): they may call the XDP
    /// metadata kfuncs (`bpf_xdp_metadata_rx_hash`...) and attach only to that device.
    pub dev_bound: BTreeMap<String, u32>,
}

/// `BPF_F_XDP_DEV_BOUND_ONLY`: the program is bound to `prog_ifindex` but not offloaded.
pub const BPF_F_XDP_DEV_BOUND_ONLY: u32 = 1 << 6;

/// Maps and programs living in the kernel. Dropping it closes every fd (pinned objects stay).
#[derive(Debug, Default)]
pub struct Collection {
    maps: BTreeMap<String, Map>,
    programs: BTreeMap<String, Program>,
    btf_fd: Option<OwnedFd>,
    created_pins: CreatedPins,
}

/// `LIBBPF_PIN_BY_NAME` pins a load created (not the ones it reused). While `loading`, dropping
/// removes them: a load that fails half-way leaves nothing pinned.
#[derive(Debug, Default)]
struct CreatedPins {
    paths: Vec<PathBuf>,
    loading: bool,
}

impl CreatedPins {
    fn remove(&mut self) -> std::io::Result<()> {
        for path in std::mem::take(&mut self.paths) {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Drop for CreatedPins {
    fn drop(&mut self) {
        if self.loading {
            let _ = self.remove();
        }
    }
}

/// A collection whose maps all loaded, with the programs that failed to load.
#[derive(Debug)]
pub struct LoadReport {
    /// What loaded.
    pub collection: Collection,
    /// Programs that failed, with the verifier's reason.
    pub failed: BTreeMap<String, ProgramError>,
}

impl Collection {
    /// Loads everything; the first program that fails to load fails the whole load (and
    /// removes the by-name pins it created).
    pub fn load(spec: &CollectionSpec, opts: &CollectionOptions) -> Result<Collection, LoadError> {
        let mut report = Self::load_report(spec, opts)?;
        if let Some((_, e)) = std::mem::take(&mut report.failed).into_iter().next() {
            let _ = report.collection.remove_created_pins();
            return Err(e.into());
        }
        Ok(report.collection)
    }

    /// Loads all maps, then each program on its own: a program that fails is reported,
    /// the others still load. A load that fails removes the by-name pins it created.
    pub fn load_report(
        spec: &CollectionSpec,
        opts: &CollectionOptions,
    ) -> Result<LoadReport, LoadError> {
        let wanted = select_programs(spec, opts)?;
        if let Some(name) = opts
            .dev_bound
            .keys()
            .find(|n| !spec.programs.contains_key(*n))
        {
            return Err(LoadError::NoSuchProgram(name.clone()));
        }
        crate::prog::bump_memlock_rlimit_if_needed()?;
        let (btf_fd, func_info) = load_object_btf(spec);
        let mut coll = Collection {
            btf_fd,
            created_pins: CreatedPins {
                paths: Vec::new(),
                loading: true,
            },
            ..Default::default()
        };
        for m in spec.maps.values() {
            let map = if m.source == MapSource::Kconfig {
                coll.create_map(&kconfig_map(spec, m)?, opts)?
            } else {
                coll.create_map(m, opts)?
            };
            coll.maps.insert(m.name.clone(), map);
        }
        let kb = KernelBtfs::new(opts.kernel_btf.clone(), opts.hide_sysfs_btf);
        let running = externs::RunningKernel::new(&kb);
        let kconfig_fd = spec
            .maps
            .values()
            .find(|m| m.source == MapSource::Kconfig)
            .and_then(|m| coll.maps.get(&m.name))
            .map(|m| m.fd().as_raw_fd());
        let externs = externs::resolve(spec, &wanted, &running, kconfig_fd)?;
        let resolver = LoadResolver {
            maps: &coll.maps,
            externs: &externs,
        };
        let env = LoadEnv {
            btf_fd: coll.btf_fd.as_ref(),
            func_info,
            btf: spec.btf.as_deref(),
            kernel: &kb,
            fd_array: kb.fd_array(),
            opts,
        };
        let mut failed = BTreeMap::new();
        for p in wanted {
            match load_program(p, &resolver, &env) {
                Ok(prog) => {
                    coll.programs.insert(p.name.clone(), prog);
                }
                Err(LoadError::Program(e)) => {
                    failed.insert(p.name.clone(), *e);
                }
                // A missing attach target concerns this program only (e.g. fentry/fexit whose
                // target is chosen at run time): report it, keep loading the others.
                Err(LoadError::AttachTarget {
                    program,
                    target,
                    reason,
                }) => {
                    let e = ProgramError::Invalid {
                        program,
                        op: "resolve the attach target of",
                        reason: format!("{target:?}: {reason}"),
                    };
                    failed.insert(p.name.clone(), e);
                }
                Err(e) => return Err(e),
            }
        }
        coll.fill_slots(spec)?;
        coll.created_pins.loading = false;
        Ok(LoadReport {
            collection: coll,
            failed,
        })
    }

    fn create_map(&mut self, m: &MapSpec, opts: &CollectionOptions) -> Result<Map, LoadError> {
        let err = |source| LoadError::Map {
            map: m.name.clone(),
            source,
        };
        let btf = self.btf_fd.as_ref().map(|f| f.as_fd());
        if m.pinning == Pinning::ByName {
            let dir = opts
                .pin_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/sys/fs/bpf"));
            let existed = dir.join(&m.name).exists();
            let map = Map::pin_by_name(m, &dir, btf, None).map_err(err)?;
            if !existed {
                self.created_pins.paths.push(dir.join(&m.name));
                init_map(&map, m).map_err(err)?;
            }
            return Ok(map);
        }
        let mmapable = mmapable_data(m);
        let map = Map::create(mmapable.as_ref().unwrap_or(m), btf, None).map_err(err)?;
        init_map(&map, m).map_err(err)?;
        Ok(map)
    }

    fn fill_slots(&self, spec: &CollectionSpec) -> Result<(), LoadError> {
        for m in spec.maps.values() {
            let MapInit::Slots(slots) = &m.init else {
                continue;
            };
            let map = &self.maps[&m.name];
            for (index, target) in slots {
                let bad = |reason: String| LoadError::Slot {
                    map: m.name.clone(),
                    index: *index,
                    reason,
                };
                let fd = if m.map_type == MapType::PROG_ARRAY {
                    match self.programs.get(target) {
                        Some(p) => p.fd().as_raw_fd(),
                        // Not loaded on purpose (filtered out or failed): leave the slot empty.
                        None if spec.programs.contains_key(target) => continue,
                        None => return Err(bad(format!("no program {target:?}"))),
                    }
                } else {
                    let inner = self
                        .maps
                        .get(target)
                        .ok_or_else(|| bad(format!("no map {target:?}")))?;
                    inner.fd().as_raw_fd()
                };
                map.update(&index.to_ne_bytes(), &(fd as u32).to_ne_bytes(), 0)
                    .map_err(|source| LoadError::Map {
                        map: m.name.clone(),
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// Removes the `LIBBPF_PIN_BY_NAME` pins this load created (pins it reused stay), e.g. to
    /// undo a load whose result is not wanted; the maps live on while this collection does.
    pub fn remove_created_pins(&mut self) -> std::io::Result<()> {
        self.created_pins.remove()
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.get(name)
    }

    /// Takes ownership of the map named `name`.
    pub fn take_map(&mut self, name: &str) -> Option<Map> {
        self.maps.remove(name)
    }

    /// All maps by name.
    pub fn maps(&self) -> &BTreeMap<String, Map> {
        &self.maps
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.get(name)
    }

    /// Takes ownership of the program named `name`.
    pub fn take_program(&mut self, name: &str) -> Option<Program> {
        self.programs.remove(name)
    }

    /// All programs by name.
    pub fn programs(&self) -> &BTreeMap<String, Program> {
        &self.programs
    }
}

fn select_programs<'a>(
    spec: &'a CollectionSpec,
    opts: &CollectionOptions,
) -> Result<Vec<&'a ProgramSpec>, LoadError> {
    match &opts.programs {
        // A leading `?` in the section name means "not loaded unless asked for" (libbpf's autoload).
        None => Ok(spec
            .programs
            .values()
            .filter(|p| !p.section.starts_with('?'))
            .collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                spec.programs
                    .get(n)
                    .ok_or_else(|| LoadError::NoSuchProgram(n.clone()))
            })
            .collect(),
    }
}

/// Loads the object's BTF, rewritten first for the BTF kinds this kernel lacks (probed once,
/// see [`crate::features::missing_btf_features`]); a kernel that still refuses it gets maps
/// and programs without BTF. Returns the fd and whether func/line info can go with programs
/// (not when `BTF_KIND_FUNC` had to be rewritten away).
fn load_object_btf(spec: &CollectionSpec) -> (Option<OwnedFd>, bool) {
    let Some(btf) = spec.btf.as_ref() else {
        return (None, false);
    };
    let missing = crate::features::missing_btf_features().unwrap_or_else(|e| {
        tracing::debug!("BTF kind probes inconclusive, loading object BTF as is: {e}");
        Default::default()
    });
    let sanitized = missing.any().then(|| {
        let mut b = Btf::clone(btf);
        b.sanitize(&missing).map(|n| {
            tracing::debug!("rewrote {n} BTF types this kernel lacks ({missing:?})");
            b
        })
    });
    let to_load = match &sanitized {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            tracing::warn!("cannot rewrite object BTF for this kernel, loading without it: {e}");
            return (None, false);
        }
        None => btf,
    };
    match to_load.load() {
        Ok(fd) => (Some(fd), !missing.func),
        Err(e) => {
            tracing::warn!("kernel refused the object's BTF, loading without it: {e}");
            (None, false)
        }
    }
}

/// A writable global-data section (`.data`, `.bss`) gets `BPF_F_MMAPABLE` when the kernel
/// has it (v5.5+), as libbpf does, so skeletons can read and write its variables through a
/// memory mapping ([`crate::skel::GlobalData`]). `.rodata` stays as it is: it is frozen.
fn mmapable_data(m: &MapSpec) -> Option<MapSpec> {
    use crate::features::map_flags::BPF_F_MMAPABLE;
    if m.source != MapSource::Data || m.freeze || m.flags & BPF_F_MMAPABLE != 0 {
        return None;
    }
    match crate::features::have_map_flag(Some(MapType::ARRAY), BPF_F_MMAPABLE) {
        Ok(true) => Some(MapSpec {
            flags: m.flags | BPF_F_MMAPABLE,
            ..m.clone()
        }),
        _ => None,
    }
}

fn init_map(map: &Map, m: &MapSpec) -> Result<(), MapError> {
    if let MapInit::Data(data) = &m.init {
        map.update(&0u32.to_ne_bytes(), data, 0)?;
    }
    if m.freeze {
        map.freeze()?;
    }
    Ok(())
}

struct LoadResolver<'a> {
    maps: &'a BTreeMap<String, Map>,
    externs: &'a BTreeMap<String, ExternValue>,
}

impl Resolver for LoadResolver<'_> {
    fn map_fd(&self, name: &str) -> Option<i32> {
        self.maps.get(name).map(|m| m.fd().as_raw_fd())
    }
    fn extern_value(&self, name: &str) -> Option<ExternValue> {
        self.externs.get(name).copied()
    }
}

/// What every program of one load shares.
struct LoadEnv<'a> {
    btf_fd: Option<&'a OwnedFd>,
    /// The kernel takes func/line info with that BTF.
    func_info: bool,
    btf: Option<&'a Btf>,
    kernel: &'a KernelBtfs,
    fd_array: Vec<i32>,
    opts: &'a CollectionOptions,
}

/// The `.kconfig` map spec with its value filled from the kernel configuration.
fn kconfig_map(spec: &CollectionSpec, m: &MapSpec) -> Result<MapSpec, LoadError> {
    let release = crate::btf::kernel::release();
    let data = kconfig::fill(
        spec,
        m.value_size as usize,
        &|| kconfig::read_running_config(&release),
        &kconfig::RunningVirtuals,
    )
    .map_err(|(name, reason)| LoadError::Extern { name, reason })?;
    let mut m = m.clone();
    m.init = MapInit::Data(data);
    Ok(m)
}

fn load_program(
    p: &ProgramSpec,
    resolver: &LoadResolver,
    env: &LoadEnv,
) -> Result<Program, LoadError> {
    let (btf_fd, btf, opts) = (env.btf_fd, env.btf, env.opts);
    let mut insns = reloc::relocate(p, resolver)?;
    let core = core_relocate(p, btf, &mut insns, env.kernel)?;
    let mut req = crate::prog::LoadRequest::new(&p.name, p.prog_type, &insns, &p.license);
    req.expected_attach_type = p.expected_attach_type;
    req.kernel_version = p.kernel_version;
    req.flags = p.flags;
    if let Some(&ifindex) = opts.dev_bound.get(&p.name) {
        if p.prog_type != crate::spec::ProgramType::XDP {
            return Err(LoadError::NotXdp {
                program: p.name.clone(),
                prog_type: p.prog_type,
            });
        }
        req.prog_ifindex = ifindex;
        req.flags |= BPF_F_XDP_DEV_BOUND_ONLY;
    }
    req.attach_btf_id = attach_btf::resolve(p, env.kernel)?.unwrap_or(0);
    req.fd_array = &env.fd_array;
    req.log_level = opts.log_level;
    let func_info = func_info_bytes(&p.func_info);
    let line_info = line_info_bytes(&p.line_info);
    if let Some(fd) = btf_fd {
        req.btf_fd = Some(fd.as_fd());
        if env.func_info && !p.func_info.is_empty() {
            (req.func_info, req.func_info_rec_size, req.func_info_cnt) =
                (&func_info, 8, p.func_info.len() as u32);
        }
        if env.func_info && !p.line_info.is_empty() {
            (req.line_info, req.line_info_rec_size, req.line_info_cnt) =
                (&line_info, 16, p.line_info.len() as u32);
        }
    }
    let lookup = btf.map(|btf| source_lookup(&p.line_info, btf));
    req.source_lookup = lookup.as_ref().map(|f| f as &dyn Fn(u32) -> Option<String>);
    crate::prog::load(&req).map_err(|mut e| {
        if let ProgramError::Verifier { log, hint, .. } = &mut e {
            if let Some(why) = crate::btf::core::explain_verifier_log(&core, log) {
                *hint = Some(why);
            }
        }
        e.into()
    })
}

/// CO-RE against the load's target BTF (no-op without relocations). Module BTFs join the
/// target only when vmlinux leaves a relocation unsatisfied (and the target is the running
/// kernel: sysfs module BTF is split on the running vmlinux, not on external BTF).
fn core_relocate(
    p: &ProgramSpec,
    btf: Option<&Btf>,
    insns: &mut [crate::asm::Insn],
    kb: &KernelBtfs,
) -> Result<Vec<crate::btf::core::CoreResult>, LoadError> {
    use crate::btf::core::{self, CoreKind, CoreOutcome, CoreTarget};
    if p.core_relos.is_empty() {
        return Ok(Vec::new());
    }
    let err = |reason: String| LoadError::CoreBtf {
        program: p.name.clone(),
        reason,
    };
    let local = btf.ok_or_else(|| err("the object has no .BTF".into()))?;
    let target = kb
        .target()
        .map_err(|e| err(format!("apply CO-RE relocations: load kernel spec: {e}")))?;
    let orig = insns.to_vec();
    let btfs = [target.clone()];
    let res = core::relocate(
        &p.name,
        &p.core_relos,
        insns,
        local,
        &CoreTarget { btfs: &btfs },
    )?;
    let unsatisfied = res.iter().any(|r| match &r.outcome {
        CoreOutcome::Poisoned { .. } => true,
        CoreOutcome::Resolved { target_type, .. } => {
            target_type.is_none() && r.kind != CoreKind::TypeIdLocal
        }
    });
    if !unsatisfied || !kb.target_is_running() || kb.modules().is_empty() {
        return Ok(res);
    }
    let mut all = vec![target];
    all.extend(kb.modules().iter().map(|m| m.btf.clone()));
    insns.copy_from_slice(&orig);
    Ok(core::relocate(
        &p.name,
        &p.core_relos,
        insns,
        local,
        &CoreTarget { btfs: &all },
    )?)
}

/// `struct bpf_func_info` records as the kernel reads them.
fn func_info_bytes(fi: &[FuncInfo]) -> Vec<u8> {
    fi.iter()
        .flat_map(|f| [f.insn_off, f.type_id])
        .flat_map(u32::to_ne_bytes)
        .collect()
}

/// `struct bpf_line_info` records as the kernel reads them.
fn line_info_bytes(li: &[LineInfo]) -> Vec<u8> {
    li.iter()
        .flat_map(|l| [l.insn_off, l.file_name_off, l.line_off, l.line_col])
        .flat_map(u32::to_ne_bytes)
        .collect()
}

/// Maps an instruction index to `file:line: source text` through line_info.
pub(crate) fn source_lookup<'a>(
    line_info: &'a [LineInfo],
    btf: &'a Btf,
) -> impl Fn(u32) -> Option<String> + 'a {
    move |insn| {
        let li = line_info
            .iter()
            .filter(|l| l.insn_off <= insn)
            .max_by_key(|l| l.insn_off)?;
        let file = btf.str_at(li.file_name_off).ok()?;
        // Objects built with `-fdebug-compilation-dir=.` record `./file.c`.
        let file = file.strip_prefix("./").unwrap_or(file);
        let text = btf.str_at(li.line_off).unwrap_or("");
        Some(format!("{file}:{}: {}", li.line(), text.trim()))
    }
}
