//! Byte formats: parse and emit, no I/O. Parsers check lengths once and never panic.

pub mod blob;
pub mod blob_json;
pub mod ctnetlink;
pub mod icmp;
pub mod icmp6;
pub mod netlink;
pub mod rtnl;
pub mod ubus;
#[cfg(test)]
pub(crate) mod vectors;
