//! Fleet consistency: a digest of the forwarding plan that nodes given the same config share.
//!
//! The digest covers what decides where a flow goes: the table size, every VIP (address, port,
//! protocol, mode), its backends (address, port, weight, health) and its Maglev table with each
//! slot named by its backend's address and port. It leaves out what may differ between nodes
//! without changing any flow's backend: the ids (they depend on each node's reload history),
//! the order of VIPs and backends in the file, and NAT source addresses (per node by design).
//! Two nodes that show the same digest send every new flow to the same backend.

use crate::plan::{Plan, VipPlan};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::hash::Hasher;

/// The plan's digest: 32 hex digits.
pub fn digest(plan: &Plan) -> String {
    let mut h = SipHasher13::new_with_keys(0x6f78_6c62_666c_6565, 0x7464_6967_6573_7431);
    h.write_u32(plan.table_size);
    let mut vips: Vec<&VipPlan> = plan.vips.iter().collect();
    vips.sort_by_key(|v| v.key());
    h.write_usize(vips.len());
    for v in vips {
        field(&mut h, &v.key().to_string());
        field(&mut h, &v.mode.to_string());
        let mut backends: Vec<_> = v.backends.iter().collect();
        backends.sort_by_key(|b| (b.addr, b.port));
        h.write_usize(backends.len());
        let mut names = HashMap::new();
        for b in backends {
            let name = v.backend_key(b).name();
            field(&mut h, &name);
            h.write_u32(b.weight);
            h.write_u8(u8::from(b.healthy));
            names.insert(b.id, name);
        }
        h.write_usize(v.table.len());
        for id in &v.table {
            field(&mut h, names.get(id).map(String::as_str).unwrap_or("?"));
        }
    }
    format!("{:032x}", h.finish128().as_u128())
}

/// A length-prefixed string, so ("ab","c") and ("a","bc") hash differently.
fn field(h: &mut SipHasher13, s: &str) {
    h.write_usize(s.len());
    h.write(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::planner::{plan, HealthMap};

    fn cfg(body: &str) -> Config {
        Config::parse(
            &format!("[global]\nmaglev_table_size = 1009\n[[interface]]\nname = \"eth0\"\n{body}"),
            "t.toml",
        )
        .expect("valid config")
    }

    const A: &str = "[[vip]]\naddress = \"10.0.0.1\"\nport = 80\nmode = \"dsr\"\n\
        backend = [{address = \"10.0.1.1\"}, {address = \"10.0.1.2\", weight = 2}, {address = \"10.0.1.3\"}]\n\
        [[vip]]\naddress = \"fd00::1\"\nport = 53\nprotocol = \"udp\"\nmode = \"nat\"\nsnat = \"fd00::fe\"\n\
        backend = [{address = \"fd00::11\", port = 5353}, {address = \"fd00::12\", port = 5353}]\n";

    #[test]
    fn same_config_same_digest_whatever_the_history() {
        let c = cfg(A);
        let fresh = plan(&c, &HealthMap::new(), None).expect("plan");
        // A node that ran another config first has other ids for the same VIPs and backends.
        let other = cfg(&format!(
            "[[vip]]\naddress = \"10.9.9.9\"\nmode = \"dsr\"\nbackend = [{{address = \"10.0.1.1\"}}]\n{A}"
        ));
        let before = plan(&other, &HealthMap::new(), None).expect("plan");
        let later = plan(&c, &HealthMap::new(), Some(&before)).expect("plan");
        assert_ne!(
            fresh.vips.iter().map(|v| v.id).collect::<Vec<_>>(),
            later.vips.iter().map(|v| v.id).collect::<Vec<_>>(),
            "the test needs nodes whose ids differ"
        );
        assert_eq!(digest(&fresh), digest(&later));
        // Order in the file and the NAT source address do not change where flows go.
        let (first, second) = A.split_at(A.find("[[vip]]\naddress = \"fd00").expect("2nd vip"));
        let swapped = cfg(&format!("{second}{first}").replace("fd00::fe", "fd00::fd"));
        assert_eq!(
            digest(&fresh),
            digest(&plan(&swapped, &HealthMap::new(), None).expect("plan"))
        );
        assert_eq!(digest(&fresh).len(), 32);
    }

    #[test]
    fn any_forwarding_change_changes_the_digest() {
        let c = cfg(A);
        let base = digest(&plan(&c, &HealthMap::new(), None).expect("plan"));
        for changed in [
            A.replace("weight = 2", "weight = 3"),
            A.replace("port = 80", "port = 81"),
            A.replace("mode = \"dsr\"", "mode = \"nat\"\nsnat = \"10.0.0.254\""),
            A.replace(", {address = \"10.0.1.3\"}", ""),
        ] {
            let d = digest(&plan(&cfg(&changed), &HealthMap::new(), None).expect("plan"));
            assert_ne!(base, d, "digest unchanged for:\n{changed}");
        }
        let mut sick = plan(&c, &HealthMap::new(), None).expect("plan");
        sick.vips[0].backends[0].healthy = false;
        assert_ne!(base, digest(&sick));
        let mut table = plan(&c, &HealthMap::new(), None).expect("plan");
        let t = &mut table.vips[0].table;
        let j = t.iter().position(|id| *id != t[0]).expect("two backends");
        t.swap(0, j);
        assert_ne!(base, digest(&table));
    }
}
