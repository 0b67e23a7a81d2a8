//! Rust identifiers from C names: keywords become raw identifiers, other characters `_`.

/// Keywords usable as raw identifiers (`r#type`).
const RAW_OK: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers: suffixed with `_`.
const NO_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// `name` as a Rust identifier (`type` → `r#type`, `.data.foo` → `_data_foo`).
pub(crate) fn ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if NO_RAW.contains(&s.as_str()) {
        s.push('_');
    } else if RAW_OK.contains(&s.as_str()) {
        s.insert_str(0, "r#");
    }
    s
}

/// A CamelCase type name for a global section: `.rodata` → `Rodata`, `.data.foo` → `DataFoo`.
pub(crate) fn section_type(section: &str) -> String {
    let mut out = String::new();
    for part in section.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'S');
    }
    out
}

/// A snake-case accessor name for a global section: `.data.foo` → `data_foo`.
pub(crate) fn section_fn(section: &str) -> String {
    ident(section.trim_start_matches('.').replace('.', "_").as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("self"), "self_");
        assert_eq!(ident("a.b"), "a_b");
        assert_eq!(ident("0x"), "_0x");
        assert_eq!(section_type(".data.foo"), "DataFoo");
        assert_eq!(section_type(".rodata"), "Rodata");
        assert_eq!(section_fn(".rodata.bar"), "rodata_bar");
        assert_eq!(section_fn(".bss"), "bss");
    }
}
