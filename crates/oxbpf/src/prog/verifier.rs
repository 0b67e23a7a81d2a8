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

/// The last `n` meaningful lines (statistics and blank lines dropped), newline-joined. When
/// the log ends in a structured report (kernels from 7.3), the tail is the last lines of
/// the instruction trace before it, then the report's summary, reason and suggestion.
pub fn log_tail(log: &str, n: usize) -> String {
    let (trace, report) = match report_start(log) {
        Some(at) => (&log[..at], diagnosis(log)),
        None => (log, None),
    };
    let mut lines: Vec<&str> = trace
        .lines()
        .map(str::trim_end)
        .filter(|l| !is_noise(l))
        .collect();
    let Some(d) = report else {
        return lines[lines.len().saturating_sub(n)..].join("\n");
    };
    let extra = d.lines();
    let keep = n.saturating_sub(extra.len()).max(n.min(3));
    lines.drain(..lines.len().saturating_sub(keep));
    let mut out: Vec<String> = lines.into_iter().map(str::to_owned).collect();
    out.extend(extra);
    out.join("\n")
}

/// The index of the failing instruction: the structured report's `insn N` when there is
/// one, else the last instruction the log shows being checked (`"NNN: (xx) ..."` lines).
pub fn failing_insn(log: &str) -> Option<u32> {
    diagnosis(log).and_then(|d| d.insn).or_else(|| {
        log.lines().rev().find_map(|l| {
            let (num, rest) = l.split_once(": (")?;
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || !rest.contains(')') {
                return None;
            }
            num.parse().ok()
        })
    })
}

/// The last source annotation the kernel printed (`"; code @ file.c:42"`), as
/// `"file.c:42: code"`; else a `file.c:42` place the structured report names.
pub fn source_from_log(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| {
            let body = l.strip_prefix("; ")?;
            let (code, place) = body.rsplit_once(" @ ")?;
            Some(format!("{}: {}", place.trim(), code.trim()))
        })
        .or_else(|| diagnosis(log).and_then(|d| d.source))
}

/// The structured failure report newer kernels append to the log ("Verification failed:
/// ..." then indented `Reason:`, `At:`, `Suggestion:` sections), read tolerantly: unknown
/// sections are skipped, missing ones are `None`, a truncated report keeps what it has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// What failed (`"Register Type Safety: Unreadable register"`; may be empty).
    pub summary: String,
    /// The `Reason:` text, lines joined with spaces.
    pub reason: Option<String>,
    /// The `Suggestion:` text.
    pub suggestion: Option<String>,
    /// The instruction the `At:` section points at.
    pub insn: Option<u32>,
    /// A `file.c:42` place named in the `At:` section.
    pub source: Option<String>,
}

impl Diagnosis {
    /// The report as short lines for an error message.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("verification failed: {}", self.summary)];
        out.extend(self.reason.iter().map(|r| format!("reason: {r}")));
        out.extend(self.suggestion.iter().map(|s| format!("suggestion: {s}")));
        out
    }
}

const REPORT_MARK: &str = "Verification failed";

/// Byte offset of the last report's first line.
fn report_start(log: &str) -> Option<usize> {
    let mut at = 0;
    let mut found = None;
    for line in log.split_inclusive('\n') {
        if line.trim_start().starts_with(REPORT_MARK) {
            found = Some(at);
        }
        at += line.len();
    }
    found
}

/// Parses the last structured report in `log`, if there is one.
pub fn diagnosis(log: &str) -> Option<Diagnosis> {
    let start = report_start(log)?;
    let mut lines = log[start..].lines();
    let first = lines.next()?.trim();
    let mut d = Diagnosis {
        summary: first[REPORT_MARK.len()..]
            .trim_start_matches([':', ' '])
            .trim()
            .to_string(),
        ..Default::default()
    };
    let mut section = String::new();
    let mut body: Vec<&str> = Vec::new();
    for line in lines {
        let indented = line.starts_with([' ', '\t']);
        let t = line.trim();
        if t.is_empty() || indented {
            if !t.is_empty() {
                body.push(t);
            }
            continue;
        }
        match t.split_once(':') {
            // A heading (`Reason:` or `Reason: text`) closes the previous section.
            Some((h, rest)) if h.len() <= 40 && !h.contains(['(', '=', '|']) => {
                finish_section(&mut d, &section, &body);
                body.clear();
                section = h.trim().to_ascii_lowercase();
                if !rest.trim().is_empty() {
                    body.push(rest.trim());
                }
            }
            // Statistics or instruction lines: the report is over.
            _ if is_noise(t) || t.starts_with(|c: char| c.is_ascii_digit()) => {
                finish_section(&mut d, &section, &body);
                body.clear();
                break;
            }
            // Unindented body text (a layout variant): keep it in the section.
            _ => body.push(t),
        }
    }
    finish_section(&mut d, &section, &body);
    Some(d)
}

