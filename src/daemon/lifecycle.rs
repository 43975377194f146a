//! A reload (SIGHUP with a valid new config) and a shutdown (SIGTERM). A reload keeps the
//! health, link, sockets and timers of each interface that probes the same link the same
//! way, and retires our entries under ranges it gave up; a shutdown removes everything of
//! ours.

use super::{Daemon, WanRuntime, ALL_DUMPS};
use crate::action::Action;
use crate::config::{Config, LogLevel, WanSet, MAX_WANS};
use crate::plan::Carriers;
use crate::reconcile::Installed;
use crate::route::Family;
use crate::time::Instant;
use crate::timers::Timer;

impl Daemon {
    /// SIGHUP with a valid new config. Interfaces that probe the same link the same way keep
    /// their health, link, sockets and timers (a LuCI save that changes a timer must not
    /// drop traffic); new ones, and ones whose device, gateway or targets changed, start
    /// afresh.
    pub fn reload(&mut self, now: Instant, config: Config) {
        self.end_on_demand("configuration reloaded");
        let old_own = self.ownership();
        let mut keep = [false; MAX_WANS];
        for (wan, w) in config.wans.iter().enumerate() {
            keep[wan] = self.config.wans.get(wan).is_some_and(|old| old.same_probing(w));
        }
        let mut wans: heapless::Vec<WanRuntime, MAX_WANS> = heapless::Vec::new();
        for (wan, w) in config.wans.iter().enumerate() {
            let runtime = if keep[wan] {
                // A device still missing is named again after the reload.
                WanRuntime { device_checked: false, ..self.wans[wan].clone() }
            } else {
                self.close_sockets(wan);
                WanRuntime::new(now, w)
            };
            let _ = wans.push(runtime);
        }
        for wan in config.wans.len()..self.wans.len() {
            self.close_sockets(wan);
        }
        self.links.reload(config.wans.len(), |wan| keep[wan]);
        self.timers.reload(|wan| keep.get(wan) == Some(&true));
        let g = &config.globals;
        let ranges_changed = g.rule_range() != old_own.rules
            || g.table_range() != old_own.tables
            || g.nexthop_range() != old_own.nexthops;
        if ranges_changed {
            // Entries under the old ranges would become invisible: remove them first.
            let mut retiring = Box::new(Installed::default());
            core::mem::swap(&mut *retiring, &mut self.installed);
            self.retiring = Some(retiring);
            self.reconcile_pending = true;
        }
        self.config = config;
        self.wans = wans;
        // Rules may have changed: they are announced afresh (without a previous), and
        // netifd is asked again for their devices.
        self.routed = [false; 2];
        self.devices = [None; crate::config::MAX_POLICIES];
        for (family, carriers) in Family::ALL.into_iter().zip(self.carriers.iter_mut()) {
            // Rules and their sets may have changed: only the catch-all's choice is kept.
            let up = |a: usize| a < self.wans.len() && self.wans[a].families[family.index()].health.is_up();
            let mut global = WanSet::EMPTY;
            carriers.global.iter().filter(|&a| up(a)).for_each(|a| global.insert(a));
            *carriers = Carriers { global, ..Carriers::default() };
        }
        self.log(LogLevel::Info, format_args!("configuration reloaded"));
        // Links, addresses and routes must be known again for the new WANs.
        self.resync(&ALL_DUMPS);
        self.listen_netifd();
        self.ask_netifd();
        self.update(now);
    }

    /// Closes WAN `wan`'s open probe sockets (the WAN's runtime is about to go).
    fn close_sockets(&mut self, wan: usize) {
        for family in Family::ALL {
            if self.wans.get_mut(wan).is_some_and(|w| w.families[family.index()].socket.take().is_some()) {
                self.push(Action::CloseProbe { wan, family });
            }
        }
    }

    /// SIGTERM: remove everything of ours. Poll actions until [`Daemon::is_stopped`].
    pub fn shutdown(&mut self, now: Instant) {
        self.phase.stop();
        self.end_on_demand("stopping");
        for wan in 0..self.wans.len() {
            self.close_sockets(wan);
            // Traffic goes nowhere any more: no recovery wait to wake for.
            for family in Family::ALL {
                self.timers.set(Timer::Recovery { wan, family }, None);
            }
        }
        self.mark_dirty();
        self.update(now);
    }
}
