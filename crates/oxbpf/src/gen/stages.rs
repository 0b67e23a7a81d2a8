//! The global sections' structs and live views, and the stages: `open()`, `OpenSkel`
//! (sections editable before load) and `Skel` (maps, programs, sections after load, attach).

use super::ident::ident;
use super::skel::KRATE;
use std::fmt::Write;

/// One global section the skeleton exposes.
pub(super) struct Section {
    /// Map (and ELF section) name, `.bss`.
    pub(super) map: String,
    /// Struct name, `Bss`.
    pub(super) ty: String,
    /// Accessor name, `bss`.
    pub(super) func: String,
    /// `.rodata*`: set before load only.
    pub(super) rodata: bool,
    /// Size in bytes.
    pub(super) size: u32,
    /// Variables: name, Rust type, offset, size.
    pub(super) vars: Vec<(String, String, u32, u32)>,
}

/// A section's struct (packed, fields at the variables' offsets) and, for a writable one,
/// its live view.
pub(super) fn section_items(s: &mut String, sec: &Section) {
    let ty = &sec.ty;
    let _ = writeln!(s, "    /// Global section `{}` ({} bytes): its variables at their offsets.\n    #[repr(C, packed)]\n    #[derive(Clone, Copy, Debug, PartialEq)]\n    pub struct {ty} {{", sec.map, sec.size);
    let mut cursor = 0;
    let mut asserts = String::new();
    for (name, rust, off, size) in &sec.vars {
        if *off < cursor {
            continue; // overlapping symbols: keep the first
        }
        if *off > cursor {
            let _ = writeln!(
                s,
                "        pub(crate) _pad{cursor}: [u8; {}],",
                off - cursor
            );
        }
        let _ = writeln!(
            s,
            "        /// `{name}`.\n        pub {}: {rust},",
            ident(name)
        );
        let _ = writeln!(
            asserts,
            "    const _: () = assert!(::core::mem::offset_of!({ty}, {}) == {off});",
            ident(name)
        );
        cursor = off.saturating_add(*size);
    }
    if sec.size > cursor {
        let _ = writeln!(
            s,
            "        pub(crate) _pad{cursor}: [u8; {}],",
            sec.size - cursor
        );
    }
    let _ = writeln!(
        s,
        "    }}\n\n    // SAFETY: packed, Pod fields, every byte a field.\n    unsafe impl rt::Pod for {ty} {{}}\n    impl Default for {ty} {{\n        fn default() -> Self {{\n            // SAFETY: Pod.\n            unsafe {{ ::core::mem::zeroed() }}\n        }}\n    }}\n    const _: () = assert!(::core::mem::size_of::<{ty}>() == {});\n{asserts}",
        sec.size
    );
    if sec.rodata {
        return;
    }
    let _ = writeln!(s, "    /// `{}` of the loaded object, read and written live through its memory mapping.\n    #[derive(Clone, Copy)]\n    pub struct {ty}View<'a>(&'a rt::GlobalData);\n\n    impl {ty}View<'_> {{\n        /// The whole section (a copy).\n        pub fn get(&self) -> {ty} {{\n            self.0.read(0)\n        }}\n        /// Overwrites the whole section.\n        pub fn set(&self, v: &{ty}) {{\n            self.0.write(0, v)\n        }}", sec.map);
    for (name, rust, off, _) in &sec.vars {
        let _ = writeln!(
            s,
            "        /// `{name}` (live).\n        pub fn {}(&self) -> {rust} {{\n            self.0.read({off})\n        }}\n        /// Writes `{name}` (live).\n        pub fn {}(&self, v: {rust}) {{\n            self.0.write({off}, &v)\n        }}",
            ident(name),
            ident(&format!("set_{name}"))
        );
    }
    let _ = writeln!(s, "    }}\n");
}

