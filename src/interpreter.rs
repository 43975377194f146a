//! The action interpreter: carries out what the core decided on a set of [`Adapters`] and
//! hands the results, and what the ubus session heard, back to the core. The binary's
//! adapters are the real sockets (`sys`); the timeline tests' are a simulated router. Both
//! go through [`perform`], so the timelines exercise what the binary does.
//!
//! Contract: no policy lives here (which events, which hotplug runs, which reasons are the
//! core's), and nothing is allocated: log lines are formatted into fixed buffers. An adapter
//! error is handed to the core's `handle_*` for that action, or (hotplug) logged; it never
//! stops the loop.

use crate::action::{Action, Event, HotplugAction, LogLine, TcpEnd};
use crate::config::{LogLevel, NetName};
use crate::daemon::Daemon;
use crate::kernel::{DumpKind, KernelEvent};
use crate::route::{Family, Op};
use crate::status::Blob;
use crate::time::Instant;
use crate::ubus::{Session, SessionEvent};
use crate::wire::blob::{self, Writer};
use core::fmt::{self, Write};
use core::net::IpAddr;

/// What the interpreter needs of the outside world. Methods that can fail return the
/// adapter's error, which the interpreter only displays.
pub trait Adapters {
    /// An adapter's error.
    type Error: fmt::Display;

    /// Reads a full kernel dump of `kind`, handing each entry to `each`.
    fn dump(&mut self, kind: DumpKind, each: &mut dyn FnMut(&KernelEvent)) -> Result<(), Self::Error>;
    /// Opens (or re-opens) WAN `wan`'s probe socket of `src`'s family, bound to `device` and
    /// `src`, for echo requests with identifier `ident`; with `tcp`, its TCP probe set too.
    fn open_probe(&mut self, wan: usize, device: &str, src: IpAddr, ident: u16, tcp: bool) -> Result<(), Self::Error>;
    /// Closes WAN `wan`'s probe socket of `family` and its TCP probe set.
    fn close_probe(&mut self, wan: usize, family: Family);
    /// Sends one echo request on WAN `wan`'s socket of `dst`'s family; a failed send is a
    /// lost probe.
    fn send_probe(&mut self, wan: usize, dst: IpAddr, seq: u16);
    /// Starts one TCP probe to `dst`'s `port` in WAN `wan`'s set of `dst`'s family; its end
    /// comes back later with `token` (by `deadline` at the latest). An error means nothing
    /// was sent.
    fn send_tcp_probe(
        &mut self,
        wan: usize,
        dst: IpAddr,
        port: u16,
        token: u16,
        deadline: Instant,
    ) -> Result<(), Self::Error>;
    /// Closes WAN `wan`'s TCP probe of `family` started with `token`, if still in flight.
    fn cancel_tcp_probe(&mut self, wan: usize, family: Family, token: u16);
    /// Changes the kernel's routing.
    fn apply(&mut self, op: &Op) -> Result<(), Self::Error>;
    /// Deletes the conntrack entries source-NAT'd to `addr`, WAN `wan`'s address; returns
    /// how many.
    fn flush_conntrack(&mut self, wan: usize, addr: IpAddr) -> Result<u32, Self::Error>;
    /// Starts the hotplug scripts (without waiting for them).
    fn run_hotplug(
        &mut self,
        now: Instant,
        action: HotplugAction,
        interface: &str,
        device: &str,
        family: Family,
    ) -> Result<(), Self::Error>;
    /// Starts the hotplug scripts for a rule whose WANs changed (`ACTION=rule`).
    fn run_hotplug_rule(
        &mut self,
        now: Instant,
        rule: &str,
        family: Family,
        via: &str,
        previous: &str,
    ) -> Result<(), Self::Error>;
    /// Writes a log line.
    fn log(&mut self, level: LogLevel, line: &str);
    /// Asks netifd about `network` (the answer comes later, as a session event).
    fn ask_netifd(&mut self, now: Instant, network: &NetName);
    /// Subscribes to netifd's events.
    fn listen_netifd(&mut self, now: Instant);
    /// Sends `event` to ubus listeners.
    fn send_event(&mut self, event: &Event);
    /// The ubus session whose events go to the core, if this world has one.
    fn ubus(&mut self) -> Option<&mut Session>;
}

