//! The kernel's side of the core: dumps asked for and re-read, links, addresses and routes
//! handed to [`Links`](crate::links::Links), rule, route and nexthop events kept in the
//! mirror of our entries, and the results of what was written (kernel ops, conntrack
//! flushes). Nothing is written before the first full dump: see [`crate::phase`].

use super::{ipv6_word, Daemon, ALL_DUMPS, RETRY_AFTER};
use crate::action::Action;
use crate::config::{Gateway, LogLevel};
use crate::kernel::{DumpKind, KernelEvent};
use crate::route::{Family, NexthopKind, Op};
use crate::time::Instant;
use crate::timers::Timer;
use core::net::IpAddr;

impl Daemon {
    /// Asks for the dumps of `kinds` that are not outstanding already. Until they are done
    /// nothing is written to the kernel.
    pub(super) fn request_dumps(&mut self, kinds: &[DumpKind]) {
        for &kind in kinds {
            if self.phase.sync_mut().await_dump(kind) {
                self.push(Action::Dump(kind));
            }
        }
    }

    /// Forgets what the given dumps will report again, and asks for them.
    pub(super) fn resync(&mut self, kinds: &[DumpKind]) {
        for &kind in kinds {
            self.links.forget(kind);
            match kind {
                DumpKind::Routes => self.installed.clear_routes(),
                DumpKind::Rules => self.installed.clear_rules(),
                DumpKind::Nexthops => self.installed.clear_nexthops(),
                DumpKind::Links | DumpKind::Addrs => {}
            }
        }
        self.request_dumps(kinds);
    }

    /// A netlink notification or dump entry.
    pub fn handle_kernel(&mut self, now: Instant, event: &KernelEvent) {
        match event {
            KernelEvent::Link(..) | KernelEvent::Addr(..) | KernelEvent::Route(..) => {
                let seen = self.links.handle_kernel(&self.config, event);
                if seen.changed {
                    self.mark_dirty();
                }
                if let Some((wan, family, gw)) = seen.kept {
                    self.log_kept_gateway(wan, family, gw);
                }
                if seen.routes_gone && self.phase.sync().is_synced() {
                    self.resync(&[DumpKind::Routes]);
                }
                // Our nexthops on a device that went down are gone, maybe with groups and
                // their routes; the kernel says nothing of it.
                let ours_on = |oif: u32| {
                    self.installed
                        .nexthops()
                        .iter()
                        .any(|n| matches!(n.kind, NexthopKind::Via { oif: o, .. } if o == oif))
                };
                if seen.nexthops_gone.is_some_and(ours_on) && self.phase.sync().is_synced() {
                    self.resync(&[DumpKind::Nexthops, DumpKind::Routes]);
                }
                if matches!(event, KernelEvent::Route(..)) {
                    self.mirror(event);
                }
            }
            KernelEvent::Rule(..) | KernelEvent::Nexthop(..) => self.mirror(event),
            KernelEvent::Overrun => {
                self.log(LogLevel::Warning, format_args!("netlink notifications lost, re-reading kernel state"));
                self.resync(&ALL_DUMPS);
            }
            KernelEvent::DumpDone(kind) => {
                if let Some(first) = self.phase.sync_mut().dump_done(*kind) {
                    // The first read is worth a line; the periodic re-reads are not.
                    let level = if first { LogLevel::Info } else { LogLevel::Debug };
                    self.log(level, format_args!("kernel state read, {} WANs configured", self.wans.len()));
                }
                self.mark_dirty();
            }
        }
        self.update(now);
    }

    /// The main table's last default route via WAN `wan`'s device vanished and its gateway
    /// `gw` is kept: say so once, if that gateway is the one the WAN uses.
    fn log_kept_gateway(&mut self, wan: usize, family: Family, gw: IpAddr) {
        let auto = |w: &&crate::config::Wan| w.enabled && w.tracks(family) && w.gateway_of(family) == Gateway::Auto;
        let Some(w) = self.config.wans.get(wan).filter(auto) else { return };
        if self.links.view(&self.config, wan, family).gateway != Some(gw) {
            return;
        }
        let (name, ipv6) = (w.name.clone(), ipv6_word(family));
        let args =
            format_args!("{name}: {ipv6}main-table default route via {gw} vanished; keeping it (address unchanged)");
        self.log(LogLevel::Notice, args);
    }

    /// A rule or route event for the mirror of our entries.
    fn mirror(&mut self, event: &KernelEvent) {
        let own = self.ownership();
        if self.installed.handle_event(event, &own) {
            self.mark_dirty();
        }
    }

    /// A dump could not be read: try everything again a little later.
    pub fn handle_dump_error(&mut self, now: Instant, kind: DumpKind, error: &dyn core::fmt::Display) {
        self.log(LogLevel::Warning, format_args!("reading kernel state ({kind}): {error}"));
        self.phase.sync_mut().give_up_dump(kind);
        self.timers.set_earlier(Timer::Retry, now + RETRY_AFTER);
    }

    /// The result of an [`Action::Apply`]: `Err(text)` when the kernel refused it.
    pub fn handle_op_result(&mut self, now: Instant, op: &Op, result: Result<(), &dyn core::fmt::Display>) {
        if let Err(e) = result {
            self.log(LogLevel::Warning, format_args!("{op}: {e}; re-reading kernel state"));
            // Our mirror assumed success: re-read soon, not at once, so a persistent error
            // cannot spin the loop.
            self.timers.set_earlier(Timer::Retry, now + RETRY_AFTER);
        }
    }

    /// The result of an [`Action::FlushConntrack`] for WAN `wan`: how many entries NAT'd to
    /// `addr` the kernel deleted, or why it could not.
    pub fn handle_flush_result(
        &mut self,
        _now: Instant,
        wan: usize,
        addr: IpAddr,
        result: Result<u32, &dyn core::fmt::Display>,
    ) {
        let Some(name) = self.config.wans.get(wan).map(|w| w.name.clone()) else { return };
        match result {
            Ok(n) => {
                self.wans[wan].flushed += u64::from(n);
                let level = if n > 0 { LogLevel::Notice } else { LogLevel::Info };
                let s = if n == 1 { "" } else { "s" };
                self.log(level, format_args!("{name}: flushed {n} connection{s} NAT'd to {addr}"));
            }
            Err(e) => self.log(LogLevel::Warning, format_args!("{name}: flushing connections NAT'd to {addr}: {e}")),
        }
    }
}
