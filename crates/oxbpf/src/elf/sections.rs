//! Program section names (`SEC("...")`) → program type, expected attach type, load flags and
//! attach target, following the naming convention libbpf established (kernel 6.x subset).
//!
//! The table is plain data: one [`SectionDef`] per recognised prefix, tried in order.

use crate::spec::{AttachType, ProgramType};

/// `BPF_F_SLEEPABLE`: the program may sleep.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS`: the XDP program understands multi-buffer packets.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// How a section name is matched against a [`SectionDef::prefix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The whole name must equal the prefix.
    Exact,
    /// The name equals the prefix, or is `prefix/<target>`.
    ExactOrTarget,
}

/// How a program of this section is attached (a hint for the link layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachKind {
    /// No automatic attachment (attached by the caller: netlink, cgroup, sockmap...).
    Manual,
    /// Kernel probe on function entry (`attach_to` = `func[+offset]`).
    Kprobe,
    /// Kernel probe on function return.
    Kretprobe,
    /// Multi-kprobe link on entry (`attach_to` = glob pattern).
    KprobeMulti,
    /// Multi-kprobe link on return.
    KretprobeMulti,
    /// Kprobe session (entry + return in one program).
    KprobeSession,
    /// User probe on function entry (`attach_to` = `binary:func`).
    Uprobe,
    /// User probe on function return.
    Uretprobe,
    /// Multi-uprobe link on entry.
    UprobeMulti,
    /// Multi-uprobe link on return.
    UretprobeMulti,
    /// Uprobe session.
    UprobeSession,
    /// Kprobe on a syscall's arch-specific wrapper (`attach_to` = syscall name).
    Ksyscall,
    /// Kretprobe on a syscall's wrapper.
    Kretsyscall,
    /// USDT probe (`attach_to` = `binary:provider:name`).
    Usdt,
    /// Classic tracepoint (`attach_to` = `category/name`).
    Tracepoint,
    /// Raw tracepoint (`attach_to` = tracepoint name).
    RawTracepoint,
    /// BTF-typed tracing: `tp_btf`, `fentry`, `fexit`, `fmod_ret` (`attach_to` = BTF name).
    Tracing,
    /// `freplace`: replaces a function of another BPF program.
    Extension,
    /// LSM hook (`attach_to` = hook name).
    Lsm,
    /// BPF iterator (`attach_to` = iterator target).
    Iter,
}

/// One recognised section-name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionDef {
    /// The prefix (`"kprobe"`, `"xdp.frags"`, `"cgroup/connect4"`...).
    pub prefix: &'static str,
    /// How [`prefix`](Self::prefix) is matched.
    pub matching: Match,
    /// Program type.
    pub prog_type: ProgramType,
    /// Expected attach type, if the section implies one.
    pub attach_type: Option<AttachType>,
    /// The kernel may not know the expected attach type; loading may retry without it.
    pub attach_type_optional: bool,
    /// `prog_flags` at load.
    pub prog_flags: u32,
    /// The target is a BTF id (kernel function, hook or other program's function).
    pub attach_btf: bool,
    /// How it is attached.
    pub attach: AttachKind,
}

/// What a section name says about its programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSection<'a> {
    /// The table entry that matched.
    pub def: &'static SectionDef,
    /// The part after `prefix/`, if any.
    pub attach_to: Option<&'a str>,
    /// False for `SEC("?...")`: libbpf's "do not load by default" marker.
    pub autoload: bool,
}

const fn def(
    prefix: &'static str,
    matching: Match,
    prog_type: ProgramType,
    attach_type: Option<AttachType>,
    prog_flags: u32,
    attach: AttachKind,
) -> SectionDef {
    SectionDef {
        prefix,
        matching,
        prog_type,
        attach_type,
        attach_type_optional: false,
        prog_flags,
        attach_btf: false,
        attach,
    }
}

/// Exact name, no attach target.
const fn exact(prefix: &'static str, pt: ProgramType, at: Option<AttachType>) -> SectionDef {
    def(prefix, Match::Exact, pt, at, 0, AttachKind::Manual)
}

