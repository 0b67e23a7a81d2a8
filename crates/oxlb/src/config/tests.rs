//! Unit tests of config parsing and validation.

use super::validate::LineIndex;
use super::*;
use crate::plan::{Mode, Proto};
use std::path::PathBuf;
use std::time::Duration;

const GOOD: &str = r#"
[global]
maglev_table_size = 65537
conntrack_size = 1000
metrics_listen = "127.0.0.1:9100"
pin_dir = "/sys/fs/bpf/oxlb-test"

[[interface]]
name = "eth0"
xdp_mode = "driver"

[[vip]]
address = "10.0.0.1"
port = 80
protocol = "tcp"
mode = "nat"
snat = "10.0.0.254"
health = { type = "http", port = 8080, path = "/healthz", interval = "500ms", timeout = "200ms", rise = 2, fall = 3 }

[[vip.backend]]
address = "10.0.1.1"
port = 8080
weight = 100

[[vip.backend]]
address = "10.0.1.2"
port = 8080

[[vip]]
address = "fd00::1"
protocol = "udp"
mode = "dsr"
backend = [ { address = "fd00::10" }, { address = "10.0.2.2", weight = 0 } ]
"#;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(src, "oxlb.toml")
}

/// The single diagnostic of a config expected to be invalid.
fn one_error(src: &str) -> Diagnostic {
    let err = parse(src).expect_err("config should be rejected");
    let diags = err.diagnostics();
    assert_eq!(diags.len(), 1, "expected one diagnostic, got: {err}");
    diags[0].clone()
}

/// A minimal valid config with `vip_body` appended.
fn with_vip(vip_body: &str) -> String {
    format!("[[interface]]\nname = \"eth0\"\n\n{vip_body}")
}

#[test]
fn parses_full_example() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.global.maglev_table_size, 65537);
    assert_eq!(c.global.conntrack_size, 1000);
    assert_eq!(
        c.global.metrics_listen,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    assert_eq!(c.global.pin_dir, PathBuf::from("/sys/fs/bpf/oxlb-test"));
    assert_eq!(
        c.interfaces,
        vec![Interface {
            name: "eth0".into(),
            xdp_mode: XdpMode::Driver
        }]
    );
    assert_eq!(c.vips.len(), 2);
    let v = &c.vips[0];
    assert_eq!(v.key().to_string(), "10.0.0.1:80/tcp");
    assert_eq!(v.mode, Mode::Nat);
    assert_eq!(v.snat_addr, Some("10.0.0.254".parse().unwrap()));
    assert_eq!(v.line, 12);
    let h = v.health.as_ref().unwrap();
    assert_eq!(
        h.kind,
        CheckKind::Http {
            path: "/healthz".into()
        }
    );
    assert_eq!(
        (h.interval, h.timeout, h.rise, h.fall),
        (Duration::from_millis(500), Duration::from_millis(200), 2, 3)
    );
    assert_eq!(v.backends[0].weight, 100);
    assert_eq!(v.backends[1].weight, 1, "default weight");
    assert_eq!(v.backends[1].line, 25);
    assert_eq!(v.check_port(&v.backends[0]), 8080);
    let v6 = &c.vips[1];
    assert_eq!(v6.key().to_string(), "[fd00::1]:0/udp");
    assert_eq!(
        (v6.mode, v6.snat_addr, v6.health.is_none()),
        (Mode::Dsr, None, true)
    );
    assert_eq!(v6.backends[1].weight, 0);
    assert_eq!(v6.backend_key(&v6.backends[0]).name(), "[fd00::10]:0");
}

#[test]
fn defaults() {
    let c = parse(&with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.2\" }]\n",
    ))
    .unwrap();
    assert_eq!(c.global, Global::default());
    assert_eq!(
        c.global.metrics_listen,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    assert_eq!(c.interfaces[0].xdp_mode, XdpMode::Auto);
    assert_eq!((c.vips[0].port, c.vips[0].proto), (0, Proto::Tcp));
}

