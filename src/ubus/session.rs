//! The connection to ubusd as a state machine without I/O: connecting, ubusd's HELLO,
//! registering our object, reconnecting after a backoff; the received bytes and the send
//! queue that the server, the listener and the asks share.
//!
//! Contract:
//! - States: `Disconnected { retry_at } -> Connecting -> WaitHello -> Registering -> Ready`.
//!   [`Session::new`] connects nothing; the first [`Session::handle_timeout`] starts an
//!   attempt, and [`Session::poll_connect`] then says once that the socket should connect.
//!   The caller reports the outcome with [`Session::handle_connected`] or
//!   [`Session::handle_closed`]. ubusd speaks first (HELLO with our client id); we send
//!   ADD_OBJECT and are `Ready` when ubusd has answered DATA (object id) and STATUS 0.
//! - Bytes in: [`Session::receive_buffer`] and [`Session::handle_received`] (or
//!   [`Session::handle_bytes`], which copies). Messages may arrive in pieces and several at
//!   once. While the send queue cannot take a largest reply, or the receive buffer is full,
//!   [`Session::wants_input`] is false: the caller stops reading and ubusd's own queue holds
//!   the rest; a message that had to wait is handled as soon as written output makes room
//!   ([`Session::handle_transmitted`]).
//! - Bytes out: [`Session::poll_transmit`] gives the queued output, [`Session::handle_transmitted`]
//!   says how much of it the socket took. Replies larger than a socket buffer simply stay
//!   queued until it does.
//! - EOF, a socket error, a malformed message, one above [`MAX_MESSAGE`], a refused
//!   registration or a silent handshake closes the connection; reconnection follows after
//!   a backoff of 0.5 s doubling to 5 s, reset once registered, so after a ubusd restart
//!   the object is back about 0.5 s after ubusd listens again. Notices are deduplicated:
//!   one when ubusd is unreachable (not one per retry), one when a registered connection
//!   is lost, one when registered.
//! - [`SessionEvent::Ready`] follows every registration (after the event subscription,
//!   when listening), so nothing netifd announced while we were away is missed: the core
//!   then asks afresh.

use super::asks::Asks;
use super::listener::Listener;
use super::notice::{Cause, Notice, UbusError, UbusOp};
use super::queue::SendQueue;
use super::server::{Answer, Deferred, Object, DEFERRED_MAX};
use crate::config::{NetName, MAX_WANS};
use crate::netifd::NetifdStatus;
use crate::time::{Duration, Instant};
use crate::wire::ubus::{self as wire, Message, MsgType, MAX_MESSAGE};
use core::fmt;

/// The first reconnection delay, and the delay after a registered connection is lost.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);

/// The longest reconnection delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long ubusd may take to accept, greet and register us before we start over.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Receive buffer: one largest message.
const RX_LEN: usize = MAX_MESSAGE;

/// Send queue: room for one largest reply plus as much again for queued output and events.
const TX_LEN: usize = 2 * MAX_MESSAGE;

/// Free queue space needed before an incoming message is handled: its reply (DATA and
/// STATUS together are at most `MAX_MESSAGE`) must fit. Our own requests and events never
/// take this space.
pub(super) const REPLY_RESERVE: usize = MAX_MESSAGE;

/// Events for the core waiting to be polled: every WAN's answer and an event each, and
/// more; when full the oldest are kept (a later ask repeats what was lost).
const EVENTS_MAX: usize = 4 * MAX_WANS;

/// Pending notices; eight means nobody reads them.
const NOTICES_MAX: usize = 8;

/// What the session learnt for the core ([`Session::poll_event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Registered (and subscribed, when listening): the core should ask netifd afresh.
    Ready,
    /// netifd's answer about interface `network`.
    Netifd {
        /// The interface asked about.
        network: NetName,
        /// What netifd said ([`NetifdStatus::DOWN`] when it has no such interface).
        status: NetifdStatus,
    },
    /// netifd announced a change of `interface` (`network.interface`, `ifup`/`ifdown`).
    NetifdEvent {
        /// The netifd interface.
        interface: NetName,
    },
}

