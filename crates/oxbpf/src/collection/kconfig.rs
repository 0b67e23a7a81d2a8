//! `.kconfig` externs: the `.kconfig` map's value, filled from the kernel configuration
//! (`/boot/config-$(uname -r)`, else `/proc/config.gz`, which needs the `kconfig-gz` cargo
//! feature, on by default) and the virtual `LINUX_*` externs.
//!
//! Semantics follow libbpf's (as facts): an extern's C type decides what values it takes:
//! `bool` takes `y`/`n`; `enum libbpf_tristate` takes `y`/`n`/`m` (1/0/2); `char` (any
//! 1-byte integer) takes `y`/`n`/`m` as the characters or a number; other integers (2, 4, 8
//! bytes) take numbers that must fit; `char[N]` takes a quoted string (truncated to N-1 bytes).
//! `# CONFIG_X is not set` leaves X unset; an unset `__weak` extern is 0, an unset strong one
//! fails the load.

use crate::btf::{Btf, Type};
use crate::spec::{CollectionSpec, ExternKind, ExternSpec};
use std::collections::HashMap;
#[cfg(feature = "kconfig-gz")]
use std::io::Read;

/// How an extern's C type takes config values (libbpf's `kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KcfgType {
    /// `bool`.
    Bool,
    /// `enum libbpf_tristate`.
    Tristate,
    /// A 1-byte integer.
    Char,
    /// An integer of 2, 4 or 8 bytes.
    Int {
        /// Size in bytes.
        size: u32,
        /// Signed.
        signed: bool,
    },
    /// `char[len]`.
    CharArray(u32),
}

/// The type of a kconfig extern from the object's BTF (`var_id` is its `VAR`).
pub fn kcfg_type(btf: &Btf, var_id: u32) -> Option<KcfgType> {
    let Ok(Type::Var(v)) = btf.type_by_id(var_id) else {
        return None;
    };
    type_of(btf, v.type_id)
}

fn type_of(btf: &Btf, id: u32) -> Option<KcfgType> {
    let id = btf.skip_mods_and_typedefs(id).ok()?;
    match btf.type_by_id(id).ok()? {
        Type::Int(i) if i.is_bool() => (i.size == 1).then_some(KcfgType::Bool),
        Type::Int(i) if i.size == 1 => Some(KcfgType::Char),
        Type::Int(i) if matches!(i.size, 2 | 4 | 8) => Some(KcfgType::Int {
            size: i.size,
            signed: i.is_signed(),
        }),
        Type::Enum(e) if e.name == "libbpf_tristate" && e.size == 4 => Some(KcfgType::Tristate),
        Type::Enum64(e) if e.name == "libbpf_tristate" => Some(KcfgType::Tristate),
        Type::Array(a) if a.nelems > 0 && type_of(btf, a.elem_type) == Some(KcfgType::Char) => {
            Some(KcfgType::CharArray(a.nelems))
        }
        _ => None,
    }
}

/// Parses kernel config text into `CONFIG_X` → raw value (`y`, `m`, `250`, `"str"`).
pub fn parse_config(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Reads the running kernel's configuration text; the error says where it looked.
pub fn read_running_config(release: &str) -> Result<String, String> {
    let boot = format!("/boot/config-{release}");
    if let Ok(t) = std::fs::read_to_string(&boot) {
        return Ok(t);
    }
    let gz = "/proc/config.gz";
    match std::fs::File::open(gz) {
        Ok(f) => gunzip(f, gz),
        Err(e) => Err(format!(
            "no kernel config: {boot} absent and {gz}: {e} (CONFIG_IKCONFIG_PROC not set?); \
             hint: declare the CONFIG_* externs __weak to get 0 when unknown"
        )),
    }
}

#[cfg(feature = "kconfig-gz")]
fn gunzip(f: std::fs::File, gz: &str) -> Result<String, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .map_err(|e| format!("{gz}: not valid gzip text: {e}"))?;
    Ok(text)
}

#[cfg(not(feature = "kconfig-gz"))]
fn gunzip(_: std::fs::File, gz: &str) -> Result<String, String> {
    Err(format!(
        "{gz} exists but oxbpf was built without its `kconfig-gz` cargo feature; hint: enable \
         it, or declare the CONFIG_* externs __weak to get 0 when unknown"
    ))
}

