//! Probing and health: each WAN's rounds started as its link allows (probe sockets opened,
//! moved or closed to match), replies, losses, TCP results and socket errors handed to
//! its health, rounds judged, and every transition reported (history, a ubus event, the
//! hotplug scripts, a log line).

use super::{ipv6_word, Daemon, HistoryEntry, PROBE_RETRY};
use crate::action::{Action, Event, HotplugAction, TcpEnd, TcpTokens};
use crate::config::LogLevel;
use crate::health::{self, Reason, Status, Transition, GATEWAY_SLOT};
use crate::route::Family;
use crate::time::Instant;
use crate::timers::Timer;
use core::net::IpAddr;

impl Daemon {
    /// An ICMP echo reply from `src` arrived on WAN `wan`'s socket of `src`'s family.
    pub fn handle_reply(&mut self, now: Instant, wan: usize, src: IpAddr, ident: u16, seq: u16) {
        if wan >= self.wans.len() || ident != self.ident(wan) {
            return;
        }
        if health::on_demand::is_on_demand(seq) {
            self.on_demand_answer(now, wan, src, seq);
            return;
        }
        let family = Family::of(&src);
        // Foreign, late and duplicate replies change nothing (the health counts them).
        let _ = self.family_mut(wan, family).health.handle_reply(now, src, seq);
        // A complete round is judged at once rather than at its deadline.
        self.judge(now, wan, family, false);
        self.update(now);
    }

    /// The probe to `dst` with sequence `seq` on WAN `wan` is known lost before its
    /// deadline (an ICMP error about it, a TCP connection refused on the way): its round
    /// may be judged at once.
    pub fn handle_probe_lost(&mut self, now: Instant, wan: usize, dst: IpAddr, seq: u16) {
        if wan >= self.wans.len() {
            return;
        }
        if health::on_demand::is_on_demand(seq) {
            let _ = self.on_demand_tcp(now, wan, dst, seq, TcpEnd::Lost, &"lost");
            return;
        }
        let family = Family::of(&dst);
        if self.family_mut(wan, family).health.handle_lost(dst, seq) {
            self.judge(now, wan, family, false);
            self.update(now);
        }
    }

    /// WAN `wan`'s TCP probe to `dst` with `token` (its sequence number) ended: an answer
    /// counts as an echo reply would, a known loss may end its round early, and a timeout
    /// is left to the health's own deadline. `why` (SYN-ACK, RST, the error) is for the
    /// debug log.
    pub fn handle_tcp_result(
        &mut self,
        now: Instant,
        wan: usize,
        dst: IpAddr,
        token: u16,
        end: TcpEnd,
        why: &dyn core::fmt::Display,
    ) {
        if wan >= self.wans.len() || self.on_demand_tcp(now, wan, dst, token, end, why) {
            return;
        }
        match end {
            TcpEnd::Answered => {
                let family = Family::of(&dst);
                // Late and unknown answers change nothing (the health counts them).
                let _ = self.family_mut(wan, family).health.handle_reply(now, dst, token);
                self.judge(now, wan, family, false);
                self.update(now);
            }
            TcpEnd::Lost => {
                let (name, port) = (self.config.wans[wan].name.clone(), self.config.wans[wan].track_port);
                self.log(LogLevel::Debug, format_args!("{name}: TCP probe to {dst} port {port} lost: {why}"));
                self.handle_probe_lost(now, wan, dst, token);
            }
            TcpEnd::TimedOut => {}
        }
    }

    /// WAN `wan`'s probe socket of `family` could not be opened or used.
    pub fn handle_probe_error(&mut self, now: Instant, wan: usize, family: Family, error: &dyn core::fmt::Display) {
        if wan < self.wans.len() {
            let name = self.config.wans[wan].name.clone();
            self.log(LogLevel::Warning, format_args!("{name}: {family} probe socket: {error}"));
            // Forget the socket; a new one is tried after a pause, so a persistent error
            // (missing capability) costs one attempt per PROBE_RETRY, not one per round.
            self.family_mut(wan, family).socket = None;
            self.timers.set(Timer::SocketRetry { wan, family }, Some(now + PROBE_RETRY));
            self.mark_dirty();
        }
        self.update(now);
    }

