//! Configs a hostile test found accepted (issue 16, finding 7): each must be refused with a
//! positioned error naming what is wrong.

use super::*;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(src, "oxlb.toml")
}

/// The messages of every diagnostic of a config expected to be invalid, as `line:col: msg`.
fn errors(src: &str) -> Vec<String> {
    let Err(err) = parse(src) else {
        panic!("config should be rejected");
    };
    err.diagnostics()
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect()
}

/// A config with one interface and `vips` appended.
fn with(vips: &str) -> String {
    format!("[[interface]]\nname = \"eth0\"\n\n{vips}")
}

fn dsr_vip(addr: &str, backends: &str) -> String {
    format!("[[vip]]\naddress = \"{addr}\"\nport = 80\nmode = \"dsr\"\nbackend = [{backends}]\n")
}

#[track_caller]
fn rejects(src: &str, line_col: &str, needle: &str) {
    let errs = errors(src);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(line_col) && e.contains(needle)),
        "expected {line_col} ... {needle:?}, got {errs:#?}"
    );
}

#[test]
fn backend_equal_to_its_vip_another_vip_or_a_snat_address() {
    // Line 8 holds the first VIP's backend list (the address at column 24).
    rejects(
        &with(&dsr_vip("10.0.0.1", "{ address = \"10.0.0.1\" }")),
        "8:24:",
        "is the VIP's own address",
    );
    let two = with(&format!(
        "{}{}",
        dsr_vip("10.0.0.1", "{ address = \"10.0.0.2\" }"),
        dsr_vip("10.0.0.2", "{ address = \"10.0.1.2\" }")
    ));
    rejects(&two, "8:24:", "is also VIP 10.0.0.2:80/tcp");
    let snat = with(
        "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nsnat = \"10.0.0.254\"\n\
         backend = [{ address = \"10.0.1.1\" }, { address = \"10.0.0.254\" }]\n",
    );
    rejects(&snat, "8:50:", "is the SNAT address of vip 10.0.0.1:80/tcp");
}

#[test]
fn vip_addresses_that_cannot_be_services() {
    for (addr, why) in [
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.3.2.1", "loopback"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("224.0.0.5", "multicast"),
        ("ff02::1", "multicast"),
    ] {
        let backend = if addr.contains(':') {
            "{ address = \"fd00::2\" }"
        } else {
            "{ address = \"10.0.0.2\" }"
        };
        rejects(&with(&dsr_vip(addr, backend)), "5:11:", why);
    }
    // A broadcast backend is refused too; loopback backends stay allowed (local tests).
    rejects(
        &with(&dsr_vip("10.0.0.1", "{ address = \"255.255.255.255\" }")),
        "8:24:",
        "broadcast",
    );
    assert!(parse(&with(&dsr_vip("10.0.0.1", "{ address = \"127.0.0.1\" }"))).is_ok());
}

#[test]
fn every_weight_zero_is_refused() {
    rejects(
        &with(&dsr_vip(
            "10.0.0.1",
            "{ address = \"10.0.1.1\", weight = 0 }, { address = \"10.0.1.2\", weight = 0 }",
        )),
        "4:1:",
        "every backend of vip 10.0.0.1:80/tcp has weight 0",
    );
    // One drained backend among others is fine.
    assert!(parse(&with(&dsr_vip(
        "10.0.0.1",
        "{ address = \"10.0.1.1\", weight = 0 }, { address = \"10.0.1.2\" }",
    )))
    .is_ok());
}

#[test]
fn spaces_around_an_address_are_refused() {
    rejects(
        &with(&dsr_vip(" 10.0.0.1", "{ address = \"10.0.1.1\" }")),
        "5:11:",
        "leading or trailing spaces",
    );
    rejects(
        &with(&dsr_vip("10.0.0.1", "{ address = \"10.0.1.1 \" }")),
        "8:24:",
        "leading or trailing spaces",
    );
}

#[test]
fn table_typos_name_the_key_and_what_was_expected() {
    // A single table where an array of tables belongs.
    let err = parse("[[interface]]\nname = \"eth0\"\n\n[vip]\naddress = \"10.0.0.1\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`vip`") && err.contains("[[vip]]") && err.starts_with("oxlb.toml:4:"),
        "{err}"
    );
    let err = parse("[interface]\nname = \"eth0\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`interface`") && err.contains("[[interface]]"),
        "{err}"
    );
    let err = parse(&with(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\n[vip.backend]\naddress = \"10.0.1.1\"\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`backend`") && err.contains("[[vip.backend]]"),
        "{err}"
    );
    // A misspelt key is named with the keys that exist.
    let err = parse(&with(
        &dsr_vip("10.0.0.1", "{ address = \"10.0.1.1\" }").replace("[[vip]]", "[[vips]]"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`vips`") && err.contains("`vip`") && err.starts_with("oxlb.toml:4:"),
        "{err}"
    );
}
