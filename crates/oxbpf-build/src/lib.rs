//! Build-script helper for crates with BPF programs: compiles `src/bpf/*.bpf.c` with clang
//! into `OUT_DIR` and writes each object's skeleton (`oxbpf::gen`) beside it, so nothing
//! generated is committed. Prints `cargo:rerun-if-changed` for the sources and headers and
//! `cargo:rerun-if-env-changed` for the clang variables.
//!
//! In `build.rs`'s `main`:
//! ```no_run
//! oxbpf_build::Builder::new().build().expect("BPF build");
//! ```
//! and in the crate, for `src/bpf/prog.bpf.c`:
//! `include!(concat!(env!("OUT_DIR"), "/prog.skel.rs"));` then `prog::open()?.load()?`.
//!
//! Clang is the builder's [`Builder::clang`], else `$OXBPF_CLANG`, else `$CLANG`, else the
//! first of `clang-19`, `clang` on `PATH`. Flags: `-g -O2 -target bpf -I<source dir>
//! -I/usr/include/<arch>-linux-gnu -D__TARGET_ARCH_<arch>` (the multiarch directory when it
//! exists) plus [`Builder::flag`]s.

mod clang;

pub use clang::find_clang;

use oxbpf::gen::{name_from_path, skeleton, GenError, ObjectRef, SkelOptions};
use std::path::{Path, PathBuf};

/// Errors from a BPF build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No clang was found.
    #[error("clang not found (tried {tried}); hint: install clang (e.g. apt install clang-19) or set OXBPF_CLANG=/path/to/clang")]
    ClangMissing {
        /// What was tried, in order.
        tried: String,
    },
    /// Clang failed on a source.
    #[error("clang failed on {source_file}: {status}\n{stderr}")]
    Compile {
        /// The C source.
        source_file: PathBuf,
        /// Exit status.
        status: String,
        /// Clang's diagnostics.
        stderr: String,
    },
    /// Reading or writing a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Generating a skeleton failed.
    #[error("skeleton of {object}: {source}")]
    Gen {
        /// The object.
        object: PathBuf,
        /// The generator's error.
        #[source]
        source: GenError,
    },
    /// No output directory: not run from a build script and none set.
    #[error("OUT_DIR is not set; hint: call this from build.rs or set Builder::out_dir")]
    NoOutDir,
}

/// One generated skeleton.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Module name.
    pub name: String,
    /// The object (compiled or given).
    pub object: PathBuf,
    /// The skeleton source file (`NAME.skel.rs`).
    pub skeleton: PathBuf,
}

/// Configures and runs a BPF build.
#[derive(Debug, Clone)]
pub struct Builder {
    clang: Option<PathBuf>,
    flags: Vec<String>,
    source_dir: Option<PathBuf>,
    objects: Vec<(PathBuf, String)>,
    out_dir: Option<PathBuf>,
    rerun: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Compiles `src/bpf/*.bpf.c` (relative to the crate) into `OUT_DIR`.
    pub fn new() -> Self {
        Builder {
            clang: None,
            flags: Vec::new(),
            source_dir: Some(PathBuf::from("src/bpf")),
            objects: Vec::new(),
            out_dir: None,
            rerun: true,
        }
    }

    /// Uses this clang.
    pub fn clang(mut self, path: impl Into<PathBuf>) -> Self {
        self.clang = Some(path.into());
        self
    }

    /// Adds a clang flag.
    pub fn flag(mut self, flag: impl Into<String>) -> Self {
        self.flags.push(flag.into());
        self
    }

    /// Compiles `dir/*.bpf.c` instead of `src/bpf` (`None`: compile nothing).
    pub fn source_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.source_dir = dir;
        self
    }

    /// Also generates a skeleton named `name` for an already built object.
    pub fn object(mut self, path: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        self.objects.push((path.into(), name.into()));
        self
    }

    /// Writes into `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:rerun-if-*` lines (default true).
    pub fn rerun_directives(mut self, on: bool) -> Self {
        self.rerun = on;
        self
    }

    /// Compiles every source, then writes every skeleton.
    pub fn build(self) -> Result<Vec<Generated>, BuildError> {
        let (out, in_out_dir) = match (&self.out_dir, std::env::var_os("OUT_DIR")) {
            (Some(d), _) => (d.clone(), false),
            (None, Some(d)) => (PathBuf::from(d), true),
            (None, None) => return Err(BuildError::NoOutDir),
        };
        let mut objects = self.objects.clone();
        if let Some(dir) = &self.source_dir {
            let sources = self.sources(dir)?;
            if !sources.is_empty() {
                let clang = match &self.clang {
                    Some(c) => c.clone(),
                    None => find_clang()?,
                };
                for src in sources {
                    let name = name_from_path(&src);
                    let obj = out.join(format!("{name}.bpf.o"));
                    clang::compile(&clang, &src, &obj, dir, &self.flags)?;
                    objects.push((obj, name));
                }
            }
        }
        for (obj, _) in &self.objects {
            self.rerun_if_changed(obj);
        }
        if self.rerun {
            println!("cargo:rerun-if-env-changed=OXBPF_CLANG");
            println!("cargo:rerun-if-env-changed=CLANG");
        }
        objects
            .into_iter()
            .map(|(obj, name)| write_skeleton(&out, in_out_dir, obj, name))
            .collect()
    }

    fn rerun_if_changed(&self, path: &Path) {
        if self.rerun {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    /// `dir/*.bpf.c`, sorted, with rerun lines for the directory and every file in it.
    fn sources(&self, dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
        let io = |source| BuildError::Io {
            what: "read directory",
            path: dir.to_path_buf(),
            source,
        };
        if !dir.exists() {
            return Ok(Vec::new());
        }
        self.rerun_if_changed(dir);
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io)? {
            let path = e.map_err(io)?.path();
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
            let file = file.unwrap_or_default();
            if file.ends_with(".c") || file.ends_with(".h") {
                self.rerun_if_changed(&path);
            }
            if file.ends_with(".bpf.c") {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }
}

fn write_skeleton(
    out: &Path,
    in_out_dir: bool,
    obj: PathBuf,
    name: String,
) -> Result<Generated, BuildError> {
    let data = std::fs::read(&obj).map_err(|source| BuildError::Io {
        what: "read",
        path: obj.clone(),
        source,
    })?;
    let abs = std::fs::canonicalize(&obj).unwrap_or_else(|_| obj.clone());
    let object = match abs.strip_prefix(out) {
        Ok(rel) if in_out_dir => ObjectRef::OutDir(rel.to_string_lossy().into_owned()),
        _ => ObjectRef::Path(abs.clone()),
    };
    let src = skeleton(&data, &SkelOptions::new(name.clone(), object)).map_err(|source| {
        BuildError::Gen {
            object: obj.clone(),
            source,
        }
    })?;
    let skel = out.join(format!("{name}.skel.rs"));
    std::fs::write(&skel, src).map_err(|source| BuildError::Io {
        what: "write",
        path: skel.clone(),
        source,
    })?;
    Ok(Generated {
        name,
        object: obj,
        skeleton: skel,
    })
}
