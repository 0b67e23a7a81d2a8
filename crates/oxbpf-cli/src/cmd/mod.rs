//! One module per subcommand.

pub mod attach;
pub mod btf;
pub mod check;
mod check_reach;
pub mod ctx_size;
pub mod detach;
pub mod gen;
pub mod inspect;
pub mod load;
pub mod map;
pub mod map_values;
pub mod pin;
pub mod probe;
pub mod run;
mod run_plan;
pub mod xdp_pins;

use anyhow::Context;
use oxbpf::spec::CollectionSpec;
use std::path::Path;

/// Reads an object file (a regular file of at most `MAX_OBJECT_SIZE` bytes) into a spec, with
/// the path in the error.
pub fn read_spec(path: &Path) -> anyhow::Result<CollectionSpec> {
    let data = oxbpf::elf::read_bounded(path, oxbpf::elf::MAX_OBJECT_SIZE)?;
    oxbpf::elf::load_collection_spec(&data).with_context(|| format!("parse {}", path.display()))
}
