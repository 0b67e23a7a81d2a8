#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oxbpf_fuzz::btf_parse(data));
