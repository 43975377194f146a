//! Our object on ubus: calls to it are answered, and events are announced from it.
//!
//! Contract:
//! - A call (INVOKE) is checked like libubus does: unknown object -> STATUS 4, no method ->
//!   2, unknown method -> 3, no DATA -> 2; malformed arguments -> 2. Otherwise the
//!   [`Answer`] handed to the session (the core's status writer) fills the reply table
//!   directly in the send queue; status 0 sends DATA then STATUS, any other status only
//!   STATUS. A reply that overflows [`MAX_MESSAGE`] is answered `UNKNOWN_ERROR` and
//!   reported. As in libubus, NO_REPLY only silences the STATUS of a call that was handled.
//! - A call may be answered later: the [`Answer`] returns [`later`]`(tag)` and the request
//!   (its caller and sequence number) waits in a table of [`DEFERRED_MAX`] until
//!   [`Session::reply_deferred`] answers every request waiting with that tag (DATA and
//!   STATUS, as libubus's `ubus_complete_deferred_request`; ubusd forwards them like any
//!   reply, and `ubus call` waits up to its `-t`, 30 s by default). With the table full the
//!   call is answered `NO_MEMORY` at once. Waiting requests are forgotten with the
//!   connection (their callers' ids mean nothing on the next one).
//! - Events ([`Session::send_event`]) are queued only when `Ready` and dropped (and
//!   counted) otherwise, or when the send queue has no room beside the space kept for a
//!   reply.
//! - File descriptors that a caller passes along with a call (SCM_RIGHTS) are never
//!   received: the socket shell asks for no control data, so the kernel closes them.

use super::notice::Notice;
use super::session::Session;
use crate::wire::blob::{self, Attrs, Full, Kind, Writer};
use crate::wire::ubus::{self as wire, Message, Method, MAX_MESSAGE};

/// The object dualwan registers: `ubus call dualwan status ['{"interface": "wan"}']`, and
/// `ubus call dualwan probe '{"interface": "wan"}'` (answered when its round ends).
pub const DUALWAN: Object =
    Object { path: "dualwan", methods: &[Method { name: "status", args: ARGS }, Method { name: "probe", args: ARGS }] };

/// The argument of both methods: `{"interface": "wan"}`, the interface section's name.
const ARGS: &[(&str, Kind)] = &[("interface", Kind::String)];

/// Calls that may wait for a deferred reply at once; one more is answered `NO_MEMORY`.
pub const DEFERRED_MAX: usize = 8;

/// Marks a status returned by an [`Answer`] as "answered later": never a ubus status (those
/// are below 256).
const LATER: u32 = 0x8000_0000;

/// The status an [`Answer`] returns to answer a call later, with [`Session::reply_deferred`]
/// and the same `tag`.
pub const fn later(tag: u16) -> u32 {
    LATER | tag as u32
}

/// The tag of a status made by [`later`].
fn later_tag(status: u32) -> Option<u16> {
    (status & LATER != 0).then_some(status as u16)
}

/// A call waiting for its reply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Deferred {
    /// The INVOKE's sequence number and caller.
    seq: u16,
    peer: u32,
    objid: u32,
    method: &'static str,
    tag: u16,
}

/// A STATUS reply: header, container, STATUS, OBJID.
const STATUS_LEN: usize = 28;

/// The object registered with ubusd and its methods.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its path (`ubus list` shows it).
    pub path: &'static str,
    /// Its methods, as `ubus -v list` shows them.
    pub methods: &'static [Method<'static>],
}

/// Answers calls to the object (any `FnMut(method, args, reply) -> status` is one).
pub trait Answer {
    /// Handles `method` (one of the object's) with its arguments (already checked by
    /// `blob::check_table`, so iterating yields no `Err`). Writes the reply table's members
    /// into `reply` and returns a ubus status (`wire::ubus::STATUS_*`); with a status other
    /// than 0, whatever was written is discarded. [`later`]`(tag)` answers later, through
    /// [`Session::reply_deferred`].
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32;
}

impl<F: FnMut(&str, Attrs<'_>, &mut Writer<'_>) -> u32> Answer for F {
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
        self(method, args, reply)
    }
}

