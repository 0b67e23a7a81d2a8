//! The `oxlb` binary: run the load balancer, reload it, read its counters, take it down.

use clap::{Parser, Subcommand};
use oxlb::config::Config;
use oxlb::daemon::{self, state, Daemon};
use oxlb::datapath::MapId;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// oxlb: an XDP layer-4 load balancer (Maglev, conntrack, NAT and DSR, IPv4/IPv6).
#[derive(Parser)]
#[command(name = "oxlb", version)]
struct Cli {
    /// Run in this network namespace (from `ip netns add NAME`). Unlike `ip netns exec`, this
    /// keeps the host's bpffs, so pins are shared with other oxlb commands.
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Moves this (still single-threaded) process into the named network namespace.
fn enter_netns(name: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let path = ["/run/netns", "/var/run/netns"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or_else(|| format!("no network namespace {name:?} (see `ip netns list`)"))?;
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: setns on a valid namespace fd; no other threads exist yet.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "enter netns {name}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/oxlb";

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground: load or adopt the datapath, attach XDP, serve.
    Run {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Ask the running daemon to re-read its config (same as SIGHUP).
    Reload {
        /// The daemon's pin dir.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
    /// Print per-VIP and per-backend counters from the pinned maps (no daemon needed).
    Stats {
        /// The datapath's pin dir.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Validate a config and print the plan (no kernel access).
    Check {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Build a topology in network namespaces, balance real TCP through oxlb, check it, tear down.
    Demo {
        /// Forwarding mode (default nat; --fleet: dsr, ipip or gue, default dsr).
        #[arg(long, value_parser = ["nat", "dsr", "ipip", "gue"])]
        mode: Option<String>,
        /// XDP mode.
        #[arg(long, default_value = "driver", value_parser = ["generic", "driver"])]
        xdp_mode: String,
        /// New connections in the distribution round (at most 4000; --fleet: default 2000).
        #[arg(long)]
        connections: Option<usize>,
        /// The fleet lab instead: three LB nodes behind an ECMP router, announced by BGP
        /// through BIRD; nodes die, drain and join under long-lived flows.
        #[arg(long)]
        fleet: bool,
        /// Instead of the usual checks: flood the IPv4 VIP with spoofed SYNs (hping3) for
        /// SECS seconds while keep-alive and new connections must keep working.
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=120))]
        flood: Option<u64>,
        /// With --flood: SYNs per second (hping3 -i); 0 = as fast as hping3 can send.
        #[arg(long, value_name = "PPS", default_value_t = 0)]
        flood_rate: u32,
        /// When the LB answers SYNs to NAT VIPs with SYN cookies (the daemon's `syn_cookies`).
        #[arg(long, value_parser = ["flood", "always", "off"])]
        syn_cookies: Option<String>,
    },
    /// Backend side of ipip/gue VIPs: strip IPIP and GUE addressed to this host with XDP and
    /// hand the inner packet to the local stack (bind the VIP on `lo`). Runs until SIGINT or
    /// SIGTERM, then detaches.
    Decap {
        /// Interface receiving the tunnel packets.
        #[arg(long)]
        iface: String,
        /// Tunnel endpoint address (repeatable); default: every address of the interface.
        #[arg(long = "address", value_name = "ADDR")]
        addresses: Vec<std::net::IpAddr>,
        /// GUE destination UDP port.
        #[arg(long, default_value_t = oxlb::datapath::DEFAULT_GUE_PORT)]
        gue_port: u16,
        /// XDP mode.
        #[arg(long, default_value = "auto", value_parser = ["auto", "generic", "driver"])]
        xdp_mode: String,
    },
    /// Withdraw this node's VIPs from BGP and keep forwarding for a drain period, then report
    /// drained (before stopping or upgrading the node).
    Drain {
        /// The daemon's pin dir.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
        /// How long the datapath keeps forwarding after the withdrawal (e.g. "5s", "500ms").
        #[arg(long, default_value = "5s")]
        period: String,
    },
    /// Stop the daemon, withdraw its VIPs from BGP, detach XDP and remove every pin.
    Down {
        /// The datapath's pin dir.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(ns) = &cli.netns {
        if let Err(e) = enter_netns(ns) {
            eprintln!("oxlb: {e}");
            return ExitCode::FAILURE;
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run { config } => Daemon::start(&config)
            .and_then(Daemon::run)
            .map_err(|e| e.to_string()),
        Command::Reload { pin_dir } => reload(&pin_dir),
        Command::Stats { pin_dir, json } => stats(&pin_dir, json),
        Command::Check { config } => check(&config),
        Command::Down { pin_dir } => down(&pin_dir),
        Command::Decap {
            iface,
            addresses,
            gue_port,
            xdp_mode,
        } => oxlb::decap::run(&oxlb::decap::DecapOptions {
            iface,
            addresses,
            gue_port,
            xdp_mode: match xdp_mode.as_str() {
                "generic" => oxbpf::link::XdpMode::Generic,
                "driver" => oxbpf::link::XdpMode::Driver,
                _ => oxbpf::link::XdpMode::Auto,
            },
        })
        .map_err(|e| e.to_string()),
        Command::Drain { pin_dir, period } => oxlb::config::parse_duration(&period)
            .ok_or_else(|| {
                format!("--period {period:?}: write a duration like \"5s\" or \"500ms\"")
            })
            .and_then(|p| oxlb::bgp::commands::drain(&pin_dir, p))
            .map(|lines| lines.iter().for_each(|l| println!("{l}"))),
        Command::Demo {
            mode,
            xdp_mode,
            connections,
            fleet: true,
            ..
        } => oxlb::demo::fleet::run(&oxlb::demo::fleet::FleetOptions {
            mode: mode.unwrap_or_else(|| "dsr".into()),
            xdp_mode,
            connections: connections.unwrap_or(2000),
        }),
        Command::Demo { mode: Some(m), .. } if m == "ipip" || m == "gue" => Err(format!(
            "--mode {m} needs --fleet (its backends run oxlb decap in their own subnet)"
        )),
        Command::Demo {
            mode,
            xdp_mode,
            connections,
            flood,
            flood_rate,
            syn_cookies,
            fleet: false,
        } => oxlb::demo::run(&oxlb::demo::DemoOptions {
            mode: mode.unwrap_or_else(|| "nat".into()),
            xdp_mode,
            connections: connections.unwrap_or(3000),
            flood,
            flood_rate,
            syn_cookies,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxlb: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sends SIGHUP and waits for the daemon to record the outcome; fails when it kept the old
/// config.
fn reload(pin_dir: &Path) -> Result<(), String> {
    let pid = state::running_pid(pin_dir)
        .ok_or_else(|| format!("no running oxlb daemon for {}", pin_dir.display()))?;
    let before = state::read_reload(pin_dir).map_or(0, |s| s.count);
    // SAFETY: sending a signal to a pid has no memory-safety preconditions.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        return Err(format!(
            "signal pid {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(s) = state::read_reload(pin_dir).filter(|s| s.count > before) {
            if !s.ok {
                return Err(format!(
                    "oxlb (pid {pid}) kept the running config: {}",
                    s.message
                ));
            }
            println!("oxlb (pid {pid}) reloaded: {}", s.message);
            return Ok(());
        }
        if state::running_pid(pin_dir) != Some(pid) {
            return Err(format!(
                "oxlb (pid {pid}) exited before it reported the reload"
            ));
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "oxlb (pid {pid}) did not report the reload within 60 s; see its log"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn check(path: &Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let layout = daemon::layout_for(&config);
    if let Some(w) = oxlb::config::advice::conntrack_warning(&config, layout.nat_port_count) {
        eprintln!("{}: warning: {w}", path.display());
    }
    let limits = oxlb::planner::Limits {
        max_vips: layout.max_vips,
        max_backends: layout.max_backends,
    };
    let plan = oxlb::planner::plan_with_limits(&config, &Default::default(), None, &limits)
        .map_err(|e| e.to_string())?;
    oxlb::datapath::entries(&plan, &layout).map_err(|e| e.to_string())?;
    println!(
        "{}: OK — {} VIPs, Maglev table size {}",
        path.display(),
        plan.vips.len(),
        plan.table_size
    );
    for v in &plan.vips {
        println!("  {} ({}) → {} backends", v.key(), v.mode, v.backends.len());
    }
    println!("  plan digest {}", oxlb::fleet::digest(&plan));
    for w in oxlb::bgp::commands::warnings(&config) {
        println!("{w}");
    }
    Ok(())
}

fn stats(pin_dir: &Path, json: bool) -> Result<(), String> {
    let saved = state::read(pin_dir)
        .ok_or_else(|| format!("no oxlb state for {} (is oxlb running?)", pin_dir.display()))?;
    let maps = daemon::kernel::open_pinned(pin_dir).map_err(|e| e.to_string())?;
    let mut out = serde_json::json!({"vips": [], "reasons": {}});
    let mut text = String::new();
    for v in saved["vips"].as_array().into_iter().flatten() {
        let id = v["id"].as_u64().unwrap_or(0) as u32;
        let c = read_counters(&maps, MapId::VipStats, id)?;
        text += &format!(
            "VIP {} ({}): {} packets, {} bytes, {} new flows\n",
            v["vip"].as_str().unwrap_or("?"),
            v["mode"].as_str().unwrap_or("?"),
            c.0,
            c.1,
            c.2
        );
        let mut backends = Vec::new();
        for b in v["backends"].as_array().into_iter().flatten() {
            let bid = b["id"].as_u64().unwrap_or(0) as u32;
            let bc = read_counters(&maps, MapId::BackendStats, bid)?;
            text += &format!(
                "  backend {}:{} weight {} {}: {} packets, {} bytes, {} new flows\n",
                b["addr"].as_str().unwrap_or("?"),
                b["port"],
                b["weight"],
                if b["healthy"].as_bool().unwrap_or(true) {
                    "up"
                } else {
                    "DOWN"
                },
                bc.0,
                bc.1,
                bc.2
            );
            let mut b = b.clone();
            b["packets"] = bc.0.into();
            b["bytes"] = bc.1.into();
            b["new_flows"] = bc.2.into();
            backends.push(b);
        }
        let mut v = v.clone();
        v["packets"] = c.0.into();
        v["bytes"] = c.1.into();
        v["new_flows"] = c.2.into();
        v["backends"] = backends.into();
        out["vips"].as_array_mut().expect("array").push(v);
    }
    if let Some(d) = saved["digest"].as_str() {
        text += &format!("plan digest {d} (equal on every node of a fleet that forwards alike)\n");
        out["digest"] = d.into();
    }
    if let Some((line, json)) = oxlb::bgp::commands::status_lines(pin_dir) {
        text += &format!("{line}\n");
        out["bgp"] = json;
    }
    text += "datapath:\n";
    for (reason, n) in oxlb::stats::reason_counts(&maps).map_err(|e| e.to_string())? {
        out["reasons"][&reason] = n.into();
        if n > 0 {
            text += &format!("  {reason}: {n}\n");
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    } else {
        print!("{text}");
    }
    Ok(())
}

fn read_counters(
    maps: &std::collections::BTreeMap<MapId, oxbpf::map::Map>,
    map: MapId,
    id: u32,
) -> Result<(u64, u64, u64), String> {
    let s = oxlb::stats::stats_at(&maps[&map], id).map_err(|e| e.to_string())?;
    Ok((s.packets, s.bytes, s.new_flows))
}

fn down(pin_dir: &Path) -> Result<(), String> {
    if let Some(pid) = state::running_pid(pin_dir) {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        for _ in 0..50 {
            if state::running_pid(pin_dir).is_none() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    for line in oxlb::bgp::commands::withdraw_before_down(pin_dir) {
        println!("{line}");
    }
    let ifaces: Vec<String> = state::read(pin_dir)
        .and_then(|s| {
            s["interfaces"].as_array().map(|a| {
                a.iter()
                    .filter_map(|i| i["iface"].as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default();
    for line in daemon::detach_all(pin_dir, &ifaces) {
        println!("{line}");
    }
    for line in daemon::sysctl::restore(&state::sysctls(pin_dir)) {
        println!("restored {line}");
    }
    if pin_dir.exists() {
        std::fs::remove_dir_all(pin_dir)
            .map_err(|e| format!("remove {}: {e}", pin_dir.display()))?;
        println!("removed {}", pin_dir.display());
    }
    state::remove_all(pin_dir);
    Ok(())
}
