//! Reading the verifier log: its meaningful tail, the failing instruction, its source line.

use crate::spec::LineInfo;

/// How many log lines an error shows.
pub const TAIL_LINES: usize = 20;

/// Maps an instruction index to `"file:line: source text"`.
pub type SourceLookup<'a> = &'a dyn Fn(u32) -> Option<String>;

fn is_noise(line: &str) -> bool {
    line.is_empty()
        || line.starts_with("processed ")
        || line.starts_with("verification time")
        || line.starts_with("stack depth")
}

/// The last `n` meaningful lines (statistics and blank lines dropped), newline-joined.
pub fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !is_noise(l))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The index of the last instruction the log shows being checked (`"NNN: (xx) ..."` lines).
pub fn failing_insn(log: &str) -> Option<u32> {
    log.lines().rev().find_map(|l| {
        let (num, rest) = l.split_once(": (")?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || !rest.contains(')') {
            return None;
        }
        num.parse().ok()
    })
}

/// The last source annotation the kernel printed (`"; code @ file.c:42"`), as
/// `"file.c:42: code"`.
pub fn source_from_log(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let body = l.strip_prefix("; ")?;
        let (code, place) = body.rsplit_once(" @ ")?;
        Some(format!("{}: {}", place.trim(), code.trim()))
    })
}

/// A [`SourceLookup`] over `line_info` records and the BTF string section they point into.
pub fn line_info_lookup<'a>(
    line_info: &'a [LineInfo],
    strings: &'a [u8],
) -> impl Fn(u32) -> Option<String> + 'a {
    move |insn| {
        let li = line_info
            .iter()
            .filter(|li| li.insn_off <= insn)
            .max_by_key(|li| li.insn_off)?;
        let file = cstr_at(strings, li.file_name_off)?;
        let text = cstr_at(strings, li.line_off).unwrap_or_default();
        Some(format!("{file}:{}: {}", li.line(), text.trim()))
    }
}

fn cstr_at(strings: &[u8], off: u32) -> Option<String> {
    let tail = strings.get(off as usize..)?;
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    Some(String::from_utf8_lossy(&tail[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "func#0 @0\n0: R1=ctx() R10=fp0\n; int x = *(int *)0; @ bad.bpf.c:7\n0: (61) r0 = *(u32 *)(r2 +0)\nR2 !read_ok\nprocessed 1 insns (limit 1000000) max_states_per_insn 0\n\n";

    #[test]
    fn tail_drops_statistics() {
        let t = log_tail(LOG, 2);
        assert_eq!(t, "0: (61) r0 = *(u32 *)(r2 +0)\nR2 !read_ok");
    }

    #[test]
    fn finds_failing_insn_and_source() {
        assert_eq!(failing_insn(LOG), Some(0));
        assert_eq!(failing_insn("12: (85) call bpf_foo#1\nfoo"), Some(12));
        assert_eq!(failing_insn("R1 type=ctx"), None);
        assert_eq!(
            source_from_log(LOG).as_deref(),
            Some("bad.bpf.c:7: int x = *(int *)0;")
        );
    }

    #[test]
    fn line_info_maps_insn_to_nearest_preceding_record() {
        let strings = b"\0a.c\0return 1;\0x = 2;\0";
        let li = [
            LineInfo {
                insn_off: 0,
                file_name_off: 1,
                line_off: 5,
                line_col: 3 << 10,
            },
            LineInfo {
                insn_off: 4,
                file_name_off: 1,
                line_off: 15,
                line_col: 9 << 10,
            },
        ];
        let f = line_info_lookup(&li, strings);
        assert_eq!(f(2).as_deref(), Some("a.c:3: return 1;"));
        assert_eq!(f(5).as_deref(), Some("a.c:9: x = 2;"));
    }
}