impl Session {
    /// Sends event `name` with the table `data` writes (`ubus listen` shows
    /// `{ "name": { ...data } }`). Returns false, and counts the event as dropped, when not
    /// `Ready`, when the queue has no room, or when `data` fails.
    pub fn send_event(&mut self, name: &str, data: &dyn Fn(&mut Writer<'_>) -> Result<(), Full>) -> bool {
        if !self.is_ready() {
            self.events_dropped += 1;
            return false;
        }
        // Events never take the space a reply needs.
        let reserve = super::session::REPLY_RESERVE;
        if self.tx.request(reserve, |buf, seq| wire::emit_event(buf, seq, name, data)).is_none() {
            self.events_dropped += 1;
            return false;
        }
        self.events_sent += 1;
        true
    }

    /// Events queued since start.
    pub fn events_sent(&self) -> u64 {
        self.events_sent
    }

    /// Events dropped since start (not `Ready`, or no room in the send queue).
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// Calls answered since start (any status).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Answers one INVOKE of our object (libubus `ubus_process_invoke`): DATA and STATUS,
    /// or STATUS.
    pub(super) fn serve(&mut self, msg: &Message<'_>, object: u32, answer: &mut dyn Answer) {
        // libubus drops an INVOKE without an object id.
        let Some(objid) = msg.objid() else { return };
        let (seq, peer) = (msg.seq, msg.peer);
        let method = msg.method().and_then(|m| self.object.methods.iter().find(|x| x.name.as_bytes() == m));
        let mut handled = false;
        let mut status = if objid != object {
            wire::STATUS_NOT_FOUND
        } else if msg.method().is_none() {
            wire::STATUS_INVALID_ARGUMENT
        } else if let Some(method) = method {
            match msg.data() {
                Some(data) if blob::check_table(data).is_ok() => {
                    handled = true;
                    self.reply_data(seq, peer, objid, method.name, data, answer)
                }
                _ => wire::STATUS_INVALID_ARGUMENT,
            }
        } else {
            wire::STATUS_METHOD_NOT_FOUND
        };
        self.calls += 1;
        if let Some(tag) = later_tag(status) {
            let method = method.map_or("", |m| m.name);
            let waiting = Deferred { seq, peer, objid, method, tag };
            if msg.no_reply() == Some(true) || self.deferred.push(waiting).is_ok() {
                return;
            }
            status = wire::STATUS_NO_MEMORY;
        }
        if handled && msg.no_reply() == Some(true) {
            return;
        }
        // Cannot fail: messages are only handled with a reply's worth of room free, and the
        // DATA written above was capped to leave room for this.
        let _ = self.tx.push(0, |buf| wire::emit_status(buf, seq, peer, status, objid));
    }

    /// Answers every call waiting with `tag` (see [`later`]): DATA with the table `data`
    /// writes, then STATUS 0; a reply too large for one message is answered
    /// `UNKNOWN_ERROR` and reported. Returns how many calls were answered.
    pub fn reply_deferred(&mut self, tag: u16, data: &dyn Fn(&mut Writer<'_>) -> Result<(), Full>) -> usize {
        let mut answered = 0;
        let mut i = 0;
        while i < self.deferred.len() {
            let d = self.deferred[i];
            if d.tag != tag {
                i += 1;
                continue;
            }
            self.deferred.swap_remove(i);
            answered += 1;
            // As for a call answered at once: the DATA leaves room for its STATUS.
            let mut status = wire::STATUS_OK;
            let pushed = self.tx.write_in_place(MAX_MESSAGE, |free| {
                let cap = free.len().saturating_sub(STATUS_LEN);
                match wire::emit_data(&mut free[..cap], d.seq, d.peer, d.objid, data) {
                    Ok(len) => (Some(len), true),
                    Err(Full) => (None, false),
                }
            });
            if !pushed {
                status = wire::STATUS_UNKNOWN_ERROR;
                self.notify(Notice::ReplyTooLarge { method: d.method });
            }
            if !self.tx.push(0, |buf| wire::emit_status(buf, d.seq, d.peer, status, d.objid)) {
                self.notify(Notice::DeferredDropped { method: d.method });
            }
        }
        answered
    }

    /// Calls waiting for a deferred reply.
    pub fn deferred(&self) -> usize {
        self.deferred.len()
    }

    /// Lets `answer` write the reply in place; keeps it queued if the status is 0.
    fn reply_data(
        &mut self,
        seq: u16,
        peer: u32,
        objid: u32,
        method: &'static str,
        args: &[u8],
        answer: &mut dyn Answer,
    ) -> u32 {
        let written = self.tx.write_in_place(MAX_MESSAGE, |free| {
            let cap = free.len().saturating_sub(STATUS_LEN);
            let mut status = wire::STATUS_OK;
            let written = wire::emit_data(&mut free[..cap], seq, peer, objid, |w| {
                status = answer.call(method, Attrs::new(args), w);
                if w.overflowed() {
                    Err(Full)
                } else {
                    Ok(())
                }
            });
            match written {
                Ok(len) if status == wire::STATUS_OK => (Some(len), Ok(status)),
                Ok(_) => (None, Ok(status)),
                Err(Full) => (None, Err(Full)),
            }
        });
        written.unwrap_or_else(|Full| {
            self.notify(Notice::ReplyTooLarge { method });
            wire::STATUS_UNKNOWN_ERROR
        })
    }
}
