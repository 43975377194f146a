//! Questions to netifd on the session's connection: LOOKUP `network.interface.NAME`, then
//! INVOKE `status` on the id found; the parsed answer comes out as
//! [`SessionEvent::Netifd`]. The core decides when to ask ([`Session::ask_netifd`]); the
//! session only carries the requests.
//!
//! Contract:
//! - An interface ubusd does not know is reported down (and noticed once until it
//!   appears); one it hides, answering the LOOKUP without the object because its ACLs grant
//!   us none of its methods, is reported as no access.
//! - Outstanding asks live in a table of [`MAX_ASKS`] entries keyed by `seq`, at most one
//!   per interface: an ask while that interface's LOOKUP is out is covered by it, one while
//!   its `status` call is out is repeated when that call completes (the answer may predate
//!   the change that prompted the ask).
//! - A request unanswered after [`REQUEST_TIMEOUT`] is dropped and reported. Asks and their
//!   follow-up requests never take the send queue's space kept for a reply; one that does
//!   not fit is dropped (the core's next ask repeats it). A lost connection drops them all;
//!   the registration that follows makes the core ask again.

use super::notice::{AskError, Notice};
use super::session::{Session, SessionEvent, REPLY_RESERVE};
use crate::config::{NetName, MAX_WANS};
use crate::netifd::{self, NetifdStatus};
use crate::time::{Duration, Instant};
use crate::wire::blob;
use crate::wire::ubus::{self as wire, Message, MsgType};

/// Outstanding netifd asks: one per interface, and an interface per WAN at most.
pub const MAX_ASKS: usize = MAX_WANS;

/// How long ubusd and netifd may take to answer a request of ours.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
    network: NetName,
    stage: Stage,
    deadline: Instant,
    /// Asked again while the `status` call was out: ask once more when it completes.
    again: bool,
}

/// The outstanding asks, and the interfaces ubusd was found not to have.
#[derive(Debug, Default)]
pub(super) struct Asks {
    table: heapless::Vec<Ask, MAX_ASKS>,
    /// Interfaces reported missing, so that it is said once until they appear. Kept across
    /// reconnections.
    missing: heapless::Vec<NetName, MAX_ASKS>,
}

impl Asks {
    /// The earliest deadline of an outstanding ask.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.table.iter().map(|a| a.deadline).min()
    }

    /// True if an ask waits for the answer to request `seq`.
    pub(super) fn is_waiting_for(&self, seq: u16) -> bool {
        self.table.iter().any(|a| a.seq == seq)
    }

    /// The connection is gone: no answer will come.
    pub(super) fn clear(&mut self) {
        self.table.clear();
    }

    /// Says whether `network` was newly found missing (then it is remembered).
    fn newly_missing(&mut self, network: &NetName) -> bool {
        if self.missing.contains(network) {
            return false;
        }
        // Full only with more interfaces than WANs: then it is said again, no harm.
        let _ = self.missing.push(network.clone());
        true
    }

    fn found(&mut self, network: &NetName) {
        self.missing.retain(|n| n != network);
    }
}

impl Session {
    /// Asks netifd for the status of `network`; the answer comes out of
    /// [`Session::poll_event`]. Returns false when it cannot be sent now (not registered,
    /// table or queue full): the core asks again after the next registration or resync.
    pub fn ask_netifd(&mut self, now: Instant, network: &str) -> bool {
        if !self.is_ready() {
            return false;
        }
        if let Some(ask) = self.asks.table.iter_mut().find(|a| a.network == network) {
            // A LOOKUP still out leads to a fresh `status`; a `status` call already out
            // may have been answered before the change that prompted this ask.
            if matches!(ask.stage, Stage::Status { .. }) {
                ask.again = true;
            }
            return true;
        }
        let Ok(network) = NetName::try_from(network) else { return false };
        if self.asks.table.is_full() {
            return false;
        }
        let path = netifd::object_path(&network);
        let Some(seq) = self.tx.request(REPLY_RESERVE, |buf, seq| wire::emit_lookup(buf, seq, Some(&path))) else {
            return false;
        };
        let ask =
            Ask { seq, network, stage: Stage::Lookup { objid: None }, deadline: now + REQUEST_TIMEOUT, again: false };
        let _ = self.asks.table.push(ask); // not full, checked above
        true
    }

