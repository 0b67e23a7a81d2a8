//! Measurement for the datapath benchmark: every packet is one `BPF_PROG_RUN` with
//! `repeat = 1` on a fresh copy of its frame (a program that rewrites the frame would, with
//! `repeat > 1`, run again on its own output), timed by the kernel (`duration`). Variants
//! run in interleaved rounds so drift hits all of them alike; each variant reports the
//! median over rounds of the round's mean, and the median of all its runs.
#![allow(dead_code)] // each bench uses a part

pub mod blocks;
pub mod lb;

use oxbpf::prog::{Program, TestRunOpts};

/// `XDP_ABORTED`: what a building block returns when a lookup misses.
pub const XDP_ABORTED: u32 = 0;
/// `XDP_PASS`.
pub const XDP_PASS: u32 = 2;
/// `XDP_TX`.
pub const XDP_TX: u32 = 3;

/// `struct xdp_md` of a frame of `len` bytes received on `ifindex` (queue 0).
pub fn xdp_md(len: usize, ifindex: u32) -> Vec<u8> {
    [0, len as u32, 0, ifindex, 0, 0]
        .iter()
        .flat_map(|v: &u32| v.to_ne_bytes())
        .collect()
}

/// One run with `repeat = 1`: (verdict, kernel-measured ns, output frame).
pub fn run_once(prog: &Program, frame: &[u8], ifindex: u32) -> (u32, u64, Vec<u8>) {
    let md = xdp_md(frame.len(), ifindex);
    let out = prog
        .test_run(&TestRunOpts {
            data_in: frame,
            ctx_in: &md,
            repeat: 1,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("BPF_PROG_RUN: {e}"));
    (out.retval, out.duration.as_nanos() as u64, out.data_out)
}

/// Judges an output frame: `Err` says what is wrong with it.
type Check<'a> = Box<dyn Fn(&[u8]) -> Result<(), String> + 'a>;

/// A program fed one frame per run, with the verdict every run must give.
pub struct Variant<'a> {
    /// Row label.
    pub name: String,
    prog: &'a Program,
    frame: Box<dyn FnMut() -> Vec<u8> + 'a>,
    verdict: u32,
    check: Option<Check<'a>>,
    /// Runs per round when not the common count.
    per_round: Option<usize>,
    samples: Vec<u64>,
    round_means: Vec<f64>,
}

impl<'a> Variant<'a> {
    /// `prog` on the frames `frame` makes, one per run; every run must return `verdict`.
    pub fn new(
        name: impl Into<String>,
        prog: &'a Program,
        verdict: u32,
        frame: impl FnMut() -> Vec<u8> + 'a,
    ) -> Self {
        Variant {
            name: name.into(),
            prog,
            frame: Box::new(frame),
            verdict,
            check: None,
            per_round: None,
            samples: Vec::new(),
            round_means: Vec::new(),
        }
    }

    /// `prog` on the same `frame` every run.
    pub fn fixed(name: impl Into<String>, prog: &'a Program, verdict: u32, frame: &[u8]) -> Self {
        let frame = frame.to_vec();
        Self::new(name, prog, verdict, move || frame.clone())
    }

    /// Also checks every output frame with `check`.
    pub fn checked(mut self, check: impl Fn(&[u8]) -> Result<(), String> + 'a) -> Self {
        self.check = Some(Box::new(check));
        self
    }

    /// Runs `n` times per round instead of the common count.
    pub fn per_round(mut self, n: usize) -> Self {
        self.per_round = Some(n);
        self
    }

    /// Runs so far.
    pub fn runs(&self) -> u64 {
        self.samples.len() as u64
    }

    /// Median over rounds of the round's mean duration, ns.
    pub fn mean(&self) -> f64 {
        median(&self.round_means)
    }

    /// Median duration of all runs, ns.
    pub fn median(&self) -> f64 {
        let v: Vec<f64> = self.samples.iter().map(|&s| s as f64).collect();
        median(&v)
    }
}

/// `rounds` rounds; in each, `per_round` runs (or the variant's own count) of every variant
/// in turn. Panics on a wrong verdict or a failed output check.
pub fn interleave(variants: &mut [Variant], ifindex: u32, rounds: usize, per_round: usize) {
    for _ in 0..rounds {
        for v in variants.iter_mut() {
            let n = v.per_round.unwrap_or(per_round);
            let mut total = 0;
            for _ in 0..n {
                let frame = (v.frame)();
                let (verdict, ns, out) = run_once(v.prog, &frame, ifindex);
                assert_eq!(
                    verdict, v.verdict,
                    "{}: verdict {verdict}, expected {}",
                    v.name, v.verdict
                );
                if let Some(check) = &v.check {
                    check(&out).unwrap_or_else(|e| panic!("{}: output frame: {e}", v.name));
                }
                v.samples.push(ns);
                total += ns;
            }
            v.round_means.push(total as f64 / n as f64);
        }
    }
}

/// Median of `v` (upper middle for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Pins the calling thread to the last CPU it may run on, so per-CPU map state and caches
/// stay put between runs; returns that CPU.
pub fn pin_to_one_cpu() -> usize {
    let cpu = *crate::common::cpu::allowed_cpus()
        .last()
        .expect("an allowed CPU");
    crate::common::cpu::pin_to_cpu(cpu);
    cpu
}
