//! Text or JSON output, chosen once by `--json`.

use serde_json::Value;

/// Where command results go.
pub struct Output {
    json: bool,
}

impl Output {
    /// Output in JSON when `json`, else text.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Prints `value` as JSON, or `text()` as text.
    pub fn emit(&self, value: &Value, text: impl FnOnce() -> String) {
        if self.json {
            let mut s = serde_json::to_string_pretty(value).expect("JSON values serialise");
            s.push('\n');
            write_stdout(&s);
        } else {
            write_stdout(&text());
        }
    }

    /// Reports a failure on stderr (as `{"error": ...}` on stdout in JSON mode).
    pub fn error(&self, e: &anyhow::Error) {
        if self.json {
            println!("{}", serde_json::json!({ "error": message(e) }));
        } else {
            eprintln!("error: {}", message(e));
        }
    }
}

/// Writes `s` to stdout. A reader that went away (`oxbpf map dump ... | head`) is not an
/// error (`print!` would panic); another write failure is said on stderr.
fn write_stdout(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing the output: {e}");
        }
    }
}

/// The error chain as one line, without repeating causes that a message already includes:
/// a context that the next cause starts with ("pin X" then "pin X: file exists") is replaced
/// by that cause instead of printed twice.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last_start = 0;
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() && text.starts_with(&out[last_start..]) {
            out.truncate(last_start);
        } else if !out.is_empty() {
            out.push_str(": ");
        }
        last_start = out.len();
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_context_repeated_by_its_cause_is_printed_once() {
        let e = anyhow::anyhow!("pin link at /p: file exists").context("pin link at /p");
        assert_eq!(super::message(&e), "pin link at /p: file exists");
        let e = anyhow::anyhow!("file exists")
            .context("pin link at /p")
            .context("attach");
        assert_eq!(super::message(&e), "attach: pin link at /p: file exists");
    }
}
