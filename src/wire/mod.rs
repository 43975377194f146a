//! Byte formats: parse and emit, no I/O. Parsers check lengths once and never panic.

pub mod icmp;
pub mod rtnl;
