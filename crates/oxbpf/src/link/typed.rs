//! Typed attach methods on [`Program`]: each checks the program's type against the hook and
//! takes what the ELF section already says (tracepoint category/name, raw tracepoint, tp_btf/
//! fentry/fexit/lsm target and attach type, kprobe function, tc direction, cgroup attach type),
//! so the caller gives only what the section cannot (an interface, a cgroup path).
//!
//! They call the low-level functions of this module ([`attach_xdp`](super::attach_xdp),
//! [`attach_tracepoint`](super::attach_tracepoint), ...), which stay for programs not loaded
//! from an object or options the typed methods do not take.

use super::cgroup::{attach_cgroup, open_cgroup, CgroupOptions};
use super::perf::{attach_tracepoint, PerfOptions};
use super::probe::{attach_kprobe, attach_uprobe, UprobeOptions, UprobeTarget};
use super::support::Mechanism;
use super::tc::{attach_tc, TcDirection, TcLink, TcOptions};
use super::tracing::{attach_btf_tracing, attach_raw_tracepoint};
use super::xdp::{attach_xdp, XdpLink, XdpMode, XdpOptions};
use super::{Iface, Link, LinkError};
use crate::elf::sections::{classify, AttachKind};
use crate::prog::Program;
use crate::spec::{AttachType, ProgramType as P};
use std::path::Path;

const CGROUP_TYPES: &[P] = &[
    P::CGROUP_SKB,
    P::CGROUP_SOCK,
    P::CGROUP_SOCK_ADDR,
    P::SOCK_OPS,
    P::CGROUP_DEVICE,
    P::CGROUP_SYSCTL,
    P::CGROUP_SOCKOPT,
];

/// Which typed method attaches a program of type `t`.
pub(crate) fn how_to_attach(t: P) -> &'static str {
    match t {
        P::XDP => "an XDP program attaches with attach_xdp(iface, mode)",
        P::SCHED_CLS => "a tc program attaches with attach_tc(iface) or attach_tc_with(iface, direction, options)",
        P::TRACEPOINT => "a tracepoint program attaches with attach() (section tracepoint/<category>/<name>) or attach_tracepoint(category, name)",
        P::RAW_TRACEPOINT | P::RAW_TRACEPOINT_WRITABLE => "a raw tracepoint program attaches with attach() (section raw_tp/<name>) or attach_raw_tracepoint(name)",
        P::KPROBE => "a kprobe program attaches with attach() (section kprobe/<function> or uprobe/<binary>:<function>), attach_kprobe(function) or attach_uprobe(binary, target)",
        P::TRACING | P::LSM => "a tp_btf/fentry/fexit/fmod_ret/lsm program attaches with attach() (its target was fixed at load)",
        t if CGROUP_TYPES.contains(&t) => "a cgroup program attaches with attach_cgroup(path)",
        _ => "see the attach functions in oxbpf::link for this program type",
    }
}

fn describe(types: &[P]) -> String {
    types
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `Err(WrongProgramType)` unless a program of type `t` named `name` fits `hook`.
pub(crate) fn check_type(name: &str, t: P, hook: &'static str, ok: &[P]) -> Result<(), LinkError> {
    if ok.contains(&t) {
        return Ok(());
    }
    Err(LinkError::WrongProgramType {
        program: name.to_string(),
        prog_type: t,
        hook,
        expected: describe(ok),
        hint: how_to_attach(t).to_string(),
    })
}

/// Splits `func[+offset]` (offset decimal or `0x` hex); `whole` names the target in errors.
fn split_offset<'a>(target: &'a str, whole: &str) -> Result<(&'a str, u64), LinkError> {
    let Some((func, off)) = target.split_once('+') else {
        return Ok((target, 0));
    };
    let parsed = match off.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => off.parse(),
    };
    let off = parsed.map_err(|_| LinkError::Invalid {
        what: format!("attach to {whole}"),
        reason: "the offset after '+' is not a number (e.g. func+0x10)".into(),
    })?;
    Ok((func, off))
}

impl Program {
    fn expect(&self, hook: &'static str, ok: &[P]) -> Result<(), LinkError> {
        check_type(self.name(), self.prog_type(), hook, ok)
    }

    fn no_target(&self, reason: String) -> LinkError {
        LinkError::NoTarget {
            program: self.name().to_string(),
            section: self.section().unwrap_or_default().to_string(),
            reason,
        }
    }

    fn section_kind(&self) -> Option<AttachKind> {
        classify(self.section()?).map(|c| c.def.attach)
    }

