//! What the core knows of each WAN's link: its device (index, admin state, carrier), the
//! device's addresses and the main table's default routes through it, as the kernel reports
//! them, and, for a WAN with `option network`, netifd's last answer.
//!
//! From these it derives, per family, the [`LinkView`] that the planner uses ([`Links::view`])
//! and where probes leave from, or why they cannot ([`Links::probe_source`]).
//!
//! Contract: kept current from dumps and notifications ([`Links::handle_kernel`]) and from
//! netifd's answers ([`Links::handle_netifd`]); before a re-read, [`Links::forget`] drops what
//! the dump will report again. Link facts (device, carrier) are shared by both families, so a
//! pulled cable takes both down at once; addresses and default routes are per family. A
//! WAN with `option network` is matched by netifd's `l3_device`, and netifd's IPv4 address
//! and gateway are preferred over the kernel's (IPv6 always comes from the kernel: on
//! OpenWrt it usually belongs to a second interface such as `wan6`). Pure and
//! fixed-capacity: no I/O, no allocation.
//!
//! A vanished main-table default route is not a dead line: when the last default route via
//! a WAN's device disappears from main while the device and the address probes leave from
//! stay, the gateway it named is kept ([`Seen::kept`] reports it once) and the WAN goes on
//! being probed and routed through dualwan's own tables; its health decides. The kept
//! gateway holds while the device (same ifindex) and that address do: a new address, or
//! a default route learned again, replaces it. Losing the address or the device is a
//! failover at once, as always.

use crate::config::{Config, Gateway, Source, MAX_WANS};
use crate::health::Reason;
use crate::kernel::{Change, DumpKind, IfName, KernelEvent};
use crate::netifd::NetifdStatus;
use crate::plan::LinkView;
use crate::route::{Family, Route, RouteType, TABLE_MAIN};
use core::net::IpAddr;

/// Addresses remembered per WAN device and family (IPv6 devices often hold several: a
/// DHCPv6 one, SLAAC ones, deprecated ones of an old prefix).
pub const ADDRS_MAX: usize = 6;
/// Default routes in main remembered per WAN device and family (the lowest metric is used).
pub const DEFAULTS_MAX: usize = 4;

/// One address of a WAN device as the core keeps it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct KnownAddr {
    addr: IpAddr,
    /// Not deprecated: chosen over deprecated ones.
    preferred: bool,
}

/// A gateway whose main-table default route vanished while the link stayed as it was.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct KeptGateway {
    gateway: IpAddr,
    /// The device it was learned on.
    ifindex: u32,
    /// The address probes left from when the route vanished: it holds while this does.
    addr: IpAddr,
}

/// What the kernel reported of one family on one WAN's device.
#[derive(Clone, Debug, Default)]
struct FamilyLink {
    /// Addresses of the family that probes may leave from (IPv6: global, past DAD).
    addrs: heapless::Vec<KnownAddr, ADDRS_MAX>,
    /// (gateway, metric) of the main table's default routes through the device.
    main_defaults: heapless::Vec<(IpAddr, u32), DEFAULTS_MAX>,
    /// The gateway of the last main default that vanished, while it holds. Survives a
    /// re-read (the dump reports neither the route nor its absence).
    kept: Option<KeptGateway>,
}

impl FamilyLink {
    /// Forgets what a re-read reports again (the kept gateway stays: no dump brings it).
    fn forget(&mut self) {
        self.addrs.clear();
        self.main_defaults.clear();
    }

    /// The address probes leave from: netifd's once the kernel holds it, else a preferred
    /// one, else any.
    fn source(&self, netifd_addr: Option<IpAddr>) -> Option<IpAddr> {
        let held = |a: IpAddr| self.addrs.iter().any(|k| k.addr == a);
        netifd_addr
            .filter(|a| held(*a))
            .or_else(|| self.addrs.iter().find(|k| k.preferred).map(|k| k.addr))
            .or(self.addrs.first().map(|k| k.addr))
    }

