//! The `oxlb` binary.

fn main() {
    eprintln!("oxlb: not built yet");
    std::process::exit(2);
}