    /// Attaches to the target the ELF section names: `tracepoint/<category>/<name>`,
    /// `raw_tp/<name>`, `tp_btf/`, `fentry/`, `fexit/`, `fmod_ret/`, `lsm/<target>` (fixed at
    /// load), `kprobe/<function>[+offset]`, `kretprobe/<function>`,
    /// `uprobe/<binary>:<function>[+offset]`, `uretprobe/...`. Programs whose hook needs
    /// something the section cannot say (XDP, tc, cgroup) get an error naming the method to
    /// use. A tracepoint attach may mount tracefs (see
    /// [`attach_tracepoint`](super::attach_tracepoint)).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// // SEC("tracepoint/syscalls/sys_enter_openat") int trace_openat(void *ctx) { ... }
    /// let link = coll.program("trace_openat")?.attach()?;
    /// // ... read maps while it runs; dropping `link` detaches.
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach(&self) -> Result<Link, LinkError> {
        let target = self.attach_to().filter(|t| !t.is_empty());
        let missing = |what: &str| {
            self.no_target(format!(
                "the section names no {what}; hint: {}",
                how_to_attach(self.prog_type())
            ))
        };
        match self.section_kind() {
            Some(AttachKind::Tracepoint) => {
                let t = target.ok_or_else(|| missing("tracepoint"))?;
                let (category, name) = t.split_once('/').ok_or_else(|| {
                    self.no_target(format!(
                        "tracepoint target {t:?} is not <category>/<name>; hint: attach_tracepoint(category, name)"
                    ))
                })?;
                self.attach_tracepoint(category, name)
            }
            Some(AttachKind::RawTracepoint) => {
                self.attach_raw_tracepoint(target.ok_or_else(|| missing("raw tracepoint"))?)
            }
            Some(AttachKind::Tracing | AttachKind::Lsm) => self.attach_btf(),
            Some(AttachKind::Kprobe | AttachKind::Kretprobe) => {
                self.attach_kprobe(target.ok_or_else(|| missing("kernel function"))?)
            }
            Some(AttachKind::Uprobe | AttachKind::Uretprobe) => {
                let t = target.ok_or_else(|| missing("binary and function"))?;
                let (binary, func) = t.rsplit_once(':').ok_or_else(|| {
                    self.no_target(format!(
                        "uprobe target {t:?} is not <binary>:<function>; hint: attach_uprobe(binary, target)"
                    ))
                })?;
                let (func, offset) = split_offset(func, t)?;
                self.attach_uprobe(binary, UprobeTarget::Symbol(func, offset))
            }
            Some(AttachKind::Iter | AttachKind::Extension) => Err(self.no_target(
                "iterators (iter/) and freplace programs are not attached by attach(); hint: see oxbpf::link"
                    .into(),
            )),
            _ if self.section().is_none() => Err(self.no_target(
                "not loaded from an object here (opened from a pin, id or fd), so no section names \
                 its target or attach type; hint: use the functions of oxbpf::link"
                    .into(),
            )),
            _ => Err(self.no_target(format!(
                "attach() needs a section that names its target; hint: {}",
                how_to_attach(self.prog_type())
            ))),
        }
    }

    /// tp_btf/fentry/fexit/fmod_ret/lsm at the target chosen at load, with the section's
    /// attach type.
    fn attach_btf(&self) -> Result<Link, LinkError> {
        self.expect("a BTF tracing attach", &[P::TRACING, P::LSM])?;
        let t = self.expected_attach_type().ok_or_else(|| {
            self.no_target("the section implies no attach type; hint: oxbpf::link::attach_btf_tracing(fd, attach_type, ...)".into())
        })?;
        if t == AttachType::TRACE_ITER || t == AttachType::LSM_CGROUP {
            return Err(self.no_target(format!(
                "{t} programs are not attached by attach(); hint: see oxbpf::link"
            )));
        }
        attach_btf_tracing(self.fd(), t, 0, Mechanism::Auto)
    }

    /// Attaches this `tracepoint` program to tracepoint `category/name` (e.g. `"syscalls"`,
    /// `"sys_enter_openat"`). Mounts tracefs if it is mounted nowhere (logged; see
    /// [`attach_tracepoint`](super::attach_tracepoint)).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// let link = coll.program("on_openat")?.attach_tracepoint("syscalls", "sys_enter_openat")?;
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach_tracepoint(&self, category: &str, name: &str) -> Result<Link, LinkError> {
        self.expect("a tracepoint attach", &[P::TRACEPOINT])?;
        attach_tracepoint(self.fd(), category, name, PerfOptions::default())
    }

    /// Attaches this `raw_tracepoint` program to raw tracepoint `name` (e.g. `"sys_enter"`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// let link = coll.program("raw_sys_enter")?.attach_raw_tracepoint("sys_enter")?;
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach_raw_tracepoint(&self, name: &str) -> Result<Link, LinkError> {
        self.expect(
            "a raw tracepoint attach",
            &[P::RAW_TRACEPOINT, P::RAW_TRACEPOINT_WRITABLE],
        )?;
        attach_raw_tracepoint(self.fd(), name)
    }

    /// Attaches this `kprobe` program to kernel function `target` (`"func"` or
    /// `"func+0x10"`); a return probe when the section is `kretprobe`.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// let link = coll.program("on_unlink")?.attach_kprobe("do_unlinkat")?;
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach_kprobe(&self, target: &str) -> Result<Link, LinkError> {
        self.expect("a kprobe attach", &[P::KPROBE])?;
        let (func, offset) = split_offset(target, target)?;
        let ret = self.section_kind() == Some(AttachKind::Kretprobe);
        attach_kprobe(self.fd(), func, offset, ret, PerfOptions::default())
    }