/// Writes `raw` (a config value) into `out` for an extern of type `t`.
pub fn encode(t: KcfgType, raw: &str, out: &mut [u8]) -> Result<(), String> {
    let tri = match raw {
        "y" => Some(b'y'),
        "m" => Some(b'm'),
        "n" => Some(b'n'),
        _ => None,
    };
    if let Some(c) = tri {
        return match t {
            KcfgType::Bool if c == b'm' => {
                Err("value 'm' needs a tristate (enum libbpf_tristate) or char extern".into())
            }
            KcfgType::Bool => put(out, (c == b'y') as u64),
            KcfgType::Tristate => put(
                out,
                match c {
                    b'y' => 1,
                    b'm' => 2,
                    _ => 0,
                },
            ),
            KcfgType::Char => put(out, c as u64),
            _ => Err(format!(
                "value '{}' needs a bool, tristate or char extern",
                c as char
            )),
        };
    }
    if let Some(s) = raw.strip_prefix('"') {
        let s = s.strip_suffix('"').ok_or("unterminated string value")?;
        let KcfgType::CharArray(len) = t else {
            return Err(format!("string value {raw} needs a char array extern"));
        };
        let n = s.len().min(len as usize - 1);
        if n < s.len() {
            tracing::warn!("kconfig string {raw} truncated to {} bytes", len - 1);
        }
        out[..n].copy_from_slice(&s.as_bytes()[..n]);
        out[n] = 0;
        return Ok(());
    }
    let (size, signed) = match t {
        KcfgType::Char => (1, false),
        KcfgType::Int { size, signed } => (size, signed),
        _ => return Err(format!("value {raw} needs an integer extern")),
    };
    let v = parse_number(raw).ok_or_else(|| format!("value {raw:?} is not a number"))?;
    if !fits(v, size, signed) {
        return Err(format!(
            "value {raw} does not fit in a {}{}-byte integer",
            if signed { "signed " } else { "" },
            size
        ));
    }
    put(out, v as u64)
}

/// A number as `strtoull(s, 0)`/`strtoll` read it: decimal, `0x` hex, leading-0 octal, `-`.
pub fn parse_number(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(h, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<u64>().ok()?
    } as i128;
    Some(if neg { -v } else { v })
}

fn fits(v: i128, size: u32, signed: bool) -> bool {
    let bits = size * 8;
    if signed {
        let lim = 1i128 << (bits - 1);
        (-lim..lim).contains(&v)
    } else {
        // Negative numbers wrap like strtoull's, within the size.
        let lim = 1i128 << bits;
        (-lim / 2..lim).contains(&v)
    }
}

fn put(out: &mut [u8], v: u64) -> Result<(), String> {
    let n = out.len().min(8);
    out[..n].copy_from_slice(&v.to_le_bytes()[..n]);
    Ok(())
}

/// `KERNEL_VERSION(a, b, c)` of a release string (`"6.1.0-13-amd64"` → 6.1.0), patch capped at 255.
pub fn version_code(release: &str) -> Option<u32> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    if !release.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let a: u32 = parts.next()?.parse().ok()?;
    let b: u32 = parts.next()?.parse().ok()?;
    let c: u32 = release
        .split('.')
        .nth(2)
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Some((a.min(255) << 16) | (b.min(255) << 8) | c.min(255))
}

/// The real kernel version code given `uname -r`, `uname -v` and `/proc/version_signature`:
/// Ubuntu's signature (`"Ubuntu 5.4.0-42.46-generic 5.4.44"`, last field) wins; Debian's
/// `uname -v` (`"#1 SMP Debian 4.19.37-5+deb10u2 (...)"`) carries the upstream patch level
/// that its `uname -r` (`4.19.0-5-amd64`) hides; otherwise the release.
pub fn kernel_version(release: &str, version: &str, signature: Option<&str>) -> Option<u32> {
    if let Some(sig) = signature {
        if let Some(v) = sig.split_whitespace().last().and_then(version_code) {
            return Some(v);
        }
    }
    if let Some(rest) = version.split("Debian ").nth(1) {
        if let Some(v) = rest.split_whitespace().next().and_then(version_code) {
            return Some(v);
        }
    }
    version_code(release)
}

