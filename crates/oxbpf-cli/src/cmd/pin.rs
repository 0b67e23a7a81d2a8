//! `oxbpf load --pin DIR`: pin every program and map of a load under a bpffs directory, or
//! nothing: any failure removes the pins (and directories) this command made.

use oxbpf::collection::Collection;
use oxbpf::pin::{self, PinFailure};
use std::path::{Path, PathBuf};

/// Pins made by one command, removed by [`Pins::undo`] unless kept.
pub struct Pins {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Pins {
    /// Creates `dir` (checking it is on bpffs) before the load, which may pin by-name maps there.
    pub fn prepare(dir: &Path) -> Result<Pins, PinFailure> {
        Ok(Pins {
            dirs: pin::create_dir(dir)?,
            files: Vec::new(),
        })
    }

    /// Pins programs as `DIR/NAME` and maps as `DIR/NAME` without dots (bpffs refuses them:
    /// `.data.foo` → `data_foo`); a map already pinned there (by name) is left as is.
    pub fn pin_all(&mut self, coll: &Collection, dir: &Path) -> Result<(), PinFailure> {
        for (name, prog) in coll.programs() {
            let path = dir.join(name);
            self.files.push(pin::pin(prog.fd(), &path)?);
        }
        for (name, map) in coll.maps() {
            let path = dir.join(name.trim_start_matches('.').replace('.', "_"));
            if map.pin_path() != Some(path.as_path()) {
                self.files.push(pin::pin(map.fd(), &path)?);
            }
        }
        Ok(())
    }

    /// Removes every pin this command made, the load's new by-name map pins, and the
    /// directories it created.
    pub fn undo(self, coll: &mut Collection) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        let _ = coll.remove_created_pins();
        pin::remove_created_dirs(&self.dirs);
    }
}
