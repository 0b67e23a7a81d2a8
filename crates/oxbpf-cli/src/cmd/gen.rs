//! `oxbpf gen skeleton OBJ [--name NAME]`: Rust source for one object (see `oxbpf::gen`),
//! written to stdout, embedding the object by its absolute path.

use crate::output::Output;
use anyhow::Context;
use oxbpf::gen::{name_from_path, skeleton, ObjectRef, SkelOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `oxbpf gen` subcommands.
#[derive(clap::Subcommand)]
pub enum GenCmd {
    /// Print a Rust skeleton of an object: types from its BTF with layout assertions, typed
    /// maps, programs and globals, open → load stages, the object embedded.
    Skeleton(SkeletonArgs),
}

/// Arguments of `oxbpf gen skeleton`.
#[derive(clap::Args)]
pub struct SkeletonArgs {
    /// The BPF object (`.bpf.o`, compiled with `clang -g`).
    pub object: PathBuf,
    /// Module name (default: the object's file name up to the first `.`).
    #[arg(long)]
    pub name: Option<String>,
    /// Also generate this named type (e.g. a ring-buffer record); repeatable.
    #[arg(long = "type", value_name = "NAME")]
    pub types: Vec<String>,
    /// Path written into `include_bytes!` (default: the object's absolute path).
    #[arg(long, value_name = "PATH")]
    pub embed_path: Option<PathBuf>,
}

/// Runs `oxbpf gen`.
pub fn run(cmd: GenCmd, _out: &Output) -> anyhow::Result<ExitCode> {
    let GenCmd::Skeleton(a) = cmd;
    let data = oxbpf::elf::read_bounded(&a.object, oxbpf::elf::MAX_OBJECT_SIZE)?;
    let embed = match a.embed_path {
        Some(p) => p,
        None => std::fs::canonicalize(&a.object)
            .with_context(|| format!("resolve {}", a.object.display()))?,
    };
    let mut opts = SkelOptions::new(
        a.name.unwrap_or_else(|| name_from_path(&a.object)),
        ObjectRef::Path(embed),
    );
    opts.types = a.types;
    let src = skeleton(&data, &opts)
        .with_context(|| format!("generate a skeleton of {}", a.object.display()))?;
    std::io::stdout().lock().write_all(src.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
