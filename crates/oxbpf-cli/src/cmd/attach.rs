//! `oxbpf attach|detach|show xdp`.

use crate::output::Output;
use std::process::ExitCode;

/// `oxbpf attach` kinds.
#[derive(clap::Subcommand)]
pub enum AttachKind {}
/// `oxbpf detach` kinds.
#[derive(clap::Subcommand)]
pub enum DetachKind {}
/// `oxbpf show` kinds.
#[derive(clap::Subcommand)]
pub enum ShowKind {}

/// Runs `oxbpf attach`.
pub fn attach(kind: AttachKind, _out: &Output) -> anyhow::Result<ExitCode> {
    match kind {}
}
/// Runs `oxbpf detach`.
pub fn detach(kind: DetachKind, _out: &Output) -> anyhow::Result<ExitCode> {
    match kind {}
}
/// Runs `oxbpf show`.
pub fn show(kind: ShowKind, _out: &Output) -> anyhow::Result<ExitCode> {
    match kind {}
}
