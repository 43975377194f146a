//! Fuzz target: the config file: UCI parse, show/export, validation (see `dualwan::fuzzing::uci_config`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dualwan::fuzzing::uci_config(data));