    /// The round timer of WAN `wan`'s `family` fired: judge the rounds that are over, start
    /// the next if it is due, and send its probes.
    pub(super) fn probe_round(&mut self, now: Instant, wan: usize, family: Family) {
        self.judge(now, wan, family, true);
        let gateway = self.link(wan, family).gateway;
        let config = &self.config.wans[wan];
        let f = &mut self.wans[wan].families[family.index()];
        let socket_open = f.socket.is_some();
        let mut sends: heapless::Vec<(IpAddr, u16), 9> = heapless::Vec::new();
        let mut transitions: heapless::Vec<Transition, 2> = heapless::Vec::new();
        f.health.start_round(
            now,
            config,
            gateway,
            &mut |dst, seq| {
                let _ = sends.push((dst, seq));
            },
            &mut |t| {
                let _ = transitions.push(t);
            },
        );
        self.rearm_round(wan, family);
        for t in transitions {
            self.report(now, wan, family, t);
        }
        // A round judged to make room closes its TCP probes before the new round's go out.
        self.close_abandoned(wan, family);
        if !socket_open {
            return;
        }
        let w = &self.config.wans[wan];
        let (tcp, port, deadline) = (w.probes_tcp(), w.track_port, now + health::answer_window(w));
        for (dst, seq) in sends {
            // The gateway is always pinged: many answer ICMP and listen on no port.
            if tcp && health::slot_of(seq) != GATEWAY_SLOT {
                self.push(Action::SendTcpProbe { wan, dst, port, token: seq, deadline });
            } else {
                self.push(Action::SendProbe { wan, dst, seq });
            }
        }
    }

    /// Closes the TCP probes of WAN `wan`'s `family` rounds judged without their answer:
    /// they no longer count (for ICMP there is nothing to close).
    fn close_abandoned(&mut self, wan: usize, family: Family) {
        let tcp = self.config.wans[wan].probes_tcp();
        let mut tokens: heapless::Vec<u16, { health::ROUNDS_IN_FLIGHT * crate::config::MAX_TARGETS }> =
            heapless::Vec::new();
        self.family_mut(wan, family).health.take_abandoned(&mut |seq| {
            if tcp && health::slot_of(seq) != GATEWAY_SLOT {
                let _ = tokens.push(seq);
            }
        });
        // In actions of a round's worth (MAX_TARGETS), so that closing costs the queue
        // little more than one action per round.
        for chunk in tokens.chunks(crate::config::MAX_TARGETS) {
            let tokens = TcpTokens::from_slice(chunk).unwrap_or_default();
            self.push(Action::CancelTcpProbes { wan, family, tokens });
        }
    }

    /// Judges WAN `wan`'s `family` rounds that are complete, and with `by_clock` also
    /// those past their deadline (only when every waiting answer was read: from a timer,
    /// never from an answer, as the next answer may be queued behind it).
    fn judge(&mut self, now: Instant, wan: usize, family: Family, by_clock: bool) {
        let gateway = self.link(wan, family).gateway;
        let mut transitions: heapless::Vec<Transition, 8> = heapless::Vec::new();
        let config = &self.config.wans[wan];
        let health = &mut self.wans[wan].families[family.index()].health;
        let confirmations = health.confirmations();
        let mut push = |t| {
            let _ = transitions.push(t);
        };
        if by_clock {
            health.handle_timeout(now, config, gateway, &mut push);
        } else {
            health.handle_complete(now, config, gateway, &mut push);
        }
        let suspect = health.confirmations() != confirmations;
        self.rearm_round(wan, family);
        self.close_abandoned(wan, family);
        if suspect {
            let (name, rounds) = (self.config.wans[wan].name.clone(), self.config.wans[wan].down);
            let ipv6 = ipv6_word(family);
            self.log(
                LogLevel::Debug,
                format_args!("{name}: {ipv6}a probe went unanswered: confirming ({rounds} rounds)"),
            );
        }
        for t in transitions {
            self.report(now, wan, family, t);
        }
    }

    /// Sets WAN `wan`'s `family` round timer to when its health next has work; called
    /// after every change of the health's rounds.
    pub(super) fn rearm_round(&mut self, wan: usize, family: Family) {
        let at = self.health(wan, family).next_deadline();
        self.timers.set(Timer::Round { wan, family }, at);
    }

