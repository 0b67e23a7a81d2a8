//! Kernel maps: an untyped [`Map`] handle (create, open, pin, raw byte operations, batches)
//! and typed views over it, one per map family, that check key/value sizes against [`Pod`]
//! types when built. Views take any `M: Borrow<Map>`, so they can own a map or borrow one
//! from a collection.

mod array;
mod batch;
mod cpus;
mod error;
mod handle;
mod hash;
mod lpm;
pub(crate) mod mmap;
mod of_maps;
mod perf;
mod pin;
mod pod;
mod prog_array;
mod queue;
mod ringbuf;
mod stack_trace;
mod view;
mod xdp;

pub use array::{Array, PerCpuArray};
pub use batch::Entries;
pub use cpus::{nr_possible_cpus, online_cpus, parse_cpu_list, possible_cpus};
pub use error::MapError;
pub use handle::{Keys, Map, BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST};
pub use hash::{HashMap, LruHashMap, LruPerCpuHashMap, PerCpuHashMap};
pub use lpm::LpmTrie;
pub use of_maps::{ArrayOfMaps, HashOfMaps};
pub use perf::{poll_buffers, PerfBuffer, PerfEventArray, PerfRecord};
pub use pod::Pod;
pub use prog_array::ProgramArray;
pub use queue::{Queue, Stack};
pub use ringbuf::{RingBuf, RingBufItem};
pub use stack_trace::StackTraceMap;
pub use xdp::{CpuMap, DevMap, DevMapHash, RedirectEntry, XskMap};
