//! The capabilities `oxlb` needs: the demo lab's daemon started as root with only
//! CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON (setpriv with the settings of
//! crates/oxlb/dist/oxlb.service: bounding and ambient set, `noroot` securebits, no new
//! privileges; in the LB namespace joined with nsenter) loads and attaches the datapath,
//! health-checks the backends and forwards IPv4 and IPv6 connections, in NAT and DSR mode;
//! `oxlb stats`, `reload` and `down` work with the same set (down detaches and unpins). With
//! any one of the three missing the daemon exits before attaching and its error names the
//! missing capability.
mod common;

use oxlb::demo::lab::{wait_for, Lab, LabOptions};
use std::net::IpAddr;
use std::process::Command;

/// What crates/oxlb/dist/oxlb.service grants (CapabilityBoundingSet=, AmbientCapabilities=).
const MINIMAL: &str = "-all,+bpf,+net_admin,+perfmon";

fn opts(caps: &str) -> LabOptions {
    LabOptions {
        mode: "nat".into(),
        xdp_mode: "generic".into(),
        exe: env!("CARGO_BIN_EXE_oxlb").into(),
        caps: Some(caps.into()),
        syn_cookies: None,
    }
}

fn have_tools(test: &str) -> bool {
    let ok = ["nsenter", "setpriv"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok());
    if !ok {
        let why = format!("{test}: SKIPPED: nsenter/setpriv (util-linux) not found");
        assert!(
            std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "{why}"
        );
        eprintln!("{why}");
    }
    ok
}

/// `oxlb ARGS --pin-dir PIN` with the unit's settings, in network namespace `ns`.
fn oxlb_with_minimal(ns: &str, args: &[&str], pin: &std::path::Path) -> std::process::Output {
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(["setpriv", "--inh-caps", MINIMAL, "--ambient-caps", MINIMAL])
        .args([
            "--bounding-set",
            MINIMAL,
            "--securebits=+noroot,+noroot_locked",
        ])
        .args(["--no-new-privs", "--", env!("CARGO_BIN_EXE_oxlb")])
        .args(args)
        .arg("--pin-dir")
        .arg(pin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oxlb {args:?} with the minimal set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn runs_and_forwards_with_bpf_net_admin_perfmon_only() {
    let test = "runs_and_forwards_with_bpf_net_admin_perfmon_only";
    if !common::require_kernel(test) || !have_tools(test) {
        return;
    }
    for mode in ["nat", "dsr"] {
        let lab = Lab::start(
            &LabOptions {
                mode: mode.into(),
                ..opts(MINIMAL)
            },
            &[Some(1), Some(1)],
        )
        .expect("lab with the minimal set");
        // The daemon really runs with exactly these capabilities.
        let pid = oxlb::daemon::state::running_pid(&lab.pin_dir).expect("daemon pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(eff, 1 << 39 | 1 << 38 | 1 << 12, "CapEff {eff:x}");
        wait_for("health checks to pass", || {
            (0..2).all(|i| lab.healthy(i) == Some(true))
        })
        .unwrap_or_else(|e| panic!("{mode}: {e}; log:\n{}", lab.log()));
        for vip in [IpAddr::from(lab.t.vip), IpAddr::from(lab.t.vip6)] {
            let answers = lab.round(vip, 20, None);
            let served: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
            assert_eq!(
                served.len(),
                20,
                "{mode} {vip}: {answers:?}; log:\n{}",
                lab.log()
            );
            for b in ["backend-1", "backend-2"] {
                assert!(
                    served.iter().any(|s| *s == b),
                    "{mode} {vip}: {b} never answered"
                );
            }
        }
        // What operators run next to it, with the same set: stats, reload, down.
        let ns = &lab.t.lb.ns;
        oxlb_with_minimal(ns, &["stats"], &lab.pin_dir);
        oxlb_with_minimal(ns, &["reload"], &lab.pin_dir);
        let down = oxlb_with_minimal(ns, &["down"], &lab.pin_dir);
        let text = String::from_utf8_lossy(&down.stdout);
        assert!(
            !lab.pin_dir.exists(),
            "{mode}: pins left after down: {text}"
        );
        let link = Command::new("ip")
            .args(["-n", ns, "link", "show", "dev", &lab.t.lb.dev])
            .output()
            .unwrap();
        let link = String::from_utf8_lossy(&link.stdout);
        assert!(
            !link.contains("xdp"),
            "{mode}: XDP still attached after down: {link}"
        );
        assert!(
            oxlb::daemon::state::running_pid(&lab.pin_dir).is_none(),
            "{mode}: daemon still running"
        );
    }
}

#[test]
fn a_missing_capability_is_named() {
    let test = "a_missing_capability_is_named";
    if !common::require_kernel(test) || !have_tools(test) {
        return;
    }
    for (caps, missing) in [
        ("-all,+bpf,+perfmon", "CAP_NET_ADMIN"),
        ("-all,+bpf,+net_admin", "CAP_PERFMON"),
        ("-all,+net_admin,+perfmon", "CAP_BPF"),
    ] {
        let err = match Lab::start(&opts(caps), &[Some(1)]) {
            Ok(lab) => panic!("{caps}: oxlb ran without {missing}; log:\n{}", lab.log()),
            Err(e) => e,
        };
        eprintln!("--- {caps}:\n{err}");
        assert!(err.contains("oxlb exited"), "{caps}: {err}");
        assert!(
            err.contains(&format!("needs {missing}, which this process lacks")),
            "{caps}: expected the missing {missing} named in:\n{err}"
        );
        assert!(
            !err.contains("run as root") && !err.contains("RLIMIT_MEMLOCK"),
            "{err}"
        );
    }
}
