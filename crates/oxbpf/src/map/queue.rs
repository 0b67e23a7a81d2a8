//! [`Queue`] (FIFO) and [`Stack`] (LIFO): keyless maps with push, pop and peek.

use super::error::MapError;
use super::handle::Map;
use super::pod::{bytes_of, from_bytes, Pod};
use super::view::check;
use crate::spec::MapType;
use crate::sys;
use std::borrow::Borrow;
use std::marker::PhantomData;

macro_rules! keyless {
    ($(#[$doc:meta])* $name:ident, $ty:expr, $view:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<M, V> {
            map: M,
            _v: PhantomData<V>,
        }

        impl<M: Borrow<Map>, V: Pod> $name<M, V> {
            /// Wraps `map`, checking its type and that `V` has its value size.
            pub fn new(map: M) -> Result<Self, MapError> {
                check(map.borrow(), $view, &[$ty], Some(0), Some(std::mem::size_of::<V>()))?;
                Ok($name { map, _v: PhantomData })
            }

            /// The underlying map.
            pub fn map(&self) -> &Map {
                self.map.borrow()
            }

            /// Adds `value`; with `BPF_EXIST` a full map drops its oldest element to make room.
            pub fn push(&self, value: &V, flags: u64) -> Result<(), MapError> {
                let m = self.map();
                sys::map_update_elem(m.fd(), &[], bytes_of(value), flags)
                    .map_err(|e| m.sys_err("push to", e))
            }

            /// Removes and returns the next element; `None` when empty.
            pub fn pop(&self) -> Result<Option<V>, MapError> {
                let m = self.map();
                let mut buf = vec![0u8; std::mem::size_of::<V>()];
                match sys::map_lookup_and_delete_elem(m.fd(), &[], &mut buf) {
                    Ok(()) => Ok(Some(from_bytes(&buf))),
                    Err(e) if e.errno == libc::ENOENT => Ok(None),
                    Err(e) => Err(m.sys_err("pop from", e)),
                }
            }

            /// Returns the next element without removing it; `None` when empty.
            pub fn peek(&self) -> Result<Option<V>, MapError> {
                let m = self.map();
                let mut buf = vec![0u8; std::mem::size_of::<V>()];
                match sys::map_peek_elem(m.fd(), &mut buf) {
                    Ok(()) => Ok(Some(from_bytes(&buf))),
                    Err(e) if e.errno == libc::ENOENT => Ok(None),
                    Err(e) => Err(m.sys_err("peek into", e)),
                }
            }
        }
    };
}

keyless!(
    /// A `BPF_MAP_TYPE_QUEUE`: first in, first out.
    ///
    /// ```no_run
    /// use oxbpf::map::Queue;
    /// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
    /// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
    /// // C: BPF_MAP_TYPE_QUEUE with __type(value, __u32) (no key).
    /// let work = Queue::<_, u32>::new(coll.map("work").unwrap())?;
    /// work.push(&5, 0)?;
    /// while let Some(item) = work.pop()? {
    ///     println!("{item}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Queue, MapType::QUEUE, "Queue"
);
keyless!(
    /// A `BPF_MAP_TYPE_STACK`: last in, first out.
    ///
    /// ```no_run
    /// use oxbpf::map::Stack;
    /// # let spec = oxbpf::elf::load_collection_spec_from_file("prog.bpf.o")?;
    /// # let coll = oxbpf::collection::Collection::load(&spec, &Default::default())?;
    /// // C: BPF_MAP_TYPE_STACK with __type(value, __u64) (no key).
    /// let free = Stack::<_, u64>::new(coll.map("free_slots").unwrap())?;
    /// free.push(&1, 0)?;
    /// assert_eq!(free.peek()?, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Stack, MapType::STACK, "Stack"
);
