//! The ubus connection: registers one object with ubusd, answers calls to it from the one
//! poll loop, and sends events. Never waits on ubusd.
//!
//! Contract:
//! - States: `Disconnected { retry_at } -> Connecting -> WaitHello -> Registering -> Ready`.
//!   [`Ubus::new`] connects nothing; the first [`Ubus::handle_timeout`] does. The socket is a
//!   non-blocking `AF_UNIX`/`SOCK_STREAM`. ubusd speaks first (HELLO with our client id); we
//!   send ADD_OBJECT and are `Ready` when ubusd has answered DATA (object id) and STATUS 0.
//! - The poll loop polls [`Ubus::fd`] for [`Ubus::interest`], calls [`Ubus::handle_ready`]
//!   when it is ready and [`Ubus::handle_timeout`] at [`Ubus::poll_timeout`], and logs what
//!   [`Ubus::poll_notice`] returns. No call blocks.
//! - Messages may arrive in pieces and several per read; replies larger than the socket's
//!   send buffer are queued and flushed when the socket is writable (`POLLOUT` is in the
//!   interest only while output is pending). While the queue cannot take a largest reply,
//!   incoming messages wait in the kernel (no `POLLIN`): ubusd's own queue holds them.
//! - A call (INVOKE) is checked like libubus does: unknown object -> STATUS 4, no method ->
//!   2, unknown method -> 3, no DATA -> 2; malformed arguments -> 2. Otherwise the
//!   [`Provider`] fills the reply table directly in the send buffer; status 0 sends DATA
//!   then STATUS, any other status only STATUS. A reply that overflows [`MAX_MESSAGE`] is
//!   answered `UNKNOWN_ERROR` and reported.
//! - EOF, a socket error, a malformed message, one above [`MAX_MESSAGE`], a refused
//!   registration or a silent handshake closes the connection; reconnection follows after
//!   a backoff of 0.5 s doubling to 5 s, reset once registered, so after a ubusd restart
//!   the object is back about 0.5 s after ubusd listens again. Notices are deduplicated:
//!   one when ubusd is unreachable (not one per retry), one when a registered connection
//!   is lost, one when registered.
//! - Events ([`Ubus::send_event`]) are sent only when `Ready` and dropped (and counted)
//!   otherwise, or when the send queue has no room beside the space kept for a reply.
//! - Caller side, on the same connection ([`Ubus::ask_netifd`]): LOOKUP
//!   `network.interface.NAME`, then INVOKE `status` on the id found; the parsed answer
//!   comes out of [`Ubus::poll_input`] as [`Input::Netifd`] (an interface ubusd does not
//!   know is reported down; one it hides, answering the LOOKUP without the object because
//!   its ACLs grant us none of its methods, is reported as no access). Outstanding requests
//!   live in a table of [`MAX_ASKS`] entries keyed by `seq`, one per WAN: an ask while that
//!   WAN's LOOKUP is out is covered by it, one while its `status` call is out is repeated
//!   when that call completes. A request unanswered after [`REQUEST_TIMEOUT`] is dropped
//!   and reported. Asks and their follow-up requests never take the queue space kept for a
//!   reply; one that does not fit is dropped (the next ask repeats it).
//! - Listener side ([`Ubus::listen`]): once registered, an anonymous object is added (a05,
//!   a06) and subscribed to the event pattern with `register` on object 1, as libubus's
//!   `ubus_register_event_handler` does. Events arrive as INVOKEs of that object; each is
//!   answered STATUS 0 and a `network.interface` event comes out as
//!   [`Input::NetifdEvent`]. [`Input::Ready`] follows every registration, after the
//!   subscription when listening, so nothing netifd announced while we were away is missed:
//!   the core then asks afresh.
//! - Buffers are allocated once in [`Ubus::new`]: nothing is allocated per message. File
//!   descriptors that a caller passes along with a call (SCM_RIGHTS) are not received: the
//!   kernel closes them, as nothing here asks for control data.

