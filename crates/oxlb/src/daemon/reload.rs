//! Reloading the config into a running daemon: all of it or none of it.

use super::undo::Undo;
use super::{attach, layout_for, metrics_server, state, sysctl, Daemon, DaemonError};
use crate::config::Config;

impl Daemon {
    /// Re-reads the config file and applies it: map entries, interfaces (added ones attached,
    /// removed ones detached, a changed `xdp_mode` re-attached), sysctls, the metrics address
    /// and health checks. When a step fails the running config stays and what was changed is
    /// put back. Returns what was done.
    pub fn reload(&mut self) -> Result<String, DaemonError> {
        let config = Config::load(&self.config_path)?;
        if layout_for(&config) != self.layout || config.global.pin_dir != self.config.global.pin_dir
        {
            return Err(DaemonError::Datapath(
                "maglev table size, conntrack size, NAT timeouts, [encap] or pin dir changed: these need a new \
                 datapath (`oxlb down`, then start oxlb again)"
                    .into(),
            ));
        }
        let pin_dir = config.global.pin_dir.clone();
        let mut undo = Undo::new();
        let metrics = match config.global.metrics_listen != self.config.global.metrics_listen {
            true => Some(metrics_server(&config, &self.plan)?),
            false => None,
        };
        let changes = sysctl::apply_undoable(&config, &mut undo)?;
        let attached = match config.interfaces != self.config.interfaces {
            true => Some(attach::attach_all(
                &config,
                &self.datapath.program,
                &pin_dir,
                &mut undo,
            )?),
            false => None,
        };
        let old = std::mem::replace(&mut self.config, config);
        let old_attached = attached.map(|a| std::mem::replace(&mut self.attached, a));
        let written = match self.replan() {
            Ok(n) => n,
            Err(e) => {
                self.config = old;
                if let Some(a) = old_attached {
                    self.attached = a;
                }
                return Err(e);
            }
        };
        undo.commit();
        let mut done = vec![format!("{written} map entries written")];
        if let Err(e) = state::add_sysctls(&pin_dir, &changes) {
            tracing::warn!("record sysctl changes: {e}");
        }
        if let Some(m) = metrics {
            if let Some(old) = std::mem::replace(&mut self.metrics, m) {
                old.stop();
            }
            done.push("metrics address changed".into());
        }
        if old_attached.is_some() {
            for a in &self.attached {
                done.push(format!("{}: {} mode via {}", a.iface, a.mode, a.path));
            }
            let removed: Vec<String> = old
                .interfaces
                .iter()
                .filter(|i| !self.config.interfaces.iter().any(|n| n.name == i.name))
                .map(|i| i.name.clone())
                .collect();
            done.extend(attach::detach_all(&pin_dir, &removed));
        }
        if let Err(e) = self.start_checks() {
            tracing::error!("{e}");
            done.push(format!("health checks not restarted: {e}"));
        }
        Ok(done.join("; "))
    }
}
