//! Helpers shared by the integration tests (`mod common;` in a test file).

pub mod lab;
pub mod skip;
pub mod ubus_peer;
pub mod ubusd;
