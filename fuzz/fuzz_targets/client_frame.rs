#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| chapar_fuzz::client_frame::check(data));
