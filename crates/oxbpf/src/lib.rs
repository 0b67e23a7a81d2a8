//! oxbpf: load clang-compiled eBPF objects into the running kernel, without libbpf.
//!
//! Flow: ELF bytes → [`spec::CollectionSpec`] (plain, editable, deterministic) → fixups (CO-RE,
//! kfunc, ksym, kconfig, map fds) → kernel objects ([`collection::Collection`]) → links.
//! Kernel-dependent work happens only at load.
//!
//! Attach through the typed methods of [`prog::Program`]: `coll.program("name")?.attach()`
//! uses the target the ELF section names; [`attach_xdp`](prog::Program::attach_xdp),
//! [`attach_tc`](prog::Program::attach_tc) and [`attach_cgroup`](prog::Program::attach_cgroup)
//! take the interface or cgroup the section cannot name. The functions of [`link`] are the
//! low-level layer under them.
//!
//! Cargo features: `btfhub` (read BTFHub `.btf.tar.xz` archives), `kconfig-gz` (read
//! `/proc/config.gz` for `.kconfig` externs) and `json` (BTF as JSON Lines) are on by default
//! and can be turned off to build less; `tokio` (off by default) adds
//! `map::AsyncRingBuf` and `map::AsyncPerfBuffer`, awaiting records with `next().await`.

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
pub mod pin;
pub mod prog;
pub mod skel;
pub mod spec;
pub mod sys;
pub mod token;
pub mod xsk;

/// bytemuck: every `bytemuck::Pod` type is a [`map::Pod`]; derive it on map value and record types.
pub use bytemuck;
pub use error::{Error, Result};