    /// Attaches this `kprobe`-type program as a uprobe on `binary` at `target` (a symbol
    /// plus offset, or a file offset), system-wide; a return probe when the section is
    /// `uretprobe`. Sections `uprobe/<binary>:<function>` attach with [`attach`](Self::attach).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// use oxbpf::link::UprobeTarget;
    /// let link = coll
    ///     .program("on_readline")?
    ///     .attach_uprobe("/bin/bash", UprobeTarget::Symbol("readline", 0))?;
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach_uprobe(
        &self,
        binary: impl AsRef<Path>,
        target: UprobeTarget,
    ) -> Result<Link, LinkError> {
        self.expect("a uprobe attach", &[P::KPROBE])?;
        let ret = self.section_kind() == Some(AttachKind::Uretprobe);
        let opts = UprobeOptions::default().retprobe(ret);
        attach_uprobe(self.fd(), binary.as_ref(), target, opts)
    }

    /// Attaches this XDP program to `iface` (a name like `"eth0"` or an ifindex) in `mode`
    /// (bpf_link where the kernel has XDP links, netlink otherwise; see
    /// [`attach_xdp`](super::attach_xdp)). The returned [`XdpLink`] can
    /// [`replace`](XdpLink::replace) the program atomically, [`detach`](XdpLink::detach),
    /// [`pin`](XdpLink::pin) or [`keep`](XdpLink::keep) it.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// use oxbpf::link::XdpMode;
    /// let mut link = coll.program("xdp_v1")?.attach_xdp("eth0", XdpMode::Auto)?;
    /// link.replace(coll.program("xdp_v2")?.fd())?; // no gap between the two
    /// link.detach()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach_xdp(&self, iface: impl Into<Iface>, mode: XdpMode) -> Result<XdpLink, LinkError> {
        self.expect("an XDP attach", &[P::XDP])?;
        attach_xdp(self.fd(), iface, mode, XdpOptions::default())
    }

    /// Attaches this `sched_cls` program to `iface` in the direction its section names
    /// (`tc/ingress`, `tcx/egress`, ...): tcx where the kernel has it, a clsact filter
    /// otherwise. A plain `SEC("tc")` names no direction: use
    /// [`attach_tc_with`](Self::attach_tc_with).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// // SEC("tc/ingress") int tc_count(struct __sk_buff *skb) { ... }
    /// let link = coll.program("tc_count")?.attach_tc("eth0")?;
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach_tc(&self, iface: impl Into<Iface>) -> Result<TcLink, LinkError> {
        self.expect("a tc attach", &[P::SCHED_CLS])?;
        let direction = match self.expected_attach_type() {
            Some(AttachType::TCX_INGRESS) => TcDirection::Ingress,
            Some(AttachType::TCX_EGRESS) => TcDirection::Egress,
            _ => return Err(self.no_target(
                "the section names no direction (tc/ingress, tc/egress); hint: attach_tc_with(iface, TcDirection::Ingress, TcOptions::default())".into(),
            )),
        };
        attach_tc(self.fd(), iface, direction, TcOptions::default())
    }

    /// Attaches this `sched_cls` program to `iface` in `direction` with `opts` (ordering,
    /// mechanism, netlink priority); see [`attach_tc`](super::attach_tc).
    pub fn attach_tc_with(
        &self,
        iface: impl Into<Iface>,
        direction: TcDirection,
        opts: TcOptions,
    ) -> Result<TcLink, LinkError> {
        self.expect("a tc attach", &[P::SCHED_CLS])?;
        attach_tc(self.fd(), iface, direction, opts)
    }

    /// Attaches this cgroup program to the cgroup v2 directory `cgroup` at the attach type
    /// its section names (`cgroup_skb/ingress`, `cgroup/connect4`, `sockops`, ...): a cgroup
    /// link where the kernel has them, `BPF_PROG_ATTACH` (multi) otherwise.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let coll: oxbpf::collection::Collection = unimplemented!();
    /// // SEC("cgroup_skb/egress") int count_egress(struct __sk_buff *skb) { ... }
    /// let link = coll.program("count_egress")?.attach_cgroup("/sys/fs/cgroup/my.slice")?;
    /// # drop(link); Ok(())
    /// # }
    /// ```
    pub fn attach_cgroup(&self, cgroup: impl AsRef<Path>) -> Result<Link, LinkError> {
        self.expect("a cgroup attach", CGROUP_TYPES)?;
        let t = self.expected_attach_type().ok_or_else(|| {
            self.no_target("the section names no cgroup attach type (e.g. cgroup/skb); hint: name it (cgroup_skb/ingress, cgroup_skb/egress) or use oxbpf::link::attach_cgroup".into())
        })?;
        let dir = open_cgroup(cgroup)?;
        use std::os::fd::AsFd;
        attach_cgroup(self.fd(), dir.as_fd(), t, CgroupOptions::default())
    }
}
