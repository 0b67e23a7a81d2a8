//! Config + health state + previous plan → [`Plan`].
//!
//! Ids are stable across reloads: a VIP (keyed by address, port, protocol) or a backend (keyed
//! by its VIP, address and port) that was in the previous plan keeps its id, even if its weight,
//! mode or position in the file changed. New items take the lowest free id, in file order, so
//! the same (previous plan, config) pair always gives the same ids. Backend ids are global and
//! unique per (VIP, backend) pair, so per-backend counters never mix two VIPs.
//!
//! Tables are Maglev over the backends with weight > 0 that are healthy. A backend's health only
//! counts when its VIP has a health check; backends missing from the health map are healthy.
//!
//! Panic mode: when fewer than `health_panic_threshold` percent of a VIP's weighted backends
//! are healthy, its health checks are ignored and every weighted backend gets new flows. Health
//! checks that fail together (an overloaded host under a flood, a network blip between the LB
//! and the backends) would otherwise close the VIP; a backend that is really down then costs
//! its share of new connections instead of all of them. Envoy's panic threshold does the same.

use std::collections::{BTreeSet, HashMap};

use crate::config::Config;
use crate::maglev::{self, MaglevEntry, MaglevError};
use crate::plan::{BackendKey, BackendPlan, Plan, VipKey, VipPlan};

/// Whether fewer than `threshold` percent of the weighted backends are healthy.
fn in_panic(backends: &[BackendPlan], threshold: u32) -> bool {
    let weighted = backends.iter().filter(|b| b.weight > 0).count();
    let healthy = backends
        .iter()
        .filter(|b| b.weight > 0 && b.healthy)
        .count();
    weighted > 0 && healthy * 100 < weighted * threshold as usize
}

/// Health state by backend, as reported by the health checker.
pub type HealthMap = HashMap<BackendKey, bool>;

/// Capacity of the datapath's id-indexed arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Number of VIP ids (VIP ids are `0..max_vips`).
    pub max_vips: u32,
    /// Number of backend ids (backend ids are `0..max_backends`).
    pub max_backends: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_vips: 1024,
            max_backends: 65536,
        }
    }
}

