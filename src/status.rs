//! The status view that `ubus call dualwan status`, the CLI and LuCI see.
//!
//! Written through [`Sink`] as blobmsg, in a fixed key order, without allocating: the reply
//! to `ubus call dualwan status` ([`StatusAnswer`]), which `dualwan status --json` prints as
//! JSON and the tests read the same way. mwan3's key names are used where mwan3 has one
//! (`status`, `online`, `offline`, `latency`, `packetloss`).
//!
//! The unsuffixed keys describe IPv4; IPv6 has the same keys with a `6` (`active6`,
//! `status6`, `address6`, ...), present only when IPv6 is tracked. In balance mode `active`
//! names every WAN sharing the traffic (separated by spaces) and each interface says its
//! `weight`, its `share` of new connections now (percent) and whether its metric is the
//! `tier` in use; `rules` says per `config rule` which WANs carry its traffic (`via`).
//! Every probe target says how it is probed: `method` `icmp`, or `tcp` with its `port`
//! (a WAN's gateway is always pinged).

use crate::config::{Config, Mode, TrackMethod, WanSet};
use crate::daemon::Daemon;
use crate::health::{Status, TargetStats};
use crate::route::Family;
use crate::time::{Duration, Instant};
use crate::ubus::Answer;
use crate::wire::blob::{Attrs, Writer};
use crate::wire::ubus;
use core::fmt::{self, Write};
use core::net::IpAddr;

/// The output buffer is full.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Full;

/// Why no status was written.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StatusError {
    /// No interface has the requested name (ubus: NOT_FOUND).
    NotFound,
    /// The reply does not fit the buffer.
    Full,
}

impl From<Full> for StatusError {
    fn from(_: Full) -> Self {
        StatusError::Full
    }
}

/// A structured writer: tables and arrays of named values (names are ignored in arrays).
pub trait Sink {
    /// Opens a table (`{`).
    fn begin_table(&mut self, name: &str) -> Result<(), Full>;
    /// Opens an array (`[`).
    fn begin_array(&mut self, name: &str) -> Result<(), Full>;
    /// Closes the innermost table or array.
    fn end(&mut self) -> Result<(), Full>;
    /// A string value.
    fn string(&mut self, name: &str, value: fmt::Arguments<'_>) -> Result<(), Full>;
    /// An unsigned integer value.
    fn u64(&mut self, name: &str, value: u64) -> Result<(), Full>;
    /// A boolean value.
    fn bool(&mut self, name: &str, value: bool) -> Result<(), Full>;
    /// A number with a fraction (milliseconds of RTT).
    fn double(&mut self, name: &str, value: f64) -> Result<(), Full>;
}

fn ms(d: Duration) -> f64 {
    // One decimal is what a person reads; more is noise for ping times.
    (d.as_micros() as f64 / 100.0).round() / 10.0
}

/// One probe target's figures; `tcp` is `track_port` for a target probed with TCP.
fn probe_stats(out: &mut dyn Sink, ip: IpAddr, tcp: Option<u16>, stats: &TargetStats) -> Result<(), Full> {
    out.string("ip", format_args!("{ip}"))?;
    let method = if tcp.is_some() { TrackMethod::Tcp } else { TrackMethod::Icmp };
    out.string("method", format_args!("{}", method.as_str()))?;
    if let Some(port) = tcp {
        out.u64("port", u64::from(port))?;
    }
    let status = if stats.probes() == 0 {
        "unknown"
    } else if stats.is_up() {
        "up"
    } else {
        "down"
    };
    out.string("status", format_args!("{status}"))?;
    if let Some(avg) = stats.avg_rtt() {
        out.double("latency", ms(avg))?;
    }
    if let Some(j) = stats.jitter() {
        out.double("jitter", ms(j))?;
    }
    out.u64("packetloss", u64::from(stats.loss_percent()))?;
    if let Some(last) = stats.last_rtt() {
        out.double("last_rtt", ms(last))?;
    }
    Ok(())
}

/// The family's last probes to its targets as `check_quality` judges them, and the
/// thresholds when it is on.
fn quality(out: &mut dyn Sink, w: &crate::config::Wan, name: &str, recent: &TargetStats) -> Result<(), Full> {
    out.begin_table(name)?;
    out.bool("check", w.check_quality)?;
    if let Some(avg) = recent.avg_rtt() {
        out.double("latency", ms(avg))?;
    }
    out.u64("packetloss", u64::from(recent.loss_percent()))?;
    out.u64("probes", recent.probes() as u64)?;
    if w.check_quality {
        out.u64("failure_latency", u64::from(w.failure_latency))?;
        out.u64("recovery_latency", u64::from(w.recovery_latency))?;
        out.u64("failure_loss", u64::from(w.failure_loss))?;
        out.u64("recovery_loss", u64::from(w.recovery_loss))?;
    }
    out.end()
}

/// `name` for IPv4, `name6` for IPv6: the status keys of each family.
fn key(name: &'static str, family: Family) -> &'static str {
    if family == Family::V4 {
        return name;
    }
    match name {
        "active" => "active6",
        "address" => "address6",
        "gateway" => "gateway6",
        "status" => "status6",
        "online" => "online6",
        "offline" => "offline6",
        "reason" => "reason6",
        "transitions" => "transitions6",
        "gateway_probe" => "gateway_probe6",
        "quality" => "quality6",
        "confirmations" => "confirmations6",
        "share" => "share6",
        "tier" => "tier6",
        "via" => "via6",
        other => other,
    }
}

/// `ipv4` / `ipv6`: the family as events, history and hotplug name it.
pub fn family_word(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// Answers `ubus call dualwan status ['{"interface": NAME}']` from the core's state at
/// `now`: what the daemon's ubus session is handed to answer calls with.
pub struct StatusAnswer<'a> {
    /// The core whose state is shown.
    pub core: &'a Daemon,
    /// The time of the call.
    pub now: Instant,
}

impl Answer for StatusAnswer<'_> {
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
        answer_call(self.core, self.now, method, args, reply)
    }
}