/// Where the connection is. Deadlines are absolute; the one of the current state is what
/// [`Session::poll_timeout`] returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// No connection; the next attempt is due at `retry_at`.
    Disconnected {
        /// When to try again.
        retry_at: Instant,
    },
    /// An attempt is under way: the socket is connecting (AF_UNIX connects at once on
    /// Linux, so this lasts only until the caller says how it went).
    Connecting {
        /// Give up then.
        deadline: Instant,
    },
    /// Connected; waiting for ubusd's HELLO.
    WaitHello {
        /// Give up then.
        deadline: Instant,
    },
    /// ADD_OBJECT sent as request `seq`; `object` is set once ubusd's DATA named it.
    Registering {
        /// Give up then.
        deadline: Instant,
        /// The ADD_OBJECT's sequence number.
        seq: u16,
        /// The object id from ubusd's DATA, once it came.
        object: Option<u32>,
    },
    /// Registered as `object`; calls are served.
    Ready {
        /// ubusd's id for our object.
        object: u32,
    },
}

/// One conversation with ubusd, across reconnections. See the module contract.
pub struct Session {
    /// The object we register.
    pub(super) object: Object,
    state: State,
    /// An attempt was started and the caller has not been told yet.
    connect_due: bool,
    /// Our client id from HELLO (0 before).
    client: u32,
    /// The delay before the next reconnection after a failure.
    backoff: Duration,
    /// The last `Unavailable` reported, so retries failing the same way stay quiet.
    reported: Option<UbusError>,
    rx: Box<[u8]>,
    /// Bytes of `rx` holding received data, from 0.
    rx_len: usize,
    pub(super) tx: SendQueue,
    notices: heapless::Deque<Notice, NOTICES_MAX>,
    events: heapless::Deque<SessionEvent, EVENTS_MAX>,
    pub(super) listener: Listener,
    pub(super) asks: Asks,
    pub(super) events_sent: u64,
    pub(super) events_dropped: u64,
    pub(super) calls: u64,
    /// Calls to be answered later ([`super::server::later`]), for this connection.
    pub(super) deferred: heapless::Vec<Deferred, DEFERRED_MAX>,
}

impl Session {
    /// A session that will register `object`; connects nothing yet. Allocates its buffers.
    pub fn new(object: Object) -> Session {
        Session {
            object,
            state: State::Disconnected { retry_at: Instant::ZERO },
            connect_due: false,
            client: 0,
            backoff: BACKOFF_MIN,
            reported: None,
            rx: vec![0; RX_LEN].into_boxed_slice(),
            rx_len: 0,
            tx: SendQueue::new(TX_LEN),
            notices: heapless::Deque::new(),
            events: heapless::Deque::new(),
            listener: Listener::default(),
            asks: Asks::default(),
            events_sent: 0,
            events_dropped: 0,
            calls: 0,
            deferred: heapless::Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Registered and serving calls.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// An attempt is under way or a connection is up: the caller keeps its socket. When this
    /// turns false the caller closes it.
    pub fn has_connection(&self) -> bool {
        !matches!(self.state, State::Disconnected { .. })
    }

    /// Our client id from ubusd's HELLO (0 before).
    pub fn client(&self) -> u32 {
        self.client
    }

    /// When [`Session::handle_timeout`] must run next: a reconnection, a handshake deadline
    /// or the deadline of a request of ours.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Disconnected { retry_at } => Some(retry_at),
            State::Connecting { deadline } | State::WaitHello { deadline } => Some(deadline),
            State::Registering { deadline, .. } => Some(deadline),
            State::Ready { .. } => [self.asks.next_deadline(), self.listener.deadline()].into_iter().flatten().min(),
        }
    }