fn finish_section(d: &mut Diagnosis, section: &str, body: &[&str]) {
    if body.is_empty() {
        return;
    }
    match section {
        "reason" => d.reason = Some(body.join(" ")),
        "suggestion" => d.suggestion = Some(body.join(" ")),
        "at" => {
            d.insn = body.iter().find_map(|l| insn_in(l));
            d.source = body.iter().find_map(|l| place_in(l));
        }
        _ => {}
    }
}

/// `insn 12` or `>>> 12 | ...` in an `At:` line.
fn insn_in(line: &str) -> Option<u32> {
    let rest = line
        .strip_prefix("insn ")
        .or_else(|| line.strip_prefix(">>>"))?
        .trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A `name.c:42` (or `.h`) token in a line, as written.
fn place_in(line: &str) -> Option<String> {
    line.split(|c: char| c.is_whitespace() || "()[],".contains(c))
        .find(|tok| {
            [".c:", ".h:"].iter().any(|ext| {
                tok.find(ext).is_some_and(|i| {
                    tok[i + ext.len()..].starts_with(|c: char| c.is_ascii_digit()) && i > 0
                })
            })
        })
        .map(str::to_owned)
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

    /// The 7.3 layout, as quoted in cilium/ebpf pull request #2111.
    const NEW: &str = "0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\n\nVerification failed: Register Type Safety: Unreadable register\n\nReason:\n  R0 has never been initialized on this path, so the verifier cannot use it as an input.\n\nAt:\n  insn 0\n        | ^-- error: R0 is not readable\n  Instruction context:\n  >>> 0 | (95) exit\n\nCausal path:\n  no retained diagnostic events on this path\n\nSuggestion:\n  Initialize R0 on every path before this instruction.\n\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";

    #[test]
    fn structured_report_is_read() {
        let d = diagnosis(NEW).unwrap();
        assert_eq!(d.summary, "Register Type Safety: Unreadable register");
        assert_eq!(
            d.reason.as_deref(),
            Some("R0 has never been initialized on this path, so the verifier cannot use it as an input.")
        );
        assert_eq!(
            d.suggestion.as_deref(),
            Some("Initialize R0 on every path before this instruction.")
        );
        assert_eq!((d.insn, d.source), (Some(0), None));
        assert_eq!(failing_insn(NEW), Some(0));
        let tail = log_tail(NEW, 20);
        assert!(
            tail.starts_with("0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\n"),
            "{tail}"
        );
        assert!(
            tail.contains("verification failed: Register Type Safety"),
            "{tail}"
        );
        assert!(tail.ends_with("suggestion: Initialize R0 on every path before this instruction."));
        assert!(
            !tail.contains("Causal path") && !tail.contains("processed"),
            "{tail}"
        );
        // A short tail still keeps the failing instruction line.
        assert!(
            log_tail(NEW, 3).contains("R0 !read_ok"),
            "{}",
            log_tail(NEW, 3)
        );
        // The old layout has no report.
        assert_eq!(diagnosis(LOG), None);
    }

    #[test]
    fn report_variants_degrade_gracefully() {
        // Source place and instruction in the At: section, an unknown section, a heading
        // with inline text, and unindented body lines.
        let log = "7: (61) r0 = *(u32 *)(r2 +0)\nVerification failed\nDetails: x=1\nReason: the pointer\nmay be NULL\nAt:\n  insn 7 (prog.bpf.c:42:9)\n     42 | return *p;\nSuggestion:\ncheck p first\n";
        let d = diagnosis(log).unwrap();
        assert_eq!(d.summary, "");
        assert_eq!(d.reason.as_deref(), Some("the pointer may be NULL"));
        assert_eq!(d.suggestion.as_deref(), Some("check p first"));
        assert_eq!(d.insn, Some(7));
        assert_eq!(d.source.as_deref(), Some("prog.bpf.c:42:9"));
        assert_eq!(source_from_log(log).as_deref(), Some("prog.bpf.c:42:9"));
        // Truncated in the middle of the report (log buffer full): what is there is kept.
        let cut = &NEW[..NEW.find("At:").unwrap() + 8];
        let d = diagnosis(cut).unwrap();
        assert!(d.reason.is_some() && d.suggestion.is_none());
        assert_eq!(failing_insn(cut), Some(0));
        // A report line and nothing else.
        assert_eq!(
            log_tail("Verification failed:", 20),
            "verification failed: "
        );
    }

    #[test]
    fn arbitrary_logs_never_panic() {
        let pieces = [
            "Verification failed:",
            "Reason:",
            "At:",
            "  insn ",
            ">>>",
            " | ",
            "é",
            "\n",
            ":",
            "  ",
            "Suggestion:",
            "12: (95) exit",
            "; x @ a.c:3",
            "processed 1",
            "insn 99999999999",
            "a.c:",
            "(",
            "\t",
            "",
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let mut log = String::new();
            for _ in 0..(x % 24) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                log.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            let _ = (diagnosis(&log), failing_insn(&log), source_from_log(&log));
            let _ = log_tail(&log, (x % 5) as usize);
        }
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
