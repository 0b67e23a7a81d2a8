//! Which inputs `BPF_PROG_TEST_RUN` accepts for each program type (the kernel refuses the
//! others with `EINVAL`): packet data, context in and out, a repeat count, flags.
//!
//! Facts from the kernel's test-run handlers (`net/bpf/test_run.c`, 6.x): skb programs,
//! XDP and the flow dissector need an Ethernet frame and take a repeat count; sk_lookup
//! takes no data but needs a `struct bpf_sk_lookup`; raw tracepoints take at
//! most 12 u64 arguments as context, no repeat, no output context, and may pin the run to a
//! CPU; syscall programs take a context of up to 64 KiB that the kernel writes back in
//! place, and nothing else; fentry/fexit/fmod_ret programs only run when attached, on the
//! kernel's `bpf_fentry_test*`/`bpf_modify_return_test` calls, and take nothing. tp_btf
//! programs have no test run: the tracing handler has no case for them (6.18 answers
//! `EFAULT`).

use crate::spec::{AttachType, ProgramType};

/// Whether one input of a test run is needed, allowed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The kernel refuses the run without it.
    Required,
    /// May be given.
    Optional,
    /// The kernel refuses the run when it is given.
    Refused,
}

/// The test-run rules of one program type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRules {
    /// Packet data (`data_in`).
    pub data: Input,
    /// Smallest packet the kernel accepts (an Ethernet header), when data is allowed.
    pub min_data: usize,
    /// Context input.
    pub ctx: Input,
    /// What the context is, for messages (`"struct __sk_buff"`).
    pub ctx_kind: &'static str,
    /// Largest context the kernel accepts (`usize::MAX`: any size, as long as the bytes past
    /// the context struct are zero).
    pub ctx_max: usize,
    /// The kernel can write an output context (`ctx_out`).
    pub ctx_out: bool,
    /// The kernel writes the context back into the input buffer (syscall programs).
    pub ctx_in_place: bool,
    /// A repeat count is accepted.
    pub repeat: bool,
    /// `BPF_F_TEST_RUN_ON_CPU` is accepted.
    pub on_cpu: bool,
    /// The program runs only while attached (fentry/fexit/fmod_ret on the kernel's test
    /// functions); `retval` is then the kernel harness's, not the program's.
    pub needs_attach: bool,
}

const ETH_HLEN: usize = 14;
/// `MAX_BPF_FUNC_ARGS` u64 arguments.
const RAW_TP_CTX_MAX: usize = 12 * 8;

/// Nothing accepted: the base the others change.
const NOTHING: RunRules = RunRules {
    data: Input::Refused,
    min_data: 0,
    ctx: Input::Refused,
    ctx_kind: "",
    ctx_max: 0,
    ctx_out: false,
    ctx_in_place: false,
    repeat: false,
    on_cpu: false,
    needs_attach: false,
};

const fn packet(ctx_kind: &'static str) -> RunRules {
    RunRules {
        data: Input::Required,
        min_data: ETH_HLEN,
        ctx: Input::Optional,
        ctx_kind,
        ctx_max: usize::MAX,
        ctx_out: true,
        repeat: true,
        ..NOTHING
    }
}

/// The rules for a program of `prog_type` loaded with `attach`, or `None` when the kernel
/// has no test run for it (kprobes, tracepoints, tp_btf, perf events, cgroup hooks other
/// than skb, LSM, struct_ops...).
pub fn run_rules(prog_type: ProgramType, attach: Option<AttachType>) -> Option<RunRules> {
    Some(match prog_type {
        ProgramType::SOCKET_FILTER
        | ProgramType::SCHED_CLS
        | ProgramType::SCHED_ACT
        | ProgramType::CGROUP_SKB
        | ProgramType::LWT_IN
        | ProgramType::LWT_OUT
        | ProgramType::LWT_XMIT
        | ProgramType::LWT_SEG6LOCAL => packet("struct __sk_buff"),
        ProgramType::XDP => packet("struct xdp_md"),
        ProgramType::FLOW_DISSECTOR => packet("struct bpf_flow_keys"),
        ProgramType::SK_LOOKUP => RunRules {
            ctx: Input::Required,
            ctx_kind: "struct bpf_sk_lookup (family, protocol, addresses and ports)",
            ctx_max: usize::MAX,
            ctx_out: true,
            repeat: true,
            ..NOTHING
        },
        ProgramType::RAW_TRACEPOINT | ProgramType::RAW_TRACEPOINT_WRITABLE => RunRules {
            ctx: Input::Optional,
            ctx_kind: "the tracepoint's arguments as u64 values",
            ctx_max: RAW_TP_CTX_MAX,
            on_cpu: true,
            ..NOTHING
        },
        ProgramType::SYSCALL => RunRules {
            ctx: Input::Optional,
            ctx_kind: "the program's argument struct",
            ctx_max: u16::MAX as usize,
            ctx_in_place: true,
            ..NOTHING
        },
        ProgramType::TRACING => match attach {
            Some(
                AttachType::TRACE_FENTRY | AttachType::TRACE_FEXIT | AttachType::MODIFY_RETURN,
            ) => RunRules {
                needs_attach: true,
                ..NOTHING
            },
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_types_need_a_frame_and_others_refuse_data() {
        for t in [
            ProgramType::SOCKET_FILTER,
            ProgramType::SCHED_CLS,
            ProgramType::XDP,
            ProgramType::FLOW_DISSECTOR,
        ] {
            let r = run_rules(t, None).unwrap();
            assert_eq!(
                (r.data, r.min_data, r.repeat),
                (Input::Required, 14, true),
                "{t}"
            );
        }
        for (t, a) in [
            (ProgramType::SYSCALL, None),
            (ProgramType::RAW_TRACEPOINT, None),
            (ProgramType::SK_LOOKUP, None),
        ] {
            assert_eq!(run_rules(t, a).unwrap().data, Input::Refused, "{t}");
        }
        let raw = run_rules(ProgramType::RAW_TRACEPOINT, None).unwrap();
        assert!(!raw.repeat && !raw.ctx_out && raw.on_cpu && raw.ctx_max == 96);
        assert!(run_rules(ProgramType::SYSCALL, None).unwrap().ctx_in_place);
        assert_eq!(
            run_rules(ProgramType::SK_LOOKUP, None).unwrap().ctx,
            Input::Required
        );
        assert!(
            run_rules(ProgramType::TRACING, Some(AttachType::TRACE_FENTRY))
                .unwrap()
                .needs_attach
        );
        for t in [
            ProgramType::KPROBE,
            ProgramType::TRACEPOINT,
            ProgramType::LSM,
        ] {
            assert!(run_rules(t, None).is_none(), "{t}");
        }
        for a in [AttachType::TRACE_ITER, AttachType::TRACE_RAW_TP] {
            assert!(run_rules(ProgramType::TRACING, Some(a)).is_none(), "{a}");
        }
    }
}
