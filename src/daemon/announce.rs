//! Telling observers that traffic moved: a log line with the reason, a `dualwan.active`
//! event (failover: the WAN it moved to and from; balance: the WANs sharing it), and for
//! each `config rule` whose traffic changed WANs a `dualwan.rule` event and the hotplug
//! scripts.

use super::{ipv6_word, Daemon};
use crate::action::{Action, Event, LogLine, Names};
use crate::config::{LastResort, LogLevel, WanSet};
use crate::health::{Reason, Status};
use crate::plan::Carriers;
use crate::route::Family;
use core::fmt::Write;

impl Daemon {
    /// No WAN carries `family` any more: say what does instead (not while stopping, when
    /// that is the point).
    fn log_no_wan_up(&mut self, family: Family) {
        if self.phase.is_stopping() {
            return;
        }
        let how = match self.config.globals.last_resort {
            LastResort::Main => "main routing table in charge",
            LastResort::Unreachable => "traffic rejected",
        };
        let for_ipv6 = if family == Family::V6 { " for IPv6" } else { "" };
        self.log(LogLevel::Notice, format_args!("no WAN up{for_ipv6}: {how}"));
    }

    /// Balance mode: the WANs sharing `family`'s traffic changed from `from` to `to`.
    pub(super) fn log_share(&mut self, family: Family, from: WanSet, to: WanSet) {
        let ipv6 = ipv6_word(family);
        if to.is_empty() {
            self.log_no_wan_up(family);
            return;
        }
        let mut line = LogLine::new();
        let _ = write!(line, "{ipv6}traffic shared by ");
        for (i, wan) in to.iter().enumerate() {
            let w = &self.config.wans[wan];
            let _ = write!(line, "{}{} (weight {})", if i == 0 { "" } else { ", " }, w.name, w.weight);
        }
        for wan in from.minus(to).iter() {
            let h = self.health(wan, family);
            let (name, status, reason) = (self.config.wans[wan].name.clone(), h.status(), h.reason());
            let _ = match status {
                Status::Online => write!(line, "; {name} left"),
                _ => write!(line, "; {name} {status}: {reason}"),
            };
        }
        self.log(LogLevel::Notice, format_args!("{line}"));
    }

    /// Each `config rule` whose traffic of `family` changed WANs: a log line, a
    /// `dualwan.rule` event and the hotplug scripts (`ACTION=rule`).
    pub(super) fn policies_moved(&mut self, family: Family, from: &Carriers, to: &Carriers) {
        if self.phase.is_stopping() {
            return;
        }
        let ipv6 = ipv6_word(family);
        for k in 0..self.config.policies.len() {
            let (before, after) = (from.of_policy(&self.config, k), to.of_policy(&self.config, k));
            if before == after || !self.config.policies[k].family.covers(family) || !self.config.tracks(family) {
                continue;
            }
            let mut line = LogLine::new();
            let _ = write!(line, "rule {}: {ipv6}traffic ", self.config.policies[k].name);
            match after {
                Some(wans) => {
                    let _ = line.push_str("on ");
                    for (i, wan) in wans.iter().enumerate() {
                        let _ = write!(line, "{}{}", if i == 0 { "" } else { ", " }, self.config.wans[wan].name);
                    }
                }
                None => {
                    let _ = write!(line, "to its last resort ({})", self.config.policies[k].last_resort_word());
                }
            }
            self.log(LogLevel::Notice, format_args!("{line}"));
            let rule = self.config.policies[k].name.clone();
            // Before the first plan nobody carried anything: no previous.
            let previous = if self.routed[family.index()] { self.via(from, k) } else { Names::new() };
            let via = self.via(to, k);
            self.push(Action::Event(Event::Rule {
                rule: rule.clone(),
                family,
                via: via.clone(),
                previous: previous.clone(),
            }));
            self.push(Action::HotplugRule { rule, family, via, previous });
        }
    }

    /// Tells ubus listeners that `family`'s traffic moved, and why: the failure of the WAN
    /// it left, or (that WAN still up) its recovery; with no WAN left before, why the new
    /// one is up.
    pub(super) fn announce_move(&mut self, family: Family, from: Option<usize>, to: Option<usize>) {
        let health = |wan: usize| self.health(wan, family);
        let reason = match (from, to) {
            (Some(f), _) if !health(f).is_up() => health(f).reason(),
            (Some(_), _) => Reason::Recovered,
            (None, Some(t)) => health(t).reason(),
            (None, None) => return,
        };
        let set = |wan: Option<usize>| wan.map_or(WanSet::EMPTY, WanSet::one);
        let (active, previous) = (self.names(set(to)), self.names(set(from)));
        self.push(Action::Event(Event::Active { family, from, to, active, previous, reason }));
    }

    /// Balance mode: tells ubus listeners that the WANs sharing `family`'s traffic changed,
    /// and why: the failure of a WAN that left, or else why one joined.
    pub(super) fn announce_share(&mut self, family: Family, from: WanSet, to: WanSet) {
        let health = |wan: usize| self.health(wan, family);
        let reason = match (from.minus(to).first(), to.minus(from).first()) {
            (Some(left), _) if !health(left).is_up() => health(left).reason(),
            (Some(_), _) => Reason::Recovered,
            (None, Some(joined)) => health(joined).reason(),
            (None, None) => return,
        };
        let (active, previous) = (self.names(to), self.names(from));
        let (from, to) = (from.first(), to.first());
        self.push(Action::Event(Event::Active { family, from, to, active, previous, reason }));
    }

    /// The names of `wans`, separated by spaces (cut at [`crate::action::NAMES_MAX`]).
    fn names(&self, wans: WanSet) -> Names {
        let mut names = Names::new();
        for (i, wan) in wans.iter().enumerate() {
            let _ = write!(names, "{}{}", if i == 0 { "" } else { " " }, self.config.wans[wan].name);
        }
        names
    }

    /// Who carries rule `k`'s traffic per `carriers`: WAN names, or its last resort word.
    fn via(&self, carriers: &Carriers, k: usize) -> Names {
        match carriers.of_policy(&self.config, k) {
            Some(wans) => self.names(wans),
            None => {
                let mut word = Names::new();
                let _ = word.push_str(self.config.policies[k].last_resort_word());
                word
            }
        }
    }

    pub(super) fn log_move(&mut self, family: Family, from: Option<usize>, to: Option<usize>) {
        let name = |wan: Option<usize>| wan.map(|w| self.config.wans[w].name.clone());
        let why = from.map(|w| {
            let h = self.health(w, family);
            (self.config.wans[w].name.clone(), h.status(), h.reason())
        });
        let ipv6 = ipv6_word(family);
        match (name(to), why) {
            (Some(to), Some((from, status, reason))) if status != Status::Online => {
                self.log(LogLevel::Notice, format_args!("{ipv6}traffic moved to {to} ({from} {status}: {reason})"))
            }
            (Some(to), Some((from, ..))) => {
                self.log(LogLevel::Notice, format_args!("{ipv6}traffic moved to {to} (back from {from})"))
            }
            (Some(to), None) => self.log(LogLevel::Notice, format_args!("{ipv6}traffic on {to}")),
            (None, _) => self.log_no_wan_up(family),
        }
    }
}
