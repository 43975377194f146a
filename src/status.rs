//! The status view that `ubus call dualwan status`, the CLI and LuCI see.
//!
//! Written through [`Sink`] as blobmsg, in a fixed key order, without allocating: the reply
//! to `ubus call dualwan status` ([`StatusAnswer`]), which `dualwan status --json` prints as
//! JSON and the tests read the same way. mwan3's key names are used where mwan3 has one
//! (`status`, `online`, `offline`, `latency`, `packetloss`).
//!
//! The unsuffixed keys describe IPv4; IPv6 has the same keys with a `6` (`active6`,
//! `status6`, `address6`, ...), present only when IPv6 is tracked.

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

fn probe_stats(out: &mut dyn Sink, ip: IpAddr, stats: &TargetStats) -> Result<(), Full> {
    out.string("ip", format_args!("{ip}"))?;
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
    out.string("mode", format_args!("failover"))?;
    let v6 = config.tracks(Family::V6);
    for family in Family::ALL.into_iter().filter(|&f| f == Family::V4 || v6) {
        let name = d.active(family).map_or("", |a| config.wans[a].name.as_str());
        out.string(key("active", family), format_args!("{name}"))?;
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
            out.bool(key("active", family), d.active(family) == Some(wan))?;
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
        out.begin_array("track_ip")?;
        for (i, ip) in w.track_ip.iter().enumerate() {
            out.begin_table("")?;
            probe_stats(out, *ip, d.health(wan, Family::of(ip)).target(i))?;
            out.end()?;
        }
        out.end()?;
        for family in families() {
            if let (true, Some(gw)) = (w.check_gateway, d.link(wan, family).gateway) {
                out.begin_table(key("gateway_probe", family))?;
                probe_stats(out, gw, d.health(wan, family).gateway())?;
                out.end()?;
            }
        }
        out.end()?;
    }
    out.end()?;
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
