//! Fuzz target: a NETLINK_ROUTE datagram, parsed and handed to the core (see `dualwan::fuzzing::rtnl`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dualwan::fuzzing::rtnl(data));
