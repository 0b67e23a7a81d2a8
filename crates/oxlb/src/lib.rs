//! oxlb: an XDP layer-4 load balancer built on oxbpf.
//!
//! Config (TOML) → [`plan::Plan`] (pure, deterministic: Maglev tables depend only on the config)
//! → datapath maps (pinned under bpffs) read by the XDP program in `bpf/oxlb.bpf.c`.

pub mod bgp;
pub mod config;
pub mod daemon;
pub mod datapath;
pub mod decap;
pub mod demo;
pub mod fleet;
pub mod health;
pub mod maglev;
pub mod metrics;
pub mod plan;
pub mod planner;
pub mod stats;
