//! `btf::value` on kernel maps: the BTF a map was created with, read back by its `btf_id`
//! (`Btf::from_kernel_id`), decodes the values `typed_values.bpf.o`'s `fill` program wrote;
//! `Map::from_fd` refuses an fd that is not a map.

use oxbpf::btf::value::{self, Value};
use oxbpf::btf::Btf;
use oxbpf::map::{Map, MapError};
use oxbpf::prog::TestRunOpts;

mod caps_util;
mod coll_support;
use coll_support::{load, require_kernel};

#[test]
fn kernel_btf_of_a_map_decodes_what_the_program_wrote() {
    if !require_kernel() {
        return;
    }
    let mut coll = load("typed_values.bpf.o");
    let fill = coll.program("fill").unwrap();
    assert_eq!(fill.test_run(&TestRunOpts::default()).unwrap().retval, 0);

    let states = coll.map("states").unwrap();
    let info = states.info().unwrap();
    assert_ne!(
        info.btf_id, 0,
        "the loader passes the object's BTF with maps"
    );
    let btf = Btf::from_kernel_id(info.btf_id).unwrap();
    let got: Vec<String> = (0u32..4)
        .map(|i| {
            let v = states.lookup(&i.to_ne_bytes()).unwrap().unwrap();
            value::decode(&btf, info.btf_value_type_id, &v)
                .unwrap()
                .to_c()
        })
        .collect();
    assert_eq!(got, ["ST_RUN", "ST_DEAD", "5", "ST_IDLE"]);

    let tasks = coll.map("tasks").unwrap();
    let info = tasks.info().unwrap();
    let btf = Btf::from_kernel_id(info.btf_id).unwrap();
    let mut keys: Vec<String> = Vec::new();
    for key in tasks.keys() {
        let key = key.unwrap();
        let k = value::decode(&btf, info.btf_key_type_id, &key).unwrap();
        let v = tasks.lookup(&key).unwrap().unwrap();
        let v = value::decode(&btf, info.btf_value_type_id, &v).unwrap();
        let Value::Struct(fields) = &v else {
            panic!("{v:?}")
        };
        let state = &fields.iter().find(|f| f.name == "state").unwrap().value;
        keys.push(format!("{} {}", k.to_c(), state.to_c()));
    }
    keys.sort();
    assert_eq!(
        keys,
        [
            "{ .pid = 42, .comm = \"bash\" } ST_RUN",
            "{ .pid = 7, .comm = \"sshd\" } ST_DEAD"
        ]
    );

    let per_cpu = coll.map("per_cpu").unwrap();
    let info = per_cpu.info().unwrap();
    let btf = Btf::from_kernel_id(info.btf_id).unwrap();
    let raw = per_cpu.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    let vals = value::decode_per_cpu(&btf, info.btf_value_type_id, &raw, info.value_size);
    let vals: Vec<String> = vals.unwrap().iter().map(Value::to_c).collect();
    assert_eq!(vals.len(), oxbpf::map::nr_possible_cpus().unwrap());
    assert_eq!(
        vals.iter()
            .filter(|v| *v == "{ .packets = 3, .st = ST_RUN }")
            .count(),
        1,
        "one CPU ran fill: {vals:?}"
    );

    // A program's fd is not a map.
    let prog_fd = coll
        .take_program("fill")
        .unwrap()
        .fd()
        .try_clone_to_owned()
        .unwrap();
    match Map::from_fd(prog_fd) {
        Err(MapError::Invalid { reason, .. }) => {
            assert!(reason.contains("bpf-prog, not a map"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(Btf::from_kernel_id(u32::MAX).is_err());
}
