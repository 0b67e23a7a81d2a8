//! C-like text: `{ .pid = 42, .comm = "bash", .flags = 0x3 }`, arrays as `{ 1, 2, 3 }`.

use super::{Field, Value};
use std::fmt::Write;

/// Appends `s` as a C string literal (only `"` and `\` need escaping: strings are printable).
fn push_c_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Appends a scalar (anything but arrays, structs and unions); false for those.
fn scalar(out: &mut String, v: &Value) -> bool {
    let _ = match v {
        Value::Uint(n) => write!(out, "{n}"),
        Value::Int(n) => write!(out, "{n}"),
        Value::Bits(n) => write!(out, "{n:#x}"),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Float(f) => write!(out, "{f:?}"),
        Value::Enum {
            name: Some(name), ..
        } => write!(out, "{name}"),
        Value::Enum { name: None, value } => write!(out, "{value}"),
        Value::Ptr(p) => write!(out, "{p:#x}"),
        Value::Str(s) => {
            push_c_str(out, s);
            Ok(())
        }
        Value::Bytes(b) => {
            out.push_str("<bytes");
            for x in b {
                let _ = write!(out, " {x:02x}");
            }
            out.push('>');
            Ok(())
        }
        Value::Array(_) | Value::Struct(_) | Value::Union(_) => return false,
    };
    true
}

/// The parts of an aggregate: `(Some(name), value)` for members, `(None, value)` for elements.
fn parts(v: &Value) -> Vec<(Option<&str>, &Value)> {
    match v {
        Value::Array(a) => a.iter().map(|x| (None, x)).collect(),
        Value::Struct(f) | Value::Union(f) => f
            .iter()
            .map(|Field { name, value }| (Some(name.as_str()), value))
            .collect(),
        _ => Vec::new(),
    }
}

fn write_part(out: &mut String, name: Option<&str>) {
    if let Some(n) = name {
        let _ = write!(out, ".{n} = ");
    }
}

/// Appends `v` on one line.
pub(super) fn write(out: &mut String, v: &Value) {
    if scalar(out, v) {
        return;
    }
    let ps = parts(v);
    if ps.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (name, x)) in ps.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_part(out, name);
        write(out, x);
    }
    out.push_str(" }");
}

/// Appends `v`, breaking aggregates longer than `width` into one member per line.
pub(super) fn write_pretty(out: &mut String, v: &Value, indent: usize, width: usize) {
    let mut line = String::new();
    write(&mut line, v);
    if line.len() + indent <= width || scalar(&mut String::new(), v) {
        out.push_str(&line);
        return;
    }
    out.push_str("{\n");
    for (name, x) in parts(v) {
        out.extend(std::iter::repeat_n(' ', indent + 2));
        write_part(out, name);
        write_pretty(out, x, indent + 2, width);
        out.push_str(",\n");
    }
    out.extend(std::iter::repeat_n(' ', indent));
    out.push('}');
}
