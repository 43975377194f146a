//! On-demand rounds (`ubus call dualwan probe '{"interface":"wan"}'`): one immediate probe
//! to every target (by its `track_method`) and, with `check_gateway`, the gateway (ICMP),
//! for each family the WAN can probe now; the calls are answered when every probe is
//! answered, known lost or `timeout` has passed.
//!
//! Contract:
//! - The health never sees these probes ([`crate::health::on_demand`]): their answers are
//!   routed here by their sequence number, so they are no steady probe, no confirmation
//!   round, no RTT sample and no reason to switch.
//! - One round per WAN at a time: a call while one is due or running joins it (it gets
//!   the same answer; starting another would only double the traffic), and so does one
//!   that comes after the round ended but before its report was handed out. Rounds of a
//!   WAN start at least `interval` apart (a caller in a loop waits for the next one), so
//!   a flood of calls sends at most one round per `interval` per WAN, what a WAN that is
//!   down sends anyway. Everything lives in fixed slots; nothing is allocated.
//! - A WAN that cannot be probed now (disabled, no device, no address, no probe socket)
//!   is answered at once with the reason status shows ([`ProbeRefusal`]).
//! - A reload or a stop ends every round at once: its pending probes fail with the reason
//!   and its TCP probes still in flight are closed.

use super::Daemon;
use crate::action::{Action, TcpEnd, TcpTokens};
use crate::config::WanName;
use crate::health::on_demand::{is_on_demand, ErrorText, OnDemandRound, Outcome};
use crate::health::{Reason, GATEWAY_SLOT};
use crate::route::Family;
use crate::time::Instant;
use crate::timers::Timer;
use core::fmt;
use core::net::IpAddr;

/// Why a WAN cannot be probed now; the call is answered at once with it as `error`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProbeRefusal {
    /// Its link is not usable (as status says: `disabled`, `device missing`, ...).
    Link(Reason),
    /// The link is usable but its probe socket is not open (it failed; retried soon).
    NoSocket,
    /// Another WAN's finished round still waits in this WAN's slot (right after a reload
    /// renumbered the WANs): try again.
    Busy,
}

impl fmt::Display for ProbeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeRefusal::Link(reason) => reason.fmt(f),
            ProbeRefusal::NoSocket => f.write_str("probe socket not open"),
            ProbeRefusal::Busy => f.write_str("busy, try again"),
        }
    }
}

/// A finished on-demand round, for the reply.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The WAN's name.
    pub interface: WanName,
    /// Its probes and their outcomes.
    pub round: OnDemandRound,
    /// Why nothing was probed (the link went away before the round started).
    pub error: Option<ErrorText>,
}

/// Where a WAN's on-demand round is.
#[derive(Clone, Debug, Default)]
enum Phase {
    /// Nothing asked.
    #[default]
    Idle,
    /// Asked; starts at the WAN's on-demand timer (`interval` after the previous start).
    Due,
    /// Probes sent; judged at its deadline at the latest.
    Running(OnDemandRound),
    /// Ended; waiting to be handed out ([`Action::ProbeDone`]).
    Done(ProbeReport),
}

/// One WAN's on-demand slot; kept across reloads (by WAN index), so a serial never repeats
/// soon and the pacing holds.
#[derive(Clone, Debug, Default)]
pub(super) struct OnDemand {
    phase: Phase,
    /// Numbers the rounds (11 bits of it are in the probes' sequence numbers).
    serial: u16,
    /// When the last round started.
    last_start: Option<Instant>,
}

impl Daemon {
    /// `ubus call dualwan probe` for WAN `wan`: starts (or joins) its on-demand round, whose
    /// end queues [`Action::ProbeDone`]; or says why it cannot be probed now.
    pub fn request_probe(&mut self, now: Instant, wan: usize) -> Result<(), ProbeRefusal> {
        let Some(w) = self.config.wans.get(wan) else { return Err(ProbeRefusal::Link(Reason::DeviceMissing)) };
        match &self.on_demand[wan].phase {
            Phase::Due | Phase::Running(_) => return Ok(()),
            Phase::Done(report) if report.interface == w.name => return Ok(()),
            Phase::Done(_) => return Err(ProbeRefusal::Busy),
            Phase::Idle => {}
        }
        self.probeable(wan)?;
        let slot = &mut self.on_demand[wan];
        let at = slot.last_start.map_or(now, |last| (last + w.interval).max(now));
        slot.phase = Phase::Due;
        self.timers.set(Timer::OnDemand { wan }, Some(at));
        if at <= now {
            self.start_on_demand(now, wan);
        }
        Ok(())
    }

