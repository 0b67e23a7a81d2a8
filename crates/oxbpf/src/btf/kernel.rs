//! The running kernel's BTF: `/sys/kernel/btf/vmlinux`, else libbpf's well-known vmlinux
//! image paths (ELF files whose `.BTF` section is read). Cached for the process.

use super::{Btf, BtfError};
use object::{Object, ObjectSection};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

static VMLINUX: OnceLock<Arc<Btf>> = OnceLock::new();

/// The running kernel's BTF, found once per process (see [`candidate_paths`]).
pub fn vmlinux() -> Result<Arc<Btf>, BtfError> {
    if let Some(b) = VMLINUX.get() {
        return Ok(b.clone());
    }
    let btf = Arc::new(find_vmlinux(&release())?);
    Ok(VMLINUX.get_or_init(|| btf).clone())
}

/// `uname -r` of the running kernel.
pub fn release() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let bytes: Vec<u8> = u.release.iter().map(|&c| c as u8).collect();
    crate::sys::name_from_bytes(&bytes)
}

/// Where vmlinux BTF is looked for, in order, for kernel `release` (libbpf's list).
pub fn candidate_paths(release: &str) -> Vec<PathBuf> {
    let r = release;
    [
        "/sys/kernel/btf/vmlinux".to_string(),
        format!("/boot/vmlinux-{r}"),
        format!("/lib/modules/{r}/vmlinux-{r}"),
        format!("/lib/modules/{r}/build/vmlinux"),
        format!("/usr/lib/modules/{r}/kernel/vmlinux"),
        format!("/usr/lib/debug/boot/vmlinux-{r}"),
        format!("/usr/lib/debug/boot/vmlinux-{r}.debug"),
        format!("/usr/lib/debug/lib/modules/{r}/vmlinux"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// Finds and parses vmlinux BTF for `release` without the process cache.
pub fn find_vmlinux(release: &str) -> Result<Btf, BtfError> {
    find_in(release, candidate_paths(release))
}

/// Like [`find_vmlinux`] but skipping `/sys/kernel/btf` (as if the kernel exposed no BTF).
pub fn find_vmlinux_without_sysfs(release: &str) -> Result<Btf, BtfError> {
    let paths = candidate_paths(release)
        .into_iter()
        .filter(|p| !p.starts_with("/sys/kernel/btf"))
        .collect();
    find_in(release, paths)
}

/// Names of the kernel modules with BTF in `/sys/kernel/btf` (everything but `vmlinux`), sorted.
pub fn module_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/kernel/btf")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "vmlinux")
        .collect();
    v.sort();
    v
}

/// Parses the first of `paths` that exists (raw BTF or ELF with `.BTF`).
pub fn find_in(release: &str, paths: Vec<PathBuf>) -> Result<Btf, BtfError> {
    let mut tried = Vec::new();
    for p in paths {
        if p.starts_with("/sys/kernel/btf") {
            match Btf::from_file(&p) {
                Err(BtfError::Io { source, .. }) => {
                    tried.push(format!("{} ({})", p.display(), short_io(&source)))
                }
                r => return r,
            }
            continue;
        }
        match std::fs::read(&p) {
            Ok(raw) => return from_raw_or_elf(&p, raw),
            Err(e) => tried.push(format!("{} ({})", p.display(), short_io(&e))),
        }
    }
    Err(BtfError::VmlinuxNotFound {
        release: release.to_string(),
        tried,
    })
}

fn short_io(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "absent",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        _ => "unreadable",
    }
}

/// Parses a file that is raw BTF or an ELF image with a `.BTF` section.
pub fn from_raw_or_elf(path: &Path, raw: Vec<u8>) -> Result<Btf, BtfError> {
    if raw.starts_with(b"\x7fELF") {
        let sec = btf_section_of_elf(path, &raw)?;
        return Btf::parse(sec);
    }
    Btf::parse_vec(raw, None)
}

/// Parses a BTF file or ELF image at `path` (external BTF, e.g. from BTFHub).
pub fn from_path(path: impl AsRef<Path>) -> Result<Btf, BtfError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|source| BtfError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_raw_or_elf(path, raw)
}

fn btf_section_of_elf<'a>(path: &Path, raw: &'a [u8]) -> Result<&'a [u8], BtfError> {
    let elf_err = |reason: String| BtfError::Elf {
        path: path.display().to_string(),
        reason,
    };
    let file = object::File::parse(raw).map_err(|e| elf_err(format!("not a valid ELF: {e}")))?;
    let sec = file.section_by_name(".BTF").ok_or_else(|| {
        elf_err("has no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)".into())
    })?;
    sec.data()
        .map_err(|e| elf_err(format!("reading .BTF: {e}")))
}

/// BTF of a kernel module from `/sys/kernel/btf/<module>`, split on top of vmlinux.
pub fn module(name: &str) -> Result<Btf, BtfError> {
    module_on(name, vmlinux()?)
}

/// BTF of a kernel module from `/sys/kernel/btf/<module>`, split on top of `base`.
pub fn module_on(name: &str, base: Arc<Btf>) -> Result<Btf, BtfError> {
    let path = Path::new("/sys/kernel/btf").join(name);
    let raw = std::fs::read(&path).map_err(|source| BtfError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Btf::parse_vec(raw, Some(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_release_and_hint() {
        let dir = std::env::temp_dir().join(format!("oxbpf-no-btf-{}", std::process::id()));
        let paths = vec![dir.join("vmlinux"), dir.join("boot/vmlinux-9.9.9")];
        let e = find_in("9.9.9-test", paths).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("no BTF found for kernel 9.9.9-test"), "{msg}");
        assert!(msg.contains("--btf"), "{msg}");
        assert!(msg.contains("vmlinux (absent)"), "{msg}");
        assert!(msg.contains("external BTF"), "{msg}");
    }

    #[test]
    fn candidate_paths_follow_libbpf() {
        let p = candidate_paths("6.1.0");
        assert_eq!(p[0], Path::new("/sys/kernel/btf/vmlinux"));
        assert!(p.contains(&PathBuf::from("/boot/vmlinux-6.1.0")));
        assert!(p.contains(&PathBuf::from("/usr/lib/debug/lib/modules/6.1.0/vmlinux")));
        assert_eq!(p.len(), 8);
    }

    #[test]
    fn elf_without_btf_is_a_clear_error() {
        // A minimal valid ELF: this test binary has no .BTF section.
        let exe = std::env::current_exe().unwrap();
        let raw = std::fs::read(&exe).unwrap();
        let e = from_raw_or_elf(&exe, raw).unwrap_err();
        assert!(e.to_string().contains("no .BTF section"), "{e}");
    }
}
