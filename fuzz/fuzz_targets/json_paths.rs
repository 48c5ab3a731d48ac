#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| traffic_mirror_fuzz::json_paths(data));