/// Exact name whose expected attach type the kernel may not know (cgroup, sockmap, ...).
const fn exact_opt(prefix: &'static str, pt: ProgramType, at: AttachType) -> SectionDef {
    let mut d = exact(prefix, pt, Some(at));
    d.attach_type_optional = true;
    d
}

/// `prefix` or `prefix/target`.
const fn target(
    prefix: &'static str,
    pt: ProgramType,
    at: Option<AttachType>,
    prog_flags: u32,
    attach: AttachKind,
) -> SectionDef {
    def(prefix, Match::ExactOrTarget, pt, at, prog_flags, attach)
}

/// `prefix` or `prefix/target`, with a BTF attach target.
const fn btf(
    prefix: &'static str,
    pt: ProgramType,
    at: Option<AttachType>,
    prog_flags: u32,
    attach: AttachKind,
) -> SectionDef {
    let mut d = target(prefix, pt, at, prog_flags, attach);
    d.attach_btf = true;
    d
}

use AttachKind as K;
use AttachType as A;
use ProgramType as P;

const S: u32 = BPF_F_SLEEPABLE;
const FRAGS: u32 = BPF_F_XDP_HAS_FRAGS;

/// Every recognised section prefix, tried in order (more specific before less specific).
pub static SECTION_DEFS: &[SectionDef] = &[
    exact("socket", P::SOCKET_FILTER, None),
    exact(
        "sk_reuseport/migrate",
        P::SK_REUSEPORT,
        Some(A::SK_REUSEPORT_SELECT_OR_MIGRATE),
    ),
    exact(
        "sk_reuseport",
        P::SK_REUSEPORT,
        Some(A::SK_REUSEPORT_SELECT),
    ),
    target("kprobe", P::KPROBE, None, 0, K::Kprobe),
    target("uprobe", P::KPROBE, None, 0, K::Uprobe),
    target("uprobe.s", P::KPROBE, None, S, K::Uprobe),
    target("kretprobe", P::KPROBE, None, 0, K::Kretprobe),
    target("uretprobe", P::KPROBE, None, 0, K::Uretprobe),
    target("uretprobe.s", P::KPROBE, None, S, K::Uretprobe),
    target(
        "kprobe.multi",
        P::KPROBE,
        Some(A::TRACE_KPROBE_MULTI),
        0,
        K::KprobeMulti,
    ),
    target(
        "kretprobe.multi",
        P::KPROBE,
        Some(A::TRACE_KPROBE_MULTI),
        0,
        K::KretprobeMulti,
    ),
    target(
        "kprobe.session",
        P::KPROBE,
        Some(A::TRACE_KPROBE_SESSION),
        0,
        K::KprobeSession,
    ),
    target(
        "uprobe.multi",
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
        0,
        K::UprobeMulti,
    ),
    target(
        "uretprobe.multi",
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
        0,
        K::UretprobeMulti,
    ),
    target(
        "uprobe.session",
        P::KPROBE,
        Some(A::TRACE_UPROBE_SESSION),
        0,
        K::UprobeSession,
    ),
    target(
        "uprobe.multi.s",
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
        S,
        K::UprobeMulti,
    ),
    target(
        "uretprobe.multi.s",
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
        S,
        K::UretprobeMulti,
    ),
    target(
        "uprobe.session.s",
        P::KPROBE,
        Some(A::TRACE_UPROBE_SESSION),
        S,
        K::UprobeSession,
    ),
    target("ksyscall", P::KPROBE, None, 0, K::Ksyscall),
    target("kretsyscall", P::KPROBE, None, 0, K::Kretsyscall),
    target("usdt", P::KPROBE, None, 0, K::Usdt),
    target("usdt.s", P::KPROBE, None, S, K::Usdt),
    exact("tc/ingress", P::SCHED_CLS, Some(A::TCX_INGRESS)),
    exact("tc/egress", P::SCHED_CLS, Some(A::TCX_EGRESS)),
    exact("tcx/ingress", P::SCHED_CLS, Some(A::TCX_INGRESS)),
    exact("tcx/egress", P::SCHED_CLS, Some(A::TCX_EGRESS)),
    exact("tc", P::SCHED_CLS, None),
    exact("classifier", P::SCHED_CLS, None),
    exact("action", P::SCHED_ACT, None),
    exact("netkit/primary", P::SCHED_CLS, Some(A::NETKIT_PRIMARY)),
    exact("netkit/peer", P::SCHED_CLS, Some(A::NETKIT_PEER)),
    target("tracepoint", P::TRACEPOINT, None, 0, K::Tracepoint),
    target("tp", P::TRACEPOINT, None, 0, K::Tracepoint),
    target("tracepoint.s", P::TRACEPOINT, None, S, K::Tracepoint),
    target("tp.s", P::TRACEPOINT, None, S, K::Tracepoint),
    target(
        "raw_tracepoint",
        P::RAW_TRACEPOINT,
        None,
        0,
        K::RawTracepoint,
    ),
    target("raw_tp", P::RAW_TRACEPOINT, None, 0, K::RawTracepoint),
    target(
        "raw_tracepoint.s",
        P::RAW_TRACEPOINT,
        None,
        S,
        K::RawTracepoint,
    ),
    target("raw_tp.s", P::RAW_TRACEPOINT, None, S, K::RawTracepoint),
    target(
        "raw_tracepoint.w",
        P::RAW_TRACEPOINT_WRITABLE,
        None,
        0,
        K::RawTracepoint,
    ),
    target(
        "raw_tp.w",
        P::RAW_TRACEPOINT_WRITABLE,
        None,
        0,
        K::RawTracepoint,
    ),
    btf("tp_btf", P::TRACING, Some(A::TRACE_RAW_TP), 0, K::Tracing),
    btf("tp_btf.s", P::TRACING, Some(A::TRACE_RAW_TP), S, K::Tracing),
    btf("fentry", P::TRACING, Some(A::TRACE_FENTRY), 0, K::Tracing),
    btf(
        "fmod_ret",
        P::TRACING,
        Some(A::MODIFY_RETURN),
        0,
        K::Tracing,
    ),
    btf("fexit", P::TRACING, Some(A::TRACE_FEXIT), 0, K::Tracing),
    btf("fentry.s", P::TRACING, Some(A::TRACE_FENTRY), S, K::Tracing),
    btf(
        "fmod_ret.s",
        P::TRACING,
        Some(A::MODIFY_RETURN),
        S,
        K::Tracing,
    ),
    btf("fexit.s", P::TRACING, Some(A::TRACE_FEXIT), S, K::Tracing),
    btf("freplace", P::EXT, None, 0, K::Extension),
    btf("lsm", P::LSM, Some(A::LSM_MAC), 0, K::Lsm),
    btf("lsm.s", P::LSM, Some(A::LSM_MAC), S, K::Lsm),
    btf("lsm_cgroup", P::LSM, Some(A::LSM_CGROUP), 0, K::Manual),
    btf("iter", P::TRACING, Some(A::TRACE_ITER), 0, K::Iter),
    btf("iter.s", P::TRACING, Some(A::TRACE_ITER), S, K::Iter),
    def("syscall", Match::Exact, P::SYSCALL, None, S, K::Manual),
    def(
        "xdp.frags/devmap",
        Match::Exact,
        P::XDP,
        Some(A::XDP_DEVMAP),
        FRAGS,
        K::Manual,
    ),
    exact("xdp/devmap", P::XDP, Some(A::XDP_DEVMAP)),
    def(
        "xdp.frags/cpumap",
        Match::Exact,
        P::XDP,
        Some(A::XDP_CPUMAP),
        FRAGS,
        K::Manual,
    ),
    exact("xdp/cpumap", P::XDP, Some(A::XDP_CPUMAP)),
    def(
        "xdp.frags",
        Match::Exact,
        P::XDP,
        Some(A::XDP),
        FRAGS,
        K::Manual,
    ),
    exact_opt("xdp", P::XDP, A::XDP),
    exact("perf_event", P::PERF_EVENT, None),
    exact("lwt_in", P::LWT_IN, None),
    exact("lwt_out", P::LWT_OUT, None),
    exact("lwt_xmit", P::LWT_XMIT, None),
    exact("lwt_seg6local", P::LWT_SEG6LOCAL, None),
    exact_opt("sockops", P::SOCK_OPS, A::CGROUP_SOCK_OPS),
    exact_opt("sk_skb/stream_parser", P::SK_SKB, A::SK_SKB_STREAM_PARSER),
    exact_opt("sk_skb/stream_verdict", P::SK_SKB, A::SK_SKB_STREAM_VERDICT),
    exact_opt("sk_skb/verdict", P::SK_SKB, A::SK_SKB_VERDICT),
    exact("sk_skb", P::SK_SKB, None),
    exact_opt("sk_msg", P::SK_MSG, A::SK_MSG_VERDICT),
    exact_opt("lirc_mode2", P::LIRC_MODE2, A::LIRC_MODE2),
    exact_opt("flow_dissector", P::FLOW_DISSECTOR, A::FLOW_DISSECTOR),
    exact_opt("cgroup_skb/ingress", P::CGROUP_SKB, A::CGROUP_INET_INGRESS),
    exact_opt("cgroup_skb/egress", P::CGROUP_SKB, A::CGROUP_INET_EGRESS),
    exact("cgroup/skb", P::CGROUP_SKB, None),
    exact(
        "cgroup/sock_create",
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET_SOCK_CREATE),
    ),
    exact(
        "cgroup/sock_release",
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET_SOCK_RELEASE),
    ),
    exact_opt("cgroup/sock", P::CGROUP_SOCK, A::CGROUP_INET_SOCK_CREATE),
    exact(
        "cgroup/post_bind4",
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET4_POST_BIND),
    ),
    exact(
        "cgroup/post_bind6",
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET6_POST_BIND),
    ),
    exact(
        "cgroup/bind4",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_BIND),
    ),
    exact(
        "cgroup/bind6",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_BIND),
    ),
    exact(
        "cgroup/connect4",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_CONNECT),
    ),
    exact(
        "cgroup/connect6",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_CONNECT),
    ),
    exact(
        "cgroup/connect_unix",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_CONNECT),
    ),
    exact(
        "cgroup/sendmsg4",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP4_SENDMSG),
    ),
    exact(
        "cgroup/sendmsg6",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP6_SENDMSG),
    ),
    exact(
        "cgroup/sendmsg_unix",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_SENDMSG),
    ),
    exact(
        "cgroup/recvmsg4",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP4_RECVMSG),
    ),
    exact(
        "cgroup/recvmsg6",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP6_RECVMSG),
    ),
    exact(
        "cgroup/recvmsg_unix",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_RECVMSG),
    ),
    exact(
        "cgroup/getpeername4",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_GETPEERNAME),
    ),
    exact(
        "cgroup/getpeername6",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_GETPEERNAME),
    ),
    exact(
        "cgroup/getpeername_unix",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_GETPEERNAME),
    ),
    exact(
        "cgroup/getsockname4",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_GETSOCKNAME),
    ),
    exact(
        "cgroup/getsockname6",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_GETSOCKNAME),
    ),
    exact(
        "cgroup/getsockname_unix",
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_GETSOCKNAME),
    ),
    exact("cgroup/sysctl", P::CGROUP_SYSCTL, Some(A::CGROUP_SYSCTL)),
    exact(
        "cgroup/getsockopt",
        P::CGROUP_SOCKOPT,
        Some(A::CGROUP_GETSOCKOPT),
    ),
    exact(
        "cgroup/setsockopt",
        P::CGROUP_SOCKOPT,
        Some(A::CGROUP_SETSOCKOPT),
    ),
    exact_opt("cgroup/dev", P::CGROUP_DEVICE, A::CGROUP_DEVICE),
    target("struct_ops", P::STRUCT_OPS, None, 0, K::Manual),
    target("struct_ops.s", P::STRUCT_OPS, None, S, K::Manual),
    exact("sk_lookup", P::SK_LOOKUP, Some(A::SK_LOOKUP)),
    exact("netfilter", P::NETFILTER, Some(A::NETFILTER)),
];

