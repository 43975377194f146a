//! Fuzz target: a packet from a raw ICMP or ICMPv6 socket (see `dualwan::fuzzing::icmp`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dualwan::fuzzing::icmp(data));