    /// Starts an attempt when the backoff has passed; gives up a handshake or a request past
    /// its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Disconnected { retry_at } if now >= retry_at => self.begin_attempt(now),
            State::Connecting { deadline } if now >= deadline => self.fail(now, UbusOp::Connect, Cause::Timeout),
            State::WaitHello { deadline } if now >= deadline => self.fail(now, UbusOp::Hello, Cause::Timeout),
            State::Registering { deadline, .. } if now >= deadline => {
                self.fail(now, UbusOp::Register, Cause::Timeout);
            }
            State::Ready { .. } => {
                self.expire_listener(now);
                self.expire_asks(now);
            }
            _ => {}
        }
    }

    /// True once per attempt, right after [`Session::handle_timeout`] started it: the
    /// caller should connect its socket now and report with [`Session::handle_connected`] or
    /// [`Session::handle_closed`].
    pub fn poll_connect(&mut self) -> bool {
        core::mem::take(&mut self.connect_due)
    }

    /// The socket is connected: wait for ubusd's HELLO.
    pub fn handle_connected(&mut self, now: Instant) {
        if let State::Connecting { .. } = self.state {
            self.state = State::WaitHello { deadline: now + HANDSHAKE_TIMEOUT };
        }
    }

    /// The connection (or the attempt) ended: EOF, a socket error. Reconnects after the
    /// backoff; reported once.
    pub fn handle_closed(&mut self, now: Instant, error: UbusError) {
        if self.has_connection() {
            self.fail(now, error.op, error.cause);
        }
    }

    /// The caller should read from the socket: connected, room to receive and room in the
    /// send queue for a reply.
    pub fn wants_input(&self) -> bool {
        !matches!(self.state, State::Disconnected { .. } | State::Connecting { .. })
            && self.rx_len < RX_LEN
            && self.tx.free() >= REPLY_RESERVE
    }

    /// Where the caller reads received bytes into (then [`Session::handle_received`]).
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        &mut self.rx[self.rx_len..]
    }

    /// `len` bytes were read into [`Session::receive_buffer`]: handles every complete
    /// message while replies fit; calls to our object go to `answer`.
    pub fn handle_received(&mut self, now: Instant, len: usize, answer: &mut dyn Answer) {
        if !self.has_connection() {
            return;
        }
        self.rx_len = (self.rx_len + len).min(RX_LEN);
        self.process(now, answer);
    }

    /// [`Session::handle_received`] for bytes the caller holds: copies as many as there is
    /// room for and returns how many that was.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8], answer: &mut dyn Answer) -> usize {
        if !self.has_connection() {
            return 0;
        }
        let room = self.receive_buffer();
        let n = room.len().min(bytes.len());
        room[..n].copy_from_slice(&bytes[..n]);
        self.handle_received(now, n, answer);
        n
    }

    /// The bytes to write to ubusd next, if any (nothing before the socket is connected).
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        let pending = self.tx.pending();
        let connected = !matches!(self.state, State::Disconnected { .. } | State::Connecting { .. });
        (connected && !pending.is_empty()).then_some(pending)
    }

    /// The socket took the first `len` bytes of [`Session::poll_transmit`]. Messages that
    /// waited for room in the send queue are handled now.
    pub fn handle_transmitted(&mut self, now: Instant, len: usize, answer: &mut dyn Answer) {
        self.tx.consume(len);
        if self.rx_len > 0 {
            self.process(now, answer);
        }
    }

    /// The next thing the core should know, oldest first.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The next thing to log, oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    // --- connection ---------------------------------------------------------------------

    fn begin_attempt(&mut self, now: Instant) {
        self.state = State::Connecting { deadline: now + HANDSHAKE_TIMEOUT };
        self.connect_due = true;
        self.client = 0;
        self.rx_len = 0;
        self.deferred.clear();
        self.tx.reset();
    }

    /// Closes the connection and schedules the next attempt; reports it once.
    pub(super) fn fail(&mut self, now: Instant, op: UbusOp, cause: Cause) {
        let error = UbusError { op, cause };
        let was_ready = self.is_ready();
        self.connect_due = false;
        self.listener.reset();
        self.asks.clear();
        self.deferred.clear();
        self.rx_len = 0;
        self.tx.clear();
        self.state = State::Disconnected { retry_at: now + self.backoff };
        self.backoff = (self.backoff + self.backoff).min(BACKOFF_MAX);
        if was_ready {
            self.reported = None;
            self.notify(Notice::Lost(error));
        } else if self.reported != Some(error) {
            self.reported = Some(error);
            self.notify(Notice::Unavailable(error));
        }
    }

    pub(super) fn notify(&mut self, notice: Notice) {
        // Full means nobody reads them; the newest are the ones to lose.
        let _ = self.notices.push_back(notice);
    }

    pub(super) fn emit(&mut self, event: SessionEvent) {
        // Full means nobody polls; the newest are the ones to lose.
        let _ = self.events.push_back(event);
    }

    fn register(&mut self, now: Instant) -> Result<(), UbusError> {
        let (path, methods) = (self.object.path, self.object.methods);
        let Some(seq) = self.tx.request(0, |buf, seq| wire::emit_add_object(buf, seq, path, methods)) else {
            return Err(UbusError { op: UbusOp::Register, cause: Cause::Protocol("object description too large") });
        };
        self.state = State::Registering { deadline: now + HANDSHAKE_TIMEOUT, seq, object: None };
        Ok(())
    }

    // --- input --------------------------------------------------------------------------

    /// Handles every complete message in the receive buffer while replies fit; a bad one
    /// closes the connection.
    fn process(&mut self, now: Instant, answer: &mut dyn Answer) {
        // The buffer is taken out while messages borrowed from it are handled; an empty box
        // does not allocate.
        let rx = core::mem::take(&mut self.rx);
        let result = self.handle_messages(&rx, now, answer);
        self.rx = rx;
        match result {
            Ok(used) => {
                self.rx.copy_within(used..self.rx_len, 0);
                self.rx_len -= used;
            }
            Err(e) => self.fail(now, e.op, e.cause),
        }
    }

    /// Returns how many bytes of `rx` were handled.
    fn handle_messages(&mut self, rx: &[u8], now: Instant, answer: &mut dyn Answer) -> Result<usize, UbusError> {
        let mut used = 0;
        let malformed = |m| UbusError { op: UbusOp::Recv, cause: Cause::Malformed(m) };
        loop {
            let rest = &rx[used..self.rx_len];
            let len = match wire::message_len(rest).map_err(malformed)? {
                Some(len) if len <= rest.len() => len,
                _ => break,
            };
            if self.tx.free() < REPLY_RESERVE {
                break;
            }
            let msg = wire::parse(&rest[..len]).map_err(malformed)?;
            used += len;
            self.handle_message(now, &msg, answer)?;
        }
        Ok(used)
    }

    fn handle_message(&mut self, now: Instant, msg: &Message<'_>, answer: &mut dyn Answer) -> Result<(), UbusError> {
        let protocol = |op, why| Err(UbusError { op, cause: Cause::Protocol(why) });
        match (self.state, msg.ty) {
            (State::WaitHello { .. }, MsgType::Hello) => {
                // libubus refuses a client id of 0 too.
                if msg.peer == 0 {
                    return protocol(UbusOp::Hello, "HELLO without a client id");
                }
                self.client = msg.peer;
                self.register(now)
            }
            (State::WaitHello { .. }, _) => protocol(UbusOp::Hello, "first message is not HELLO"),
            (State::Registering { deadline, seq, .. }, MsgType::Data) if msg.seq == seq => {
                let object = msg.objid();
                if object.is_none() {
                    return protocol(UbusOp::Register, "ADD_OBJECT answered without an object id");
                }
                self.state = State::Registering { deadline, seq, object };
                Ok(())
            }
            (State::Registering { seq, object, .. }, MsgType::Status) if msg.seq == seq => {
                match (msg.status(), object) {
                    (Some(wire::STATUS_OK), Some(object)) => {
                        self.registered(now, object);
                        Ok(())
                    }
                    (Some(wire::STATUS_OK), None) => protocol(UbusOp::Register, "ADD_OBJECT done without an object id"),
                    (Some(status), _) => Err(UbusError { op: UbusOp::Register, cause: Cause::Refused(status) }),
                    (None, _) => protocol(UbusOp::Register, "STATUS without a status"),
                }
            }
            (State::Ready { .. }, MsgType::Data | MsgType::Status) if self.listener.seq() == Some(msg.seq) => {
                self.handle_listener_reply(now, msg);
                Ok(())
            }
            (State::Ready { .. }, MsgType::Data | MsgType::Status) if self.asks.is_waiting_for(msg.seq) => {
                self.handle_ask_reply(now, msg);
                Ok(())
            }
            (State::Ready { .. }, MsgType::Invoke)
                if self.listener.object().is_some_and(|o| msg.objid() == Some(o)) =>
            {
                self.handle_event(msg);
                Ok(())
            }
            (State::Ready { object }, MsgType::Invoke) => {
                self.serve(msg, object, answer);
                Ok(())
            }
            // ubusd's answer to an event we sent: its INVOKE's peer was the event object.
            (_, MsgType::Status) if msg.peer == wire::SYSTEM_OBJECT_EVENT => {
                match msg.status() {
                    Some(status) if status != wire::STATUS_OK => self.notify(Notice::EventRefused { status }),
                    _ => {}
                }
                Ok(())
            }
            // NOTIFY (someone subscribed to us), answers to requests we no longer wait for,
            // types a provider never gets: nothing to do, and libubus does nothing either.
            _ => Ok(()),
        }
    }

    /// ADD_OBJECT done: serve calls, subscribe to events if asked to, then tell the core.
    fn registered(&mut self, now: Instant, object: u32) {
        self.state = State::Ready { object };
        self.backoff = BACKOFF_MIN;
        self.reported = None;
        let (path, client) = (self.object.path, self.client);
        self.notify(Notice::Registered { path, object, client });
        if self.listener.pattern().is_some() {
            self.start_listener(now);
        } else {
            self.emit(SessionEvent::Ready);
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("object", &self.object.path)
            .field("state", &self.state)
            .field("client", &self.client)
            .field("pending_out", &self.tx.pending().len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::server::DUALWAN;
    use super::*;

    fn no_calls(_: &str, _: crate::wire::blob::Attrs<'_>, _: &mut crate::wire::blob::Writer<'_>) -> u32 {
        wire::STATUS_METHOD_NOT_FOUND
    }

    #[test]
    fn an_attempt_is_announced_once_and_a_failed_one_backs_off() {
        let mut s = Session::new(DUALWAN);
        assert_eq!(s.poll_timeout(), Some(Instant::ZERO), "nothing connected before the first timeout");
        assert!(!s.poll_connect());
        let now = Instant::from_millis(1000);
        s.handle_timeout(now);
        assert!(s.poll_connect());
        assert!(!s.poll_connect(), "once per attempt");
        assert_eq!(s.state(), State::Connecting { deadline: now + HANDSHAKE_TIMEOUT });
        assert!(!s.wants_input() && s.poll_transmit().is_none());
        let refused = UbusError { op: UbusOp::Connect, cause: Cause::Sys(nix::errno::Errno::ECONNREFUSED) };
        s.handle_closed(now, refused);
        assert_eq!(s.state(), State::Disconnected { retry_at: now + BACKOFF_MIN });
        assert_eq!(s.poll_notice(), Some(Notice::Unavailable(refused)));
        assert_eq!(s.handle_bytes(now, &[0; 12], &mut no_calls), 0, "no bytes without a connection");
    }

    #[test]
    fn a_silent_ubusd_is_given_up_at_the_handshake_deadline() {
        let mut s = Session::new(DUALWAN);
        let now = Instant::from_millis(1000);
        s.handle_timeout(now);
        s.handle_connected(now);
        assert!(s.wants_input());
        let deadline = now + HANDSHAKE_TIMEOUT;
        assert_eq!(s.poll_timeout(), Some(deadline));
        s.handle_timeout(deadline);
        assert!(!s.has_connection());
        let timeout = UbusError { op: UbusOp::Hello, cause: Cause::Timeout };
        assert_eq!(s.poll_notice(), Some(Notice::Unavailable(timeout)));
    }
}
