//! Picks, downloads (`apt-get download`) and unpacks (`dpkg-deb -x`) Debian's 6.1 cloud kernel,
//! and orders the kernel modules the tests need by their `depends=` (`.modinfo`).
//!
//! The package ships no `modules.dep` (depmod runs at install time) and the host has no kmod,
//! so dependencies are read from each module's `.modinfo` section with `object`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection};

/// Modules loaded in the VM when present (built-in ones are skipped): veth pairs, dummy and tun
/// devices, tunnels, tc clsact + cls_bpf/act_bpf, bridge, IPVS.
pub const DEFAULT_MODULES: &[&str] = &[
    "veth",
    "dummy",
    "tun",
    "bridge",
    "vxlan",
    "geneve",
    "ipip",
    "ip_gre",
    "ip6_tunnel",
    "sch_ingress",
    "cls_bpf",
    "act_bpf",
    "sch_fq",
    "ip_vs",
    "ip_vs_rr",
];

/// An unpacked kernel package.
pub struct Kernel {
    /// `uname -r` of the kernel, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    /// The bootable image.
    pub vmlinuz: PathBuf,
    /// `<root>/lib/modules/<release>`.
    modules_dir: PathBuf,
    /// The package's `/boot/config-<release>` (a real Debian system has it; kconfig externs
    /// read it).
    pub config: PathBuf,
}

/// A kernel module to `insmod`, in load order.
pub struct Module {
    /// Normalised name (`_` for `-`).
    pub name: String,
    /// Uncompressed `.ko` on the host.
    pub path: PathBuf,
}

/// Finds (or reuses) the kernel under `work` and returns it unpacked.
pub fn prepare(work: &Path, abi: Option<&str>) -> Result<Kernel, String> {
    let abi = match abi {
        Some(a) => a.to_string(),
        None => match newest_abi() {
            Ok(a) => a,
            Err(e) => cached_abi(work)
                .ok_or_else(|| format!("{e}; no kernel cached under {} either", work.display()))?,
        },
    };
    let release = format!("{abi}-cloud-amd64");
    let package = format!("linux-image-{release}");
    let dir = work.join(format!("kernel-{abi}"));
    let vmlinuz = dir.join("boot").join(format!("vmlinuz-{release}"));
    if !vmlinuz.is_file() {
        let deb = download(work, &package)?;
        let _ = fs::remove_dir_all(&dir);
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
        if !vmlinuz.is_file() {
            return Err(format!("{} has no boot/vmlinuz-{release}", deb.display()));
        }
    }
    Ok(Kernel {
        config: dir.join("boot").join(format!("config-{release}")),
        modules_dir: dir.join("lib/modules").join(&release),
        release,
        vmlinuz,
    })
}

/// Newest `6.1.0-N` with an installable `linux-image-6.1.0-N-cloud-amd64` in apt's lists.
fn newest_abi() -> Result<String, String> {
    let out = run(Command::new("apt-cache").args([
        "search",
        "--names-only",
        r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64$",
    ]))?;
    let mut abis: Vec<u32> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            name.strip_prefix("linux-image-6.1.0-")?
                .strip_suffix("-cloud-amd64")?
                .parse()
                .ok()
        })
        .collect();
    abis.sort_unstable_by(|a, b| b.cmp(a));
    for n in abis {
        let policy = run(Command::new("apt-cache")
            .arg("policy")
            .arg(format!("linux-image-6.1.0-{n}-cloud-amd64")))?;
        let installable = policy
            .lines()
            .any(|l| l.trim().starts_with("Candidate:") && !l.contains("(none)"));
        if installable {
            return Ok(format!("6.1.0-{n}"));
        }
    }
    Err(
        "apt-cache knows no installable linux-image-6.1.0-*-cloud-amd64 \
         (is bookworm in sources.list? run `apt-get update`)"
            .into(),
    )
}

/// Newest `kernel-6.1.0-N` already unpacked under `work` (offline fallback).
fn cached_abi(work: &Path) -> Option<String> {
    let mut found: Vec<(u32, String)> = fs::read_dir(work)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let abi = name.strip_prefix("kernel-")?.to_string();
            let n = abi.strip_prefix("6.1.0-")?.parse().ok()?;
            Some((n, abi))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, abi)| abi)
}

