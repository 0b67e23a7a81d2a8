//! Which helpers the kernel reserves for GPL-compatible programs, and which licence strings
//! it counts as GPL-compatible. Facts read from the kernel's helper prototypes (`gpl_only` in
//! `struct bpf_func_proto`, kernel/bpf, kernel/trace/bpf_trace.c, net/core/filter.c, v6.12)
//! and `license_is_gpl_compatible()`; checked against the running kernel by
//! `tests/gpl_helpers.rs`. The verifier refuses a call to one of these helpers from a
//! program whose licence is not GPL-compatible, and refuses every kfunc call from it.

/// Helper ids whose every prototype is `gpl_only`. Not listed, GPL-only for some program types
/// only: `bpf_get_stackid` (27; not for perf_event programs) and `bpf_get_func_ip` (173; not
/// for kprobe.multi/uprobe.multi).
pub const GPL_ONLY_HELPERS: &[u32] = &[
    4,   // probe_read
    6,   // trace_printk
    22,  // perf_event_read
    25,  // perf_event_output
    35,  // get_current_task
    36,  // probe_write_user
    45,  // probe_read_str
    55,  // perf_event_read_value
    56,  // perf_prog_read_value
    58,  // override_return
    67,  // get_stack
    69,  // fib_lookup
    100, // tcp_check_syncookie
    110, // tcp_gen_syncookie
    111, // skb_output
    112, // probe_read_user
    113, // probe_read_kernel
    114, // probe_read_user_str
    115, // probe_read_kernel_str
    119, // read_branch_records
    121, // xdp_output
    126, // seq_printf
    127, // seq_write
    150, // seq_printf_btf
    158, // get_current_task_btf
    163, // check_mtu
    165, // snprintf
    169, // timer_init
    170, // timer_set_callback
    171, // timer_start
    172, // timer_cancel
    175, // task_pt_regs
    176, // get_branch_snapshot
    177, // trace_vprintk
    191, // copy_from_user_task
    204, // tcp_raw_gen_syncookie_ipv4
    205, // tcp_raw_gen_syncookie_ipv6
    206, // tcp_raw_check_syncookie_ipv4
    207, // tcp_raw_check_syncookie_ipv6
];

/// True if helper `id` may only be called by GPL-compatible programs.
pub fn is_gpl_only_helper(id: u32) -> bool {
    GPL_ONLY_HELPERS.binary_search(&id).is_ok()
}

/// Licence strings the kernel counts as GPL-compatible (exact match).
pub const GPL_COMPATIBLE_LICENCES: &[&str] = &[
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
];

/// True if the kernel treats a program with `licence` as GPL-compatible.
pub fn licence_is_gpl_compatible(licence: &str) -> bool {
    GPL_COMPATIBLE_LICENCES.contains(&licence)
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_sorted_and_names_known_helpers() {
        assert!(super::GPL_ONLY_HELPERS.windows(2).all(|w| w[0] < w[1]));
        for &id in super::GPL_ONLY_HELPERS {
            assert!(super::super::helper_name(id as i32).is_some(), "{id}");
        }
        assert!(super::is_gpl_only_helper(69) && !super::is_gpl_only_helper(1));
        assert!(super::licence_is_gpl_compatible("Dual MIT/GPL"));
        assert!(!super::licence_is_gpl_compatible("MIT") && !super::licence_is_gpl_compatible(""));
    }
}