    /// WAN `wan`'s finished round, once (after [`Action::ProbeDone`]); the slot is free
    /// again.
    pub fn take_probe_report(&mut self, wan: usize) -> Option<ProbeReport> {
        let slot = self.on_demand.get_mut(wan)?;
        match core::mem::take(&mut slot.phase) {
            Phase::Done(report) => Some(report),
            other => {
                slot.phase = other;
                None
            }
        }
    }

    /// The families of WAN `wan` that can be probed now: tracked, with a usable link and
    /// its probe socket open; or why none can.
    fn probeable(&self, wan: usize) -> Result<heapless::Vec<Family, 2>, ProbeRefusal> {
        let w = &self.config.wans[wan];
        if !w.enabled {
            return Err(ProbeRefusal::Link(Reason::Disabled));
        }
        if self.links.awaits_netifd(&self.config, wan) {
            return Err(ProbeRefusal::Link(Reason::Starting));
        }
        let mut families = heapless::Vec::new();
        let mut refusal = None;
        for family in Family::ALL.into_iter().filter(|&f| w.tracks(f)) {
            match self.links.probe_source(&self.config, wan, family) {
                Ok(source) if self.wans[wan].families[family.index()].socket == Some(source) => {
                    let _ = families.push(family);
                }
                Ok(_) => refusal = refusal.or(Some(ProbeRefusal::NoSocket)),
                Err(reason) => refusal = refusal.or(Some(ProbeRefusal::Link(reason))),
            }
        }
        match refusal {
            Some(refusal) if families.is_empty() => Err(refusal),
            _ => Ok(families),
        }
    }

    /// Sends WAN `wan`'s due round: its probes go out now.
    fn start_on_demand(&mut self, now: Instant, wan: usize) {
        let families = self.probeable(wan);
        let w = &self.config.wans[wan];
        let slot = &mut self.on_demand[wan];
        slot.serial = slot.serial.wrapping_add(1);
        slot.last_start = Some(now);
        let mut round = OnDemandRound::new(slot.serial, now, w.timeout);
        let families = match families {
            Ok(families) => families,
            Err(refusal) => {
                // The link went away while the round waited for its turn.
                let mut error = ErrorText::new();
                let _ = fmt::Write::write_fmt(&mut error, format_args!("{refusal}"));
                let report = ProbeReport { interface: w.name.clone(), round, error: Some(error) };
                self.finish_on_demand(wan, report);
                return;
            }
        };
        let (tcp, port, deadline) = (w.probes_tcp(), w.track_port, round.deadline());
        let mut sends: heapless::Vec<Action, { crate::health::on_demand::ON_DEMAND_PROBES }> = heapless::Vec::new();
        for family in families {
            for (slot, dst) in w.targets(family) {
                let token = round.add(dst, slot, tcp.then_some(port));
                let send = match token {
                    Some(token) if tcp => Action::SendTcpProbe { wan, dst, port, token, deadline },
                    Some(seq) => Action::SendProbe { wan, dst, seq },
                    None => continue,
                };
                let _ = sends.push(send);
            }
            let gateway = self.links.view(&self.config, wan, family).gateway;
            if let (true, Some(dst)) = (w.check_gateway, gateway) {
                if let Some(seq) = round.add(dst, GATEWAY_SLOT, None) {
                    let _ = sends.push(Action::SendProbe { wan, dst, seq });
                }
            }
        }
        let name = w.name.clone();
        self.log(
            crate::config::LogLevel::Info,
            format_args!("{name}: probing now (ubus call), {} probes", sends.len()),
        );
        self.timers.set(Timer::OnDemand { wan }, Some(deadline));
        self.on_demand[wan].phase = Phase::Running(round);
        for send in sends {
            self.push(send);
        }
    }

