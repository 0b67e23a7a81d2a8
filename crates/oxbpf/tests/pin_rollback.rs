//! A load that fails leaves no `LIBBPF_PIN_BY_NAME` pin it created (pins it reused stay), so a
//! rerun does not trip over a half-done first attempt (issue 16 finding 4, library half).

mod caps_util;
mod coll_support;

use coll_support::{require_kernel, spec, BpffsDir};
use oxbpf::collection::{Collection, CollectionOptions};
use oxbpf::map::Map;
use oxbpf::spec::Pinning;

fn entries(dir: &BpffsDir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_load_removes_the_by_name_pins_it_created() {
    if !require_kernel() {
        return;
    }
    let spec = spec("misuse/pin_all_or_nothing.bpf.o");
    assert_eq!(spec.maps["misuse_counts"].pinning, Pinning::ByName);
    let dir = BpffsDir::new("oxrb");
    let opts = CollectionOptions {
        pin_dir: Some(dir.0.clone()),
        ..Default::default()
    };
    // count_oob fails the verifier: load() fails and its new pin goes with it.
    assert!(Collection::load(&spec, &opts).is_err());
    assert_eq!(entries(&dir), Vec::<String>::new());
    // load_report keeps it (the caller decides) until remove_created_pins.
    let mut report = Collection::load_report(&spec, &opts).unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(entries(&dir), ["misuse_counts"]);
    report.collection.remove_created_pins().unwrap();
    assert_eq!(entries(&dir), Vec::<String>::new());
    // A map error after the first by-name map was pinned: the load fails, the new pin is
    // removed, the pre-existing (mismatched) one stays.
    let mut two = spec.clone();
    let mut other = two.maps["misuse_counts"].clone();
    other.name = "zz_other".into();
    two.maps.insert(other.name.clone(), other.clone());
    other.max_entries = 7;
    let mut in_the_way = Map::create(&other, None, None).unwrap();
    in_the_way.pin(dir.0.join("zz_other")).unwrap();
    let e = Collection::load_report(&two, &opts).unwrap_err();
    assert!(e.to_string().contains("max_entries"), "{e}");
    assert_eq!(entries(&dir), ["zz_other"]);
    // Reused pins are not "created": removing the created ones keeps them.
    std::fs::remove_file(dir.0.join("zz_other")).unwrap();
    let first = Collection::load_report(&spec, &opts).unwrap();
    let mut second = Collection::load_report(&spec, &opts).unwrap();
    second.collection.remove_created_pins().unwrap();
    assert_eq!(entries(&dir), ["misuse_counts"]);
    drop(first);
}
