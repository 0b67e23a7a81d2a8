//! Helpers shared by the `run_types` and `check_reach` test binaries.

use std::os::unix::fs::MetadataExt;

/// True when running as root; a loud skip otherwise (a failure with OXBPF_REQUIRE_KERNEL=1).
pub fn privileged() -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0;
    if !root {
        assert!(
            std::env::var("OXBPF_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "kernel test cannot run: not root"
        );
        eprintln!("SKIPPED: kernel test needs root");
    }
    root
}
