//! Plain, editable descriptions of what an object file asks for: programs, maps, variables.
//!
//! A spec is what [`crate::elf`] produces from ELF bytes with no kernel access: the same file
//! gives the same spec on any machine. Everything kernel-specific (fds, CO-RE, kfunc ids)
//! is decided later, at load, by [`crate::collection`].

mod kinds;

pub use kinds::{AttachType, LinkType, MapType, ProgramType};

use crate::asm::Insn;
use crate::btf::Btf;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything an object file defines, keyed by name (sorted, so output is deterministic).
#[derive(Debug, Clone, Default)]
pub struct CollectionSpec {
    /// Programs by function name.
    pub programs: BTreeMap<String, ProgramSpec>,
    /// Maps by name: BTF-defined, legacy, and global data sections (`.data`, `.rodata`, ...).
    pub maps: BTreeMap<String, MapSpec>,
    /// Global variables by name, each living in a data-section map.
    pub variables: BTreeMap<String, VariableSpec>,
    /// Extern symbols (kfuncs, ksyms, kconfig) by name.
    pub externs: BTreeMap<String, ExternSpec>,
    /// The object's BTF (`.BTF`), if it has one.
    pub btf: Option<Arc<Btf>>,
    /// The `license` section (e.g. `"GPL"`).
    pub license: String,
    /// The `version` section (kernel version code, needed only by old kprobe loaders).
    pub kernel_version: u32,
}

/// One program: its entry function with every subprogram it calls linked after it.
#[derive(Debug, Clone, Default)]
pub struct ProgramSpec {
    /// Function name of the entry point.
    pub name: String,
    /// ELF section it came from (`"xdp"`, `"tp/sched/sched_switch"`, ...).
    pub section: String,
    /// Kernel program type.
    pub prog_type: ProgramType,
    /// `expected_attach_type` to load with, if the section implies one.
    pub expected_attach_type: Option<AttachType>,
    /// Attach target named by the section (`"sched/sched_switch"` for `tp/sched/sched_switch`,
    /// the function for `fentry/do_unlinkat`, ...).
    pub attach_to: Option<String>,
    /// `prog_flags` at load (`BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`, ...).
    pub flags: u32,
    /// Instructions as 8-byte kernel slots (an `ld_imm64` takes two). The entry function
    /// starts at index 0; called `.text` functions follow, with call offsets already fixed up.
    pub instructions: Vec<Insn>,
    /// Instructions that refer to something resolved only at load.
    pub relocations: Vec<Relocation>,
    /// BTF `func_info` records for the linked instructions (`insn_off` in slots).
    pub func_info: Vec<FuncInfo>,
    /// BTF `line_info` records for the linked instructions (`insn_off` in slots).
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations for the linked instructions (`insn_off` in slots).
    pub core_relos: Vec<CoreRelo>,
    /// License, copied from the object for convenience.
    pub license: String,
    /// Kernel version code, copied from the object.
    pub kernel_version: u32,
}

/// A load-time reference from one instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// Index of the instruction slot (the first slot of an `ld_imm64`).
    pub insn: usize,
    /// What it refers to.
    pub target: RelocTarget,
}

/// The target of a [`Relocation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocTarget {
    /// `ld_imm64` of a map fd (`BPF_PSEUDO_MAP_FD`).
    Map(String),
    /// `ld_imm64` of an address inside a map's value (`BPF_PSEUDO_MAP_VALUE`): global data.
    MapValue {
        /// The data-section map.
        map: String,
        /// Byte offset into the value.
        offset: u32,
    },
    /// A call or `ld_imm64` referring to an extern (kfunc, ksym, kconfig variable).
    Extern(String),
}

/// `struct bpf_func_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    /// Instruction slot where the function starts.
    pub insn_off: u32,
    /// BTF id of its `FUNC` type.
    pub type_id: u32,
}

