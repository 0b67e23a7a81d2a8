//! VIPs announced by BGP through an existing daemon (BIRD 2), never a home-made speaker.
//!
//! [`config`] is the `[bgp]` config section, [`bird`] writes BIRD's include and talks to its
//! control socket, [`announcer`] decides what this node announces (attached, healthy, not
//! draining).

pub mod announcer;
pub mod bird;
pub mod commands;
pub mod config;

use std::path::PathBuf;

/// Why BIRD could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    /// Writing the include failed.
    #[error("{path}: {source} (oxlb writes BIRD's include here: check [bgp] include)")]
    Io {
        /// The include.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// BIRD's control socket did not answer.
    #[error("BIRD control socket {socket}: {source} (is bird running with -s {socket}?)")]
    Socket {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// BIRD refused a command (e.g. the config it read has an error).
    #[error("BIRD refused `{command}`: {message}")]
    Bird {
        /// The command.
        command: String,
        /// BIRD's reply.
        message: String,
    },
}

#[cfg(test)]
mod tests;