/// `open()`, `OpenSkel` and `Skel`.
pub(super) fn stages(s: &mut String, sections: &[Section]) {
    let mut open_fields = String::new();
    let mut open_init = String::new();
    let mut open_acc = String::new();
    let mut set = String::new();
    let mut skel_fields = String::new();
    let mut skel_init = String::new();
    let mut skel_acc = String::new();
    for sec in sections {
        let (f, ty, map) = (&sec.func, &sec.ty, &sec.map);
        let _ = writeln!(open_fields, "        {f}: {ty},");
        let _ = writeln!(
            open_init,
            "        let {f} = rt::section_init(&mut spec, {map:?})?;"
        );
        let _ = writeln!(open_acc, "        /// `{map}` as it will be loaded.\n        pub fn {f}(&self) -> &{ty} {{\n            &self.{f}\n        }}\n        /// `{map}` to edit before load.\n        pub fn {}(&mut self) -> &mut {ty} {{\n            &mut self.{f}\n        }}", ident(&format!("{}_mut", f.trim_start_matches("r#"))));
        let _ = writeln!(
            set,
            "            rt::set_section(&mut self.spec, {map:?}, &self.{f})?;"
        );
        if sec.rodata {
            let _ = writeln!(skel_fields, "        {f}: {ty},");
            let _ = writeln!(skel_init, "            {f}: self.{f},");
            let _ = writeln!(skel_acc, "        /// `{map}` as loaded (frozen: programs and user space only read it).\n        pub fn {f}(&self) -> &{ty} {{\n            &self.{f}\n        }}");
        } else {
            let _ = writeln!(skel_fields, "        {f}: rt::GlobalData,");
            let _ = writeln!(skel_init, "            {f}: rt::GlobalData::new(rt::map(&coll, {map:?})?, ::core::mem::size_of::<{ty}>())?,");
            let _ = writeln!(skel_acc, "        /// `{map}`, live: reads and writes go to the kernel's copy through a memory mapping.\n        pub fn {f}(&self) -> {ty}View<'_> {{\n            {ty}View(&self.{f})\n        }}");
        }
    }
    let _ = writeln!(
        s,
        r#"
    /// Stage one of open → load → attach: parses the embedded object.
    pub fn open() -> Result<OpenSkel, rt::SkelError> {{
        OpenSkel::open()
    }}

    /// The parsed object, before load: global sections can be edited as structs.
    pub struct OpenSkel {{
        spec: {K}::spec::CollectionSpec,
{open_fields}    }}

    impl OpenSkel {{
        /// Parses the embedded object.
        pub fn open() -> Result<Self, rt::SkelError> {{
            let mut spec = rt::open_spec(NAME, &OBJECT.0)?;
{open_init}            Ok(OpenSkel {{ spec, {names} }})
        }}
{open_acc}        /// The parsed object, for changes the skeleton has no accessor for (max_entries...).
        pub fn spec_mut(&mut self) -> &mut {K}::spec::CollectionSpec {{
            &mut self.spec
        }}
        /// Stage two: creates the maps and loads the programs with default options.
        pub fn load(self) -> Result<Skel, rt::SkelError> {{
            self.load_with(&Default::default())
        }}
        /// Stage two with load options (pin directory, programs, verifier log level...).
        pub fn load_with(mut self, opts: &{K}::collection::CollectionOptions) -> Result<Skel, rt::SkelError> {{
{set}            let coll = {K}::collection::Collection::load(&self.spec, opts)?;
            Ok(Skel {{
{skel_init}                coll,
                spec: self.spec,
            }})
        }}
    }}

    /// The loaded object. Stage three: [`Skel::attach`] for programs whose section names
    /// their hook, the `oxbpf::link` functions (on `progs().NAME()?.fd()`) for the others.
    pub struct Skel {{
        coll: {K}::collection::Collection,
        spec: {K}::spec::CollectionSpec,
{skel_fields}    }}

    impl Skel {{
        /// The maps, typed.
        pub fn maps(&self) -> Maps<'_> {{
            Maps(&self.coll)
        }}
        /// The programs.
        pub fn progs(&self) -> Progs<'_> {{
            Progs(&self.coll)
        }}
        /// Stage three: attaches every program whose section names its hook (tracepoint,
        /// raw tracepoint, kprobe, tp_btf, fentry/fexit, lsm); the links detach on drop.
        pub fn attach(&self) -> Result<Vec<(String, {K}::link::Link)>, rt::SkelError> {{
            rt::attach_all(&self.coll, &self.spec)
        }}
        /// The underlying collection.
        pub fn collection(&self) -> &{K}::collection::Collection {{
            &self.coll
        }}
        /// The underlying collection, mutable (to take maps or programs out).
        pub fn collection_mut(&mut self) -> &mut {K}::collection::Collection {{
            &mut self.coll
        }}
{skel_acc}    }}"#,
        K = KRATE,
        names = sections
            .iter()
            .map(|s| s.func.clone())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