/// [`StatusAnswer`]'s work: writes the reply to `method` with `args` and returns the ubus
/// status.
fn answer_call(d: &Daemon, now: Instant, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
    if method != "status" {
        return ubus::STATUS_METHOD_NOT_FOUND;
    }
    let mut only = None;
    for attr in args.flatten() {
        if attr.name == "interface" {
            match attr.as_str() {
                Some(name) => only = Some(name),
                None => return ubus::STATUS_INVALID_ARGUMENT,
            }
        }
    }
    match write_status(d, now, only, &mut Blob::new(reply)) {
        Ok(()) => ubus::STATUS_OK,
        Err(StatusError::NotFound) => ubus::STATUS_NOT_FOUND,
        Err(StatusError::Full) => ubus::STATUS_UNKNOWN_ERROR,
    }
}

/// Writes the whole status (or, with `only`, just that interface) as one table.
pub fn write_status(d: &Daemon, now: Instant, only: Option<&str>, out: &mut dyn Sink) -> Result<(), StatusError> {
    let config = d.config();
    if let Some(name) = only {
        if config.wan(name).is_none() {
            return Err(StatusError::NotFound);
        }
    }
    out.string("version", format_args!("{}", env!("CARGO_PKG_VERSION")))?;
    out.u64("uptime", now.saturating_since(d.started()).as_secs())?;
    let balance = config.globals.mode == Mode::Balance;
    out.string("mode", format_args!("{}", if balance { "balance" } else { "failover" }))?;
    let v6 = config.tracks(Family::V6);
    for family in Family::ALL.into_iter().filter(|&f| f == Family::V4 || v6) {
        let names = Names(config, d.carriers(family).global);
        out.string(key("active", family), format_args!("{names}"))?;
    }
    out.begin_table("interfaces")?;
    for (wan, w) in config.wans.iter().enumerate() {
        if only.is_some_and(|n| n != w.name.as_str()) {
            continue;
        }
        let families = || Family::ALL.into_iter().filter(|&f| f == Family::V4 || w.tracks(Family::V6));
        out.begin_table(&w.name)?;
        out.bool("enabled", w.enabled)?;
        out.string("device", format_args!("{}", d.device(wan)))?;
        if let Some(network) = w.network() {
            out.string("network", format_args!("{network}"))?;
        }
        for family in families() {
            let link = d.link(wan, family);
            if let Some(a) = link.addr {
                out.string(key("address", family), format_args!("{a}"))?;
            }
            if let Some(g) = link.gateway {
                out.string(key("gateway", family), format_args!("{g}"))?;
            }
        }
        out.u64("metric", u64::from(w.metric))?;
        for family in families() {
            out.bool(key("active", family), d.carriers(family).global.contains(wan))?;
        }
        if balance {
            out.u64("weight", u64::from(w.weight))?;
            for family in families() {
                let members = d.carriers(family).global;
                let total: u64 = members.iter().map(|m| u64::from(config.wans[m].weight)).sum();
                let share =
                    if members.contains(wan) { (u64::from(w.weight) * 100 + total / 2) / total.max(1) } else { 0 };
                out.u64(key("share", family), share)?;
                let tier = members.first().map(|m| config.wans[m].metric);
                out.bool(key("tier", family), tier == Some(w.metric))?;
            }
        }
        for family in families() {
            let h = d.health(wan, family);
            out.string(key("status", family), format_args!("{}", h.status()))?;
            let in_state = now.saturating_since(h.since()).as_secs();
            let online = matches!(h.status(), Status::Online | Status::Disconnecting);
            out.u64(key("online", family), if online { in_state } else { 0 })?;
            out.u64(key("offline", family), if online { 0 } else { in_state })?;
            out.string(key("reason", family), format_args!("{}", h.reason()))?;
            out.u64(key("transitions", family), u64::from(h.transitions()))?;
        }
        out.u64("flushed", d.flushed(wan))?;
        for family in families() {
            out.u64(key("confirmations", family), u64::from(d.health(wan, family).confirmations()))?;
        }
        for family in families() {
            quality(out, w, key("quality", family), d.health(wan, family).recent())?;
        }
        out.begin_array("track_ip")?;
        for (i, ip) in w.track_ip.iter().enumerate() {
            out.begin_table("")?;
            let tcp = w.probes_tcp().then_some(w.track_port);
            probe_stats(out, *ip, tcp, d.health(wan, Family::of(ip)).target(i))?;
            out.end()?;
        }
        out.end()?;
        for family in families() {
            if let (true, Some(gw)) = (w.check_gateway, d.link(wan, family).gateway) {
                out.begin_table(key("gateway_probe", family))?;
                // The gateway is always pinged.
                probe_stats(out, gw, None, d.health(wan, family).gateway())?;
                out.end()?;
            }
        }
        out.end()?;
    }
    out.end()?;
    if only.is_none() && !config.policies.is_empty() {
        write_rules(d, out)?;
    }
    out.begin_array("history")?;
    for e in d.history().rev() {
        if only.is_some_and(|n| n != e.wan.as_str()) {
            continue;
        }
        out.begin_table("")?;
        out.u64("age", now.saturating_since(e.at).as_secs())?;
        out.string("interface", format_args!("{}", e.wan))?;
        out.string("family", format_args!("{}", family_word(e.family)))?;
        out.string("from", format_args!("{}", e.transition.from))?;
        out.string("to", format_args!("{}", e.transition.to))?;
        out.string("reason", format_args!("{}", e.transition.reason))?;
        out.end()?;
    }
    out.end()?;
    Ok(())
}

