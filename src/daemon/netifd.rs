//! WANs that follow a netifd interface (`option network`) and rules whose `src_iface`
//! names one: netifd is asked at start, after every ubus (re)registration, on its events
//! and with the resync; its answers give the device, address, gateway and `up` of each.

use super::{Daemon, OrNone};
use crate::action::Action;
use crate::config::{LogLevel, MAX_WANS};
use crate::kernel::DumpKind;
use crate::links::NetifdChange;
use crate::netifd::NetifdStatus;
use crate::route::DevName;
use crate::time::Instant;

impl Daemon {
    /// Queues an [`Action::AskNetifd`] for every enabled WAN that follows `only` (or any
    /// netifd interface).
    fn ask_netifd_for(&mut self, only: Option<&str>) {
        for wan in 0..self.config.wans.len() {
            let Some(network) = self.config.wans[wan].network().filter(|_| self.config.wans[wan].enabled) else {
                continue;
            };
            if only.is_some_and(|n| n != network.as_str()) {
                continue;
            }
            let network = network.clone();
            self.push(Action::AskNetifd { wan, network });
        }
        for k in 0..self.config.policies.len() {
            let Some(name) = self.config.policies[k].src_netifd() else { continue };
            if only.is_some_and(|n| n != name) {
                continue;
            }
            let network = crate::config::truncated(name);
            self.push(Action::AskNetifd { wan: MAX_WANS, network });
        }
    }

    pub(super) fn ask_netifd(&mut self) {
        self.ask_netifd_for(None);
    }

    /// Some WAN follows a netifd interface: its events are worth hearing.
    pub(super) fn listen_netifd(&mut self) {
        let rules = self.config.policies.iter().any(|p| p.src_netifd().is_some());
        if rules || self.config.wans.iter().any(|w| w.network().is_some()) {
            self.push(Action::ListenNetifd);
        }
    }

    /// The ubus connection is (again) registered: netifd may have changed meanwhile.
    pub fn handle_ubus_ready(&mut self, _now: Instant) {
        self.ask_netifd();
    }

    /// netifd sent a `network.interface` event about `interface` (`ifup`, `ifdown`).
    pub fn handle_netifd_event(&mut self, _now: Instant, interface: &str) {
        self.ask_netifd_for(Some(interface));
    }

    /// netifd's answer to an [`Action::AskNetifd`] about interface `network`: for the WAN
    /// that follows it now (a reload may have changed which, or made it none).
    pub fn handle_netifd_answer(&mut self, now: Instant, network: &str, status: NetifdStatus) {
        let device = status.l3_device.as_ref().and_then(|d| DevName::new(d));
        if let Some(wan) = self.config.wans.iter().position(|w| w.network().is_some_and(|n| n == network)) {
            self.handle_netifd(now, wan, status);
        }
        // A rule's src_iface that netifd knows is its device; one it does not know (or
        // not yet) is taken as a device name itself.
        for k in 0..self.config.policies.len() {
            if self.config.policies[k].src_netifd() != Some(network) || device.is_none() || self.devices[k] == device {
                continue;
            }
            self.devices[k] = device;
            let (rule, dev) = (self.config.policies[k].name.clone(), OrNone(device));
            self.log(LogLevel::Info, format_args!("rule {rule}: src_iface {network} is device {dev} (netifd)"));
            self.mark_dirty();
            self.update(now);
        }
    }

    /// netifd's status of WAN `wan`'s interface (an interface netifd does not have counts
    /// as down).
    fn handle_netifd(&mut self, now: Instant, wan: usize, status: NetifdStatus) {
        if self.config.wans.get(wan).is_none_or(|w| w.network().is_none()) {
            return;
        }
        match self.links.handle_netifd(wan, status) {
            NetifdChange::Same => return,
            NetifdChange::Device if self.phase.sync().is_synced() => {
                self.resync(&[DumpKind::Links, DumpKind::Addrs, DumpKind::Routes]);
            }
            NetifdChange::Device | NetifdChange::Status => {}
        }
        if let Some(s) = self.links.netifd(wan).cloned() {
            let name = self.config.wans[wan].name.clone();
            if s.up {
                let (device, address, gateway) = (OrNone(s.l3_device), OrNone(s.address), OrNone(s.gateway));
                let args = format_args!("{name}: netifd: up, device {device}, address {address}, gateway {gateway}");
                self.log(LogLevel::Info, args);
            } else {
                self.log(LogLevel::Info, format_args!("{name}: netifd: down"));
            }
        }
        self.mark_dirty();
        self.update(now);
    }
}
