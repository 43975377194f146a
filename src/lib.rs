//! dualwan: multi-WAN failover for OpenWrt routers.
//!
//! ```text
//!  kernel (netlink) ─┐                       ┌─> send probe   (sys::icmp)
//!  ICMP replies ─────┤                       ├─> route/rule ops (sys::netlink)
//!  ubus (session) ───┼─> daemon (pure core) ─┼─> ubus events, status replies (ubus)
//!  signals, timers ──┘   health · links ·    └─> hotplug, conntrack, logs
//!                        plan · reconcile
//! ```
//! The core (`config`, `health`, `links`, `plan`, `reconcile`, `daemon` with its `phase`,
//! `timers` and `action`s, and the `ubus` session) does no I/O and takes the current time
//! as an argument; `options` declares every UCI option once. The `interpreter` carries the
//! core's actions out on a small adapter trait, implemented by the real adapters in `sys`
//! (which own every file descriptor and all `unsafe`) and by the tests' simulated router.
//! `wire` holds byte formats (parse and emit) without I/O. `main.rs` runs the one poll loop
//! whose timeout is the core's next deadline. `mwan3` translates an mwan3 config
//! (`dualwan import-mwan3`), pure as well.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod action;
pub mod calls;
pub mod config;
pub mod daemon;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod interpreter;
pub mod kernel;
pub mod links;
pub mod mwan3;
pub mod netifd;
pub mod options;
pub mod phase;
pub mod plan;
pub mod reconcile;
pub mod route;
pub mod status;
pub mod summary;
pub mod sys;
pub mod time;
pub mod timers;
pub mod ubus;
pub mod uci;
pub mod wire;
