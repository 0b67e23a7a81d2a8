use std::time::Instant;
fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let spec = oxbpf::elf::load_collection_spec(&data).unwrap();
        let t1 = t.elapsed();
        let coll = oxbpf::collection::Collection::load(&spec, &Default::default()).unwrap();
        let t2 = t.elapsed();
        drop(coll);
        println!("parse {:?} load {:?} drop {:?}", t1, t2 - t1, t.elapsed() - t2);
    }
}
