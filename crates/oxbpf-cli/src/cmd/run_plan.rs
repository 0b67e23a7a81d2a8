//! `oxbpf run`: checks the user's inputs against the program type's test-run rules
//! ([`oxbpf::prog::run_rules`]) before anything is loaded, and words the kernel's refusals.

use anyhow::bail;
use oxbpf::prog::{Input, RunRules, TestRunOpts, BPF_F_TEST_RUN_ON_CPU};
use oxbpf::spec::{AttachType, ProgramType};

/// What the user asked for.
pub struct Asked<'a> {
    /// `--data` bytes (empty when not given).
    pub data: &'a [u8],
    /// `--data` was given.
    pub data_given: bool,
    /// `--ctx` bytes.
    pub ctx: &'a [u8],
    /// `--ctx` was given.
    pub ctx_given: bool,
    /// `--repeat`.
    pub repeat: u32,
    /// `--cpu`.
    pub cpu: Option<u32>,
}

/// The kind of program, for messages (`xdp`, `tracing (trace_raw_tp)`).
pub fn kind(t: ProgramType, a: Option<AttachType>) -> String {
    match (t, a) {
        (ProgramType::TRACING, Some(a)) => format!("{t} ({a})"),
        _ => t.to_string(),
    }
}

/// The rules for the program, or an error saying it cannot be test-run.
pub fn rules(t: ProgramType, a: Option<AttachType>) -> anyhow::Result<RunRules> {
    match oxbpf::prog::run_rules(t, a) {
        Some(r) => Ok(r),
        None => bail!(
            "{} programs have no test run in the kernel (BPF_PROG_TEST_RUN); attach them with \
             `oxbpf attach` and trigger the hook instead",
            kind(t, a)
        ),
    }
}

/// Checks `asked` against `r` and builds the test-run options; the error names the flag.
pub fn options<'a>(r: &RunRules, kind: &str, asked: &Asked<'a>) -> anyhow::Result<TestRunOpts<'a>> {
    match (r.data, asked.data_given) {
        (Input::Refused, true) => bail!("{kind} programs take no packet data: drop --data"),
        (Input::Required, false) => bail!(
            "{kind} programs need --data FILE: a packet of at least {} bytes (an Ethernet frame)",
            r.min_data
        ),
        _ => {}
    }
    if asked.data_given && asked.data.len() < r.min_data {
        bail!(
            "--data is {} bytes; {kind} programs need at least {} (an Ethernet header)",
            asked.data.len(),
            r.min_data
        );
    }
    match (r.ctx, asked.ctx_given) {
        (Input::Refused, true) => bail!("{kind} programs take no context: drop --ctx"),
        (Input::Required, false) => bail!("{kind} programs need --ctx FILE holding {}", r.ctx_kind),
        _ => {}
    }
    if asked.ctx.len() > r.ctx_max {
        bail!(
            "--ctx is {} bytes; {kind} programs take at most {} ({})",
            asked.ctx.len(),
            r.ctx_max,
            r.ctx_kind
        );
    }
    if asked.repeat > 1 && !r.repeat {
        bail!("{kind} programs run exactly once: the kernel refuses --repeat");
    }
    if asked.cpu.is_some() && !r.on_cpu {
        bail!("--cpu applies to raw tracepoint programs only, not {kind}");
    }
    Ok(TestRunOpts {
        data_in: asked.data,
        ctx_in: asked.ctx,
        ctx_out_size: (!r.ctx_out).then_some(0),
        repeat: if r.repeat { asked.repeat } else { 0 },
        flags: if asked.cpu.is_some() {
            BPF_F_TEST_RUN_ON_CPU
        } else {
            0
        },
        cpu: asked.cpu.unwrap_or(0),
        ..Default::default()
    })
}

/// A hint for a refusal the checks above could not foresee.
pub fn hint(r: &RunRules, errno: Option<i32>) -> &'static str {
    match errno {
        Some(libc::EINVAL) if r.on_cpu => {
            " (hint: a program that reads its arguments needs --ctx FILE with at least that many \
             u64 values; --cpu must be an online CPU)"
        }
        Some(libc::EINVAL) if r.ctx == Input::Required => {
            " (hint: the kernel checks the context: zero past the struct, no socket pointer, a \
             valid family)"
        }
        Some(libc::EAFNOSUPPORT) => " (hint: the context's family must be AF_INET or AF_INET6)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked<'a>(data: Option<&'a [u8]>, ctx: Option<&'a [u8]>, repeat: u32) -> Asked<'a> {
        Asked {
            data: data.unwrap_or(&[]),
            data_given: data.is_some(),
            ctx: ctx.unwrap_or(&[]),
            ctx_given: ctx.is_some(),
            repeat,
            cpu: None,
        }
    }

    #[test]
    fn each_type_gets_only_what_its_kernel_handler_accepts() {
        let raw = rules(ProgramType::RAW_TRACEPOINT, None).unwrap();
        let o = options(&raw, "raw_tracepoint", &asked(None, Some(&[0; 16]), 1)).unwrap();
        assert_eq!((o.repeat, o.ctx_out_size, o.ctx_in.len()), (0, Some(0), 16));
        let e = options(&raw, "raw_tracepoint", &asked(Some(&[0; 64]), None, 1)).unwrap_err();
        assert!(e.to_string().contains("drop --data"), "{e}");
        let e = options(&raw, "raw_tracepoint", &asked(None, None, 5)).unwrap_err();
        assert!(e.to_string().contains("--repeat"), "{e}");
        let e = options(&raw, "raw_tracepoint", &asked(None, Some(&[0; 200]), 1)).unwrap_err();
        assert!(e.to_string().contains("at most 96"), "{e}");

        let xdp = rules(ProgramType::XDP, None).unwrap();
        let o = options(&xdp, "xdp", &asked(Some(&[0; 64]), None, 100)).unwrap();
        assert_eq!((o.repeat, o.ctx_out_size), (100, None));
        let e = options(&xdp, "xdp", &asked(None, None, 1)).unwrap_err();
        assert!(e.to_string().contains("--data FILE"), "{e}");
        let e = options(&xdp, "xdp", &asked(Some(&[0; 8]), None, 1)).unwrap_err();
        assert!(e.to_string().contains("at least 14"), "{e}");

        let sk = rules(ProgramType::SK_LOOKUP, None).unwrap();
        let e = options(&sk, "sk_lookup", &asked(None, None, 1)).unwrap_err();
        assert!(e.to_string().contains("struct bpf_sk_lookup"), "{e}");

        let sys = rules(ProgramType::SYSCALL, None).unwrap();
        let o = options(&sys, "syscall", &asked(None, Some(&[1, 2]), 1)).unwrap();
        assert_eq!((o.repeat, o.ctx_out_size), (0, Some(0)));
        let mut a = asked(None, None, 1);
        a.cpu = Some(0);
        assert!(options(&sys, "syscall", &a).is_err());

        let e = rules(ProgramType::KPROBE, None).unwrap_err();
        assert!(e.to_string().contains("no test run"), "{e}");
    }
}
