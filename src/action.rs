//! What the core asks of the adapters ([`Action`], taken from
//! [`crate::daemon::Daemon::poll_action`]), what it tells observers ([`Event`]: ubus
//! listeners, hotplug scripts), and the [`Outbox`] they wait in.
//!
//! Contract: every action names the WAN it concerns by its index in the config in force
//! when it was queued; its result, if it has one, goes back through the `handle_*` method
//! its documentation names. Actions are plain values of fixed size in a queue of fixed
//! capacity: queuing one allocates nothing, and one that does not fit is dropped and
//! counted, never blocking the core.

use crate::config::{LogLevel, NetName};
use crate::health::Transition;
use crate::kernel::{DumpKind, IfName};
use crate::route::{Family, Op};
use core::fmt::Write;
use core::net::IpAddr;

/// Queued actions; a round of 8 WANs × 9 probes (the targets of both families together
/// plus two gateways) fits with room for ops and logs.
pub const ACTIONS_MAX: usize = 160;
/// A log line's capacity; longer lines are cut.
pub const LOG_LINE_MAX: usize = 200;

/// One log line, built without allocating.
pub type LogLine = heapless::String<LOG_LINE_MAX>;

/// Something the adapters must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask the kernel for a full dump of this kind (answers arrive via `handle_kernel`).
    Dump(DumpKind),
    /// Open (or re-open) WAN `wan`'s probe socket of `src`'s family, bound to `device` and
    /// `src`.
    OpenProbe {
        /// WAN index.
        wan: usize,
        /// Device to bind to.
        device: IfName,
        /// Source address to bind to; its family is the socket's.
        src: IpAddr,
        /// ICMP identifier of its probes.
        ident: u16,
    },
    /// Close WAN `wan`'s probe socket of `family`.
    CloseProbe {
        /// WAN index.
        wan: usize,
        /// Which of its two sockets.
        family: Family,
    },
    /// Send one echo request on WAN `wan`'s socket of `dst`'s family.
    SendProbe {
        /// WAN index.
        wan: usize,
        /// Target (for IPv6 possibly a link-local gateway, on the WAN's device).
        dst: IpAddr,
        /// ICMP sequence number.
        seq: u16,
    },
    /// Change the kernel's routing; report the result with `handle_op_result`.
    Apply(Op),
    /// Write a log line.
    Log(LogLevel, LogLine),
    /// Tell observers.
    Event(Event),
    /// Ask netifd for the status of interface `network` (`ubus call
    /// network.interface.NAME status`); the answer goes to `handle_netifd`.
    AskNetifd {
        /// WAN index.
        wan: usize,
        /// The netifd interface.
        network: NetName,
    },
    /// Delete the conntrack entries source-NAT'd to `addr`, WAN `wan`'s address, after
    /// traffic left it (`option flush_conntrack`); the count goes to `handle_flush_result`.
    /// Queued after the route changes of the same move, so that packets of the flushed
    /// connections find the new route and get new entries, not the old NAT address.
    FlushConntrack {
        /// WAN index.
        wan: usize,
        /// The WAN's address of the family that moved, the one its connections were
        /// masqueraded to.
        addr: IpAddr,
    },
}

/// Something observers (ubus listeners, hotplug scripts) are told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// WAN `wan`'s status for `family` changed.
    Interface {
        /// WAN index.
        wan: usize,
        /// The family whose health changed.
        family: Family,
        /// The change.
        transition: Transition,
    },
    /// `family`'s traffic moved from one WAN to another (or to none).
    Active {
        /// Which traffic moved.
        family: Family,
        /// The WAN traffic left, if any.
        from: Option<usize>,
        /// The WAN now carrying traffic, if any.
        to: Option<usize>,
    },
}

/// The actions waiting for the adapters, oldest first.
#[derive(Debug, Default)]
pub struct Outbox {
    actions: heapless::Deque<Action, ACTIONS_MAX>,
    /// Actions dropped since the last warning about it.
    dropped: u64,
}

impl Outbox {
    /// Queues `action`; false if the queue is full and it was dropped (and counted).
    pub fn push(&mut self, action: Action) -> bool {
        let queued = self.actions.push_back(action).is_ok();
        self.dropped += u64::from(!queued);
        queued
    }

    /// The oldest action. Once the queue is empty after it overflowed, one warning (if
    /// `warn`) says how many were dropped.
    pub fn pop(&mut self, warn: bool) -> Option<Action> {
        let action = self.actions.pop_front();
        if action.is_none() && self.dropped > 0 {
            let n = core::mem::take(&mut self.dropped);
            if warn {
                let mut line = LogLine::new();
                let _ = write!(line, "{n} actions dropped (queue of {ACTIONS_MAX} full); re-reading kernel state");
                return Some(Action::Log(LogLevel::Warning, line));
            }
        }
        action
    }

    /// True if nothing waits.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// How many actions wait.
    pub fn len(&self) -> usize {
        self.actions.len()
    }
}
