//! Stages the VM's root file system (busybox, guest tools, test executables, their shared
//! libraries, kernel modules, the crates' fixtures) and packs it with `cpio -H newc`.
//!
//! Every ELF keeps its host path, and the libraries `ldd` resolves keep theirs, so the dynamic
//! loader finds them in its default directories. Package directories are copied to their host
//! paths too, so `env!("CARGO_MANIFEST_DIR")`-based fixture paths work unchanged.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::build::TestBinary;
use super::kernel::Module;
use super::tools;

/// The `/init` script.
const INIT: &str = include_str!("init.sh");

/// What goes into the image.
pub struct Contents<'a> {
    /// Test executables, run in this order.
    pub tests: &'a [TestBinary],
    /// Kernel modules, in load order.
    pub modules: &'a [Module],
    /// The kernel's build config, installed as `/boot/config-<release>` when present.
    pub kernel_config: Option<&'a Path>,
    /// Kernel release (for `/lib/modules/<release>`).
    pub release: &'a str,
    /// Extra libtest arguments for every binary (filter, `--skip NAME`).
    pub test_args: &'a [String],
    /// Export `OXBPF_REQUIRE_KERNEL=1`.
    pub require_kernel: bool,
    /// Per-binary time limit.
    pub test_timeout: Duration,
}

/// Builds `work/initramfs.cpio` and returns its path.
pub fn build(work: &Path, c: &Contents) -> Result<PathBuf, String> {
    let stage = work.join("initramfs");
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(|e| format!("removing {}: {e}", stage.display()))?;
    }
    let mut s = Stage {
        root: stage.clone(),
        libs: BTreeSet::new(),
    };
    for dir in ["bin", "etc", "root", "vmtest/bin", "var"] {
        s.mkdir(Path::new(dir))?;
    }
    std::os::unix::fs::symlink("../run", stage.join("var/run")).map_err(io("var/run"))?;
    s.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", false)?;
    s.write("etc/group", "root:x:0:\n", false)?;
    s.write("init", INIT, true)?;

    let busybox = tools::find("busybox").ok_or("busybox not found")?;
    s.copy_elf(&busybox, Path::new("bin/busybox"), false)?;
    for tool in tools::GUEST_TOOLS {
        if let Some(path) = tools::find(tool) {
            s.copy_elf(&path, &rel(&path), false)?;
        }
    }
    // busybox's ash runs its own applets (a tiny `ip`, `tc`, `ping`) before $PATH: tests'
    // `sh -c` get dash, as on the host, when it is there.
    for (link, tool) in [("bin/sh", "dash"), ("bin/bash", "bash")] {
        if let Some(path) = tools::find(tool) {
            std::os::unix::fs::symlink(&path, stage.join(link)).map_err(io(link))?;
        }
    }

    let mut list = String::new();
    for t in c.tests {
        if !t.is_test {
            // Where the tests' CARGO_BIN_EXE_* says it is.
            s.copy_elf(&t.path, &rel(&t.path), true)?;
            continue;
        }
        let file = t
            .path
            .file_name()
            .ok_or("test executable without file name")?;
        let dest = Path::new("vmtest/bin").join(file);
        s.copy_elf(&t.path, &dest, true)?;
        s.copy_tree(&t.manifest_dir)?;
        list.push_str(&format!(
            "{}\t/{}\t{}\n",
            t.name,
            dest.display(),
            t.manifest_dir.display()
        ));
    }
    s.write("vmtest/tests.list", &list, false)?;

    let mods_dir = Path::new("lib/modules").join(c.release).join("vmtest");
    s.mkdir(&mods_dir)?;
    let mut mods = String::new();
    for m in c.modules {
        let dest = mods_dir.join(format!("{}.ko", m.name));
        fs::copy(&m.path, stage.join(&dest)).map_err(io(&m.path))?;
        mods.push_str(&format!("/{}\n", dest.display()));
    }
    s.write("vmtest/modules.list", &mods, false)?;
    if let Some(cfg) = c.kernel_config.filter(|p| p.is_file()) {
        s.mkdir(Path::new("boot"))?;
        let dest = format!("boot/config-{}", c.release);
        fs::copy(cfg, stage.join(&dest)).map_err(io(cfg))?;
    }

    let config = format!(
        "TEST_TIMEOUT={}\nset -- {}\nREQUIRE_KERNEL={}\n",
        c.test_timeout.as_secs().max(1),
        c.test_args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        u8::from(c.require_kernel)
    );
    s.write("vmtest/config", &config, false)?;

    let image = work.join("initramfs.cpio");
    pack(&stage, &image)?;
    Ok(image)
}