/// `rules`: per `config rule`, in file order, its first priority and per family it makes
/// kernel rules for, who carries its traffic now (`via`, `via6`): the WANs' names, or its
/// `last_resort` word while none of them is up.
fn write_rules(d: &Daemon, out: &mut dyn Sink) -> Result<(), Full> {
    let config = d.config();
    out.begin_table("rules")?;
    let mut slot = 0;
    for (k, p) in config.policies.iter().enumerate() {
        out.begin_table(&p.name)?;
        out.u64("priority", u64::from(config.globals.rule_priority + crate::config::POLICY_SLOT_FIRST + slot))?;
        slot += p.slots();
        for family in Family::ALL.into_iter().filter(|&f| p.family.covers(f) && config.tracks(f)) {
            match d.carriers(family).of_policy(config, k) {
                Some(wans) => out.string(key("via", family), format_args!("{}", Names(config, wans)))?,
                None => out.string(key("via", family), format_args!("{}", p.last_resort_word()))?,
            }
        }
        out.end()?;
    }
    out.end()
}

/// The names of a set of WANs, separated by spaces.
struct Names<'a>(&'a Config, WanSet);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, wan) in self.1.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{}", self.0.wans[wan].name)?;
        }
        Ok(())
    }
}

/// A [`Sink`] writing blobmsg (the ubus reply) through [`crate::wire::blob::Writer`].
pub struct Blob<'b, 'w> {
    out: &'b mut Writer<'w>,
    open: heapless::Vec<crate::wire::blob::Nest, 8>,
}

impl<'b, 'w> Blob<'b, 'w> {
    /// Writes members into `out`'s current table.
    pub fn new(out: &'b mut Writer<'w>) -> Self {
        Blob { out, open: heapless::Vec::new() }
    }
}

impl Sink for Blob<'_, '_> {
    fn begin_table(&mut self, name: &str) -> Result<(), Full> {
        let nest = self.out.begin_table(name).map_err(|_| Full)?;
        self.open.push(nest).map_err(|_| Full)
    }
    fn begin_array(&mut self, name: &str) -> Result<(), Full> {
        let nest = self.out.begin_array(name).map_err(|_| Full)?;
        self.open.push(nest).map_err(|_| Full)
    }
    fn end(&mut self) -> Result<(), Full> {
        let nest = self.open.pop().ok_or(Full)?;
        self.out.end(nest);
        Ok(())
    }
    fn string(&mut self, name: &str, value: fmt::Arguments<'_>) -> Result<(), Full> {
        // Every status string is short (names, addresses, reasons).
        let mut s: heapless::String<128> = heapless::String::new();
        s.write_fmt(value).map_err(|_| Full)?;
        self.out.string(name, &s).map_err(|_| Full)
    }
    fn u64(&mut self, name: &str, value: u64) -> Result<(), Full> {
        // ubus prints INT32 as a plain number; counters and seconds fit it in practice.
        match u32::try_from(value) {
            Ok(v) => self.out.u32(name, v),
            Err(_) => self.out.u64(name, value),
        }
        .map_err(|_| Full)
    }
    fn bool(&mut self, name: &str, value: bool) -> Result<(), Full> {
        self.out.bool(name, value).map_err(|_| Full)
    }
    fn double(&mut self, name: &str, value: f64) -> Result<(), Full> {
        self.out.double(name, value).map_err(|_| Full)
    }
}
