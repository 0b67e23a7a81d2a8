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
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("JSON values serialise")
            );
        } else {
            print!("{}", text());
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

/// The error chain as one line, without repeating causes that a message already includes.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