#[test]
fn bad_weight_names_line_and_vip() {
    let src = with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nsnat = \"10.0.0.9\"\n\n[[vip.backend]]\naddress = \"10.0.1.1\"\nweight = 70000\n",
        );
    let d = one_error(&src);
    assert_eq!((d.line, d.column), (11, 10));
    assert_eq!(
        d.to_string(),
        "oxlb.toml:11:10: vip 10.0.0.1:80/tcp: backend weight must be 0..=65535 (got 70000)"
    );
    assert!(one_error(&src.replace("70000", "-1"))
        .message
        .contains("weight must be 0..=65535"));
}

#[test]
fn unknown_key_is_a_syntax_error_with_position() {
    let err = parse(&with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackends = []\n",
    ))
    .unwrap_err();
    let ConfigError::Syntax(d) = &err else {
        panic!("expected syntax error, got {err}")
    };
    assert_eq!((d.line, d.column), (7, 1));
    assert!(
        d.message.contains("unknown field `backends`"),
        "{}",
        d.message
    );
    let err = parse("[global]\nmaglev_size = 3\n").unwrap_err();
    assert_eq!(err.diagnostics()[0].line, 2);
    let err = parse("[[interface]]\nname = \"eth0\"\nxdp = \"auto\"\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("oxlb.toml:3:1: unknown field `xdp`"),
        "{err}"
    );
}

#[test]
fn syntax_and_type_errors() {
    let err = parse("[[vip]\n").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
    let d = one_error("[[interface]]\nname = \"eth0\"\n[[vip]]\naddress = 10\n");
    assert_eq!(d.line, 4);
    assert!(d.message.contains("expected a string"), "{}", d.message);
    let d = one_error("[[interface]]\nname = \"eth0\"\n[[vip]]\nport = 80\n");
    assert!(
        d.message.contains("missing field `address`"),
        "{}",
        d.message
    );
}

#[test]
fn duplicates() {
    let vip = "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\nbackend = [{ address = \"10.0.1.1\" }]\n";
    let d = one_error(&with_vip(&format!("{vip}{vip}")));
    assert_eq!(d.line, 9);
    assert!(
        d.message
            .contains("vip 10.0.0.1:80/tcp is already defined at line 4"),
        "{}",
        d.message
    );
    // Same address/port with another protocol is a different VIP.
    let udp = vip.replace("port = 80", "port = 80\nprotocol = \"udp\"");
    parse(&with_vip(&format!("{vip}{udp}"))).unwrap();

    let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.1.1\" }, { address = \"10.0.1.1\" }]\n",
        ));
    assert!(
        d.message
            .contains("backend 10.0.1.1:0 is already listed at line 7"),
        "{}",
        d.message
    );

    let d = one_error("[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth0\"\n");
    assert_eq!(d.line, 3);
    assert!(d.message.contains("listed twice"));
}

#[test]
fn family_rules() {
    let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nsnat = \"10.0.0.2\"\nbackend = [{ address = \"fd00::2\" }]\n",
        ));
    assert!(
        d.message
            .contains("NAT backend fd00::2 is not the same IP family"),
        "{}",
        d.message
    );
    let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nsnat = \"fd00::9\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
        ));
    assert!(
        d.message.contains("snat fd00::9 is not the same IP family"),
        "{}",
        d.message
    );
    // DSR may mix families.
    parse(&with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"fd00::2\" }]\n",
    ))
    .unwrap();
}