/// The staging directory and the libraries already copied.
struct Stage {
    root: PathBuf,
    libs: BTreeSet<PathBuf>,
}

impl Stage {
    fn mkdir(&self, rel: &Path) -> Result<(), String> {
        let p = self.root.join(rel);
        fs::create_dir_all(&p).map_err(io(&p))
    }

    fn write(&self, rel: &str, text: &str, exec: bool) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.root.join(rel);
        fs::write(&p, text).map_err(io(&p))?;
        if exec {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).map_err(io(&p))?;
        }
        Ok(())
    }

    /// Copies an executable (debug info stripped when `strip`) and every library it needs.
    fn copy_elf(&mut self, src: &Path, dest: &Path, strip: bool) -> Result<(), String> {
        let out = self.root.join(dest);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let stripped = strip
            && tools::find("strip").is_some()
            && Command::new("strip")
                .arg("--strip-debug")
                .arg("-o")
                .arg(&out)
                .arg(src)
                .status()
                .is_ok_and(|s| s.success());
        if !stripped {
            fs::copy(src, &out).map_err(io(src))?;
        }
        for lib in shared_libs(src)? {
            if self.libs.insert(lib.clone()) {
                let dest = self.root.join(rel(&lib));
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(io(parent))?;
                }
                fs::copy(&lib, &dest).map_err(io(&lib))?;
            }
        }
        Ok(())
    }

    /// Copies a package directory to its own absolute path, skipping `target` and dot-dirs.
    fn copy_tree(&self, dir: &Path) -> Result<(), String> {
        let dest = self.root.join(rel(dir));
        if dest.exists() {
            return Ok(());
        }
        fs::create_dir_all(&dest).map_err(io(&dest))?;
        for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
            let name = e.file_name();
            let skip = name == "target" || name.to_string_lossy().starts_with('.');
            let path = e.path();
            let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
            if skip {
                continue;
            } else if meta.is_dir() {
                self.copy_tree(&path)?;
            } else if meta.is_file() {
                fs::copy(&path, dest.join(&name)).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

/// Libraries and loader `ldd` lists for `elf` (none for static executables).
fn shared_libs(elf: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(elf)
        .output()
        .map_err(|e| format!("running ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // "not a dynamic executable": nothing to copy.
        return Ok(Vec::new());
    }
    parse_ldd(&text).map_err(|e| format!("ldd {}: {e}", elf.display()))
}

/// Paths in `ldd` output: `libc.so.6 => /lib/.../libc.so.6 (0x..)` and `/lib64/ld-... (0x..)`.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let p = rest.split_whitespace().next().unwrap_or("");
                if p == "not" {
                    return Err(format!("{} not found", name.trim()));
                }
                p
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// `/usr/sbin/ip` → `usr/sbin/ip`.
fn rel(p: &Path) -> PathBuf {
    p.strip_prefix("/").unwrap_or(p).to_path_buf()
}

/// Single-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn io(p: impl AsRef<Path>) -> impl Fn(std::io::Error) -> String {
    let p = p.as_ref().display().to_string();
    move |e| format!("{p}: {e}")
}

/// `cpio -o -H newc` of everything under `stage`, owned by root.
fn pack(stage: &Path, image: &Path) -> Result<(), String> {
    let mut names = Vec::new();
    let mut stack = vec![PathBuf::from(".")];
    while let Some(dir) = stack.pop() {
        names.push(dir.clone());
        let mut entries: Vec<_> = fs::read_dir(stage.join(&dir))
            .map_err(io(&dir))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = dir.join(e.file_name());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            } else {
                names.push(p);
            }
        }
    }
    let out = fs::File::create(image).map_err(io(image))?;
    let mut child = Command::new("cpio")
        .current_dir(stage)
        .args(["-o", "-H", "newc", "-R", "0:0", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .map_err(|e| format!("running cpio: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("cpio stdin")?;
    for n in &names {
        writeln!(stdin, "{}", n.display()).map_err(|e| format!("writing to cpio: {e}"))?;
    }
    drop(stdin);
    let status = child.wait().map_err(|e| format!("cpio: {e}"))?;
    if !status.success() {
        return Err(format!("cpio failed: {status}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(parse_ldd("\tlibfoo.so => not found\n").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