/// The running kernel's version code (see [`kernel_version`]).
pub fn running_kernel_version() -> Option<u32> {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let s = |f: &[libc::c_char]| {
        crate::sys::name_from_bytes(&f.iter().map(|&c| c as u8).collect::<Vec<_>>())
    };
    let sig = std::fs::read_to_string("/proc/version_signature").ok();
    kernel_version(&s(&u.release), &s(&u.version), sig.as_deref())
}

/// Values of the `LINUX_*` virtual externs, decided once per load.
pub trait Virtuals {
    /// `LINUX_KERNEL_VERSION`.
    fn kernel_version(&self) -> Option<u32>;
    /// `LINUX_HAS_BPF_COOKIE`.
    fn has_bpf_cookie(&self) -> bool;
    /// `LINUX_HAS_SYSCALL_WRAPPER`.
    fn has_syscall_wrapper(&self) -> bool;
}

/// The running kernel's virtual values.
pub struct RunningVirtuals;

impl Virtuals for RunningVirtuals {
    fn kernel_version(&self) -> Option<u32> {
        running_kernel_version()
    }
    fn has_bpf_cookie(&self) -> bool {
        probe_helper(crate::spec::ProgramType::TRACEPOINT, 174) // bpf_get_attach_cookie
    }
    fn has_syscall_wrapper(&self) -> bool {
        // libbpf probes a kprobe on the prefixed name; the symbol's presence says the same.
        let prefix = syscall_prefix();
        std::fs::read_to_string("/proc/kallsyms")
            .map(|t| {
                let want = format!("{prefix}sys_bpf");
                t.lines()
                    .any(|l| l.split_whitespace().nth(2) == Some(want.as_str()))
            })
            .unwrap_or(false)
    }
}

/// The architecture's syscall wrapper prefix (`__x64_` on x86-64).
pub fn syscall_prefix() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "__x64_",
        "x86" => "__ia32_",
        "aarch64" => "__arm64_",
        "s390x" => "__s390x_",
        "riscv64" => "__riscv_",
        "powerpc64" => "",
        _ => "",
    }
}

/// True when a program of `prog_type` calling helper `id` loads.
fn probe_helper(prog_type: crate::spec::ProgramType, id: i32) -> bool {
    use crate::asm::Insn;
    let insns = [Insn::call_helper(id), Insn::mov64_imm(0, 0), Insn::exit()];
    let req = crate::prog::LoadRequest::new("oxbpf_probe", prog_type, &insns, "GPL");
    crate::prog::load(&req).is_ok()
}

/// Builds the `.kconfig` value: `size` bytes with every kconfig extern of `spec` filled.
pub fn fill(
    spec: &CollectionSpec,
    size: usize,
    config: &dyn Fn() -> Result<String, String>,
    virt: &dyn Virtuals,
) -> Result<Vec<u8>, (String, String)> {
    let mut data = vec![0u8; size];
    let externs: Vec<&ExternSpec> = spec
        .externs
        .values()
        .filter(|e| e.kind == ExternKind::Kconfig)
        .collect();
    let needs_config = externs.iter().any(|e| !e.name.starts_with("LINUX_"));
    let cfg = if needs_config {
        Some(config().map(|t| parse_config(&t)))
    } else {
        None
    };
    for e in externs {
        let fail = |why: String| (e.name.clone(), why);
        let t = spec
            .btf
            .as_deref()
            .zip(e.type_id)
            .and_then(|(b, id)| kcfg_type(b, id))
            .ok_or_else(|| {
                fail("unsupported kconfig extern type (use bool, enum libbpf_tristate, char, an integer or char[N])".into())
            })?;
        let (start, end) = (e.offset as usize, e.offset as usize + e.size as usize);
        let out = data.get_mut(start..end).ok_or_else(|| {
            fail(format!(
                "offset {start}..{end} past the {size}-byte .kconfig map"
            ))
        })?;
        let raw: Option<String> = match e.name.as_str() {
            "LINUX_KERNEL_VERSION" => virt.kernel_version().map(|v| v.to_string()),
            "LINUX_HAS_BPF_COOKIE" => Some(yn(virt.has_bpf_cookie())),
            "LINUX_HAS_SYSCALL_WRAPPER" => Some(yn(virt.has_syscall_wrapper())),
            n if n.starts_with("LINUX_") => {
                if e.weak {
                    None
                } else {
                    return Err(fail("unknown virtual LINUX_* extern (known: LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER)".into()));
                }
            }
            n => match cfg.as_ref().expect("read above") {
                Ok(map) => map.get(n).cloned(),
                Err(why) if e.weak => {
                    tracing::warn!("{n}: {why}; using 0");
                    None
                }
                Err(why) => return Err(fail(why.clone())),
            },
        };
        match raw {
            Some(raw) => encode(t, &raw, out)
                .map_err(|why| fail(format!("{why} (config has {}={raw})", e.name)))?,
            None if e.weak => {}
            None => {
                return Err(fail(
                    "not set in the kernel config; hint: declare it __weak to get 0 when unset"
                        .into(),
                ))
            }
        }
    }
    Ok(data)
}

