//! `oxbpf btf dump`: the running kernel's (or a file's) BTF as C, JSON Lines or raw bytes.

use crate::output::Output;
use anyhow::Context;
use oxbpf::collection::KernelBtfSource;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `oxbpf btf` subcommands.
#[derive(clap::Subcommand)]
pub enum BtfCmd {
    /// Dump BTF: a compilable `vmlinux.h`-style header (`c`), one JSON object per type
    /// (`json`, JSON Lines), or the raw BTF bytes (`raw`).
    Dump(DumpArgs),
}

/// Output formats of `oxbpf btf dump`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// C header.
    C,
    /// JSON Lines, one object per type.
    Json,
    /// Raw BTF bytes.
    Raw,
}

/// Arguments of `oxbpf btf dump`.
#[derive(clap::Args)]
pub struct DumpArgs {
    /// BTF to dump: raw BTF, `.btf.tar.xz`, an ELF with .BTF, or a BTFHub-style directory;
    /// default the running kernel's.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "c")]
    pub format: Format,
}

/// Runs `oxbpf btf ...`.
pub fn run(cmd: BtfCmd, _out: &Output) -> anyhow::Result<ExitCode> {
    let BtfCmd::Dump(args) = cmd;
    let source = args
        .file
        .as_ref()
        .map(KernelBtfSource::from_path)
        .unwrap_or_default();
    // A file's error already names its path; only the running kernel's needs saying.
    let btf = match &args.file {
        Some(_) => source.load(false)?,
        None => source
            .load(false)
            .context("read BTF of the running kernel")?,
    };
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let res = match args.format {
        Format::C => {
            let text = oxbpf::btf::dump::to_c(&btf).context("dump as C")?;
            w.write_all(text.as_bytes())
        }
        Format::Json => oxbpf::btf::dump::to_json_lines(&btf, &mut w),
        Format::Raw => w.write_all(&btf.to_bytes()),
    };
    match res.and_then(|()| w.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("write to stdout"),
    }
}
