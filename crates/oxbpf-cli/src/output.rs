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
            println!("{}", serde_json::json!({ "error": chain_text(e) }));
        } else {
            eprintln!("error: {}", chain_text(e));
        }
    }
}

/// The error and its causes joined by `: `, skipping a cause whose text the message before it
/// already includes (errors that print their source would otherwise show it twice).
fn chain_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