use crate::config::{NetName, MAX_WANS};
use crate::netifd::{self, NetifdStatus};
use crate::time::{Duration, Instant};
use crate::wire::blob::{self, Attrs, Full, Kind, Writer};
use crate::wire::ubus::{self as wire, Malformed, Message, Method, MsgType, MAX_MESSAGE};
use core::fmt;
use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{self, sockopt, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// ubusd's socket on OpenWrt.
pub const DEFAULT_SOCKET: &str = "/var/run/ubus/ubus.sock";

/// The first reconnection delay, and the delay after a registered connection is lost.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);

/// The longest reconnection delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long ubusd may take to accept, greet and register us before we start over.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The object dualwan registers: `ubus call dualwan status ['{"interface": "wan"}']`.
pub const DUALWAN: Object =
    Object { path: "dualwan", methods: &[Method { name: "status", args: &[("interface", Kind::String)] }] };

/// Receive buffer: one largest message.
const RX_LEN: usize = MAX_MESSAGE;

/// Send queue: room for one largest reply plus as much again for queued output and events.
const TX_LEN: usize = 2 * MAX_MESSAGE;

/// Free queue space needed before an incoming message is handled: its reply (DATA and
/// STATUS together are at most `MAX_MESSAGE`) must fit.
const REPLY_RESERVE: usize = MAX_MESSAGE;

/// A STATUS reply: header, container, STATUS, OBJID.
const STATUS_LEN: usize = 28;

/// Reads per `handle_ready`, so a flood of calls cannot hold the loop.
const READS_PER_WAKE: usize = 16;

/// Outstanding netifd asks: one per WAN.
pub const MAX_ASKS: usize = MAX_WANS;

/// How long ubusd and netifd may take to answer a request of ours.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Inputs for the core waiting to be polled: every WAN's answer and an event each, and
/// more; when full the oldest are kept (a later ask repeats what was lost).
const INPUTS_MAX: usize = 4 * MAX_WANS;

/// What came from ubus for the core ([`Ubus::poll_input`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Registered (and subscribed, when listening): the core should ask netifd afresh.
    Ready,
    /// netifd's answer about WAN `wan`'s interface.
    Netifd {
        /// The WAN slot the ask was for.
        wan: usize,
        /// The interface asked about (a reload may have given the slot another since).
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

/// Why an ask got no answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AskError {
    /// ubusd or netifd answered with this status.
    Status(u32),
    /// The `status` reply failed a check.
    Malformed(blob::Malformed),
    /// `status` completed without a reply table.
    NoData,
    /// ubusd found the object but sent no description of it: it hides objects none of whose
    /// methods its ACLs let us call (a daemon not running as root needs `access`).
    NoAccess,
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Status(s) => write!(f, "status {s} ({})", status_name(*s)),
            AskError::Malformed(m) => write!(f, "malformed reply ({m})"),
            AskError::NoData => f.write_str("no reply data"),
            AskError::NoAccess => f.write_str("no access (ubusd's ACL grants us no method of it)"),
            AskError::Timeout => write!(f, "no answer within {} s", REQUEST_TIMEOUT.as_secs()),
        }
    }
}

/// Where one ask is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// LOOKUP sent; the object id once ubusd's DATA named it.
    Lookup { objid: Option<u32> },
    /// INVOKE `status` sent to `objid`; the parsed reply once its DATA came.
    Status { objid: u32, result: Option<Result<NetifdStatus, blob::Malformed>> },
}

/// One outstanding ask, keyed by the `seq` of its current request.
#[derive(Clone, Debug)]
struct Ask {
    seq: u16,
    wan: usize,
    network: NetName,
    stage: Stage,
    deadline: Instant,
    /// Asked again while the `status` call was out: ask once more when it completes.
    again: bool,
}

/// The event listener's registration.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Listener {
    /// Not listening (or not yet registered).
    Off,
    /// Anonymous ADD_OBJECT sent as `seq`.
    Adding { seq: u16, object: Option<u32>, deadline: Instant },
    /// `register` sent as `seq` for `object`.
    Subscribing { seq: u16, object: u32, deadline: Instant },
    /// Events for the pattern arrive as INVOKEs of `object`.
    Active { object: u32 },
}

/// The object registered with ubusd and its methods.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its path (`ubus list` shows it).
    pub path: &'static str,
    /// Its methods, as `ubus -v list` shows them.
    pub methods: &'static [Method<'static>],
}

/// Answers calls to the object.
pub trait Provider {
    /// Handles `method` (one of the object's) with its arguments (already checked by
    /// `blob::check_table`, so iterating yields no `Err`). Writes the reply table's members
    /// into `reply` and returns a ubus status (`wire::ubus::STATUS_*`); with a status other
    /// than 0, whatever was written is discarded.
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32;
}

/// Where the connection is. Deadlines are absolute; the one of the current state is what
/// [`Ubus::poll_timeout`] returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// No socket; the next attempt is due at `retry_at`.
    Disconnected {
        /// When to try again.
        retry_at: Instant,
    },
    /// `connect` is in progress (not seen on Linux, where AF_UNIX connects at once).
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

/// The step that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UbusOp {
    /// Making the socket, or a socket path that cannot be one.
    Socket,
    /// connect(2) to ubusd.
    Connect,
    /// Reading from ubusd.
    Recv,
    /// Writing to ubusd.
    Send,
    /// Waiting for ubusd's HELLO.
    Hello,
    /// ADD_OBJECT.
    Register,
}

/// What went wrong.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A system call failed.
    Sys(Errno),
    /// ubusd closed the connection.
    Closed,
    /// ubusd sent a message that failed a check.
    Malformed(Malformed),
    /// ubusd answered with this status (e.g. 2 when the path is taken or an ACL forbids it).
    Refused(u32),
    /// No answer within [`HANDSHAKE_TIMEOUT`].
    Timeout,
    /// ubusd broke the protocol; the text says how.
    Protocol(&'static str),
}

/// A failed step: `ubus connect: ENOENT: No such file or directory`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct UbusError {
    /// The step.
    pub op: UbusOp,
    /// Why.
    pub cause: Cause,
}

