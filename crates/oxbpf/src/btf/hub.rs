//! BTFHub-style archives: kernel BTF for kernels built without `CONFIG_DEBUG_INFO_BTF`, laid
//! out as `<dir>/<distro>/<version>/<arch>/<uname -r>.btf` or `.btf.tar.xz` (the tarball holds
//! one `<uname -r>.btf`).
//!
//! The file is chosen by the kernel release and architecture; the distribution and its version
//! come from `/etc/os-release` when the exact path exists, otherwise every `<distro>/<version>`
//! under the directory is searched for the release (releases are unique enough in practice:
//! they carry the distribution's ABI suffix).
//!
//! `.tar.xz` is read in-process with `lzma-rs` (pure-Rust xz) and `tar`: no system `xz`/`tar`
//! or liblzma needed, in keeping with a library that has no C dependencies; BTFHub files are
//! a few MiB, so a pure-Rust decoder is fast enough. The readers come with the `btfhub` cargo
//! feature (on by default); without it a `.tar.xz` is refused with an error naming the feature
//! (plain `.btf` files still load).

use super::{Btf, BtfError};
#[cfg(feature = "btfhub")]
use std::io::Read;
use std::path::{Path, PathBuf};

/// Extensions looked for, in order of preference.
const EXTENSIONS: [&str; 2] = ["btf", "btf.tar.xz"];

/// Where to look in a BTFHub-style directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubQuery {
    /// Kernel release (`uname -r`).
    pub release: String,
    /// Architecture directory name (`x86_64`, `arm64`...).
    pub arch: String,
    /// `(ID, VERSION_ID)` from os-release, if known.
    pub distro: Option<(String, String)>,
}

impl HubQuery {
    /// The running system's release, architecture and distribution.
    pub fn running() -> HubQuery {
        HubQuery {
            release: super::kernel::release(),
            arch: btfhub_arch(std::env::consts::ARCH).to_string(),
            distro: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|t| os_release_id(&t)),
        }
    }
}

/// BTFHub's directory name for a Rust architecture name.
pub fn btfhub_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "aarch64" => "arm64",
        other => other,
    }
}

/// `(ID, VERSION_ID)` from the text of `/etc/os-release`.
pub fn os_release_id(text: &str) -> Option<(String, String)> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_string())
        })
    };
    Some((field("ID")?, field("VERSION_ID")?))
}

/// Finds the BTF file for `q` under `dir`; the error lists what was looked for.
pub fn find(dir: &Path, q: &HubQuery) -> Result<PathBuf, BtfError> {
    let mut tried = Vec::new();
    let probe = |base: PathBuf, tried: &mut Vec<String>| {
        for ext in EXTENSIONS {
            let p = base.join(format!("{}.{ext}", q.release));
            if p.is_file() {
                return Some(p);
            }
            tried.push(p.display().to_string());
        }
        None
    };
    if let Some((id, ver)) = &q.distro {
        if let Some(p) = probe(dir.join(id).join(ver).join(&q.arch), &mut tried) {
            return Ok(p);
        }
    }
    for sub in sorted_dirs(dir) {
        for ver in sorted_dirs(&sub) {
            if let Some(p) = probe(ver.join(&q.arch), &mut Vec::new()) {
                return Ok(p);
            }
        }
    }
    tried.push(format!(
        "{}/*/*/{}/{}.{{btf,btf.tar.xz}}",
        dir.display(),
        q.arch,
        q.release
    ));
    Err(BtfError::VmlinuxNotFound {
        release: q.release.clone(),
        tried,
    })
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Finds and parses the BTF for `q` under the BTFHub-style directory `dir`.
pub fn load(dir: &Path, q: &HubQuery) -> Result<Btf, BtfError> {
    let path = find(dir, q)?;
    load_file(&path)
}

/// Parses a `.btf` file, an ELF with `.BTF`, or a `.btf.tar.xz` archive.
pub fn load_file(path: &Path) -> Result<Btf, BtfError> {
    let name = path.to_string_lossy();
    if name.ends_with(".tar.xz") || name.ends_with(".txz") {
        let raw = untar_xz(path)?;
        return super::kernel::from_raw_or_elf(path, raw);
    }
    super::kernel::from_path(path)
}

/// The first regular file of the `.tar.xz` at `path` whose name ends in `.btf` (else the
/// first regular file).
pub fn untar_xz(path: &Path) -> Result<Vec<u8>, BtfError> {
    let bad = |reason: String| BtfError::Elf {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| BtfError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decompress(file, bad)
}

#[cfg(feature = "btfhub")]
fn decompress(file: std::fs::File, bad: impl Fn(String) -> BtfError) -> Result<Vec<u8>, BtfError> {
    let mut tar_bytes = Vec::new();
    lzma_rs::xz_decompress(&mut std::io::BufReader::new(file), &mut tar_bytes)
        .map_err(|e| bad(format!("not a valid .tar.xz (xz: {e})")))?;
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a valid tar inside the xz: {e}")))?;
    let mut first: Option<Vec<u8>> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("bad tar entry: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let is_btf = entry
            .path()
            .map(|p| p.to_string_lossy().ends_with(".btf"))
            .unwrap_or(false);
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("reading tar entry: {e}")))?;
        if is_btf {
            return Ok(data);
        }
        first.get_or_insert(data);
    }
    first.ok_or_else(|| bad("the archive holds no file".into()))
}

#[cfg(not(feature = "btfhub"))]
fn decompress(_: std::fs::File, bad: impl Fn(String) -> BtfError) -> Result<Vec<u8>, BtfError> {
    Err(bad(
        "reading .tar.xz needs oxbpf's `btfhub` cargo feature, which this build turned off; \
         hint: enable it, or extract the .btf file and pass that"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "btfhub"))]
    #[test]
    fn tar_xz_without_the_feature_says_so() {
        let path =
            std::env::temp_dir().join(format!("oxbpf-nofeat-{}.btf.tar.xz", std::process::id()));
        std::fs::write(&path, b"not read").unwrap();
        let e = load_file(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(
            e.contains(
                "reading .tar.xz needs oxbpf's `btfhub` cargo feature, which this build turned off"
            ),
            "{e}"
        );
    }

    #[test]
    fn os_release_fields() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(os_release_id(t), Some(("debian".into(), "12".into())));
        assert_eq!(os_release_id("NAME=x\n"), None);
    }

    #[test]
    fn missing_release_lists_paths() {
        let dir = std::env::temp_dir().join(format!("oxbpf-hub-none-{}", std::process::id()));
        let q = HubQuery {
            release: "1.2.3-test".into(),
            arch: "x86_64".into(),
            distro: Some(("debian".into(), "12".into())),
        };
        let e = find(&dir, &q).unwrap_err().to_string();
        assert!(e.contains("1.2.3-test"), "{e}");
        assert!(e.contains("debian/12/x86_64/1.2.3-test.btf"), "{e}");
    }

    #[test]
    fn garbage_archive_is_an_error() {
        let p =
            std::env::temp_dir().join(format!("oxbpf-hub-bad-{}.btf.tar.xz", std::process::id()));
        std::fs::write(&p, b"not xz at all").unwrap();
        let e = load_file(&p).unwrap_err().to_string();
        let _ = std::fs::remove_file(&p);
        assert!(e.contains("not a valid .tar.xz"), "{e}");
    }
}
