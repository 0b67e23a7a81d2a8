//! BIRD 2 processes for the fleet lab and the BGP tests: one per namespace, in the
//! foreground (so a test can SIGKILL it), with its own control socket, config and log.

use crate::bgp::bird::command;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `bird -f` in a network namespace.
pub struct Bird {
    /// Its control socket.
    pub socket: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Bird {
    /// Writes `conf` as `dir/bird.conf` and starts BIRD in namespace `ns`; waits for its socket.
    pub fn start(ns: &str, dir: &Path, conf: &str) -> Result<Bird, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cfg = dir.join("bird.conf");
        let conf = format!(
            "log \"{}\" {{ info, remote, warning, error, auth, fatal, bug }};\n{conf}",
            dir.join("bird.log").display()
        );
        std::fs::write(&cfg, conf).map_err(|e| format!("{}: {e}", cfg.display()))?;
        let socket = dir.join("bird.ctl");
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::File::create(dir.join("bird.out")).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "bird", "-f", "-c"])
            .arg(&cfg)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join("bird.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!("start bird: {e} (install Debian's bird2: apt-get install bird2)")
            })?;
        let mut bird = Bird {
            socket,
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while command(&bird.socket, "show status").is_err() {
            if let Some(Ok(Some(status))) = bird.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "bird in {ns} exited with {status}: {}",
                    std::fs::read_to_string(dir.join("bird.out")).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("bird in {ns}: no control socket after 5 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(bird)
    }

    /// Runs a `birdc` command; its reply lines.
    pub fn cmd(&self, c: &str) -> Result<Vec<String>, String> {
        command(&self.socket, c).map_err(|e| e.to_string())
    }

    /// Kills BIRD at once (SIGKILL), as a dying machine would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bird.log")).unwrap_or_default()
    }

    /// The directory holding its files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill();
    }
}

/// BGP timers of the lab: BFD every 100 ms (down after 3 missed), hold time 3 s.
pub const BFD_MS: u32 = 100;

/// The router's `bird.conf`: passive BGP sessions from every `(address, as)` in `peers`,
/// BFD, and every learned route installed in the kernel with ECMP (merge paths).
pub fn router_conf(router_id: IpAddr, local_as: u32, peers: &[(IpAddr, u32)]) -> String {
    let mut s = format!(
        "router id {router_id};\nprotocol device {{ scan time 1; }}\n\
         protocol bfd {{ interface \"*\" {{ min rx interval {BFD_MS} ms; min tx interval {BFD_MS} ms; multiplier 3; }}; }}\n"
    );
    for v in ["ipv4", "ipv6"] {
        let _ = writeln!(
            s,
            "protocol kernel {{ {v} {{ import none; export all; }}; merge paths on; }}"
        );
    }
    for (i, (addr, asn)) in peers.iter().enumerate() {
        let v = if addr.is_ipv6() { "ipv6" } else { "ipv4" };
        let _ = writeln!(
            s,
            "protocol bgp lb{i} {{ local as {local_as}; neighbor {addr} as {asn}; hold time 3; keepalive time 1; \
             connect delay time 1; connect retry time 1; error wait time 1, 5; bfd on; {v} {{ import all; export none; }}; }}"
        );
    }
    s
}

/// A node's `bird.conf`: the device protocol and oxlb's include.
pub fn node_conf(include: &Path) -> String {
    format!(
        "protocol device {{ scan time 1; }}\ninclude \"{}\";\n",
        include.display()
    )
}
