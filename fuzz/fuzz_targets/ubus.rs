//! Fuzz target: a ubus message and its blobmsg DATA (see `dualwan::fuzzing::ubus`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dualwan::fuzzing::ubus(data));