/// `apt-get download <package>` into `work/deb`, unless a `.deb` of it is already there.
fn download(work: &Path, package: &str) -> Result<PathBuf, String> {
    let debs = work.join("deb");
    fs::create_dir_all(&debs).map_err(|e| format!("creating {}: {e}", debs.display()))?;
    let find = || {
        fs::read_dir(&debs).ok().and_then(|rd| {
            rd.flatten().map(|e| e.path()).find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
        })
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    println!("vm-test: apt-get download {package}");
    run(Command::new("apt-get")
        .current_dir(&debs)
        .args(["download", "-q", package]))
    .map_err(|e| format!("{e} (stale apt lists? run `apt-get update`, or pin --kernel)"))?;
    find().ok_or_else(|| {
        format!(
            "apt-get download {package} left no .deb in {}",
            debs.display()
        )
    })
}

impl Kernel {
    /// [`DEFAULT_MODULES`] (those that exist) plus `extra` (which must exist), with their
    /// dependencies, in load order. Built-in modules are left out.
    pub fn modules(&self, extra: &[String]) -> Result<Vec<Module>, String> {
        let files = self.module_files()?;
        let builtin = self.builtin();
        let mut wanted: Vec<String> = DEFAULT_MODULES
            .iter()
            .map(|m| m.to_string())
            .filter(|m| files.contains_key(m))
            .collect();
        for m in extra {
            let m = normalise(m);
            if builtin.contains(&m) {
                continue;
            }
            if !files.contains_key(&m) {
                return Err(format!(
                    "kernel {} has no module {m:?} (neither a .ko nor built in)",
                    self.release
                ));
            }
            wanted.push(m);
        }
        let cache = self.modules_dir.join("uncompressed");
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for m in wanted {
            self.visit(&m, &files, &builtin, &cache, &mut seen, &mut order)?;
        }
        Ok(order)
    }

    /// Depth-first: dependencies before the module that needs them.
    fn visit(
        &self,
        name: &str,
        files: &BTreeMap<String, PathBuf>,
        builtin: &BTreeSet<String>,
        cache: &Path,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<Module>,
    ) -> Result<(), String> {
        if builtin.contains(name) || !seen.insert(name.to_string()) {
            return Ok(());
        }
        let file = files
            .get(name)
            .ok_or_else(|| format!("module {name} is needed but not shipped"))?;
        let path = uncompressed(file, cache)?;
        for dep in depends(&path)? {
            self.visit(&dep, files, builtin, cache, seen, order)?;
        }
        order.push(Module {
            name: name.to_string(),
            path,
        });
        Ok(())
    }

    /// Module name → `.ko[.xz|.zst]` under `kernel/`.
    fn module_files(&self) -> Result<BTreeMap<String, PathBuf>, String> {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.modules_dir.join("kernel")];
        while let Some(dir) = stack.pop() {
            let rd = fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(name) = module_name(&p) {
                    files.insert(name, p);
                }
            }
        }
        Ok(files)
    }

    /// Names listed in `modules.builtin`.
    fn builtin(&self) -> BTreeSet<String> {
        fs::read_to_string(self.modules_dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| module_name(Path::new(l)))
            .collect()
    }
}

/// `.../ip_vs-rr.ko.xz` → `ip_vs_rr`; `None` for other files.
fn module_name(p: &Path) -> Option<String> {
    let file = p.file_name()?.to_str()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    Some(normalise(stem))
}

fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

/// `file` itself if it is a plain `.ko`, else a decompressed copy under `cache`.
fn uncompressed(file: &Path, cache: &Path) -> Result<PathBuf, String> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let tool = if name.ends_with(".ko.xz") {
        "xz"
    } else if name.ends_with(".ko.zst") {
        "zstd"
    } else if name.ends_with(".ko.gz") {
        "gzip"
    } else {
        return Ok(file.to_path_buf());
    };
    fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let out = cache.join(format!("{}.ko", module_name(file).unwrap_or_default()));
    if !out.is_file() {
        let data = Command::new(tool)
            .arg("-dc")
            .arg(file)
            .output()
            .map_err(|e| format!("running {tool} (install it) for {}: {e}", file.display()))?;
        if !data.status.success() {
            return Err(format!("{tool} -dc {} failed", file.display()));
        }
        fs::write(&out, data.stdout).map_err(|e| format!("writing {}: {e}", out.display()))?;
    }
    Ok(out)
}

/// The `depends=` list of a module's `.modinfo` section.
fn depends(ko: &Path) -> Result<Vec<String>, String> {
    let data = fs::read(ko).map_err(|e| format!("reading {}: {e}", ko.display()))?;
    let obj = object::File::parse(&*data).map_err(|e| format!("{}: {e}", ko.display()))?;
    let Some(section) = obj.section_by_name(".modinfo") else {
        return Ok(Vec::new());
    };
    let bytes = section
        .data()
        .map_err(|e| format!("{}: .modinfo: {e}", ko.display()))?;
    Ok(bytes
        .split(|&b| b == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(normalise)
                .collect::<Vec<_>>()
        })
        .filter(|d| !d.is_empty())
        .collect())
}

/// Runs `cmd`, returning stdout; stderr goes to the terminal.
fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