    fn report(&mut self, now: Instant, wan: usize, family: Family, t: Transition) {
        self.mark_dirty();
        // A WAN back up waits `recovery_wait` before traffic returns: wake when it ends.
        let health = self.health(wan, family);
        let waiting = health.is_up() && health.eligible_at() > now && !self.phase.is_stopping();
        let recovery_ends = waiting.then(|| health.eligible_at());
        self.timers.set(Timer::Recovery { wan, family }, recovery_ends);
        let name = self.config.wans[wan].name.clone();
        if self.history.is_full() {
            self.history.pop_front();
        }
        let _ = self.history.push_back(HistoryEntry { at: now, wan: name.clone(), family, transition: t });
        let device = crate::kernel::IfName::try_from(self.device(wan)).unwrap_or_default();
        let interface = name.clone();
        self.push(Action::Event(Event::Interface { wan, family, transition: t, interface, device: device.clone() }));
        if let Some(action) = HotplugAction::of(&t) {
            self.push(Action::Hotplug { action, wan, interface: name.clone(), device, family });
        }
        // Going up or down is a notice; progress within a state (connecting) is info.
        let level = if matches!(t.to, Status::Online | Status::Offline | Status::NoLink) {
            LogLevel::Notice
        } else {
            LogLevel::Info
        };
        let ipv6 = ipv6_word(family);
        self.log(level, format_args!("{name}: {ipv6}{} -> {} ({})", t.from, t.to, t.reason));
    }

    pub(super) fn update_links(&mut self, now: Instant) {
        for wan in 0..self.wans.len() {
            if !self.config.wans[wan].enabled {
                continue;
            }
            // Until netifd has answered, nothing is known of the device: no verdict yet.
            if self.links.awaits_netifd(&self.config, wan) {
                continue;
            }
            self.tell_missing_device(wan);
            for family in Family::ALL {
                if self.config.wans[wan].tracks(family) {
                    self.update_family_link(now, wan, family);
                }
            }
        }
    }

    /// A device that does not exist at start or after a reload (a typo, a USB modem not
    /// plugged in yet) is a warning, once: without it the WAN would only wait, silently.
    fn tell_missing_device(&mut self, wan: usize) {
        if core::mem::replace(&mut self.wans[wan].device_checked, true) {
            return;
        }
        let missing = self.links.probe_source(&self.config, wan, Family::V4) == Err(Reason::DeviceMissing);
        let device = self.links.device(&self.config, wan);
        if !missing || device.is_empty() {
            return;
        }
        let device = crate::kernel::IfName::try_from(device).unwrap_or_default();
        let name = self.config.wans[wan].name.clone();
        self.log(LogLevel::Warning, format_args!("{name}: device '{device}' does not exist (yet); waiting for it"));
    }

    /// Starts or stops WAN `wan`'s `family` probing as its link allows, and opens, moves or
    /// closes its probe socket to match.
    fn update_family_link(&mut self, now: Instant, wan: usize, family: Family) {
        let source = self.links.probe_source(&self.config, wan, family);
        let health = &mut self.family_mut(wan, family).health;
        let transition = match source {
            Err(reason) => health.link_lost(now, reason),
            Ok(_) => health.link_usable(now),
        };
        self.rearm_round(wan, family);
        if let Some(t) = transition {
            self.report(now, wan, family, t);
        }
        let want_socket = source.ok();
        let socket = self.wans[wan].families[family.index()].socket;
        let pausing = self.timers.get(Timer::SocketRetry { wan, family }).is_some_and(|at| now < at);
        if want_socket.is_some() && socket.is_none() && pausing {
            return;
        }
        if want_socket != socket {
            match want_socket {
                Some((_, src)) => {
                    let device = self.links.device_name(&self.config, wan).cloned().unwrap_or_default();
                    let (ident, tcp) = (self.ident(wan), self.config.wans[wan].probes_tcp());
                    self.push(Action::OpenProbe { wan, device, src, ident, tcp });
                }
                None => self.push(Action::CloseProbe { wan, family }),
            }
            self.family_mut(wan, family).socket = want_socket;
        }
    }
}