    /// The main table's gateway: the lowest-metric default, else the kept one while the
    /// device and the address are those it was kept with.
    fn main_gateway(&self, ifindex: Option<u32>, netifd_addr: Option<IpAddr>) -> Option<IpAddr> {
        let lowest = self.main_defaults.iter().min_by_key(|(_, metric)| *metric).map(|(gw, _)| *gw);
        let kept = self.kept.filter(|k| Some(k.ifindex) == ifindex && Some(k.addr) == self.source(netifd_addr));
        lowest.or(kept.map(|k| k.gateway))
    }
}

/// What is known of one WAN's link.
#[derive(Clone, Debug, Default)]
struct WanLink {
    ifindex: Option<u32>,
    admin_up: bool,
    lower_up: bool,
    /// By [`Family::index`].
    families: [FamilyLink; 2],
    /// netifd's last answer, for a WAN with `option network` (`None` before the first).
    netifd: Option<NetifdStatus>,
    /// The last `l3_device` netifd named, kept while it names none (for status and hotplug).
    last_device: IfName,
}

impl WanLink {
    /// Forgets the device and everything on it, for a re-read that reports it again.
    fn forget_device(&mut self) {
        self.ifindex = None;
        self.admin_up = false;
        self.lower_up = false;
        self.families.iter_mut().for_each(FamilyLink::forget);
    }

    /// The device is gone, or another one takes its place: nothing of it is kept.
    fn lose_device(&mut self) {
        self.forget_device();
        self.families.iter_mut().for_each(|f| f.kept = None);
    }

    /// netifd's IPv4 address while it reports the interface up.
    fn netifd_addr(&self, family: Family) -> Option<IpAddr> {
        let netifd = self.netifd.as_ref().filter(|n| n.up && family == Family::V4)?;
        netifd.address.map(IpAddr::V4)
    }
}

/// What a kernel event changed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Some WAN's link facts changed: the core must bring things in line.
    pub changed: bool,
    /// The kernel removed routes without saying so (a device or address went away): the
    /// routes must be read again.
    pub routes_gone: bool,
    /// The last main-table default route of WAN `.0`'s `.1` family vanished while its
    /// device and address stayed: gateway `.2` is kept (worth one log line).
    pub kept: Option<(usize, Family, IpAddr)>,
    /// The kernel removed the nexthop objects of a WAN device without saying so (it went
    /// down, lost carrier or went away), and with them maybe groups and their routes: the
    /// nexthops of the device `ifindex` (and routes) must be read again if any are ours.
    pub nexthops_gone: Option<u32>,
}

/// What a netifd answer changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NetifdChange {
    /// The same answer as before.
    Same,
    /// Another answer, same device.
    Status,
    /// Another device (PPP reconnected, an LTE `_4` sub-interface): what was known of the
    /// old one is forgotten; links, addresses and routes must be read again to find the
    /// new one's.
    Device,
}

/// The links of all WANs, by WAN index (that of `config.wans`).
#[derive(Clone, Debug, Default)]
pub struct Links {
    wans: heapless::Vec<WanLink, MAX_WANS>,
}

impl Links {
    /// Nothing known yet of `wans` WANs.
    pub fn new(wans: usize) -> Links {
        let mut links = Links::default();
        links.wans.extend((0..wans.min(MAX_WANS)).map(|_| WanLink::default()));
        links
    }

    /// For a new config of `wans` WANs: WAN `i` keeps what is known of it if `keep(i)`,
    /// otherwise starts knowing nothing.
    pub fn reload(&mut self, wans: usize, keep: impl Fn(usize) -> bool) {
        let old = core::mem::take(&mut self.wans);
        for i in 0..wans.min(MAX_WANS) {
            let link = old.get(i).filter(|_| keep(i)).cloned().unwrap_or_default();
            let _ = self.wans.push(link); // within MAX_WANS
        }
    }

