//! `oxbpf xsk fwd --iface IF --queue N`: an AF_XDP forwarder on one interface queue. The
//! default redirect program sends the queue's frames to the socket; each frame's MACs are
//! swapped and it goes back out of the same queue, until SIGINT/SIGTERM or `--seconds`.

use super::attach::Mode;
use crate::output::Output;
use anyhow::Context;
use oxbpf::xsk::{self, BindMode, Socket, SocketConfig, Umem, UmemConfig, XskRedirect};
use serde_json::json;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `oxbpf xsk` subcommands.
#[derive(clap::Subcommand)]
pub enum XskCmd {
    /// Swap MACs and send every frame of one queue back out (AF_XDP).
    Fwd(FwdArgs),
}

/// Arguments of `oxbpf xsk fwd`.
#[derive(clap::Args)]
pub struct FwdArgs {
    /// Interface.
    #[arg(long)]
    pub iface: String,
    /// Queue of the interface.
    #[arg(long, default_value_t = 0)]
    pub queue: u32,
    /// XDP mode of the redirect program.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub xdp_mode: Mode,
    /// Force copy mode (default: zero-copy where the driver supports it).
    #[arg(long, conflicts_with = "zero_copy")]
    pub copy: bool,
    /// Require zero-copy mode.
    #[arg(long)]
    pub zero_copy: bool,
    /// Bind without XDP_USE_NEED_WAKEUP (wake the kernel on every batch).
    #[arg(long)]
    pub no_need_wakeup: bool,
    /// Frames per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Stop after this many seconds (default: on SIGINT/SIGTERM).
    #[arg(long)]
    pub seconds: Option<f64>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Runs `oxbpf xsk ...`.
pub fn run(cmd: XskCmd, out: &Output) -> anyhow::Result<ExitCode> {
    let XskCmd::Fwd(a) = cmd;
    let ifindex = oxbpf::link::Iface::from(&a.iface).index()?;
    let (umem, mut frames) = Umem::new(UmemConfig::default()).context("create the UMEM")?;
    let cfg = SocketConfig {
        mode: match (a.copy, a.zero_copy) {
            (true, _) => BindMode::Copy,
            (_, true) => BindMode::ZeroCopy,
            _ => BindMode::Auto,
        },
        need_wakeup: !a.no_need_wakeup,
        ..Default::default()
    };
    let mut sock = Socket::bind(&umem, ifindex, a.queue, &cfg)
        .with_context(|| format!("bind {} queue {}", a.iface, a.queue))?;
    // Frames to receive into before any frame is redirected (an empty fill ring drops them).
    if let Some(fill) = sock.fill.as_mut() {
        fill.produce(&mut frames)?;
    }
    let redirect = XskRedirect::load(a.queue + 1)?;
    redirect.insert(&sock)?;
    let _link = redirect.attach(ifindex, a.xdp_mode.into())?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    if let Some(s) = a.seconds {
        let s = Duration::try_from_secs_f64(s).context("--seconds")?;
        std::thread::spawn(move || {
            std::thread::sleep(s);
            STOP.store(true, Ordering::Relaxed);
        });
    }
    if let Some(why) = sock.copy_mode_reason() {
        eprintln!("copy mode: {why}");
    }
    eprintln!(
        "forwarding {} queue {} ({} mode, need-wakeup {}); Ctrl-C stops",
        a.iface,
        a.queue,
        if sock.zero_copy() {
            "zero-copy"
        } else {
            "copy"
        },
        if sock.uses_need_wakeup() { "on" } else { "off" }
    );
    let start = Instant::now();
    let st = xsk::forward(&umem, &mut sock, frames, a.batch, &STOP, xsk::swap_macs)?;
    let secs = start.elapsed().as_secs_f64();
    let stats = sock.statistics()?;
    out.emit(
        &json!({"iface": a.iface, "queue": a.queue, "zero_copy": sock.zero_copy(),
                "seconds": secs, "rx": st.rx, "tx": st.tx, "tx_full": st.tx_full,
                "rx_dropped": stats.rx_dropped, "rx_ring_full": stats.rx_ring_full,
                "rx_fill_ring_empty": stats.rx_fill_ring_empty_descs}),
        || {
            format!(
                "{} queue {}: {} frames received, {} sent back, {} dropped (TX ring full) in \
                 {secs:.1} s ({:.3} Mpps); kernel: {} dropped, {} RX ring full\n",
                a.iface,
                a.queue,
                st.rx,
                st.tx,
                st.tx_full,
                st.tx as f64 / secs / 1e6,
                stats.rx_dropped,
                stats.rx_ring_full
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}
