#![no_main]
//! Oracle: siproxd::sip::fuzz_oracles::message (shared with tests/sip_fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| siproxd::sip::fuzz_oracles::message(data));
