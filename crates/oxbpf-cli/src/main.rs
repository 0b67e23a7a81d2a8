//! `oxbpf`: inspect, load, run, attach and probe eBPF objects.

mod cmd;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Command-line tool for oxbpf.
#[derive(Parser)]
#[command(
    name = "oxbpf",
    version,
    about = "Inspect, load, run and attach eBPF objects (pure Rust, no libbpf)"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List an object's programs, maps, global variables, relocations and externs (no kernel access).
    Inspect(cmd::inspect::Args),
    /// Load an object's maps and programs into the kernel and report each program.
    Load(cmd::load::Args),
    /// Run one program with BPF_PROG_RUN and print its return value, duration and output.
    Run(cmd::run::Args),
    /// Offline compatibility report of an object against kernel BTF (no kernel object created).
    Check(cmd::check::Args),
    /// Work with BTF (dump the running kernel's or a file's).
    Btf {
        #[command(subcommand)]
        cmd: cmd::btf::BtfCmd,
    },
    /// Show maps and dump their entries, typed by their BTF.
    Map {
        #[command(subcommand)]
        cmd: cmd::map::MapCmd,
    },
    /// Attach a program.
    Attach {
        #[command(subcommand)]
        kind: cmd::attach::AttachKind,
    },
    /// Detach what is attached.
    Detach {
        #[command(subcommand)]
        kind: cmd::attach::DetachKind,
    },
    /// Show what is attached.
    Show {
        #[command(subcommand)]
        kind: cmd::attach::ShowKind,
    },
    /// Probe the running kernel: program/map types, helpers, links, BTF kinds, misc.
    Probe(cmd::probe::Args),
    /// Generate Rust from an object (`gen skeleton`).
    Gen {
        #[command(subcommand)]
        cmd: cmd::gen::GenCmd,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = output::Output::new(cli.json);
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a, &out),
        Command::Load(a) => cmd::load::run(a, &out),
        Command::Run(a) => cmd::run::run(a, &out),
        Command::Check(a) => cmd::check::run(a, &out),
        Command::Btf { cmd } => cmd::btf::run(cmd, &out),
        Command::Map { cmd } => cmd::map::run(cmd, &out),
        Command::Attach { kind } => cmd::attach::attach(kind, &out),
        Command::Detach { kind } => cmd::detach::detach(kind, &out),
        Command::Show { kind } => cmd::attach::show(kind, &out),
        Command::Probe(a) => cmd::probe::run(a, &out),
        Command::Gen { cmd } => cmd::gen::run(cmd, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            ExitCode::FAILURE
        }
    }
}
