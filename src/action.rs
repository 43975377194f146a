//! What the core asks of the adapters ([`Action`], taken from
//! [`crate::daemon::Daemon::poll_action`]), what it tells observers (ubus listeners an
//! [`Event`], hotplug scripts a [`HotplugAction`]), and the [`Outbox`] they wait in.
//!
//! Contract: every action names the WAN it concerns by its index in the config in force
//! when it was queued; its result, if it has one, goes back through the `handle_*` method
//! its documentation names. What observers are told is decided here, not by the adapters:
//! an event carries its names and its reason, and writes its own fields
//! ([`Event::write`]); a hotplug run carries its environment. Actions are plain values of
//! fixed size in a queue of fixed capacity: queuing one allocates nothing, and one that
//! does not fit is dropped and counted, never blocking the core.

use crate::config::{LogLevel, NetName, PolicyName, WanName, MAX_TARGETS};
use crate::health::{Reason, Transition};
use crate::kernel::{DumpKind, IfName};
use crate::route::{Family, Op};
use crate::status::family_word;
use crate::time::Instant;
use crate::wire::blob::{Full, Writer};
use core::fmt::Write;
use core::net::IpAddr;

/// Queued actions; a round of 8 WANs × 9 probes (the targets of both families together
/// plus two gateways) fits with room for ops and logs.
pub const ACTIONS_MAX: usize = 160;
/// Longest list of WAN names an event carries (`active` in balance mode, a rule's `via`);
/// longer lists are cut (8 names of 7 characters fit).
pub const NAMES_MAX: usize = 64;

/// WAN names separated by spaces (`wan lte`), or a rule's last resort word.
pub type Names = heapless::String<NAMES_MAX>;
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
    /// `src`, and with `tcp` its set of TCP probes too; the result, if an error, goes to
    /// `handle_probe_error`.
    OpenProbe {
        /// WAN index.
        wan: usize,
        /// Device to bind to.
        device: IfName,
        /// Source address to bind to; its family is the socket's.
        src: IpAddr,
        /// ICMP identifier of its probes.
        ident: u16,
        /// Its targets are probed with TCP (`track_method tcp`): open a TCP probe set
        /// beside the ICMP socket (which the gateway probes keep using).
        tcp: bool,
    },
    /// Close WAN `wan`'s probe socket of `family` (and its TCP probe set, with every probe
    /// in flight).
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
    /// Send one TCP probe, a SYN to `dst`'s `port`, from WAN `wan`'s TCP probe set of
    /// `dst`'s family. Its end goes to `handle_tcp_result` with `token`: answered, known lost
    /// (also when it could not be sent), or timed out at `deadline` at the latest.
    SendTcpProbe {
        /// WAN index.
        wan: usize,
        /// Target.
        dst: IpAddr,
        /// `track_port`.
        port: u16,
        /// The probe's sequence number (its round and slot), as for ICMP.
        token: u16,
        /// When to give up on it if nothing came back (its answer no longer counts).
        deadline: Instant,
    },
    /// Close WAN `wan`'s TCP probes of `family` started with `tokens`, without results:
    /// their round was judged and their answers no longer count. One action per round.
    CancelTcpProbes {
        /// WAN index.
        wan: usize,
        /// Which of its two sets.
        family: Family,
        /// The probes' tokens.
        tokens: TcpTokens,
    },
    /// Change the kernel's routing; report the result with `handle_op_result`.
    Apply(Op),
    /// Write a log line.
    Log(LogLevel, LogLine),
    /// Tell ubus listeners (a ubus event).
    Event(Event),
    /// WAN `wan`'s on-demand round has ended: answer the `probe` calls waiting for it with
    /// `Daemon::take_probe_report`.
    ProbeDone {
        /// WAN index (of the config in force when the round started).
        wan: usize,
    },
    /// Run the hotplug scripts with `ACTION`, `INTERFACE`, `DEVICE` and `FAMILY` set.
    Hotplug {
        /// `ACTION`.
        action: HotplugAction,
        /// WAN index.
        wan: usize,
        /// `INTERFACE`: the WAN's name.
        interface: WanName,
        /// `DEVICE`: its kernel device (empty before netifd named one).
        device: IfName,
        /// `FAMILY`: the family whose health changed.
        family: Family,
    },
    /// Run the hotplug scripts for a rule whose WANs changed, with `ACTION=rule`, `RULE`,
    /// `FAMILY`, `VIA` and `PREVIOUS` set.
    HotplugRule {
        /// `RULE`: the `config rule` section's name.
        rule: PolicyName,
        /// `FAMILY`: the family whose traffic of the rule moved.
        family: Family,
        /// `VIA`: who carries it now (WAN names, or its last resort word).
        via: Names,
        /// `PREVIOUS`: who carried it before (empty at start).
        previous: Names,
    },
    /// Listen for netifd's `network.interface` events on ubus (some WAN follows a netifd
    /// interface); they go to `handle_netifd_event`. Repeating it changes nothing.
    ListenNetifd,
    /// Ask netifd for the status of interface `network` (`ubus call
    /// network.interface.NAME status`); the answer goes to `handle_netifd_answer`.
    AskNetifd {
        /// WAN index ([`crate::config::MAX_WANS`] for a rule's `src_iface`).
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

/// Tokens of TCP probes to close: the targets of one round.
pub type TcpTokens = heapless::Vec<u16, MAX_TARGETS>;

/// How one TCP probe ended, in the core's terms (the adapter tells SYN-ACK from RST and
/// names the error; `handle_tcp_result` gets that as text for its log).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpEnd {
    /// SYN-ACK or RST: the target (or a firewall speaking for it) answered.
    Answered,
    /// Known lost before its deadline: an ICMP error about the SYN, or a local error (no
    /// route, no address, no socket).
    Lost,
    /// Nothing came back by its deadline (or the kernel's SYN retry limit): the health's
    /// own deadline judges it.
    TimedOut,
}

