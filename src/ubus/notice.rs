//! What goes wrong on a ubus connection ([`UbusError`], [`AskError`]) and what is worth a
//! log line ([`Notice`]), with the words the log shows.
//!
//! Contract: plain values (`Copy` where they can be) compared for equality, so that a retry
//! failing the same way is reported once; `Display` gives the whole log line.

use super::asks::REQUEST_TIMEOUT;
use super::session::HANDSHAKE_TIMEOUT;
use crate::config::NetName;
use crate::netifd;
use crate::wire::blob;
use crate::wire::ubus::{Malformed, MAX_MESSAGE};
use core::fmt;
use nix::errno::Errno;

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

/// Why a request of ours (an ask, the event subscription) got no answer.
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
    /// A deferred reply (a `probe` answered when its round ended) found no room in the send
    /// queue: its caller gets no answer and times out.
    DeferredDropped {
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
            Notice::DeferredDropped { method } => {
                write!(f, "ubus: no room to send the reply to {method}; its caller will time out")
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

#[cfg(test)]
mod tests {
    use super::*;

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