    /// The WAN's on-demand timer fired: a due round starts, a running one is judged.
    pub(super) fn on_demand_timeout(&mut self, now: Instant, wan: usize) {
        match &mut self.on_demand[wan].phase {
            Phase::Due => self.start_on_demand(now, wan),
            Phase::Running(round) => {
                round.handle_timeout(now);
                self.end_if_complete(wan);
            }
            Phase::Idle | Phase::Done(_) => {}
        }
    }

    /// An answer (echo reply, SYN-ACK, RST) to on-demand probe `seq` of WAN `wan`.
    pub(super) fn on_demand_answer(&mut self, now: Instant, wan: usize, src: IpAddr, seq: u16) {
        if let Some(Phase::Running(round)) = self.on_demand.get_mut(wan).map(|s| &mut s.phase) {
            if round.handle_answer(now, src, seq) {
                self.end_if_complete(wan);
            }
        }
    }

    /// A TCP probe's end: true if it was an on-demand probe (handled here).
    pub(super) fn on_demand_tcp(
        &mut self,
        now: Instant,
        wan: usize,
        dst: IpAddr,
        token: u16,
        end: TcpEnd,
        why: &dyn fmt::Display,
    ) -> bool {
        if !is_on_demand(token) {
            return false;
        }
        match end {
            TcpEnd::Answered => self.on_demand_answer(now, wan, dst, token),
            TcpEnd::Lost | TcpEnd::TimedOut => {
                if let Some(Phase::Running(round)) = self.on_demand.get_mut(wan).map(|s| &mut s.phase) {
                    let lost = match end {
                        TcpEnd::TimedOut => round.handle_lost(dst, token, &"timeout"),
                        _ => round.handle_lost(dst, token, why),
                    };
                    if lost {
                        self.end_if_complete(wan);
                    }
                }
            }
        }
        true
    }

    fn end_if_complete(&mut self, wan: usize) {
        let slot = &mut self.on_demand[wan];
        let Phase::Running(round) = &slot.phase else { return };
        if !round.is_complete() {
            return;
        }
        let round = round.clone();
        let interface = self.config.wans[wan].name.clone();
        self.finish_on_demand(wan, ProbeReport { interface, round, error: None });
    }

    fn finish_on_demand(&mut self, wan: usize, report: ProbeReport) {
        self.timers.set(Timer::OnDemand { wan }, None);
        self.on_demand[wan].phase = Phase::Done(report);
        self.push(Action::ProbeDone { wan });
    }

    /// A reload or a stop: every due or running round ends now, its pending probes failed
    /// with `why`. Called before the config changes (the reports name the old WANs).
    pub(super) fn end_on_demand(&mut self, why: &str) {
        for wan in 0..self.wans.len() {
            let round = match &mut self.on_demand[wan].phase {
                Phase::Running(round) => {
                    // Its TCP probes still in flight would otherwise hold their sockets (and
                    // the set's room) until the deadline, beside the next round's.
                    let cancels = Family::ALL.map(|family| {
                        let pending = round.probes().iter().filter(|p| {
                            p.tcp_port.is_some() && p.outcome == Outcome::Pending && Family::of(&p.dst) == family
                        });
                        let tokens: TcpTokens = pending.map(|p| p.seq).collect();
                        Action::CancelTcpProbes { wan, family, tokens }
                    });
                    round.fail_pending(why);
                    let round = round.clone();
                    for cancel in cancels {
                        if matches!(&cancel, Action::CancelTcpProbes { tokens, .. } if !tokens.is_empty()) {
                            self.push(cancel);
                        }
                    }
                    round
                }
                Phase::Due => OnDemandRound::new(0, Instant::ZERO, crate::time::Duration::ZERO),
                Phase::Idle | Phase::Done(_) => continue,
            };
            let mut error = None;
            if round.probes().is_empty() {
                let mut text = ErrorText::new();
                let _ = text.push_str(&why[..why.len().min(crate::health::on_demand::ERROR_TEXT_MAX)]);
                error = Some(text);
            }
            let interface = self.config.wans[wan].name.clone();
            self.finish_on_demand(wan, ProbeReport { interface, round, error });
        }
    }
}