impl SectionDef {
    /// Matches `name` (without a leading `?`); on success returns the attach target, if any.
    fn matches<'a>(&self, name: &'a str) -> Option<Option<&'a str>> {
        match self.matching {
            Match::Exact => (name == self.prefix).then_some(None),
            Match::ExactOrTarget => {
                let rest = name.strip_prefix(self.prefix)?;
                if rest.is_empty() {
                    Some(None)
                } else {
                    rest.strip_prefix('/').map(|t| (!t.is_empty()).then_some(t))
                }
            }
        }
    }
}

/// Classifies a program section name; `None` if no table entry matches.
pub fn classify(section: &str) -> Option<ProgramSection<'_>> {
    let (name, autoload) = match section.strip_prefix('?') {
        Some(rest) => (rest, false),
        None => (section, true),
    };
    SECTION_DEFS.iter().find_map(|def| {
        def.matches(name).map(|attach_to| ProgramSection {
            def,
            attach_to,
            autoload,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str) -> ProgramSection<'_> {
        classify(name).unwrap_or_else(|| panic!("{name} not recognised"))
    }

    #[test]
    fn tracepoints_keep_the_category_slash() {
        let s = c("tp/sched/sched_switch");
        assert_eq!(s.def.prog_type, ProgramType::TRACEPOINT);
        assert_eq!(s.attach_to, Some("sched/sched_switch"));
        assert_eq!(s.def.prog_flags, 0);
        let s = c("tracepoint.s/syscalls/sys_enter_openat");
        assert_eq!(s.def.prog_flags, BPF_F_SLEEPABLE);
        assert_eq!(s.attach_to, Some("syscalls/sys_enter_openat"));
    }

    #[test]
    fn plus_entries_need_a_slash_separator() {
        assert!(classify("kprobex").is_none());
        assert_eq!(c("kprobe").attach_to, None);
        assert_eq!(c("kprobe/").attach_to, None);
        let s = c("kprobe.multi/tcp_*");
        assert_eq!(s.def.attach, AttachKind::KprobeMulti);
        assert_eq!(s.def.attach_type, Some(AttachType::TRACE_KPROBE_MULTI));
        assert_eq!(s.attach_to, Some("tcp_*"));
        let s = c("kretprobe/do_unlinkat");
        assert_eq!(s.def.attach, AttachKind::Kretprobe);
        assert_eq!(s.def.prog_type, ProgramType::KPROBE);
        assert_eq!(s.def.attach_type, None);
        let s = c("uprobe.s//bin/bash:readline");
        assert_eq!(s.attach_to, Some("/bin/bash:readline"));
        assert_eq!(s.def.prog_flags, BPF_F_SLEEPABLE);
    }

    #[test]
    fn exact_entries_reject_suffixes() {
        assert!(classify("xdp/foo").is_none());
        assert!(classify("socket1").is_none());
        assert!(classify("tc/ingressx").is_none());
        assert_eq!(c("xdp").def.attach_type, Some(AttachType::XDP));
        assert!(c("xdp").def.attach_type_optional);
    }

    #[test]
    fn xdp_variants() {
        assert_eq!(c("xdp.frags").def.prog_flags, BPF_F_XDP_HAS_FRAGS);
        let d = c("xdp.frags/devmap").def;
        assert_eq!(
            (d.attach_type, d.prog_flags),
            (Some(AttachType::XDP_DEVMAP), BPF_F_XDP_HAS_FRAGS)
        );
        let d = c("xdp/cpumap").def;
        assert_eq!(
            (d.attach_type, d.prog_flags),
            (Some(AttachType::XDP_CPUMAP), 0)
        );
    }

    #[test]
    fn tc_variants() {
        assert_eq!(c("tc").def.attach_type, None);
        assert_eq!(c("classifier").def.prog_type, ProgramType::SCHED_CLS);
        assert_eq!(c("action").def.prog_type, ProgramType::SCHED_ACT);
        assert_eq!(
            c("tc/ingress").def.attach_type,
            Some(AttachType::TCX_INGRESS)
        );
        assert_eq!(
            c("tcx/egress").def.attach_type,
            Some(AttachType::TCX_EGRESS)
        );
        assert_eq!(
            c("netkit/peer").def.attach_type,
            Some(AttachType::NETKIT_PEER)
        );
    }

    #[test]
    fn btf_targets() {
        for (name, at, flags) in [
            ("fentry/do_unlinkat", AttachType::TRACE_FENTRY, 0),
            (
                "fexit.s/do_unlinkat",
                AttachType::TRACE_FEXIT,
                BPF_F_SLEEPABLE,
            ),
            ("fmod_ret/do_unlinkat", AttachType::MODIFY_RETURN, 0),
            ("tp_btf/do_unlinkat", AttachType::TRACE_RAW_TP, 0),
            ("lsm.s/do_unlinkat", AttachType::LSM_MAC, BPF_F_SLEEPABLE),
            ("iter/do_unlinkat", AttachType::TRACE_ITER, 0),
        ] {
            let s = c(name);
            assert!(s.def.attach_btf, "{name}");
            assert_eq!(s.def.attach_type, Some(at), "{name}");
            assert_eq!(s.def.prog_flags, flags, "{name}");
            assert_eq!(s.attach_to, Some("do_unlinkat"), "{name}");
        }
        assert_eq!(c("freplace/f").def.prog_type, ProgramType::EXT);
    }

    #[test]
    fn cgroup_and_socket_sections() {
        assert_eq!(
            c("cgroup_skb/ingress").def.attach_type,
            Some(AttachType::CGROUP_INET_INGRESS)
        );
        assert_eq!(c("cgroup/skb").def.attach_type, None);
        assert_eq!(
            c("cgroup/sock").def.attach_type,
            Some(AttachType::CGROUP_INET_SOCK_CREATE)
        );
        assert_eq!(
            c("cgroup/connect_unix").def.attach_type,
            Some(AttachType::CGROUP_UNIX_CONNECT)
        );
        assert_eq!(
            c("cgroup/getsockopt").def.prog_type,
            ProgramType::CGROUP_SOCKOPT
        );
        assert_eq!(
            c("sk_reuseport/migrate").def.attach_type,
            Some(AttachType::SK_REUSEPORT_SELECT_OR_MIGRATE)
        );
        assert_eq!(
            c("sk_skb/verdict").def.attach_type,
            Some(AttachType::SK_SKB_VERDICT)
        );
        assert_eq!(c("sk_skb").def.attach_type, None);
        assert_eq!(c("syscall").def.prog_flags, BPF_F_SLEEPABLE);
        assert_eq!(c("netfilter").def.prog_type, ProgramType::NETFILTER);
    }

    #[test]
    fn question_mark_disables_autoload() {
        let s = c("?xdp");
        assert!(!s.autoload);
        assert_eq!(s.def.prog_type, ProgramType::XDP);
        assert!(c("xdp").autoload);
    }

    #[test]
    fn table_is_consistent() {
        for (i, d) in SECTION_DEFS.iter().enumerate() {
            assert!(!d.prefix.is_empty() && !d.prefix.ends_with('/'));
            assert_ne!(d.prog_type, ProgramType::UNSPEC, "{}", d.prefix);
            // Every entry is reachable: the first entry matching its own prefix is itself.
            assert_eq!(
                classify(d.prefix).map(|s| s.def),
                Some(&SECTION_DEFS[i]),
                "{}",
                d.prefix
            );
            if d.attach_type_optional {
                assert!(d.attach_type.is_some());
            }
        }
    }
}