impl fmt::Display for UbusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            UbusOp::Socket => "socket",
            UbusOp::Connect => "connect",
            UbusOp::Recv => "recv",
            UbusOp::Send => "send",
            UbusOp::Hello => "handshake",
            UbusOp::Register => "register",
        };
        write!(f, "ubus {op}: ")?;
        match self.cause {
            Cause::Sys(e) => write!(f, "{e}"),
            Cause::Closed => f.write_str("ubusd closed the connection"),
            Cause::Malformed(m) => write!(f, "malformed message ({m})"),
            Cause::Refused(s) => write!(f, "ubusd answered status {s} ({})", status_name(s)),
            Cause::Timeout => write!(f, "no answer within {} s", HANDSHAKE_TIMEOUT.as_secs()),
            Cause::Protocol(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for UbusError {}

/// Something worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Registered; calls are served from now on.
    Registered {
        /// The object's path.
        path: &'static str,
        /// ubusd's id for it.
        object: u32,
        /// Our client id.
        client: u32,
    },
    /// ubusd cannot be reached or refused us; retries follow silently until something
    /// changes.
    Unavailable(UbusError),
    /// A registered connection ended; reconnecting.
    Lost(UbusError),
    /// ubusd refused an event with this status (an ACL, or a name starting with `ubus.`).
    EventRefused {
        /// ubusd's status.
        status: u32,
    },
    /// A reply did not fit in [`MAX_MESSAGE`]; the call was answered `UNKNOWN_ERROR`.
    ReplyTooLarge {
        /// The method called.
        method: &'static str,
    },
    /// Subscribed to events matching `pattern`.
    Listening {
        /// The event pattern.
        pattern: &'static str,
    },
    /// The subscription failed; events are missed, the periodic asks still run.
    ListenFailed {
        /// The event pattern.
        pattern: &'static str,
        /// Why.
        error: AskError,
    },
    /// ubusd has no object for this netifd interface (reported once until it appears).
    NetifdMissing {
        /// The netifd interface.
        network: NetName,
    },
    /// An ask about this netifd interface failed.
    NetifdFailed {
        /// The netifd interface.
        network: NetName,
        /// Why.
        error: AskError,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Registered { path, object, client } => {
                write!(f, "ubus: object {path} registered (id {object:#010x}, client {client:#010x})")
            }
            Notice::Unavailable(e) => write!(f, "{e}; retrying in the background"),
            Notice::Lost(e) => write!(f, "{e}; reconnecting"),
            Notice::EventRefused { status } => {
                write!(f, "ubus: ubusd refused an event: status {status} ({})", status_name(*status))
            }
            Notice::ReplyTooLarge { method } => {
                write!(f, "ubus: reply to {method} exceeds {MAX_MESSAGE} bytes; answered UNKNOWN_ERROR")
            }
            Notice::Listening { pattern } => write!(f, "ubus: listening for {pattern} events"),
            Notice::ListenFailed { pattern, error } => {
                write!(f, "ubus: cannot listen for {pattern} events: {error}; asking every minute only")
            }
            Notice::NetifdMissing { network } => {
                write!(
                    f,
                    "ubus: no {}: netifd has no interface '{network}' (taken as down)",
                    netifd::object_path(network)
                )
            }
            Notice::NetifdFailed { network, error } => {
                write!(f, "ubus call {} status: {error}", netifd::object_path(network))
            }
        }
    }
}

/// libubus's text for a status (`ubus_strerror`).
pub fn status_name(status: u32) -> &'static str {
    match status {
        0 => "Success",
        1 => "Invalid command",
        2 => "Invalid argument",
        3 => "Method not found",
        4 => "Not found",
        5 => "No response",
        6 => "Permission denied",
        7 => "Request timed out",
        8 => "Operation not supported",
        9 => "Unknown error",
        10 => "Connection failed",
        _ => "unknown status",
    }
}

/// The ubus adapter. See the module contract.
pub struct Ubus {
    addr: UnixAddr,
    object: Object,
    fd: Option<OwnedFd>,
    state: State,
    /// Our client id from HELLO (0 before).
    client: u32,
    /// Our last request's sequence number; restarts with each connection.
    seq: u16,
    /// The delay before the next reconnection after a failure.
    backoff: Duration,
    /// The last `Unavailable` reported, so retries failing the same way stay quiet.
    reported: Option<UbusError>,
    rx: Box<[u8]>,
    /// Bytes of `rx` holding received data, from 0.
    rx_len: usize,
    tx: Box<[u8]>,
    /// Pending output is `tx[tx_start..tx_end]`.
    tx_start: usize,
    tx_end: usize,
    notices: heapless::Deque<Notice, 8>,
    inputs: heapless::Deque<Input, INPUTS_MAX>,
    /// The event pattern to listen for, once [`Ubus::listen`] asked for one.
    listen: Option<&'static str>,
    listener: Listener,
    asks: heapless::Vec<Ask, MAX_ASKS>,
    /// WAN slots whose interface was reported missing (bit per slot), so it is said once.
    missing: u32,
    events_sent: u64,
    events_dropped: u64,
    calls: u64,
}