#[test]
fn mode_rules() {
    let d = one_error(&with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
    ));
    assert!(d.message.contains("needs snat"), "{}", d.message);
    let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nsnat = \"10.0.0.2\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
        ));
    assert!(d.message.contains("snat only applies"), "{}", d.message);
    let d = one_error(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\", port = 81 }]\n",
        ));
    assert!(
        d.message.contains("DSR cannot rewrite ports"),
        "{}",
        d.message
    );
    let d = one_error(&with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"tunnel\"\nbackend = []\n",
    ));
    assert!(d.message.contains("not one of nat, dsr"), "{}", d.message);
    let d = one_error(&with_vip("[[vip]]\naddress = \"10.0.0.1\"\nsnat = \"10.0.0.1\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
    assert!(d.message.contains("snat must differ"), "{}", d.message);
}

#[test]
fn empty_backends_and_bad_addresses() {
    let d = one_error(&with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\n",
    ));
    assert_eq!(d.line, 4);
    assert!(d.message.contains("has no backends"), "{}", d.message);
    let d = one_error(&with_vip("[[vip]]\naddress = \"10.0.0.1:80\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
    assert!(d.message.contains("is not an IP address"), "{}", d.message);
    let d = one_error(&with_vip(
        "[[vip]]\naddress = \"0.0.0.0\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
    ));
    assert!(d.message.contains("unicast"), "{}", d.message);
    let d = one_error(&with_vip("[[vip]]\naddress = \"10.0.0.1\"\nport = 65536\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n"));
    assert!(
        d.message.contains("vip port 65536 must be 0..=65535"),
        "{}",
        d.message
    );
}

#[test]
fn table_size_rules() {
    let base = with_vip("[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }, { address = \"10.0.0.4\" }]\n");
    for bad in ["65536", "1", "0", "-7", "16777259"] {
        let d = one_error(&format!("[global]\nmaglev_table_size = {bad}\n{base}"));
        assert_eq!(d.line, 2);
        assert!(
            d.message.contains("must be a prime"),
            "{bad}: {}",
            d.message
        );
    }
    // 2 backends need a table > 20: 19 is prime but too small, 23 is fine.
    let d = one_error(&format!("[global]\nmaglev_table_size = 19\n{base}"));
    assert!(
        d.message.contains("need maglev_table_size > 20"),
        "{}",
        d.message
    );
    parse(&format!("[global]\nmaglev_table_size = 23\n{base}")).unwrap();
}

#[test]
fn health_rules() {
    let vip = |health: &str| {
        with_vip(&format!(
                "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nhealth = {{ {health} }}\nbackend = [{{ address = \"10.0.0.3\" }}]\n"
            ))
    };
    for (health, want) in [
        ("type = \"icmp\", port = 1", "not one of tcp, http"),
        (
            "type = \"tcp\", port = 1, path = \"/\"",
            "only applies to type = \"http\"",
        ),
        (
            "type = \"http\", port = 1, path = \"x\"",
            "must start with '/'",
        ),
        (
            "type = \"http\", port = 1, path = \"/a b\"",
            "must start with '/'",
        ),
        (
            "type = \"tcp\", port = 0",
            "health port 0 must be 1..=65535",
        ),
        ("type = \"tcp\", port = 1, interval = \"2\"", "must be like"),
        (
            "type = \"tcp\", port = 1, interval = \"5ms\"",
            "within 10ms",
        ),
        (
            "type = \"tcp\", port = 1, interval = \"1s\", timeout = \"2s\"",
            "must not exceed interval",
        ),
        (
            "type = \"tcp\", port = 1, rise = 0",
            "rise 0 must be 1..=100",
        ),
        (
            "type = \"tcp\", port = 1, fall = 101",
            "fall 101 must be 1..=100",
        ),
        ("type = \"tcp\"", "health check needs a port"),
    ] {
        let d = one_error(&vip(health));
        assert!(d.message.contains(want), "{health}: {}", d.message);
    }
    let c = parse(&vip("type = \"http\", port = 9, interval = \"1m\"")).unwrap();
    let h = c.vips[0].health.as_ref().unwrap();
    assert_eq!(h.kind, CheckKind::Http { path: "/".into() });
    assert_eq!(
        (h.interval, h.timeout, h.rise, h.fall),
        (Duration::from_secs(60), Duration::from_secs(1), 2, 3)
    );
}

#[test]
fn global_rules() {
    let base = with_vip(
        "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.0.0.3\" }]\n",
    );
    let d = one_error(&format!("[global]\nmetrics_listen = \"localhost\"\n{base}"));
    assert!(d.message.contains("not an ip:port"), "{}", d.message);
    let c = parse(&format!("[global]\nmetrics_listen = \"off\"\n{base}")).unwrap();
    assert_eq!(c.global.metrics_listen, None);
    let d = one_error(&format!("[global]\npin_dir = \"relative\"\n{base}"));
    assert!(d.message.contains("absolute"), "{}", d.message);
    let d = one_error(&format!("[global]\nconntrack_size = 0\n{base}"));
    assert!(d.message.contains("conntrack_size 0"), "{}", d.message);
    let c = parse(&format!(
        "[global]\nnat_tcp_timeout = \"1h\"\nnat_tcp_closed_timeout = \"2s\"\n\
         nat_tcp_time_wait_timeout = \"2m\"\nnat_udp_timeout = \"10s\"\n{base}"
    ))
    .unwrap();
    let t = c.global.nat_timeouts;
    assert_eq!(
        (t.tcp_idle, t.tcp_closed, t.tcp_time_wait, t.udp_idle),
        (3600, 2, 120, 10)
    );
    assert_eq!(
        parse(&base).unwrap().global.nat_timeouts,
        NatTimeouts::default()
    );
    for bad in ["\"500ms\"", "\"0s\"", "\"8d\"", "\"soon\""] {
        let d = one_error(&format!("[global]\nnat_udp_timeout = {bad}\n{base}"));
        assert!(d.message.contains("nat_udp_timeout"), "{}", d.message);
        assert!(d.message.contains("whole seconds"), "{}", d.message);
        assert_eq!(d.line, 2, "{bad}: {}", d.message);
    }
    let d = one_error("[[interface]]\nname = \"a-very-long-interface-name\"\n");
    assert!(d.message.contains("interface name"), "{}", d.message);
    let d = one_error("[[interface]]\nname = \"eth0\"\nxdp_mode = \"offload\"\n");
    assert!(
        d.message.contains("not one of auto, generic, driver"),
        "{}",
        d.message
    );
    let d = one_error("");
    assert!(d.message.contains("no [[interface]]"), "{}", d.message);
}

#[test]
fn all_problems_are_reported() {
    let err = parse(&with_vip(
            "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"x\" }, { address = \"10.0.0.3\", weight = 1000000 }]\n[[vip]]\naddress = \"y\"\nbackend = []\n",
        ))
        .unwrap_err();
    assert_eq!(err.diagnostics().len(), 3, "{err}");
    assert_eq!(err.to_string().lines().count(), 3);
}

#[test]
fn garbage_never_panics() {
    // Every prefix of a valid config either parses or fails with a diagnostic.
    for end in 0..GOOD.len() {
        if GOOD.is_char_boundary(end) {
            if let Err(e) = parse(&GOOD[..end]) {
                assert!(!e.diagnostics().is_empty(), "{e}");
            }
        }
    }
    let _ = parse("\u{0}\u{feff}[[vip]]\u{1F600} = ü");
}

#[test]
fn helpers() {
    assert!(is_prime(2) && is_prime(65537) && is_prime(655373) && is_prime(16777213));
    assert!(!is_prime(0) && !is_prime(1) && !is_prime(65535) && !is_prime(9));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration(" 3s "), Some(Duration::from_secs(3)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("2w"), None);
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration("99999999999999999999s"), None);
    assert_eq!(LineIndex::new("ab\ncdé\nx").line_col(7), (2, 4));
    assert_eq!(LineIndex::new("ab").line_col(100), (1, 3));
}

#[test]
fn load_reads_files() {
    let dir = std::env::temp_dir().join(format!("oxlb-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lb.toml");
    std::fs::write(&path, "[[interface]]\nname = 1\n").unwrap();
    let err = Config::load(&path).unwrap_err();
    assert!(err.to_string().starts_with("lb.toml:2:8:"), "{err}");
    std::fs::write(&path, GOOD).unwrap();
    assert_eq!(Config::load(&path).unwrap().vips.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(Config::load(&path), Err(ConfigError::Read { .. })));
}
