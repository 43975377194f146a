//! A ubus peer for tests that talk to the real ubusd or a replay of its captures over a real socket: the crate's
//! `ubus::Session` under its socket shell (`sys::ubus::UbusSocket`), driven the way the
//! daemon's loop drives them, as one value. Requests (an event, an ask) are written at once,
//! as the loop's flush after the core's actions does.
//!
//! ```ignore
//! let mut ubus = Ubus::new(&sock, DUALWAN).unwrap();
//! ubus.handle_timeout(clock::now());                    // connects
//! ubus.handle_ready(clock::now(), revents, &mut answer); // reads, answers calls, writes
//! while let Some(event) = ubus.poll_event() { ... }
//! ```
#![allow(dead_code)]

use dualwan::sys::ubus::UbusSocket;
use dualwan::time::Instant;
use dualwan::ubus::{Answer, Notice, Object, Session, SessionEvent, State, UbusError};
use dualwan::wire::blob::{Attrs, Full, Writer};
use nix::poll::PollFlags;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// A session and its socket.
#[derive(Debug)]
pub struct Ubus {
    /// The socket shell.
    pub socket: UbusSocket,
    /// The conversation.
    pub session: Session,
}

impl Ubus {
    /// A peer for ubusd at `path` that will register `object`; connects at the first
    /// [`Ubus::handle_timeout`].
    pub fn new(path: impl AsRef<Path>, object: Object) -> Result<Ubus, UbusError> {
        Ok(Ubus { socket: UbusSocket::new(path)?, session: Session::new(object) })
    }

    /// The session's state.
    pub fn state(&self) -> State {
        self.session.state()
    }

    /// Registered.
    pub fn is_ready(&self) -> bool {
        self.session.is_ready()
    }

    /// The socket to poll, while there is one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.socket.fd()
    }

    /// What to poll it for.
    pub fn interest(&self) -> PollFlags {
        self.socket.interest(&self.session)
    }

    /// The session's next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Time passed: connect, give up, expire.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.socket.handle_timeout(now, &mut self.session);
    }

    /// The socket is ready; calls go to `answer`.
    pub fn handle_ready(&mut self, now: Instant, revents: PollFlags, answer: &mut dyn Answer) {
        self.socket.handle_ready(now, revents, &mut self.session, answer);
    }

    /// Sends an event now (see `Session::send_event`).
    pub fn send_event(&mut self, name: &str, data: &dyn Fn(&mut Writer<'_>) -> Result<(), Full>) -> bool {
        let queued = self.session.send_event(name, data);
        self.flush();
        queued
    }

    /// Subscribes to events matching `pattern` (see `Session::listen`).
    pub fn listen(&mut self, now: Instant, pattern: &'static str) {
        self.session.listen(now, pattern);
        self.flush();
    }

    /// Asks netifd about `network` now (see `Session::ask_netifd`).
    pub fn ask_netifd(&mut self, now: Instant, network: &str) -> bool {
        let asked = self.session.ask_netifd(now, network);
        self.flush();
        asked
    }

    /// The next thing the session heard.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.session.poll_event()
    }

    /// The next notice.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.session.poll_notice()
    }

    /// Events sent since start.
    pub fn events_sent(&self) -> u64 {
        self.session.events_sent()
    }

    /// Events dropped since start.
    pub fn events_dropped(&self) -> u64 {
        self.session.events_dropped()
    }

    /// Writes what is queued. A write can let the session handle a message that waited for
    /// room; a call among those is a test that should drive [`Ubus::handle_ready`] instead.
    fn flush(&mut self) {
        let now = dualwan::sys::clock::now();
        let mut no_call_here = |method: &str, _: Attrs<'_>, _: &mut Writer<'_>| -> u32 {
            panic!("a call of {method} was handled while flushing; drive handle_ready")
        };
        self.socket.flush(now, &mut self.session, &mut no_call_here);
    }
}
