//! Warnings about configs that are valid but will misbehave under load.

use super::Config;
use crate::plan::Mode;
use std::collections::HashSet;

/// Warns when `conntrack_size` is below the number of concurrent NAT flows the NAT port ranges
/// allow (`nat_port_count` ports per distinct (backend address:port, SNAT address)). Every NAT
/// flow holds one conntrack entry and one NAT entry, each map `conntrack_size` long; once more
/// flows are open than fit, the LRU maps evict live flows, which then break.
pub fn conntrack_warning(config: &Config, nat_port_count: u16) -> Option<String> {
    let pairs: HashSet<_> = config
        .vips
        .iter()
        .filter(|v| v.mode == Mode::Nat)
        .flat_map(|v| {
            v.backends
                .iter()
                .filter(|b| b.weight > 0)
                .map(move |b| (b.addr, b.port, v.snat_addr))
        })
        .collect();
    let capacity = pairs.len() as u64 * u64::from(nat_port_count);
    let size = u64::from(config.global.conntrack_size);
    if capacity == 0 || size >= capacity {
        return None;
    }
    let suggest = capacity.min(u64::from(super::MAX_CONNTRACK_SIZE));
    Some(format!(
        "conntrack_size {size} is below the {capacity} concurrent NAT flows the port ranges allow \
         ({} backend/SNAT pairs x {nat_port_count} ports): every NAT flow holds a conntrack and a \
         NAT entry, so beyond {size} concurrent flows (NAT and DSR together) the LRU maps evict \
         live flows and those connections break. Set conntrack_size to at least your peak \
         concurrent flows with headroom (at most {suggest} is ever useful for NAT); each unit \
         costs 200 bytes of keys and values plus the kernel's per-entry overhead",
        pairs.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(size: u32, backends: usize, mode: &str) -> Config {
        let mut s = format!(
            "[global]\nconntrack_size = {size}\n[[interface]]\nname = \"eth0\"\n[[vip]]\n\
             address = \"10.0.0.1\"\nport = 80\nmode = \"{mode}\"\n"
        );
        if mode == "nat" {
            s += "snat = \"10.0.0.254\"\n";
        }
        for b in 0..backends {
            s += &format!("[[vip.backend]]\naddress = \"10.0.1.{}\"\n", b + 1);
        }
        Config::parse(&s, "t.toml").unwrap()
    }

    #[test]
    fn warns_below_the_nat_port_capacity_only() {
        let w = conntrack_warning(&config(1024, 2, "nat"), 16384).expect("warning");
        assert!(
            w.contains("conntrack_size 1024 is below the 32768 concurrent NAT flows")
                && w.contains("2 backend/SNAT pairs x 16384 ports"),
            "{w}"
        );
        assert_eq!(conntrack_warning(&config(32768, 2, "nat"), 16384), None);
        // DSR flows hold no NAT port: no port-range bound to compare with.
        assert_eq!(conntrack_warning(&config(1024, 2, "dsr"), 16384), None);
    }
}