fn yn(b: bool) -> String {
    if b { "y" } else { "n" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "kconfig-gz"))]
    #[test]
    fn config_gz_without_the_feature_says_so() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        let e = gunzip(f, "/proc/config.gz").unwrap_err();
        assert_eq!(
            e,
            "/proc/config.gz exists but oxbpf was built without its `kconfig-gz` cargo feature; \
             hint: enable it, or declare the CONFIG_* externs __weak to get 0 when unknown"
        );
    }

    #[test]
    fn versions() {
        assert_eq!(version_code("6.18.44-fc-v769"), Some(0x06122c));
        assert_eq!(version_code("4.19.300"), Some((4 << 16) | (19 << 8) | 255));
        assert_eq!(version_code("5.4"), Some(0x050400));
        assert_eq!(version_code("x"), None);
        let ubuntu = kernel_version(
            "5.4.0-42-generic",
            "#46-Ubuntu SMP",
            Some("Ubuntu 5.4.0-42.46-generic 5.4.44\n"),
        );
        assert_eq!(ubuntu, Some(0x05042c));
        let debian = kernel_version(
            "4.19.0-5-amd64",
            "#1 SMP Debian 4.19.37-5+deb10u2 (2019-08-08)",
            None,
        );
        assert_eq!(debian, Some((4 << 16) | (19 << 8) | 37));
        assert_eq!(kernel_version("6.1.0", "#1 SMP", None), Some(0x060100));
    }

    #[test]
    fn config_values() {
        let cfg =
            parse_config("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_HZ=250\nCONFIG_S=\"abc\"\n");
        assert_eq!(cfg.get("CONFIG_A").map(String::as_str), Some("y"));
        assert!(!cfg.contains_key("CONFIG_B"));
        let mut b = [0u8; 1];
        encode(KcfgType::Bool, "y", &mut b).unwrap();
        assert_eq!(b, [1]);
        assert!(encode(KcfgType::Bool, "m", &mut b).is_err());
        let mut t = [0u8; 4];
        encode(KcfgType::Tristate, "m", &mut t).unwrap();
        assert_eq!(u32::from_le_bytes(t), 2);
        encode(KcfgType::Char, "m", &mut b).unwrap();
        assert_eq!(b, [b'm']);
        let mut i = [0u8; 4];
        encode(
            KcfgType::Int {
                size: 4,
                signed: true,
            },
            "0x10",
            &mut i,
        )
        .unwrap();
        assert_eq!(i32::from_le_bytes(i), 16);
        assert!(encode(
            KcfgType::Int {
                size: 4,
                signed: true
            },
            "y",
            &mut i
        )
        .is_err());
        let mut s = [0xffu8; 3];
        encode(KcfgType::CharArray(3), "\"abcd\"", &mut s).unwrap();
        assert_eq!(&s, b"ab\0");
        let mut s2 = [0u8; 2];
        assert!(encode(
            KcfgType::Int {
                size: 2,
                signed: false
            },
            "70000",
            &mut s2
        )
        .is_err());
        assert!(encode(
            KcfgType::Int {
                size: 2,
                signed: false
            },
            "\"x\"",
            &mut s2
        )
        .is_err());
    }
}