    /// WAN `wan`'s device: the configured one, or netifd's `l3_device` for `option network`.
    pub fn device_name<'a>(&'a self, config: &'a Config, wan: usize) -> Option<&'a IfName> {
        match &config.wans.get(wan)?.source {
            Source::Device(d) => Some(d),
            Source::Network(_) => self.wans.get(wan)?.netifd.as_ref()?.l3_device.as_ref(),
        }
    }

    /// [`Links::device_name`], or for `option network` the last device netifd named while
    /// the interface is down (empty before netifd named any).
    pub fn device<'a>(&'a self, config: &'a Config, wan: usize) -> &'a str {
        self.device_name(config, wan).or(self.wans.get(wan).map(|w| &w.last_device)).map_or("", IfName::as_str)
    }

    /// netifd's last answer about WAN `wan`'s interface, if it follows one.
    pub fn netifd(&self, wan: usize) -> Option<&NetifdStatus> {
        self.wans.get(wan)?.netifd.as_ref()
    }

    /// True while WAN `wan` follows a netifd interface that has not answered yet: nothing is
    /// known of its device, so no verdict either.
    pub fn awaits_netifd(&self, config: &Config, wan: usize) -> bool {
        config.wans.get(wan).is_some_and(|w| w.network().is_some()) && self.netifd(wan).is_none()
    }

    /// netifd's answer about WAN `wan`'s interface (the caller checks that it follows one).
    pub fn handle_netifd(&mut self, wan: usize, status: NetifdStatus) -> NetifdChange {
        let Some(w) = self.wans.get_mut(wan) else { return NetifdChange::Same };
        if let Some(device) = &status.l3_device {
            w.last_device = device.clone();
        }
        let old = w.netifd.replace(status);
        let new = w.netifd.as_ref();
        if old.as_ref() == new {
            return NetifdChange::Same;
        }
        if old.as_ref().and_then(|s| s.l3_device.as_ref()) == new.and_then(|s| s.l3_device.as_ref()) {
            return NetifdChange::Status;
        }
        w.lose_device();
        NetifdChange::Device
    }

    /// A link, address or route notification (or dump entry); other events change nothing.
    pub fn handle_kernel(&mut self, config: &Config, event: &KernelEvent) -> Seen {
        match event {
            KernelEvent::Link(change, link) => {
                let mut seen = Seen::default();
                for wan in 0..self.wans.len() {
                    let named = self.device_name(config, wan) == Some(&link.name);
                    let w = &mut self.wans[wan];
                    let same = w.ifindex == Some(link.ifindex);
                    match change {
                        Change::New if named => {
                            if !same {
                                // A new device (USB modem replugged): its addresses are new too.
                                // (A kept gateway stays: it holds for its own ifindex only.)
                                w.families.iter_mut().for_each(FamilyLink::forget);
                            }
                            if same && ((w.lower_up && !link.lower_up) || (w.admin_up && !link.up)) {
                                seen.nexthops_gone = Some(link.ifindex);
                            }
                            w.ifindex = Some(link.ifindex);
                            w.admin_up = link.up;
                            w.lower_up = link.lower_up;
                        }
                        // Renamed away from our device name, or deleted (with its routes,
                        // which the kernel removes without notifying).
                        Change::New | Change::Del if same => {
                            seen.routes_gone = true;
                            seen.nexthops_gone = Some(link.ifindex);
                            w.lose_device();
                        }
                        _ => continue,
                    }
                    seen.changed = true;
                }
                seen
            }
            KernelEvent::Addr(change, addr) => {
                let mut seen = Seen::default();
                let family = addr.family();
                let usable = family == Family::V4 || addr.usable_source();
                let known = KnownAddr { addr: addr.addr, preferred: family == Family::V4 || addr.preferred() };
                for w in self.wans.iter_mut().filter(|w| w.ifindex == Some(addr.ifindex)) {
                    let addrs = &mut w.families[family.index()].addrs;
                    let pos = addrs.iter().position(|k| k.addr == addr.addr);
                    match (change, pos) {
                        // Extra addresses beyond the capacity are not needed.
                        (Change::New, None) if usable => {
                            let _ = addrs.push(known);
                        }
                        // DAD finished, the address became deprecated, or failed DAD.
                        (Change::New, Some(i)) if usable && addrs[i] != known => addrs[i] = known,
                        (Change::New, Some(i)) if !usable => {
                            addrs.remove(i);
                        }
                        // Removing an address silently removes the routes through it; a
                        // gateway kept with it no longer holds.
                        (Change::Del, Some(i)) => {
                            addrs.remove(i);
                            let kept = &mut w.families[family.index()].kept;
                            if kept.is_some_and(|k| k.addr == addr.addr) {
                                *kept = None;
                            }
                            seen.routes_gone = true;
                        }
                        _ => continue,
                    }
                    seen.changed = true;
                }
                seen
            }
            KernelEvent::Route(change, route) if route.table == TABLE_MAIN && route.dst.is_default() => {
                let (changed, kept) = self.main_default(*change, route);
                Seen { changed, kept, ..Seen::default() }
            }
            _ => Seen::default(),
        }
    }

