//! Programs: loading with verifier-log handling ([`load`], [`LoadRequest`]), the loaded
//! [`Program`] handle (open, pin, info), [`Program::test_run`], and the `RLIMIT_MEMLOCK` bump.

mod error;
mod load;
mod memlock;
mod program;
mod run_rules;
mod test_run;
mod verifier;

pub use error::ProgramError;
pub use load::{load, LoadRequest};
pub use memlock::{bump_memlock_rlimit_if_needed, memlock_charged};
pub use program::Program;
pub use run_rules::{run_rules, Input, RunRules};
pub use test_run::{TestRunOpts, TestRunOutput, BPF_F_TEST_RUN_ON_CPU, BPF_F_TEST_XDP_LIVE_FRAMES};
pub use verifier::{
    diagnosis, failing_insn, line_info_lookup, log_tail, source_from_log, Diagnosis, SourceLookup,
};
