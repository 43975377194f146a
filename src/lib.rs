//! dualwan: multi-WAN failover for OpenWrt routers.
//!
//! ```text
//!  kernel (netlink) ─┐                       ┌─> send probe   (sys::icmp)
//!  ICMP replies ─────┼─> daemon (pure core) ─┼─> route/rule ops (sys::netlink)
//!  signals, timers ──┘   health · links ·    └─> logs, status
//!                        plan · reconcile
//! ```
//! The core (`config`, `health`, `links`, `plan`, `reconcile`, `daemon` with its `phase`,
//! `timers` and `action`s) does no I/O and takes the current time as an argument; `options`
//! declares every UCI option once. The adapters in `sys` own every file descriptor and all
//! `unsafe`. `wire` holds byte formats (parse and emit) without I/O. `main.rs` runs the
//! one poll loop whose timeout is the core's next deadline.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod action;
pub mod config;
pub mod daemon;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
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
pub mod uci;
pub mod wire;
