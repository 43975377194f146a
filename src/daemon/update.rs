//! Bringing everything in line with what is known: links and sockets updated, each
//! family's carriers chosen ([`plan::choose`]) and planned, the kernel changes queued in
//! batches that fit the action queue (what a reload retired removed first), and the
//! connections of a WAN traffic left flushed as its `flush_conntrack` says.

use super::Daemon;
use crate::action::{Action, ACTIONS_MAX};
use crate::config::{FlushConntrack, LogLevel, Mode, WanSet, MAX_WANS};
use crate::plan::{self, Carriers, LinkView};
use crate::reconcile;
use crate::route::{Family, Op};
use crate::time::Instant;

/// Most kernel changes queued at once.
const OPS_BATCH: usize = 32;
/// Room kept in the action queue for what else an update queues (logs, events, probes).
const QUEUE_RESERVE: usize = 24;

impl Daemon {
    /// Brings links, sockets, the carriers and the kernel in line with what is known.
    pub(super) fn update(&mut self, now: Instant) {
        if !self.phase.sync_mut().take_dirty() {
            return;
        }
        let stopping = self.phase.is_stopping();
        if !stopping {
            self.update_links(now);
        }
        self.desired.clear();
        // Per family, the WANs its traffic left in this update (their connections may be
        // flushed).
        let mut left: [WanSet; 2] = [WanSet::EMPTY; 2];
        for family in Family::ALL {
            let links: heapless::Vec<LinkView, MAX_WANS> =
                (0..self.wans.len()).map(|wan| self.link(wan, family)).collect();
            for (w, link) in self.wans.iter_mut().zip(&links) {
                if link.addr.is_some() {
                    w.families[family.index()].nat_addr = link.addr;
                }
            }
            let current = self.carriers[family.index()];
            let next = if stopping {
                Carriers::default()
            } else {
                let ready: heapless::Vec<plan::Readiness, MAX_WANS> = self
                    .wans
                    .iter()
                    .map(|w| &w.families[family.index()].health)
                    .map(|h| plan::Readiness { up: h.is_up(), eligible_at: h.eligible_at() })
                    .collect();
                plan::choose(&self.config, family, &ready, &links, &current, now)
            };
            if next.global != current.global {
                match self.config.globals.mode {
                    Mode::Failover => {
                        let (from, to) = (current.global.first(), next.global.first());
                        self.log_move(family, from, to);
                        self.announce_move(family, from, to);
                    }
                    Mode::Balance => {
                        self.log_share(family, current.global, next.global);
                        self.announce_share(family, current.global, next.global);
                    }
                }
            }
            self.policies_moved(family, &current, &next);
            let carrying = next.all();
            if !stopping {
                left[family.index()] = current.all().minus(carrying);
            }
            self.carriers[family.index()] = next;
            // A WAN carrying none of the family's traffic probes at the standby pace.
            for wan in 0..self.wans.len() {
                let standby = !carrying.contains(wan);
                self.wans[wan].families[family.index()].health.set_standby(now, standby, &self.config.wans[wan]);
                self.rearm_round(wan, family);
            }
            self.routed[family.index()] |= !stopping;
            if !stopping {
                plan::plan(&self.config, family, &links, &next, &self.devices, &mut self.desired);
            }
        }
        self.reconcile();
        for family in Family::ALL {
            for wan in left[family.index()].iter() {
                self.flush_moved_from(wan, family);
            }
        }
    }

    /// Queues the kernel changes that bring what is installed to what is desired (first,
    /// removing what a reload retired), as many as the action queue has room for; the
    /// rest follow once it has drained ([`Daemon::poll_action`]).
    pub(super) fn reconcile(&mut self) {
        let per_op = if LogLevel::Debug <= self.config.globals.log_level { 2 } else { 1 };
        let room = ACTIONS_MAX.saturating_sub(self.outbox.len() + QUEUE_RESERVE) / per_op;
        let mut ops: heapless::Vec<Op, OPS_BATCH> = heapless::Vec::new();
        let mut more = false;
        let limit = room.min(OPS_BATCH);
        let mut take = |ops: &mut heapless::Vec<Op, OPS_BATCH>, op: Op| {
            if ops.len() < limit {
                let _ = ops.push(op);
            } else {
                more = true;
            }
        };
        if let Some(retiring) = &self.retiring {
            reconcile::remove_all(retiring, &mut |op| take(&mut ops, op));
        }
        let retired = ops.len();
        reconcile::diff(&self.desired, &self.installed, &mut |op| take(&mut ops, op));
        let mut full = false;
        for (i, op) in ops.into_iter().enumerate() {
            // Retired entries are no longer visible as ours: forget them as they go.
            match (&mut self.retiring, i < retired) {
                (Some(retiring), true) => {
                    retiring.handle_op(&op);
                }
                _ => full |= !self.installed.handle_op(&op),
            }
            self.log(LogLevel::Debug, format_args!("{op}"));
            self.push(Action::Apply(op));
        }
        if full {
            // Only stale entries of ours (a crashed run's, another config's) beyond what
            // the plan can want fill the mirror: remove what is not wanted first, and
            // add the rest once there is room (the next update).
            self.log(LogLevel::Warning, format_args!("more entries of ours in the kernel than expected"));
            let mut deletes: heapless::Vec<Op, OPS_BATCH> = heapless::Vec::new();
            reconcile::diff(&self.desired, &self.installed, &mut |op| {
                if matches!(op, Op::DelRule(_) | Op::DelRoute(_) | Op::DelNexthop(_)) {
                    let _ = deletes.push(op);
                }
            });
            for op in deletes {
                self.installed.handle_op(&op);
                self.push(Action::Apply(op));
            }
            more = false;
        }
        if self.retiring.as_ref().is_some_and(|r| r.is_empty()) {
            self.retiring = None;
        }
        self.reconcile_pending = more;
    }

    /// `family`'s traffic left WAN `wan`: ask for its NAT'd connections of that family to
    /// be flushed if its `flush_conntrack` says so.
    fn flush_moved_from(&mut self, wan: usize, family: Family) {
        let (Some(config), Some(w)) = (self.config.wans.get(wan), self.wans.get(wan)) else { return };
        let f = &w.families[family.index()];
        let wanted = match config.flush_conntrack {
            FlushConntrack::None => false,
            FlushConntrack::OnDown => !f.health.is_up(),
            FlushConntrack::OnSwitch => true,
        };
        match (wanted, f.nat_addr) {
            (true, Some(addr)) => self.push(Action::FlushConntrack { wan, addr }),
            (true, None) => {
                let name = config.name.clone();
                self.log(LogLevel::Debug, format_args!("{name}: no {family} address known, no connections to flush"));
            }
            (false, _) => {}
        }
    }
}