/// Hands the core what the ubus session heard, carries out every action the core has
/// queued, feeding results straight back, until none is left, then logs the session's
/// notices.
pub fn perform<A: Adapters>(core: &mut Daemon, adapters: &mut A, now: Instant) {
    while let Some(event) = adapters.ubus().and_then(Session::poll_event) {
        match event {
            SessionEvent::Ready => core.handle_ubus_ready(now),
            SessionEvent::Netifd { network, status } => core.handle_netifd_answer(now, &network, status),
            SessionEvent::NetifdEvent { interface } => core.handle_netifd_event(now, &interface),
        }
    }
    while let Some(action) = core.poll_action() {
        match action {
            Action::Dump(kind) => {
                if let Err(e) = adapters.dump(kind, &mut |event| core.handle_kernel(now, event)) {
                    core.handle_dump_error(now, kind, &e);
                }
            }
            Action::OpenProbe { wan, device, src, ident, tcp } => {
                if let Err(e) = adapters.open_probe(wan, &device, src, ident, tcp) {
                    core.handle_probe_error(now, wan, Family::of(&src), &e);
                }
            }
            Action::CloseProbe { wan, family } => adapters.close_probe(wan, family),
            Action::SendProbe { wan, dst, seq } => adapters.send_probe(wan, dst, seq),
            Action::SendTcpProbe { wan, dst, port, token, deadline } => {
                // Not sent (no route, no address, out of descriptors): lost at once.
                if let Err(e) = adapters.send_tcp_probe(wan, dst, port, token, deadline) {
                    core.handle_tcp_result(now, wan, dst, token, TcpEnd::Lost, &e);
                }
            }
            Action::CancelTcpProbes { wan, family, tokens } => {
                for token in tokens {
                    adapters.cancel_tcp_probe(wan, family, token);
                }
            }
            Action::Apply(op) => match adapters.apply(&op) {
                Ok(()) => core.handle_op_result(now, &op, Ok(())),
                Err(e) => core.handle_op_result(now, &op, Err(&e)),
            },
            Action::Log(level, line) => adapters.log(level, &line),
            Action::FlushConntrack { wan, addr } => match adapters.flush_conntrack(wan, addr) {
                Ok(n) => core.handle_flush_result(now, wan, addr, Ok(n)),
                Err(e) => core.handle_flush_result(now, wan, addr, Err(&e)),
            },
            Action::AskNetifd { network, .. } => adapters.ask_netifd(now, &network),
            Action::ListenNetifd => adapters.listen_netifd(now),
            Action::Event(event) => adapters.send_event(&event),
            Action::ProbeDone { wan } => {
                // The calls waiting for this round (tagged with its WAN) get its report.
                if let (Some(report), Some(session)) = (core.take_probe_report(wan), adapters.ubus()) {
                    let write = |w: &mut Writer<'_>| {
                        crate::calls::write_probe_reply(&report, &mut Blob::new(w)).map_err(|_| blob::Full)
                    };
                    session.reply_deferred(wan as u16, &write);
                }
            }
            Action::Hotplug { action, interface, device, family, .. } => {
                if let Err(e) = adapters.run_hotplug(now, action, &interface, &device, family) {
                    adapters.log(LogLevel::Warning, &line(format_args!("{interface}: hotplug scripts: {e}")));
                }
            }
            Action::HotplugRule { rule, family, via, previous } => {
                if let Err(e) = adapters.run_hotplug_rule(now, &rule, family, &via, &previous) {
                    adapters.log(LogLevel::Warning, &line(format_args!("rule {rule}: hotplug scripts: {e}")));
                }
            }
        }
    }
    while let Some(notice) = adapters.ubus().and_then(Session::poll_notice) {
        adapters.log(LogLevel::Notice, &line(format_args!("{notice}")));
    }
}

/// A log line formatted without allocating (cut at its capacity).
fn line(args: fmt::Arguments<'_>) -> LogLine {
    let mut line = LogLine::new();
    let _ = line.write_fmt(args);
    line
}
