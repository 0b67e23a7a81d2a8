//! oxbpf: load clang-compiled eBPF objects into the running kernel, without libbpf.
//!
//! Flow: ELF bytes → [`spec::CollectionSpec`] (plain, editable, deterministic) → fixups (CO-RE,
//! kfunc, ksym, kconfig, map fds) → kernel objects ([`collection::Collection`]) → links.
//! Kernel-dependent work happens only at load.

pub mod asm;
pub mod btf;
pub mod collection;
pub mod elf;
pub mod error;
pub mod features;
pub mod gen;
pub mod link;
pub mod map;
pub mod netlink;
pub mod prog;
pub mod skel;
pub mod spec;
pub mod sys;
pub mod token;

pub use error::{Error, Result};