/// Something ubus listeners are told (`ubus listen dualwan.*`), every field decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// WAN `wan`'s status for `family` changed: `dualwan.interface`.
    Interface {
        /// WAN index.
        wan: usize,
        /// The family whose health changed.
        family: Family,
        /// The change.
        transition: Transition,
        /// The WAN's name.
        interface: WanName,
        /// Its kernel device (empty before netifd named one).
        device: IfName,
    },
    /// `family`'s traffic moved from one WAN to another (or to none): `dualwan.active`. In
    /// balance mode: the WANs sharing it changed.
    Active {
        /// Which traffic moved.
        family: Family,
        /// The WAN traffic left, if any (balance mode: the first of those sharing it).
        from: Option<usize>,
        /// The WAN now carrying traffic, if any (balance mode: the first of those sharing it).
        to: Option<usize>,
        /// The name of the WAN now carrying traffic (empty for none; balance mode: the names
        /// of those sharing it).
        active: Names,
        /// The name of the WAN traffic left (empty for none; balance mode: the names of
        /// those that shared it).
        previous: Names,
        /// Why: the failure of the WAN traffic left, or its recovery.
        reason: Reason,
    },
    /// The WANs carrying a `config rule`'s traffic of `family` changed: `dualwan.rule`.
    Rule {
        /// The rule's name.
        rule: PolicyName,
        /// Which traffic of it moved.
        family: Family,
        /// Who carries it now: WAN names, or its last resort word (`main`, ...).
        via: Names,
        /// Who carried it before (empty at start).
        previous: Names,
    },
}

impl Event {
    /// The ubus event's name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Interface { .. } => "dualwan.interface",
            Event::Active { .. } => "dualwan.active",
            Event::Rule { .. } => "dualwan.rule",
        }
    }

    /// Writes the event's table (what `ubus listen` shows under its name).
    pub fn write(&self, out: &mut Writer<'_>) -> Result<(), Full> {
        match self {
            Event::Interface { family, transition, interface, device, .. } => {
                out.string("interface", interface)?;
                out.string("device", device)?;
                out.string("family", family_word(*family))?;
                out.string("status", transition.to.as_str())?;
                out.string("previous", transition.from.as_str())?;
                out.string("reason", &short(format_args!("{}", transition.reason)))
            }
            Event::Active { family, active, previous, reason, .. } => {
                out.string("family", family_word(*family))?;
                out.string("active", active)?;
                out.string("previous", previous)?;
                out.string("reason", &short(format_args!("{reason}")))
            }
            Event::Rule { rule, family, via, previous } => {
                out.string("rule", rule)?;
                out.string("family", family_word(*family))?;
                out.string("via", via)?;
                out.string("previous", previous)
            }
        }
    }
}

/// A short value (a reason) formatted without allocating.
fn short(args: core::fmt::Arguments<'_>) -> heapless::String<128> {
    let mut s = heapless::String::new();
    let _ = s.write_fmt(args); // cut at capacity
    s
}

/// What hotplug scripts are told happened to a WAN (`ACTION`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HotplugAction {
    /// It became usable.
    Connected,
    /// It stopped being usable.
    Disconnected,
}

impl HotplugAction {
    /// `connected` / `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            HotplugAction::Connected => "connected",
            HotplugAction::Disconnected => "disconnected",
        }
    }

    /// The action a transition runs the scripts for: going up or going down; none for
    /// progress within a state (connecting, disconnecting).
    pub fn of(transition: &Transition) -> Option<HotplugAction> {
        if transition.went_up() {
            Some(HotplugAction::Connected)
        } else if transition.went_down() {
            Some(HotplugAction::Disconnected)
        } else {
            None
        }
    }
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
