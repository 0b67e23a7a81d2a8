//! JSON text of a [`Value`], written straight into a string.

use super::Value;
use std::fmt::Write;

/// Appends `s` as a JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A 128-bit number as a JSON number when it fits 64 bits, else as a `"0x..."` string.
fn wide(out: &mut String, n: i128) {
    if let Ok(x) = i64::try_from(n) {
        let _ = write!(out, "{x}");
    } else if let Ok(x) = u64::try_from(n) {
        let _ = write!(out, "{x}");
    } else {
        let _ = write!(out, "\"{:#x}\"", n as u128);
    }
}

fn unsigned(out: &mut String, n: u128) {
    match u64::try_from(n) {
        Ok(x) => {
            let _ = write!(out, "{x}");
        }
        Err(_) => {
            let _ = write!(out, "\"{n:#x}\"");
        }
    }
}

/// Appends `v` as JSON.
pub(super) fn write(out: &mut String, v: &Value) {
    match v {
        Value::Uint(n) | Value::Bits(n) => unsigned(out, *n),
        Value::Int(n) => wide(out, *n),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Value::Float(f) => push_str(out, &format!("{f}")),
        Value::Enum {
            name: Some(name), ..
        } => push_str(out, name),
        Value::Enum { name: None, value } => wide(out, *value),
        Value::Ptr(p) => {
            let _ = write!(out, "{p}");
        }
        Value::Str(s) => push_str(out, s),
        Value::Bytes(b) => {
            out.push('"');
            for x in b {
                let _ = write!(out, "{x:02x}");
            }
            out.push('"');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, x);
            }
            out.push(']');
        }
        Value::Struct(fields) | Value::Union(fields) => {
            out.push('{');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, &f.name);
                out.push(':');
                write(out, &f.value);
            }
            out.push('}');
        }
    }
}
