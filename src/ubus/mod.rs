//! dualwan's ubus conversation with ubusd, as a value without I/O: a [`Session`] takes the
//! bytes ubusd sent and the current time, and gives the bytes to send, what it learnt for
//! the core ([`SessionEvent`]), lines worth logging ([`Notice`]) and its next deadline, the
//! way quinn-proto's `Connection` does for QUIC. `sys::ubus` only moves bytes between a
//! session and the socket, so a ubusd restart, a slow answer or a bad message is a
//! timeline with simulated time.
//!
//! One connection carries four things, each in its own file:
//! - [`session`]: connecting, ubusd's HELLO, registering our object, reconnecting with a
//!   backoff, and the buffers (received bytes, queued output) that the others share;
//! - [`server`]: calls to our object (`ubus call dualwan status`), answered by an
//!   [`Answer`] the caller hands in (the core's status writer), at once or later
//!   (`ubus call dualwan probe`, when its round ends);
//! - [`listener`]: the subscription to netifd's `network.interface` events;
//! - [`asks`]: the questions the core asks netifd (`network.interface.NAME status`).
//!
//! Contract shared by all of them:
//! - Nothing blocks and nothing reads a clock: every input carries `now`, and
//!   [`Session::poll_timeout`] says when [`Session::handle_timeout`] must run next.
//! - Buffers are allocated once in [`Session::new`]: nothing is allocated per message, per
//!   call or per event.
//! - Bad input from ubusd (a malformed or oversized message, a protocol violation) closes
//!   the connection and is reported; the session then reconnects. Nothing ubusd sends can
//!   make it panic (the `ubus` fuzz target drives it).

pub mod asks;
pub mod listener;
pub mod notice;
mod queue;
pub mod server;
pub mod session;

pub use asks::{MAX_ASKS, REQUEST_TIMEOUT};
pub use notice::{status_name, AskError, Cause, Notice, UbusError, UbusOp};
pub use server::{later, Answer, Object, DEFERRED_MAX, DUALWAN};
pub use session::{Session, SessionEvent, State, BACKOFF_MAX, BACKOFF_MIN, HANDSHAKE_TIMEOUT};
