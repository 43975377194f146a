//! Helpers shared by the integration tests (`mod common;` in a test file).

pub mod alloc;
pub mod config;
pub mod daemon;
pub mod files;
pub mod lab;
pub mod netns;
pub mod proc;
pub mod skip;
pub mod ubus_peer;
pub mod ubusd;
