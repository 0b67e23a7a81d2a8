//! Where `oxbpf attach xdp` pins a `bpf_link`, and how `detach` finds every pin of the link it
//! detaches.
//!
//! The default pin is `/sys/fs/bpf/oxbpf/xdp-ns<NETNS INODE>-if<IFINDEX>`: interface names and
//! indexes repeat across network namespaces that share one bpffs (`nsenter --net`), the pair
//! (namespace, index) does not. A `--pin` elsewhere is recorded in
//! `/run/oxbpf/xdp-ns<INODE>-if<IFINDEX>`. A pin counts as the link's only if it opens to that
//! very link (same link id), so a stale record or a foreign file is never removed.

use oxbpf::link::{Link, LinkInfo, LinkTarget};
use oxbpf::spec::LinkType;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Directory of the default link pins.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/oxbpf";
/// Directory of the records of `--pin` paths.
const RECORD_DIR: &str = "/run/oxbpf";

/// The calling process's network namespace and one of its interfaces.
#[derive(Clone, Copy)]
pub struct Place {
    /// Inode of `/proc/self/ns/net`.
    pub netns: u64,
    /// Interface index in that namespace.
    pub ifindex: u32,
}

impl Place {
    /// `ifindex` in the current network namespace.
    pub fn here(ifindex: u32) -> anyhow::Result<Place> {
        let netns = std::fs::metadata("/proc/self/ns/net")
            .map_err(|e| anyhow::anyhow!("read /proc/self/ns/net: {e}"))?
            .ino();
        Ok(Place { netns, ifindex })
    }

    fn key(self) -> String {
        format!("xdp-ns{}-if{}", self.netns, self.ifindex)
    }

    /// The default pin path.
    pub fn default_pin(self) -> PathBuf {
        Path::new(DEFAULT_PIN_DIR).join(self.key())
    }

    fn record(self) -> PathBuf {
        Path::new(RECORD_DIR).join(self.key())
    }

    /// Remembers a `--pin` path for `detach` (best effort: a warning if it cannot).
    pub fn record_pin(self, pin: &Path) {
        let rec = self.record();
        let res = std::fs::create_dir_all(RECORD_DIR)
            .and_then(|()| std::fs::write(&rec, pin.as_os_str().as_encoded_bytes()));
        if let Err(e) = res {
            eprintln!(
                "warning: cannot record the pin path in {}: {e}; `oxbpf detach` will not find {}",
                rec.display(),
                pin.display()
            );
        }
    }

    /// Forgets the recorded `--pin` (after `detach`).
    pub fn forget_record(self) {
        let _ = std::fs::remove_file(self.record());
    }

    /// Every pin of link `link_id` among the default pin, the recorded `--pin` and the
    /// default directory's entries.
    pub fn pins_of(self, link_id: u32) -> Vec<PathBuf> {
        let mut candidates = vec![self.default_pin()];
        if let Ok(p) = std::fs::read(self.record()) {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&p).into_owned()));
        }
        if let Ok(dir) = std::fs::read_dir(DEFAULT_PIN_DIR) {
            candidates.extend(dir.flatten().map(|e| e.path()));
        }
        candidates.sort();
        candidates.dedup();
        candidates
            .into_iter()
            .filter(|p| pinned_link(p).is_some_and(|l| l.id == Some(link_id)))
            .collect()
    }
}

/// Removes default pins (`xdp-ns*`) of links that are no longer attached (their interface or
/// namespace went away): nothing runs through them, they only hold the link and its program.
/// Also forgets records whose pin no longer holds an XDP link on the recorded interface index.
pub fn sweep_stale() {
    for e in std::fs::read_dir(RECORD_DIR)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let ifindex = name
            .rsplit_once("-if")
            .and_then(|(_, i)| i.parse::<u32>().ok());
        let pin = std::fs::read(e.path())
            .map(|p| PathBuf::from(String::from_utf8_lossy(&p).into_owned()));
        let live = match (ifindex, pin) {
            (Some(i), Ok(pin)) => pinned_link(&pin).is_some_and(|l| xdp_ifindex(&l) == Some(i)),
            _ => false,
        };
        if !live {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let Ok(dir) = std::fs::read_dir(DEFAULT_PIN_DIR) else {
        return;
    };
    for e in dir.flatten() {
        let path = e.path();
        if !e.file_name().to_string_lossy().starts_with("xdp-ns") {
            continue;
        }
        if pinned_link(&path).is_some_and(|l| is_detached_xdp(&l))
            && std::fs::remove_file(&path).is_ok()
        {
            eprintln!(
                "removed stale pin {} (its link was detached)",
                path.display()
            );
        }
    }
}

/// The interface index of an XDP link (0 once detached); `None` for other links.
fn xdp_ifindex(l: &LinkInfo) -> Option<u32> {
    match (l.link_type, &l.target) {
        (Some(LinkType::XDP), LinkTarget::Ifindex(i)) => Some(*i),
        _ => None,
    }
}

/// A detached XDP link reports ifindex 0.
pub fn is_detached_xdp(l: &LinkInfo) -> bool {
    xdp_ifindex(l) == Some(0)
}

/// The link pinned at `path`, if a link is pinned there (anything else there: `None`).
pub fn pinned_link(path: &Path) -> Option<LinkInfo> {
    Link::from_pin(path).ok()?.info().ok()
}

/// Waits (up to 2 s) until link `id` is freed; false if something still holds it.
pub fn link_gone(id: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if Link::from_id(id).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
