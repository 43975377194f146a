//! Helpers shared by the integration tests (`mod common;` in a test file).

pub mod lab;
pub mod mini_ubusd;
pub mod skip;
