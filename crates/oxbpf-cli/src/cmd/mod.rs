//! One module per subcommand.

pub mod attach;
pub mod btf;
pub mod check;
mod check_reach;
pub mod inspect;
pub mod load;
pub mod probe;
pub mod run;
mod run_plan;

use anyhow::Context;
use oxbpf::spec::CollectionSpec;
use std::path::Path;

/// Reads an object file into a spec, with the path in the error.
pub fn read_spec(path: &Path) -> anyhow::Result<CollectionSpec> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    oxbpf::elf::load_collection_spec(&data).with_context(|| format!("parse {}", path.display()))
}