/// `struct bpf_line_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction slot.
    pub insn_off: u32,
    /// Offset of the file name in the BTF string section.
    pub file_name_off: u32,
    /// Offset of the source line text in the BTF string section.
    pub line_off: u32,
    /// `line << 10 | column`.
    pub line_col: u32,
}

impl LineInfo {
    /// Source line number.
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    /// Source column.
    pub fn column(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

/// `struct bpf_core_relo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    /// Instruction slot.
    pub insn_off: u32,
    /// Local BTF type id of the root type.
    pub type_id: u32,
    /// Offset of the access string (`"0:1:2"`) in the BTF string section.
    pub access_str_off: u32,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// Pinning requested by a map definition (`LIBBPF_PIN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pinning {
    /// Not pinned.
    #[default]
    None,
    /// `LIBBPF_PIN_BY_NAME`: pinned as `<pin dir>/<map name>`, reused if it exists.
    ByName,
}

/// One map.
#[derive(Debug, Clone, Default)]
pub struct MapSpec {
    /// Map name (for data sections, the section name, e.g. `".rodata"`).
    pub name: String,
    /// Kernel map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum entries.
    pub max_entries: u32,
    /// `map_flags`.
    pub flags: u32,
    /// `map_extra` (bloom filter hash count, arena address...).
    pub map_extra: u64,
    /// NUMA node, if requested.
    pub numa_node: Option<u32>,
    /// Pinning.
    pub pinning: Pinning,
    /// BTF type id of the key in the object BTF.
    pub key_type_id: Option<u32>,
    /// BTF type id of the value in the object BTF.
    pub value_type_id: Option<u32>,
    /// For map-in-map: the inner map's definition.
    pub inner: Option<Box<MapSpec>>,
    /// Contents written after creation, before programs load.
    pub init: MapInit,
    /// Freeze after initialisation (`.rodata`, `.kconfig`).
    pub freeze: bool,
    /// Which ELF section the map came from, and so how it was defined.
    pub source: MapSource,
}

/// Contents a map gets at load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MapInit {
    /// Nothing.
    #[default]
    Empty,
    /// The whole value at key 0 (global data sections).
    Data(Vec<u8>),
    /// `__array(values, ...)` slots: index → program name (prog arrays) or map name (map-in-map).
    Slots(Vec<(u32, String)>),
}

/// Where a map was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapSource {
    /// A BTF-defined map in `.maps`.
    #[default]
    Btf,
    /// A legacy `struct bpf_map_def` in `maps`.
    Legacy,
    /// A global data section (`.data`, `.rodata`, `.bss`, `.data.*`, `.rodata.*`).
    Data,
    /// The `.kconfig` extern section.
    Kconfig,
}

/// A global variable inside a data-section map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSpec {
    /// Variable name.
    pub name: String,
    /// The data-section map holding it.
    pub map: String,
    /// Byte offset in the map value.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// BTF type id of the variable's type, if the object has BTF.
    pub type_id: Option<u32>,
}

/// What kind of extern a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternKind {
    /// A kernel function called from BPF (`extern ... __ksym` function).
    Kfunc,
    /// A kernel variable (`extern ... __ksym` variable), typed if it has BTF.
    Ksym,
    /// A `.kconfig` variable (`CONFIG_*`, `LINUX_KERNEL_VERSION`...).
    Kconfig,
}

/// An extern symbol the object needs resolved at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternSpec {
    /// Symbol name.
    pub name: String,
    /// Kind.
    pub kind: ExternKind,
    /// Declared `__weak`: missing is not an error (resolves to 0).
    pub weak: bool,
    /// BTF id of its `FUNC`/`VAR` in the object BTF.
    pub type_id: Option<u32>,
    /// For kconfig: offset in the `.kconfig` map value.
    pub offset: u32,
    /// For kconfig: size in bytes.
    pub size: u32,
}

impl CollectionSpec {
    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.get(name)
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.get(name)
    }
}
