//! The event listener: once registered, an anonymous object is added (an ADD_OBJECT with
//! an empty payload, which ubusd answers with an object id only) and subscribed to the
//! event pattern with `register` on object 1, as libubus's `ubus_register_event_handler`
//! does. Events then arrive as INVOKEs of that object; each is answered STATUS 0, and a
//! `network.interface` event comes out as [`SessionEvent::NetifdEvent`].
//!
//! Contract: one pattern per session ([`Session::listen`]), subscribed afresh after every
//! registration. The subscription's requests never take the send queue's space kept for a
//! reply; one that does not fit, is refused or is unanswered after [`REQUEST_TIMEOUT`] is
//! reported ([`Notice::ListenFailed`]) and the core then relies on its periodic asks.
//! Either way [`SessionEvent::Ready`] follows, so the core asks netifd afresh.

use super::asks::REQUEST_TIMEOUT;
use super::notice::{AskError, Notice};
use super::session::{Session, SessionEvent, REPLY_RESERVE};
use crate::netifd;
use crate::time::Instant;
use crate::wire::ubus::{self as wire, Message, MsgType};

/// Where the subscription is.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Subscription {
    /// Not subscribed (not asked to, or not yet registered).
    #[default]
    Off,
    /// Anonymous ADD_OBJECT sent as `seq`.
    Adding { seq: u16, object: Option<u32>, deadline: Instant },
    /// `register` sent as `seq` for `object`.
    Subscribing { seq: u16, object: u32, deadline: Instant },
    /// Events for the pattern arrive as INVOKEs of `object`.
    Active { object: u32 },
}

/// The pattern asked for and the subscription's progress on this connection.
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Listener {
    pattern: Option<&'static str>,
    subscription: Subscription,
}

impl Listener {
    /// The pattern to subscribe to, once [`Session::listen`] asked for one.
    pub(super) fn pattern(&self) -> Option<&'static str> {
        self.pattern
    }

    /// The `seq` of the subscription's request in flight.
    pub(super) fn seq(&self) -> Option<u16> {
        match self.subscription {
            Subscription::Adding { seq, .. } | Subscription::Subscribing { seq, .. } => Some(seq),
            _ => None,
        }
    }

    /// The anonymous object events arrive at, once known.
    pub(super) fn object(&self) -> Option<u32> {
        match self.subscription {
            Subscription::Adding { object, .. } => object,
            Subscription::Subscribing { object, .. } | Subscription::Active { object } => Some(object),
            Subscription::Off => None,
        }
    }

    /// The deadline of the request in flight.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.subscription {
            Subscription::Adding { deadline, .. } | Subscription::Subscribing { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// The connection is gone: the pattern stays, the subscription does not.
    pub(super) fn reset(&mut self) {
        self.subscription = Subscription::Off;
    }
}

impl Session {
    /// Listens for events matching `pattern` from the next registration on (at once if
    /// registered already). One pattern per session; a second call changes nothing.
    pub fn listen(&mut self, now: Instant, pattern: &'static str) {
        if self.listener.pattern.is_some() {
            return;
        }
        self.listener.pattern = Some(pattern);
        if self.is_ready() && self.listener.subscription == Subscription::Off {
            self.start_listener(now);
        }
    }

    /// Adds the anonymous listener object.
    pub(super) fn start_listener(&mut self, now: Instant) {
        let Some(seq) = self.tx.request(REPLY_RESERVE, wire::emit_add_anonymous) else {
            return self.listen_done(Err(AskError::Status(wire::STATUS_UNKNOWN_ERROR)));
        };
        self.listener.subscription = Subscription::Adding { seq, object: None, deadline: now + REQUEST_TIMEOUT };
    }

    /// The subscription is in place or has failed: either way the core may ask now.
    fn listen_done(&mut self, result: Result<u32, AskError>) {
        let pattern = self.listener.pattern.unwrap_or_default();
        match result {
            Ok(object) => {
                self.listener.subscription = Subscription::Active { object };
                self.notify(Notice::Listening { pattern });
            }
            Err(error) => {
                self.listener.subscription = Subscription::Off;
                self.notify(Notice::ListenFailed { pattern, error });
            }
        }
        self.emit(SessionEvent::Ready);
    }

    /// Gives up the subscription's request past its deadline.
    pub(super) fn expire_listener(&mut self, now: Instant) {
        if self.listener.deadline().is_some_and(|deadline| now >= deadline) {
            self.listen_done(Err(AskError::Timeout));
        }
    }

    /// ubusd's DATA/STATUS for the listener's ADD_OBJECT or `register`.
    pub(super) fn handle_listener_reply(&mut self, now: Instant, msg: &Message<'_>) {
        match (self.listener.subscription, msg.ty) {
            (Subscription::Adding { seq, deadline, .. }, MsgType::Data) => {
                self.listener.subscription = Subscription::Adding { seq, object: msg.objid(), deadline };
            }
            (Subscription::Adding { object, .. }, MsgType::Status) => match (msg.status(), object) {
                (Some(wire::STATUS_OK), Some(object)) => {
                    let pattern = self.listener.pattern.unwrap_or_default();
                    let emit = |buf: &mut [u8], seq| wire::emit_listen(buf, seq, object, pattern);
                    let Some(seq) = self.tx.request(REPLY_RESERVE, emit) else {
                        return self.listen_done(Err(AskError::Status(wire::STATUS_UNKNOWN_ERROR)));
                    };
                    let deadline = now + REQUEST_TIMEOUT;
                    self.listener.subscription = Subscription::Subscribing { seq, object, deadline };
                }
                (Some(wire::STATUS_OK), None) => self.listen_done(Err(AskError::NoData)),
                (status, _) => self.listen_done(Err(AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR)))),
            },
            (Subscription::Subscribing { object, .. }, MsgType::Status) => match msg.status() {
                Some(wire::STATUS_OK) => self.listen_done(Ok(object)),
                status => self.listen_done(Err(AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR)))),
            },
            _ => {}
        }
    }

    /// An event delivered to the listener: answered STATUS 0 as libubus does
    /// (`ubus_process_invoke` with the event method's handler returning 0).
    pub(super) fn handle_event(&mut self, msg: &Message<'_>) {
        let Some(objid) = msg.objid() else { return };
        if msg.method() == Some(netifd::EVENT.as_bytes()) {
            if let Some(interface) = msg.data().and_then(netifd::parse_event) {
                self.emit(SessionEvent::NetifdEvent { interface });
            }
        }
        if msg.no_reply() == Some(true) {
            return;
        }
        // Room for it: messages are only handled with REPLY_RESERVE free.
        let _ = self.tx.push(0, |buf| wire::emit_status(buf, msg.seq, msg.peer, wire::STATUS_OK, objid));
    }
}