    /// A default route of the main table changed: the gateways `gateway auto` learns.
    /// Returns whether a WAN's gateways changed, and a gateway kept because the last
    /// default via a WAN's device vanished.
    fn main_default(&mut self, change: Change, route: &Route) -> (bool, Option<(usize, Family, IpAddr)>) {
        let family = route.family();
        let mut changed = false;
        let mut kept = None;
        // What each WAN's main gateway is before the event, to notice one vanishing.
        let before: heapless::Vec<Option<IpAddr>, MAX_WANS> = self
            .wans
            .iter()
            .map(|w| w.families[family.index()].main_defaults.iter().min_by_key(|(_, m)| *m).map(|(gw, _)| *gw))
            .collect();
        if change == Change::Replace {
            // The route that held this slot (any device, any gateway) is gone: the kernel
            // reports only the new one. Without this a renumbered gateway would be kept
            // next to its successor, and the older one might be used.
            for w in self.wans.iter_mut() {
                let defaults = &mut w.families[family.index()].main_defaults;
                let before = defaults.len();
                defaults.retain(|(_, m)| *m != route.metric);
                changed |= defaults.len() != before;
            }
        }
        if let Some(gw) = route.gateway.filter(|_| route.kind == RouteType::Unicast) {
            for w in self.wans.iter_mut().filter(|w| w.ifindex == Some(route.oif)) {
                let f = &mut w.families[family.index()];
                let pos = f.main_defaults.iter().position(|(g, m)| *g == gw && *m == route.metric);
                match (change, pos) {
                    (Change::New | Change::Replace, None) => {
                        let _ = f.main_defaults.push((gw, route.metric));
                        // A route learned again replaces whatever was kept.
                        f.kept = None;
                    }
                    (Change::Del, Some(i)) => {
                        f.main_defaults.remove(i);
                    }
                    _ => continue,
                }
                changed = true;
            }
        }
        for (i, w) in self.wans.iter_mut().enumerate() {
            let netifd_addr = w.netifd_addr(family);
            let (Some(ifindex), Some(gone)) = (w.ifindex, before.get(i).copied().flatten()) else { continue };
            let f = &mut w.families[family.index()];
            if !f.main_defaults.is_empty() {
                continue;
            }
            // The last one vanished; keep its gateway while device and address stay.
            if let Some(addr) = f.source(netifd_addr) {
                f.kept = Some(KeptGateway { gateway: gone, ifindex, addr });
                kept = Some((i, family, gone));
            }
        }
        (changed, kept)
    }