impl Ubus {
    /// An adapter for ubusd at `path` (see [`DEFAULT_SOCKET`]) that will register `object`.
    /// Connects nothing yet. Fails only for a path that cannot be a socket address.
    pub fn new(path: impl AsRef<Path>, object: Object) -> Result<Ubus, UbusError> {
        let addr = UnixAddr::new(path.as_ref()).map_err(|e| UbusError { op: UbusOp::Socket, cause: Cause::Sys(e) })?;
        Ok(Ubus {
            addr,
            object,
            fd: None,
            state: State::Disconnected { retry_at: Instant::ZERO },
            client: 0,
            seq: 0,
            backoff: BACKOFF_MIN,
            reported: None,
            rx: vec![0; RX_LEN].into_boxed_slice(),
            rx_len: 0,
            tx: vec![0; TX_LEN].into_boxed_slice(),
            tx_start: 0,
            tx_end: 0,
            notices: heapless::Deque::new(),
            inputs: heapless::Deque::new(),
            listen: None,
            listener: Listener::Off,
            asks: heapless::Vec::new(),
            missing: 0,
            events_sent: 0,
            events_dropped: 0,
            calls: 0,
        })
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Registered and serving calls.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// The socket to poll, while there is one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// The events to poll [`Ubus::fd`] for.
    pub fn interest(&self) -> PollFlags {
        match self.state {
            State::Disconnected { .. } => PollFlags::empty(),
            State::Connecting { .. } => PollFlags::POLLOUT,
            _ => {
                let mut flags = PollFlags::empty();
                if self.can_take_input() {
                    flags |= PollFlags::POLLIN;
                }
                if self.tx_start < self.tx_end {
                    flags |= PollFlags::POLLOUT;
                }
                flags
            }
        }
    }

    /// When [`Ubus::handle_timeout`] must run next: a reconnection or a handshake deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Disconnected { retry_at } => Some(retry_at),
            State::Connecting { deadline } | State::WaitHello { deadline } => Some(deadline),
            State::Registering { deadline, .. } => Some(deadline),
            State::Ready { .. } => {
                let listener = match self.listener {
                    Listener::Adding { deadline, .. } | Listener::Subscribing { deadline, .. } => Some(deadline),
                    _ => None,
                };
                self.asks.iter().map(|a| a.deadline).chain(listener).min()
            }
        }
    }

    /// The next input for the core, oldest first.
    pub fn poll_input(&mut self) -> Option<Input> {
        self.inputs.pop_front()
    }

    /// Listens for events matching `pattern` from the next registration on (at once if
    /// registered already). One pattern per connection; a second call changes nothing.
    pub fn listen(&mut self, now: Instant, pattern: &'static str) {
        if self.listen.is_some() {
            return;
        }
        self.listen = Some(pattern);
        if self.is_ready() && self.listener == Listener::Off {
            self.start_listener(now);
        }
    }

    /// Asks netifd for the status of `network` on behalf of WAN `wan`; the answer comes
    /// out of [`Ubus::poll_input`]. Returns false when it cannot be sent now (not
    /// registered, table or queue full): the core asks again after the next registration
    /// or resync.
    pub fn ask_netifd(&mut self, now: Instant, wan: usize, network: &str) -> bool {
        if !self.is_ready() {
            return false;
        }
        if let Some(ask) = self.asks.iter_mut().find(|a| a.wan == wan && a.network == network) {
            // A LOOKUP still out leads to a fresh `status`; a `status` call already out
            // may have been answered before the change that prompted this ask.
            if matches!(ask.stage, Stage::Status { .. }) {
                ask.again = true;
            }
            return true;
        }
        let Ok(network) = NetName::try_from(network) else { return false };
        if self.asks.is_full() {
            return false;
        }
        let seq = self.seq.wrapping_add(1);
        let path = netifd::object_path(&network);
        if !self.queue(REPLY_RESERVE, |buf| wire::emit_lookup(buf, seq, Some(&path))) {
            return false;
        }
        self.seq = seq;
        let ask = Ask {
            seq,
            wan,
            network,
            stage: Stage::Lookup { objid: None },
            deadline: now + REQUEST_TIMEOUT,
            again: false,
        };
        let _ = self.asks.push(ask); // not full, checked above
        let _ = self.flush();
        true
    }

    /// The next thing to log, oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Events sent since start.
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

    /// Reconnects when the backoff has passed; gives up a handshake past its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Disconnected { retry_at } if now >= retry_at => self.connect(now),
            State::Connecting { deadline } if now >= deadline => self.fail(now, UbusOp::Connect, Cause::Timeout),
            State::WaitHello { deadline } if now >= deadline => self.fail(now, UbusOp::Hello, Cause::Timeout),
            State::Registering { deadline, .. } if now >= deadline => {
                self.fail(now, UbusOp::Register, Cause::Timeout);
            }
            State::Ready { .. } => self.expire_requests(now),
            _ => {}
        }
    }

    /// Gives up requests past their deadline.
    fn expire_requests(&mut self, now: Instant) {
        if let Listener::Adding { deadline, .. } | Listener::Subscribing { deadline, .. } = self.listener {
            if now >= deadline {
                self.listen_done(Err(AskError::Timeout));
            }
        }
        while let Some(i) = self.asks.iter().position(|a| now >= a.deadline) {
            let ask = self.asks.swap_remove(i);
            self.notify(Notice::NetifdFailed { network: ask.network, error: AskError::Timeout });
        }
    }

    /// The socket is ready (`revents` from poll): finish connecting, flush queued output,
    /// read and handle what arrived, calling `provider` for calls.
    pub fn handle_ready(&mut self, now: Instant, revents: PollFlags, provider: &mut dyn Provider) {
        if self.fd.is_none() {
            return;
        }
        if let State::Connecting { .. } = self.state {
            if revents.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP) {
                self.finish_connect(now);
            }
            return;
        }
        if let Err(e) = self.exchange(now, provider) {
            self.fail(now, e.op, e.cause);
        }
    }

    /// Sends event `name` with the table `data` writes (`ubus listen` shows
    /// `{ "name": { ...data } }`). Returns false, and counts the event as dropped, when not
    /// `Ready`, when the queue has no room, or when `data` fails.
    pub fn send_event(&mut self, name: &str, data: &dyn Fn(&mut Writer<'_>) -> Result<(), Full>) -> bool {
        if !self.is_ready() {
            self.events_dropped += 1;
            return false;
        }
        // Events never take the space a reply needs.
        let seq = self.seq.wrapping_add(1);
        let queued = self.queue(REPLY_RESERVE, |buf| wire::emit_event(buf, seq, name, data));
        if !queued {
            self.events_dropped += 1;
            return false;
        }
        self.seq = seq;
        self.events_sent += 1;
        // A write error leaves the output queued: the socket then polls as ready (POLLOUT,
        // POLLHUP or POLLERR) and handle_ready meets the error again and reconnects.
        let _ = self.flush();
        true
    }

    // --- connection ---------------------------------------------------------------------

    fn connect(&mut self, now: Instant) {
        let fd = match socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        ) {
            Ok(fd) => fd,
            Err(e) => return self.fail(now, UbusOp::Socket, Cause::Sys(e)),
        };
        let deadline = now + HANDSHAKE_TIMEOUT;
        let state = match socket::connect(fd.as_raw_fd(), &self.addr) {
            Ok(()) => State::WaitHello { deadline },
            Err(Errno::EINPROGRESS | Errno::EINTR) => State::Connecting { deadline },
            // ENOENT (no socket file), ECONNREFUSED (no ubusd behind it), EAGAIN (its
            // backlog is full), EACCES...
            Err(e) => return self.fail(now, UbusOp::Connect, Cause::Sys(e)),
        };
        self.fd = Some(fd);
        self.state = state;
        self.client = 0;
        self.seq = 0;
        self.rx_len = 0;
        (self.tx_start, self.tx_end) = (0, 0);
    }

    fn finish_connect(&mut self, now: Instant) {
        let Some(fd) = &self.fd else { return };
        match socket::getsockopt(fd, sockopt::SocketError) {
            Ok(0) => self.state = State::WaitHello { deadline: now + HANDSHAKE_TIMEOUT },
            Ok(e) => self.fail(now, UbusOp::Connect, Cause::Sys(Errno::from_raw(e))),
            Err(e) => self.fail(now, UbusOp::Connect, Cause::Sys(e)),
        }
    }

    /// Closes the connection and schedules the next attempt; reports it once.
    fn fail(&mut self, now: Instant, op: UbusOp, cause: Cause) {
        let error = UbusError { op, cause };
        let was_ready = self.is_ready();
        self.fd = None;
        self.listener = Listener::Off;
        self.asks.clear();
        self.rx_len = 0;
        (self.tx_start, self.tx_end) = (0, 0);
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

    fn notify(&mut self, notice: Notice) {
        // Eight pending notices means nobody reads them; the newest are the ones to lose.
        let _ = self.notices.push_back(notice);
    }

    // --- input and output ---------------------------------------------------------------

    fn can_take_input(&self) -> bool {
        self.rx_len < RX_LEN && TX_LEN - (self.tx_end - self.tx_start) >= REPLY_RESERVE
    }

    /// Alternates flushing, handling buffered messages and reading more, until the socket
    /// is empty, the queue is too full to answer (then `POLLOUT` is in the interest), or
    /// the read budget is spent (then the socket still polls readable).
    fn exchange(&mut self, now: Instant, provider: &mut dyn Provider) -> Result<(), UbusError> {
        let mut reads = 0;
        loop {
            self.flush()?;
            let handled = self.handle_buffered(now, provider)?;
            self.flush()?;
            if !self.can_take_input() {
                return Ok(());
            }
            // A flush may have made room for a message that had to wait: handle it before
            // reading, as poll cannot report bytes already in our buffer.
            if handled > 0 {
                continue;
            }
            if reads == READS_PER_WAKE {
                return Ok(());
            }
            reads += 1;
            let Some(fd) = &self.fd else { return Ok(()) };
            match socket::recv(fd.as_raw_fd(), &mut self.rx[self.rx_len..], MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Err(UbusError { op: UbusOp::Recv, cause: Cause::Closed }),
                Ok(n) => self.rx_len += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(UbusError { op: UbusOp::Recv, cause: Cause::Sys(e) }),
            }
        }
    }

    /// Handles every complete message in the receive buffer (while replies fit); returns
    /// how many bytes that took.
    fn handle_buffered(&mut self, now: Instant, provider: &mut dyn Provider) -> Result<usize, UbusError> {
        // The buffer is taken out while messages borrowed from it are handled; an empty box
        // does not allocate.
        let rx = core::mem::take(&mut self.rx);
        let result = self.handle_messages(&rx, now, provider);
        self.rx = rx;
        let used = result?;
        self.rx.copy_within(used..self.rx_len, 0);
        self.rx_len -= used;
        Ok(used)
    }

    /// Returns how many bytes of `rx` were handled.
    fn handle_messages(&mut self, rx: &[u8], now: Instant, provider: &mut dyn Provider) -> Result<usize, UbusError> {
        let mut used = 0;
        let malformed = |m| UbusError { op: UbusOp::Recv, cause: Cause::Malformed(m) };
        loop {
            let rest = &rx[used..self.rx_len];
            let len = match wire::message_len(rest).map_err(malformed)? {
                Some(len) if len <= rest.len() => len,
                _ => break,
            };
            if TX_LEN - (self.tx_end - self.tx_start) < REPLY_RESERVE {
                break;
            }
            let msg = wire::parse(&rest[..len]).map_err(malformed)?;
            used += len;
            self.handle_message(now, &msg, provider)?;
        }
        Ok(used)
    }

    fn handle_message(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        provider: &mut dyn Provider,
    ) -> Result<(), UbusError> {
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
                        self.state = State::Ready { object };
                        self.backoff = BACKOFF_MIN;
                        self.reported = None;
                        let (path, client) = (self.object.path, self.client);
                        self.notify(Notice::Registered { path, object, client });
                        if self.listen.is_some() {
                            self.start_listener(now);
                        } else {
                            self.input(Input::Ready);
                        }
                        Ok(())
                    }
                    (Some(wire::STATUS_OK), None) => protocol(UbusOp::Register, "ADD_OBJECT done without an object id"),
                    (Some(status), _) => Err(UbusError { op: UbusOp::Register, cause: Cause::Refused(status) }),
                    (None, _) => protocol(UbusOp::Register, "STATUS without a status"),
                }
            }
            (State::Ready { .. }, MsgType::Data | MsgType::Status) if self.listener_seq() == Some(msg.seq) => {
                self.handle_listener_reply(now, msg);
                Ok(())
            }
            (State::Ready { .. }, MsgType::Data | MsgType::Status) if self.asks.iter().any(|a| a.seq == msg.seq) => {
                self.handle_ask_reply(now, msg);
                Ok(())
            }
            (State::Ready { .. }, MsgType::Invoke)
                if self.listener_object().is_some_and(|o| msg.objid() == Some(o)) =>
            {
                self.handle_event(msg);
                Ok(())
            }
            (State::Ready { object }, MsgType::Invoke) => {
                self.serve(msg, object, provider);
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

    fn input(&mut self, input: Input) {
        // Full means nobody polls; the newest are the ones to lose.
        let _ = self.inputs.push_back(input);
    }

    // --- listener ------------------------------------------------------------------------

    fn listener_seq(&self) -> Option<u16> {
        match self.listener {
            Listener::Adding { seq, .. } | Listener::Subscribing { seq, .. } => Some(seq),
            _ => None,
        }
    }

    fn listener_object(&self) -> Option<u32> {
        match self.listener {
            Listener::Adding { object, .. } => object,
            Listener::Subscribing { object, .. } | Listener::Active { object } => Some(object),
            Listener::Off => None,
        }
    }

    /// Adds the anonymous listener object (a05).
    fn start_listener(&mut self, now: Instant) {
        let seq = self.seq.wrapping_add(1);
        if !self.queue(REPLY_RESERVE, |buf| wire::emit_add_anonymous(buf, seq)) {
            return self.listen_done(Err(AskError::Status(wire::STATUS_UNKNOWN_ERROR)));
        }
        self.seq = seq;
        self.listener = Listener::Adding { seq, object: None, deadline: now + REQUEST_TIMEOUT };
    }

    /// The subscription is in place or has failed: either way the core may ask now.
    fn listen_done(&mut self, result: Result<u32, AskError>) {
        let pattern = self.listen.unwrap_or_default();
        match result {
            Ok(object) => {
                self.listener = Listener::Active { object };
                self.notify(Notice::Listening { pattern });
            }
            Err(error) => {
                self.listener = Listener::Off;
                self.notify(Notice::ListenFailed { pattern, error });
            }
        }
        self.input(Input::Ready);
    }

    /// ubusd's DATA/STATUS for the listener's ADD_OBJECT or `register`.
    fn handle_listener_reply(&mut self, now: Instant, msg: &Message<'_>) {
        match (self.listener, msg.ty) {
            (Listener::Adding { seq, deadline, .. }, MsgType::Data) => {
                self.listener = Listener::Adding { seq, object: msg.objid(), deadline };
            }
            (Listener::Adding { object, .. }, MsgType::Status) => match (msg.status(), object) {
                (Some(wire::STATUS_OK), Some(object)) => {
                    let seq = self.seq.wrapping_add(1);
                    let pattern = self.listen.unwrap_or_default();
                    if !self.queue(REPLY_RESERVE, |buf| wire::emit_listen(buf, seq, object, pattern)) {
                        return self.listen_done(Err(AskError::Status(wire::STATUS_UNKNOWN_ERROR)));
                    }
                    self.seq = seq;
                    self.listener = Listener::Subscribing { seq, object, deadline: now + REQUEST_TIMEOUT };
                }
                (Some(wire::STATUS_OK), None) => self.listen_done(Err(AskError::NoData)),
                (status, _) => self.listen_done(Err(AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR)))),
            },
            (Listener::Subscribing { object, .. }, MsgType::Status) => match msg.status() {
                Some(wire::STATUS_OK) => self.listen_done(Ok(object)),
                status => self.listen_done(Err(AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR)))),
            },
            _ => {}
        }
    }

    /// An event delivered to the listener: answered STATUS 0 as libubus does
    /// (`ubus_process_invoke` with the event method's handler returning 0).
    fn handle_event(&mut self, msg: &Message<'_>) {
        let Some(objid) = msg.objid() else { return };
        if msg.method() == Some(netifd::EVENT.as_bytes()) {
            if let Some(interface) = msg.data().and_then(netifd::parse_event) {
                self.input(Input::NetifdEvent { interface });
            }
        }
        if msg.no_reply() == Some(true) {
            return;
        }
        // Room for it: handle_messages only gets here with REPLY_RESERVE free.
        let _ = self.queue(0, |buf| wire::emit_status(buf, msg.seq, msg.peer, wire::STATUS_OK, objid));
    }

    // --- caller --------------------------------------------------------------------------

    /// DATA or STATUS for an ask's LOOKUP or `status` call.
    fn handle_ask_reply(&mut self, now: Instant, msg: &Message<'_>) {
        let Some(i) = self.asks.iter().position(|a| a.seq == msg.seq) else { return };
        let path = netifd::object_path(&self.asks[i].network);
        match (self.asks[i].stage.clone(), msg.ty) {
            (Stage::Lookup { objid: None }, MsgType::Data) if msg.objpath() == Some(path.as_bytes()) => {
                self.asks[i].stage = Stage::Lookup { objid: msg.objid() };
            }
            (Stage::Lookup { objid }, MsgType::Status) => match (msg.status(), objid) {
                (Some(wire::STATUS_OK), Some(objid)) => {
                    let seq = self.seq.wrapping_add(1);
                    if self.queue(REPLY_RESERVE, |buf| wire::emit_invoke(buf, seq, objid, "status", |_| Ok(()))) {
                        self.seq = seq;
                        let ask = &mut self.asks[i];
                        (ask.seq, ask.stage, ask.deadline) =
                            (seq, Stage::Status { objid, result: None }, now + REQUEST_TIMEOUT);
                    } else {
                        self.asks.swap_remove(i);
                    }
                }
                (Some(wire::STATUS_NOT_FOUND), _) => {
                    let ask = self.asks.swap_remove(i);
                    if ask.wan < 32 && self.missing & 1 << ask.wan == 0 {
                        self.missing |= 1 << ask.wan;
                        self.notify(Notice::NetifdMissing { network: ask.network.clone() });
                    }
                    self.input(Input::Netifd { wan: ask.wan, network: ask.network, status: NetifdStatus::DOWN });
                }
                (status, _) => {
                    let ask = self.asks.swap_remove(i);
                    let error = match status {
                        Some(wire::STATUS_OK) => AskError::NoAccess,
                        _ => AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR)),
                    };
                    self.notify(Notice::NetifdFailed { network: ask.network, error });
                }
            },
            (Stage::Status { objid, result: None }, MsgType::Data) => {
                let result = Some(netifd::parse_status(msg.data().unwrap_or_default()));
                self.asks[i].stage = Stage::Status { objid, result };
            }
            (Stage::Status { result, .. }, MsgType::Status) => {
                let ask = self.asks.swap_remove(i);
                let outcome = match (msg.status(), result) {
                    (Some(wire::STATUS_OK), Some(Ok(status))) => Ok(status),
                    (Some(wire::STATUS_OK), Some(Err(m))) => Err(AskError::Malformed(m)),
                    (Some(wire::STATUS_OK), None) => Err(AskError::NoData),
                    (status, _) => Err(AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR))),
                };
                match outcome {
                    Ok(status) => {
                        if ask.wan < 32 {
                            self.missing &= !(1 << ask.wan);
                        }
                        self.input(Input::Netifd { wan: ask.wan, network: ask.network.clone(), status });
                    }
                    Err(error) => self.notify(Notice::NetifdFailed { network: ask.network.clone(), error }),
                }
                if ask.again {
                    self.ask_netifd(now, ask.wan, &ask.network);
                }
            }
            _ => {}
        }
    }

    fn register(&mut self, now: Instant) -> Result<(), UbusError> {
        let seq = self.seq.wrapping_add(1);
        let (path, methods) = (self.object.path, self.object.methods);
        if !self.queue(0, |buf| wire::emit_add_object(buf, seq, path, methods)) {
            return Err(UbusError { op: UbusOp::Register, cause: Cause::Protocol("object description too large") });
        }
        self.seq = seq;
        self.state = State::Registering { deadline: now + HANDSHAKE_TIMEOUT, seq, object: None };
        Ok(())
    }

    /// Answers one INVOKE (libubus `ubus_process_invoke`): DATA and STATUS, or STATUS.
    fn serve(&mut self, msg: &Message<'_>, object: u32, provider: &mut dyn Provider) {
        // libubus drops an INVOKE without an object id.
        let Some(objid) = msg.objid() else { return };
        let (seq, peer) = (msg.seq, msg.peer);
        let method = msg.method().and_then(|m| self.object.methods.iter().find(|x| x.name.as_bytes() == m));
        let mut handled = false;
        let status = if objid != object {
            wire::STATUS_NOT_FOUND
        } else if msg.method().is_none() {
            wire::STATUS_INVALID_ARGUMENT
        } else if let Some(method) = method {
            match msg.data() {
                Some(data) if blob::check_table(data).is_ok() => {
                    handled = true;
                    self.reply_data(seq, peer, objid, method.name, data, provider)
                }
                _ => wire::STATUS_INVALID_ARGUMENT,
            }
        } else {
            wire::STATUS_METHOD_NOT_FOUND
        };
        self.calls += 1;
        // As in libubus, NO_REPLY only silences the STATUS of a call that was handled.
        if handled && msg.no_reply() == Some(true) {
            return;
        }
        // Cannot fail: handle_messages only gets here with REPLY_RESERVE free, and the DATA
        // written above was capped to leave room for this.
        let _ = self.queue(0, |buf| wire::emit_status(buf, seq, peer, status, objid));
    }

    /// Lets the provider write the reply in place; queues it if the status is 0.
    fn reply_data(
        &mut self,
        seq: u16,
        peer: u32,
        objid: u32,
        method: &'static str,
        args: &[u8],
        provider: &mut dyn Provider,
    ) -> u32 {
        let mut status = wire::STATUS_OK;
        let free = self.free_tail();
        let cap = free.len().min(MAX_MESSAGE).saturating_sub(STATUS_LEN);
        let written = wire::emit_data(&mut free[..cap], seq, peer, objid, |w| {
            status = provider.call(method, Attrs::new(args), w);
            if w.overflowed() {
                Err(Full)
            } else {
                Ok(())
            }
        });
        match written {
            Ok(len) if status == wire::STATUS_OK => {
                self.tx_end += len;
                status
            }
            Ok(_) => status,
            Err(Full) => {
                self.notify(Notice::ReplyTooLarge { method });
                wire::STATUS_UNKNOWN_ERROR
            }
        }
    }

    /// The free space at the end of the send queue, after moving pending output to the
    /// front.
    fn free_tail(&mut self) -> &mut [u8] {
        if self.tx_start > 0 {
            self.tx.copy_within(self.tx_start..self.tx_end, 0);
            self.tx_end -= self.tx_start;
            self.tx_start = 0;
        }
        &mut self.tx[self.tx_end..]
    }

    /// Appends one message that `emit` writes, keeping `keep` bytes free; false if it does
    /// not fit.
    fn queue(&mut self, keep: usize, emit: impl FnOnce(&mut [u8]) -> Result<usize, Full>) -> bool {
        let free = self.free_tail();
        let cap = free.len().saturating_sub(keep).min(MAX_MESSAGE);
        match emit(&mut free[..cap]) {
            Ok(len) => {
                self.tx_end += len;
                true
            }
            Err(Full) => false,
        }
    }

    /// Writes queued output until it is gone or the socket is full.
    fn flush(&mut self) -> Result<(), UbusError> {
        let Some(fd) = &self.fd else { return Ok(()) };
        while self.tx_start < self.tx_end {
            // MSG_NOSIGNAL: a vanished ubusd is EPIPE here, not SIGPIPE.
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            match socket::send(fd.as_raw_fd(), &self.tx[self.tx_start..self.tx_end], flags) {
                Ok(n) => self.tx_start += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(UbusError { op: UbusOp::Send, cause: Cause::Sys(e) }),
            }
        }
        (self.tx_start, self.tx_end) = (0, 0);
        Ok(())
    }
}

