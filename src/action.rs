//! What the core asks of the adapters ([`Action`], taken from
//! [`crate::daemon::Daemon::poll_action`]) and what it tells observers ([`Event`]: ubus
//! listeners, hotplug scripts). Plain values of fixed size: queuing one allocates nothing.
//!
//! Contract: every action names the WAN it concerns by its index in the config in force
//! when it was queued; its result, if it has one, goes back through the `handle_*` method
//! its documentation names.

use crate::config::{LogLevel, NetName};
use crate::health::Transition;
use crate::kernel::{DumpKind, IfName};
use crate::route::{Family, Op};
use core::net::IpAddr;

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
