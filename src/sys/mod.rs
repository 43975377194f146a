//! Adapters: the only code that holds file descriptors, calls libc or uses `unsafe`.

pub mod icmp;
pub mod netlink;