    /// Gives up asks past their deadline.
    pub(super) fn expire_asks(&mut self, now: Instant) {
        while let Some(i) = self.asks.table.iter().position(|a| now >= a.deadline) {
            let ask = self.asks.table.swap_remove(i);
            self.notify(Notice::NetifdFailed { network: ask.network, error: AskError::Timeout });
        }
    }

    /// DATA or STATUS for an ask's LOOKUP or `status` call.
    pub(super) fn handle_ask_reply(&mut self, now: Instant, msg: &Message<'_>) {
        let Some(i) = self.asks.table.iter().position(|a| a.seq == msg.seq) else { return };
        let path = netifd::object_path(&self.asks.table[i].network);
        match (self.asks.table[i].stage.clone(), msg.ty) {
            (Stage::Lookup { objid: None }, MsgType::Data) if msg.objpath() == Some(path.as_bytes()) => {
                self.asks.table[i].stage = Stage::Lookup { objid: msg.objid() };
            }
            (Stage::Lookup { objid }, MsgType::Status) => match (msg.status(), objid) {
                (Some(wire::STATUS_OK), Some(objid)) => {
                    let emit = |buf: &mut [u8], seq| wire::emit_invoke(buf, seq, objid, "status", |_| Ok(()));
                    match self.tx.request(REPLY_RESERVE, emit) {
                        Some(seq) => {
                            let ask = &mut self.asks.table[i];
                            (ask.seq, ask.stage, ask.deadline) =
                                (seq, Stage::Status { objid, result: None }, now + REQUEST_TIMEOUT);
                        }
                        None => {
                            self.asks.table.swap_remove(i);
                        }
                    }
                }
                (Some(wire::STATUS_NOT_FOUND), _) => {
                    let ask = self.asks.table.swap_remove(i);
                    if self.asks.newly_missing(&ask.network) {
                        self.notify(Notice::NetifdMissing { network: ask.network.clone() });
                    }
                    self.emit(SessionEvent::Netifd { network: ask.network, status: NetifdStatus::DOWN });
                }
                (status, _) => {
                    let ask = self.asks.table.swap_remove(i);
                    let error = match status {
                        Some(wire::STATUS_OK) => AskError::NoAccess,
                        _ => AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR)),
                    };
                    self.notify(Notice::NetifdFailed { network: ask.network, error });
                }
            },
            (Stage::Status { objid, result: None }, MsgType::Data) => {
                let result = Some(netifd::parse_status(msg.data().unwrap_or_default()));
                self.asks.table[i].stage = Stage::Status { objid, result };
            }
            (Stage::Status { result, .. }, MsgType::Status) => {
                let ask = self.asks.table.swap_remove(i);
                let outcome = match (msg.status(), result) {
                    (Some(wire::STATUS_OK), Some(Ok(status))) => Ok(status),
                    (Some(wire::STATUS_OK), Some(Err(m))) => Err(AskError::Malformed(m)),
                    (Some(wire::STATUS_OK), None) => Err(AskError::NoData),
                    (status, _) => Err(AskError::Status(status.unwrap_or(wire::STATUS_UNKNOWN_ERROR))),
                };
                match outcome {
                    Ok(status) => {
                        self.asks.found(&ask.network);
                        self.emit(SessionEvent::Netifd { network: ask.network.clone(), status });
                    }
                    Err(error) => self.notify(Notice::NetifdFailed { network: ask.network.clone(), error }),
                }
                if ask.again {
                    self.ask_netifd(now, &ask.network);
                }
            }
            _ => {}
        }
    }
}