    /// Forgets what a dump of `kind` will report again.
    pub fn forget(&mut self, kind: DumpKind) {
        let families = self.wans.iter_mut().flat_map(|w| w.families.iter_mut());
        match kind {
            DumpKind::Links => self.wans.iter_mut().for_each(WanLink::forget_device),
            DumpKind::Addrs => families.for_each(|f| f.addrs.clear()),
            DumpKind::Routes => families.for_each(|f| f.main_defaults.clear()),
            DumpKind::Rules | DumpKind::Nexthops => {}
        }
    }

    /// What is known of WAN `wan`'s link for `family`.
    pub fn view(&self, config: &Config, wan: usize, family: Family) -> LinkView {
        let (Some(w), Some(wan_config)) = (self.wans.get(wan), config.wans.get(wan)) else {
            return LinkView::default();
        };
        let f = &w.families[family.index()];
        let netifd = w.netifd.as_ref().filter(|n| n.up && family == Family::V4);
        let netifd_addr = w.netifd_addr(family);
        let gateway = match wan_config.gateway_of(family) {
            Gateway::Fixed(ip) => Some(ip),
            Gateway::Auto => {
                netifd.and_then(|n| n.gateway).map(IpAddr::V4).or_else(|| f.main_gateway(w.ifindex, netifd_addr))
            }
        };
        // netifd's address, once the kernel has it on the device (a probe socket cannot
        // bind an address the device does not hold yet); else a preferred one.
        LinkView { ifindex: w.ifindex, addr: f.source(netifd_addr), gateway }
    }