impl fmt::Debug for Ubus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ubus")
            .field("path", &self.addr.path())
            .field("object", &self.object.path)
            .field("state", &self.state)
            .field("client", &self.client)
            .field("pending_out", &(self.tx_end - self.tx_start))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_cannot_be_a_socket_address_is_refused_at_start() {
        let long = format!("/tmp/{}", "x".repeat(200));
        let err = Ubus::new(long, DUALWAN).unwrap_err();
        assert_eq!(err, UbusError { op: UbusOp::Socket, cause: Cause::Sys(Errno::ENAMETOOLONG) });
        let ubus = Ubus::new(DEFAULT_SOCKET, DUALWAN).unwrap();
        assert_eq!(ubus.state(), State::Disconnected { retry_at: Instant::ZERO });
        assert!(ubus.fd().is_none() && ubus.interest().is_empty());
    }

    #[test]
    fn notices_read_as_log_lines() {
        let lost = Notice::Lost(UbusError { op: UbusOp::Recv, cause: Cause::Closed });
        assert_eq!(lost.to_string(), "ubus recv: ubusd closed the connection; reconnecting");
        let refused = Notice::Unavailable(UbusError { op: UbusOp::Register, cause: Cause::Refused(2) });
        assert_eq!(
            refused.to_string(),
            "ubus register: ubusd answered status 2 (Invalid argument); retrying in the background"
        );
        let bad = UbusError { op: UbusOp::Recv, cause: Cause::Malformed(Malformed::TooLarge(70_000)) };
        assert_eq!(bad.to_string(), "ubus recv: malformed message (70000 bytes, more than the 65536 accepted)");
        let registered = Notice::Registered { path: "dualwan", object: 0xff00_d868, client: 0x1234 };
        assert_eq!(registered.to_string(), "ubus: object dualwan registered (id 0xff00d868, client 0x00001234)");
        let hidden = Notice::NetifdFailed { network: "wan".try_into().unwrap(), error: AskError::NoAccess };
        assert_eq!(
            hidden.to_string(),
            "ubus call network.interface.wan status: no access (ubusd's ACL grants us no method of it)"
        );
    }
}
