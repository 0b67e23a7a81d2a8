//! [`Iface`]: a network interface by name or index, accepted wherever an ifindex is.

use super::LinkError;
use crate::netlink::xdp::ifindex;

/// A network interface in the calling thread's network namespace, by name (`"eth0"`) or
/// index; `&str`, `String` and `u32` convert into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Iface {
    /// By interface index.
    Index(u32),
    /// By interface name.
    Name(String),
}

impl Iface {
    /// The interface index (`if_nametoindex` for a name); the error names an unknown name.
    pub fn index(&self) -> Result<u32, LinkError> {
        match self {
            Iface::Index(i) => Ok(*i),
            Iface::Name(n) => Ok(ifindex(n)?),
        }
    }
}

impl From<u32> for Iface {
    fn from(i: u32) -> Self {
        Iface::Index(i)
    }
}

impl From<&str> for Iface {
    fn from(n: &str) -> Self {
        Iface::Name(n.to_string())
    }
}

impl From<String> for Iface {
    fn from(n: String) -> Self {
        Iface::Name(n)
    }
}

impl From<&String> for Iface {
    fn from(n: &String) -> Self {
        Iface::Name(n.clone())
    }
}

impl std::fmt::Display for Iface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Iface::Index(i) => write!(f, "ifindex {i}"),
            Iface::Name(n) => f.write_str(n),
        }
    }
}