/// Why a plan could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// More VIPs than the datapath has slots for.
    #[error("{count} VIPs exceed the datapath limit of {max}; remove VIPs or raise the limit")]
    TooManyVips {
        /// VIPs in the config.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// More backends (over all VIPs) than the datapath has slots for.
    #[error("{count} backends (over all VIPs) exceed the datapath limit of {max}")]
    TooManyBackends {
        /// Backends in the config.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// A Maglev table could not be built.
    #[error("vip {vip}: {source}")]
    Maglev {
        /// The VIP.
        vip: VipKey,
        /// What went wrong.
        #[source]
        source: MaglevError,
    },
}

/// Builds the plan with the default [`Limits`].
pub fn plan(config: &Config, health: &HealthMap, prev: Option<&Plan>) -> Result<Plan, PlanError> {
    plan_with_limits(config, health, prev, &Limits::default())
}

/// Builds the plan for `config`, keeping ids from `prev`.
pub fn plan_with_limits(
    config: &Config,
    health: &HealthMap,
    prev: Option<&Plan>,
    limits: &Limits,
) -> Result<Plan, PlanError> {
    if config.vips.len() > limits.max_vips as usize {
        return Err(PlanError::TooManyVips {
            count: config.vips.len(),
            max: limits.max_vips,
        });
    }
    let backend_count: usize = config.vips.iter().map(|v| v.backends.len()).sum();
    if backend_count > limits.max_backends as usize {
        return Err(PlanError::TooManyBackends {
            count: backend_count,
            max: limits.max_backends,
        });
    }
    let (prev_vips, prev_backends) = prev.map(previous_ids).unwrap_or_default();
    let vip_keys: Vec<VipKey> = config.vips.iter().map(|v| v.key()).collect();
    let vip_ids = assign_ids(&vip_keys, &prev_vips, limits.max_vips);
    let backend_keys: Vec<BackendKey> = config
        .vips
        .iter()
        .flat_map(|v| v.backends.iter().map(move |b| v.backend_key(b)))
        .collect();
    let backend_ids = assign_ids(&backend_keys, &prev_backends, limits.max_backends);

    let mut vips = Vec::with_capacity(config.vips.len());
    let mut next_backend = 0;
    for (vip, vip_id) in config.vips.iter().zip(vip_ids) {
        let mut backends = Vec::with_capacity(vip.backends.len());
        for b in &vip.backends {
            let key = vip.backend_key(b);
            let healthy = vip.health.is_none() || health.get(&key).copied().unwrap_or(true);
            backends.push(BackendPlan {
                id: backend_ids[next_backend],
                addr: b.addr,
                port: b.port,
                weight: b.weight,
                healthy,
            });
            next_backend += 1;
        }
        let names: Vec<String> = backends
            .iter()
            .map(|b| {
                BackendKey {
                    vip: vip.key(),
                    addr: b.addr,
                    port: b.port,
                }
                .name()
            })
            .collect();
        let panic =
            vip.health.is_some() && in_panic(&backends, config.global.health_panic_threshold);
        if panic {
            tracing::warn!(
                vip = %vip.key(),
                threshold = config.global.health_panic_threshold,
                "too few healthy backends: health checks ignored (panic mode), every weighted backend takes new flows"
            );
        }
        let entries: Vec<MaglevEntry<'_>> = backends
            .iter()
            .zip(&names)
            .map(|(b, name)| MaglevEntry {
                id: b.id,
                name,
                weight: if b.healthy || panic { b.weight } else { 0 },
            })
            .collect();
        let table =
            maglev::build_table(&entries, config.global.maglev_table_size).map_err(|source| {
                PlanError::Maglev {
                    vip: vip.key(),
                    source,
                }
            })?;
        vips.push(VipPlan {
            id: vip_id,
            addr: vip.addr,
            port: vip.port,
            proto: vip.proto,
            mode: vip.mode,
            snat_addr: vip.snat_addr,
            backends,
            table,
        });
    }
    vips.sort_by_key(|v| v.id);
    Ok(Plan {
        table_size: config.global.maglev_table_size,
        vips,
    })
}

/// The ids of a previous plan, by key.
fn previous_ids(prev: &Plan) -> (HashMap<VipKey, u32>, HashMap<BackendKey, u32>) {
    let mut vips = HashMap::new();
    let mut backends = HashMap::new();
    for v in &prev.vips {
        vips.insert(v.key(), v.id);
        for b in &v.backends {
            backends.insert(v.backend_key(b), b.id);
        }
    }
    (vips, backends)
}

/// Ids for `keys` (unique, in order): the previous id when there is a valid one not yet taken,
/// else the lowest free id. The caller checked `keys.len() <= limit`.
fn assign_ids<K: std::hash::Hash + Eq>(keys: &[K], prev: &HashMap<K, u32>, limit: u32) -> Vec<u32> {
    let mut used = BTreeSet::new();
    let mut ids: Vec<Option<u32>> = keys
        .iter()
        .map(|k| {
            prev.get(k)
                .copied()
                .filter(|id| *id < limit && used.insert(*id))
        })
        .collect();
    let mut candidate = 0u32;
    for id in ids.iter_mut().filter(|id| id.is_none()) {
        while used.contains(&candidate) {
            candidate += 1;
        }
        used.insert(candidate);
        *id = Some(candidate);
    }
    ids.into_iter().map(|id| id.unwrap_or(u32::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn config(vips: &str) -> Config {
        let src =
            format!("[global]\nmaglev_table_size = 1009\n[[interface]]\nname = \"eth0\"\n{vips}");
        Config::parse(&src, "test.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn vip(addr: &str, port: u16, backends: &[(&str, u32)]) -> String {
        let mut s = format!("[[vip]]\naddress = \"{addr}\"\nport = {port}\nmode = \"dsr\"\nhealth = {{ type = \"tcp\" }}\n");
        for (b, w) in backends {
            s += &format!("[[vip.backend]]\naddress = \"{b}\"\nweight = {w}\n");
        }
        s
    }

    /// (VIP, VIP id, [(backend address, backend id)]) of every VIP.
    type Ids = Vec<(String, u32, Vec<(String, u32)>)>;

    fn ids(plan: &Plan) -> Ids {
        plan.vips
            .iter()
            .map(|v| {
                let bs = v
                    .backends
                    .iter()
                    .map(|b| (b.addr.to_string(), b.id))
                    .collect();
                (v.key().to_string(), v.id, bs)
            })
            .collect()
    }

    fn slot_share(v: &VipPlan, id: u32) -> usize {
        v.table.iter().filter(|x| **x == id).count()
    }

    #[test]
    fn first_plan_numbers_in_file_order() {
        let c = config(
            &(vip("10.0.0.1", 80, &[("10.1.0.1", 1), ("10.1.0.2", 1)])
                + &vip("10.0.0.2", 80, &[("10.1.0.1", 1)])),
        );
        let p = plan(&c, &HealthMap::new(), None).unwrap();
        assert_eq!(p.table_size, 1009);
        assert_eq!(
            ids(&p),
            vec![
                (
                    "10.0.0.1:80/tcp".into(),
                    0,
                    vec![("10.1.0.1".into(), 0), ("10.1.0.2".into(), 1)]
                ),
                ("10.0.0.2:80/tcp".into(), 1, vec![("10.1.0.1".into(), 2)]),
            ]
        );
        let v = &p.vips[0];
        assert_eq!(v.table.len(), 1009);
        assert_eq!(
            v.table.iter().copied().collect::<HashSet<_>>(),
            HashSet::from([0, 1])
        );
        assert!(p.vips[1].table.iter().all(|x| *x == 2));
        // Pure: same input, same plan.
        assert_eq!(plan(&c, &HealthMap::new(), None).unwrap(), p);
    }

    #[test]
    fn ids_survive_reloads_and_freed_ids_are_reused_lowest_first() {
        let a = vip(
            "10.0.0.1",
            80,
            &[("10.1.0.1", 1), ("10.1.0.2", 1), ("10.1.0.3", 1)],
        );
        let b = vip("10.0.0.2", 80, &[("10.2.0.1", 1)]);
        let c = vip("10.0.0.3", 80, &[("10.3.0.1", 1)]);
        let p1 = plan(&config(&format!("{a}{b}{c}")), &HealthMap::new(), None).unwrap();
        // Drop VIP b and backend 10.1.0.2, reorder, change a weight, add VIP d with 2 backends.
        let a2 = vip("10.0.0.1", 80, &[("10.1.0.3", 5), ("10.1.0.1", 1)]);
        let d = vip("10.0.0.4", 80, &[("10.4.0.1", 1), ("10.4.0.2", 1)]);
        let p2 = plan(
            &config(&format!("{d}{c}{a2}")),
            &HealthMap::new(),
            Some(&p1),
        )
        .unwrap();
        assert_eq!(
            ids(&p2),
            vec![
                (
                    "10.0.0.1:80/tcp".into(),
                    0,
                    vec![("10.1.0.3".into(), 2), ("10.1.0.1".into(), 0)]
                ),
                // d takes b's freed VIP id 1, and freed backend ids 1 and 3 in order.
                (
                    "10.0.0.4:80/tcp".into(),
                    1,
                    vec![("10.4.0.1".into(), 1), ("10.4.0.2".into(), 3)]
                ),
                ("10.0.0.3:80/tcp".into(), 2, vec![("10.3.0.1".into(), 4)]),
            ]
        );
        // Reloading the same config changes nothing.
        let p3 = plan(
            &config(&format!("{d}{c}{a2}")),
            &HealthMap::new(),
            Some(&p2),
        )
        .unwrap();
        assert_eq!(p3, p2);
    }

    #[test]
    fn same_backend_in_two_vips_gets_two_ids() {
        let c = config(
            &(vip("10.0.0.1", 80, &[("10.1.0.1", 1)]) + &vip("10.0.0.1", 443, &[("10.1.0.1", 1)])),
        );
        let p = plan(&c, &HealthMap::new(), None).unwrap();
        assert_ne!(p.vips[0].backends[0].id, p.vips[1].backends[0].id);
    }

    #[test]
    fn unhealthy_and_zero_weight_backends_get_no_slots() {
        let c = config(&vip(
            "10.0.0.1",
            80,
            &[("10.1.0.1", 1), ("10.1.0.2", 1), ("10.1.0.3", 0)],
        ));
        let healthy = plan(&c, &HealthMap::new(), None).unwrap();
        let v = &healthy.vips[0];
        assert!(slot_share(v, 0) > 400 && slot_share(v, 1) > 400 && slot_share(v, 2) == 0);
        assert!(v.backends.iter().all(|b| b.healthy));

        let key = c.vips[0].backend_key(&c.vips[0].backends[1]);
        let down = HealthMap::from([(key, false)]);
        let p = plan(&c, &down, Some(&healthy)).unwrap();
        let v = &p.vips[0];
        assert!(!v.backends[1].healthy);
        assert_eq!(slot_share(v, 0), 1009);
        // Slots of the surviving backend do not move when another goes down.
        let before = &healthy.vips[0].table;
        assert!(before
            .iter()
            .zip(&v.table)
            .all(|(old, new)| *old != 0 || *new == 0));

        // All down: empty table (the datapath drops new flows).
        let all_down: HealthMap = c.vips[0]
            .backends
            .iter()
            .map(|b| (c.vips[0].backend_key(b), false))
            .collect();
        // All down, below the panic threshold (50 %): health is ignored, both weighted
        // backends take new flows again; with the threshold off the table is empty (the
        // datapath drops new flows).
        let p = plan(&c, &all_down, None).unwrap();
        assert!(slot_share(&p.vips[0], 0) > 400 && slot_share(&p.vips[0], 1) > 400);
        assert_eq!(slot_share(&p.vips[0], 2), 0, "weight 0 stays out");
        assert!(
            p.vips[0].backends.iter().all(|b| !b.healthy),
            "health is still reported"
        );
        let mut off = c.clone();
        off.global.health_panic_threshold = 0;
        assert!(plan(&off, &all_down, None).unwrap().vips[0]
            .table
            .is_empty());
        // A threshold of 100 % panics as soon as one backend is down.
        let mut strict = c.clone();
        strict.global.health_panic_threshold = 100;
        let p = plan(&strict, &down, None).unwrap();
        assert!(
            slot_share(&p.vips[0], 1) > 400,
            "the down backend is used in panic"
        );
    }

    #[test]
    fn health_is_ignored_without_a_check() {
        let src = "[[vip]]\naddress = \"10.0.0.1\"\nmode = \"dsr\"\nbackend = [{ address = \"10.1.0.1\" }]\n";
        let c = config(src);
        let key = c.vips[0].backend_key(&c.vips[0].backends[0]);
        let p = plan(&c, &HealthMap::from([(key, false)]), None).unwrap();
        assert!(p.vips[0].backends[0].healthy);
        assert_eq!(p.vips[0].table.len(), 1009);
    }

    #[test]
    fn limits_and_bad_previous_plans() {
        let c = config(
            &(vip("10.0.0.1", 80, &[("10.1.0.1", 1), ("10.1.0.2", 1)])
                + &vip("10.0.0.2", 80, &[("10.1.0.1", 1)])),
        );
        let tight = Limits {
            max_vips: 1,
            max_backends: 10,
        };
        assert_eq!(
            plan_with_limits(&c, &HealthMap::new(), None, &tight),
            Err(PlanError::TooManyVips { count: 2, max: 1 })
        );
        let tight = Limits {
            max_vips: 10,
            max_backends: 2,
        };
        assert!(matches!(
            plan_with_limits(&c, &HealthMap::new(), None, &tight),
            Err(PlanError::TooManyBackends { .. })
        ));
        // A previous plan with clashing or out-of-range ids is repaired, not trusted.
        let mut prev = plan(&c, &HealthMap::new(), None).unwrap();
        prev.vips[1].id = prev.vips[0].id;
        prev.vips[0].backends[0].id = 9999;
        let p = plan_with_limits(
            &c,
            &HealthMap::new(),
            Some(&prev),
            &Limits {
                max_vips: 4,
                max_backends: 4,
            },
        )
        .unwrap();
        let vip_ids: HashSet<u32> = p.vips.iter().map(|v| v.id).collect();
        let backend_ids: Vec<u32> = p
            .vips
            .iter()
            .flat_map(|v| v.backends.iter().map(|b| b.id))
            .collect();
        assert_eq!(vip_ids.len(), 2);
        assert!(backend_ids.iter().all(|id| *id < 4));
        assert_eq!(backend_ids.iter().collect::<HashSet<_>>().len(), 3);
    }
}