    /// Where WAN `wan`'s `family` probes leave from, (device index, source address), or
    /// why they cannot be sent.
    pub fn probe_source(&self, config: &Config, wan: usize, family: Family) -> Result<(u32, IpAddr), Reason> {
        let w = self.wans.get(wan).ok_or(Reason::DeviceMissing)?;
        if w.netifd.as_ref().is_some_and(|n| !n.up) {
            return Err(Reason::InterfaceDown);
        }
        let ifindex = w.ifindex.ok_or(Reason::DeviceMissing)?;
        if !w.admin_up {
            return Err(Reason::LinkDown);
        }
        if !w.lower_up {
            return Err(Reason::CarrierLost);
        }
        let view = self.view(config, wan, family);
        let addr = view.addr.ok_or(Reason::AddressRemoved)?;
        view.gateway.ok_or(Reason::NoGateway)?;
        Ok((ifindex, addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::kernel::{Addr, Link};
    use crate::route::Prefix;

    fn config() -> Config {
        let text = "config interface 'wan'\n option device 'wan1'\n list track_ip 203.0.113.1\n\
                    list track_ip 2001:db8:ff::1\n";
        load_str(text).0.expect("valid")
    }

    fn link(ifindex: u32, lower_up: bool) -> KernelEvent {
        KernelEvent::Link(Change::New, Link { ifindex, name: "wan1".try_into().unwrap(), up: true, lower_up })
    }

    /// A global address (scope 0) on the device; `flags` as `IFA_FLAGS`.
    fn addr(text: &str, flags: u32) -> Addr {
        Addr { ifindex: 2, addr: text.parse().unwrap(), prefix_len: 64, scope: 0, flags }
    }

    fn default_via(gw: &str, metric: u32) -> Route {
        Route {
            table: TABLE_MAIN,
            dst: Prefix::default_of(Family::of(&gw.parse().unwrap())),
            kind: RouteType::Unicast,
            gateway: gw.parse().ok(),
            nhid: None,
            oif: 2,
            metric,
            protocol: 16,
        }
    }

    #[test]
    fn a_link_is_usable_once_device_carrier_address_and_gateway_are_known() {
        let c = config();
        let mut links = Links::new(1);
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::DeviceMissing));
        assert!(links.handle_kernel(&c, &link(2, false)).changed);
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::CarrierLost));
        links.handle_kernel(&c, &link(2, true));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::AddressRemoved));
        links.handle_kernel(&c, &KernelEvent::Addr(Change::New, addr("192.0.2.2", 0)));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::NoGateway));
        links.handle_kernel(&c, &KernelEvent::Route(Change::New, default_via("192.0.2.1", 10)));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Ok((2, "192.0.2.2".parse().unwrap())));
        let view = links.view(&c, 0, Family::V4);
        assert_eq!(
            (view.ifindex, view.addr, view.gateway),
            (Some(2), "192.0.2.2".parse().ok(), "192.0.2.1".parse().ok())
        );
        assert_eq!(links.probe_source(&c, 0, Family::V6), Err(Reason::AddressRemoved), "families apart");
        // The device goes away with its routes, which the kernel does not report.
        let gone = KernelEvent::Link(
            Change::Del,
            Link { ifindex: 2, name: "wan1".try_into().unwrap(), up: false, lower_up: false },
        );
        let seen = Seen { changed: true, routes_gone: true, nexthops_gone: Some(2), kept: None };
        assert_eq!(links.handle_kernel(&c, &gone), seen);
        assert_eq!(links.view(&c, 0, Family::V4), LinkView::default());
    }

    #[test]
    fn ipv6_prefers_a_stable_global_address_and_the_lowest_metric_gateway() {
        let c = config();
        let mut links = Links::new(1);
        links.handle_kernel(&c, &link(2, true));
        let deprecated = addr("2001:db8:1::5", crate::kernel::IFA_F_DEPRECATED);
        let link_local = Addr { scope: 253, ..addr("fe80::2", 0x80) };
        for a in [deprecated, link_local, addr("2001:db8:1::2", 0x80)] {
            links.handle_kernel(&c, &KernelEvent::Addr(Change::New, a));
        }
        links.handle_kernel(&c, &KernelEvent::Route(Change::New, default_via("fe80::1", 1025)));
        links.handle_kernel(&c, &KernelEvent::Route(Change::New, default_via("fe80::9", 1024)));
        let view = links.view(&c, 0, Family::V6);
        assert_eq!((view.addr, view.gateway), ("2001:db8:1::2".parse().ok(), "fe80::9".parse().ok()));
        // A replaced route drops the one it replaced (same metric), whatever its gateway.
        links.handle_kernel(&c, &KernelEvent::Route(Change::Replace, default_via("fe80::7", 1024)));
        assert_eq!(links.view(&c, 0, Family::V6).gateway, "fe80::7".parse().ok());
        links.forget(DumpKind::Routes);
        assert_eq!(links.probe_source(&c, 0, Family::V6), Err(Reason::NoGateway));
    }

    /// The seed's accident: the main table's default route goes (netifd, a DHCP client, a
    /// person) while device, carrier and address stay. Its gateway is kept, once, until a new
    /// address or a new route replaces it; losing the address is still the end of it.
    #[test]
    fn a_vanished_main_default_keeps_its_gateway_while_device_and_address_stay() {
        let c = config();
        let mut links = Links::new(1);
        links.handle_kernel(&c, &link(2, true));
        links.handle_kernel(&c, &KernelEvent::Addr(Change::New, addr("192.0.2.2", 0)));
        let old = default_via("192.0.2.1", 10);
        links.handle_kernel(&c, &KernelEvent::Route(Change::New, old));
        let seen = links.handle_kernel(&c, &KernelEvent::Route(Change::Del, old));
        assert_eq!(seen.kept, Some((0, Family::V4, "192.0.2.1".parse().unwrap())));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Ok((2, "192.0.2.2".parse().unwrap())));
        assert_eq!(links.view(&c, 0, Family::V4).gateway, "192.0.2.1".parse().ok());
        // A re-read (which reports neither the route nor its absence) keeps it, silently.
        for kind in [DumpKind::Links, DumpKind::Addrs, DumpKind::Routes] {
            links.forget(kind);
        }
        links.handle_kernel(&c, &link(2, true));
        let again = links.handle_kernel(&c, &KernelEvent::Addr(Change::New, addr("192.0.2.2", 0)));
        assert_eq!(again.kept, None);
        assert_eq!(links.view(&c, 0, Family::V4).gateway, "192.0.2.1".parse().ok());
        // A newly learned route replaces it, and its own vanishing keeps the new one.
        let new = default_via("192.0.2.4", 10);
        links.handle_kernel(&c, &KernelEvent::Route(Change::New, new));
        assert_eq!(links.view(&c, 0, Family::V4).gateway, "192.0.2.4".parse().ok());
        links.handle_kernel(&c, &KernelEvent::Route(Change::Del, new));
        assert_eq!(links.view(&c, 0, Family::V4).gateway, "192.0.2.4".parse().ok());
        // A new address: the kept gateway belonged to the old one.
        links.handle_kernel(&c, &KernelEvent::Addr(Change::Del, addr("192.0.2.2", 0)));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::AddressRemoved), "at once");
        links.handle_kernel(&c, &KernelEvent::Addr(Change::New, addr("192.0.2.3", 0)));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::NoGateway));
        // IPv6 alike: a vanished router advertisement's default while the address stays.
        links.handle_kernel(&c, &KernelEvent::Addr(Change::New, addr("2001:db8:1::2", 0x80)));
        let ra = default_via("fe80::1", 1024);
        links.handle_kernel(&c, &KernelEvent::Route(Change::New, ra));
        let seen = links.handle_kernel(&c, &KernelEvent::Route(Change::Del, ra));
        assert_eq!(seen.kept, Some((0, Family::V6, "fe80::1".parse().unwrap())));
        assert_eq!(links.view(&c, 0, Family::V6).gateway, "fe80::1".parse().ok());
        // The device goes: nothing is kept for the one that takes its name.
        let gone = KernelEvent::Link(
            Change::Del,
            Link { ifindex: 2, name: "wan1".try_into().unwrap(), up: false, lower_up: false },
        );
        links.handle_kernel(&c, &gone);
        links.handle_kernel(&c, &link(7, true));
        let back6 = Addr { ifindex: 7, ..addr("2001:db8:1::2", 0x80) };
        links.handle_kernel(&c, &KernelEvent::Addr(Change::New, back6));
        assert_eq!(links.probe_source(&c, 0, Family::V6), Err(Reason::NoGateway));
    }

    #[test]
    fn a_wan_following_netifd_takes_its_device_address_and_gateway_from_the_answer() {
        let text = "config interface 'wan'\n option network 'wan'\n list track_ip 203.0.113.1\n";
        let c = load_str(text).0.expect("valid");
        let mut links = Links::new(1);
        assert!(links.awaits_netifd(&c, 0));
        links.handle_kernel(&c, &link(2, true));
        assert_eq!(links.device(&c, 0), "", "not ours until netifd names it");
        let up = NetifdStatus {
            up: true,
            l3_device: Some("wan1".try_into().unwrap()),
            address: Some([192, 0, 2, 2].into()),
            gateway: Some([192, 0, 2, 1].into()),
        };
        assert_eq!(links.handle_netifd(0, up.clone()), NetifdChange::Device);
        assert_eq!(links.handle_netifd(0, up.clone()), NetifdChange::Same);
        assert!(!links.awaits_netifd(&c, 0));
        links.handle_kernel(&c, &link(2, true));
        // netifd's address counts once the kernel has it on the device.
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::AddressRemoved));
        links.handle_kernel(&c, &KernelEvent::Addr(Change::New, addr("192.0.2.2", 0)));
        assert_eq!(links.probe_source(&c, 0, Family::V4), Ok((2, "192.0.2.2".parse().unwrap())));
        assert_eq!(links.view(&c, 0, Family::V4).gateway, "192.0.2.1".parse().ok(), "no main default needed");
        assert_eq!(links.handle_netifd(0, NetifdStatus::DOWN), NetifdChange::Device);
        assert_eq!(links.probe_source(&c, 0, Family::V4), Err(Reason::InterfaceDown));
        assert_eq!(links.device(&c, 0), "wan1", "the last device netifd named");
    }
}
