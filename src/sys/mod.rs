//! Adapters: the only code that holds file descriptors, calls libc or uses `unsafe`.

pub mod adapters;
pub mod clock;
pub mod config_file;
pub mod conntrack;
pub mod hotplug;
pub mod icmp;
pub mod log;
pub mod netlink;
pub mod signals;
pub mod tcp_probe;
pub mod ubus;
pub mod ubus_client;
#[cfg(all(target_env = "musl", target_arch = "mips"))]
pub mod unwind;
