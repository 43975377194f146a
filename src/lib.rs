//! dualwan: multi-WAN failover for OpenWrt routers.
//!
//! ```text
//!  kernel (netlink) ─┐                       ┌─> send probe   (sys::icmp)
//!  ICMP replies ─────┼─> daemon (pure core) ─┼─> route/rule ops (sys::netlink)
//!  signals, timers ──┘   health · plan ·     └─> logs, status
//!                        reconcile
//! ```
//! The core (`config`, `health`, `plan`, `reconcile`, `daemon`) does no I/O and takes the
//! current time as an argument; the adapters in `sys` own every file descriptor and all
//! `unsafe`. `options` declares every UCI option once, for `config` to read. `wire` holds byte formats (parse and emit) without I/O. `main.rs` runs the one
//! poll loop whose timeout is the core's next deadline.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod config;
pub mod daemon;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod kernel;
pub mod netifd;
pub mod options;
pub mod plan;
pub mod reconcile;
pub mod route;
pub mod status;
pub mod summary;
pub mod sys;
pub mod time;
pub mod uci;
pub mod wire;
