//! The human summary `dualwan status` prints, read from the status reply (the blobmsg
//! table [`crate::status::write_status`] wrote and ubus carried). Pure: bytes in, text out.
//!
//! ```text
//! dualwan 0.1.0, up 1h02m, traffic on wan
//! wan   (eth1)   online 58m12s      * active  recovered
//!     gateway 192.0.2.1       up      rtt   0.4 ms  jitter   0.1 ms  loss   0%
//!     1.1.1.1                 up      rtt  12.4 ms  jitter   0.6 ms  loss   0%
//! wanb  (wwan0)  online 1h02m                 started
//!   IPv6         offline 12s                  targets unreachable (0/1 answered, need 1)
//!     ...
//! rules:
//!     voip    5010  via wanb
//! recent:
//!     2m05s ago  wan   offline -> online (recovered)
//! ```
//! In balance mode the marker says the interface's share of new connections (`* 75%`); a
//! target probed with TCP shows its port (`1.1.1.1 tcp/443`).
//! One block per interface in the reply's (= the config's) order; lines stay within 80
//! columns except a long reason in the history. Keys the reply lacks are left out, and keys
//! it adds are ignored, so an older or newer daemon still reads.

use crate::wire::blob::{Attr, Attrs, Kind};
use core::fmt::{self, Write};

/// History entries shown (newest first).
pub const RECENT: usize = 5;

/// Writes the summary of a status reply (the members of its DATA table).
pub fn write_summary(reply: &[u8], out: &mut dyn Write) -> fmt::Result {
    let top = Table::of(Attrs::new(reply));
    let version = top.str("version").unwrap_or("?");
    write!(out, "dualwan {version}, up {}", Age(top.num("uptime").unwrap_or(0)))?;
    match top.str("active") {
        Some(active) if !active.is_empty() => write!(out, ", traffic on {active}")?,
        _ => write!(out, ", no WAN carries traffic")?,
    }
    // Present only when IPv6 is tracked; said only when it differs from IPv4.
    match top.str("active6") {
        Some(a6) if Some(a6) == top.str("active") => {}
        Some("") => write!(out, ", IPv6 on none")?,
        Some(a6) => write!(out, ", IPv6 on {a6}")?,
        None => {}
    }
    writeln!(out)?;
    let interfaces: Vec<(&str, Table<'_>)> =
        top.get("interfaces").and_then(|a| a.as_table()).map(Table::named).unwrap_or_default();
    let name_w = interfaces.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let dev_w = interfaces.iter().map(|(_, t)| t.str("device").unwrap_or("").len() + 2).max().unwrap_or(0);
    for (name, wan) in &interfaces {
        interface(out, name, wan, name_w, dev_w)?;
    }
    let rules: Vec<(&str, Table<'_>)> =
        top.get("rules").and_then(|a| a.as_table()).map(Table::named).unwrap_or_default();
    if !rules.is_empty() {
        writeln!(out, "rules:")?;
        let rule_w = rules.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, rule) in &rules {
            let priority = rule.num("priority").unwrap_or(0);
            write!(out, "    {name:<rule_w$}  {priority:>5}")?;
            if let Some(via) = rule.str("via") {
                write!(out, "  via {via}")?;
            }
            match rule.str("via6") {
                Some(v6) if rule.str("via").is_some_and(|v| v != v6) => write!(out, ", IPv6 via {v6}")?,
                Some(v6) if rule.str("via").is_none() => write!(out, "  IPv6 via {v6}")?,
                _ => {}
            }
            writeln!(out)?;
        }
    }
    let history = top.get("history").and_then(|a| a.as_array()).map(Table::list).unwrap_or_default();
    if !history.is_empty() {
        writeln!(out, "recent:")?;
        for e in history.iter().take(RECENT) {
            let (iface, from, to) = (e.str("interface").unwrap_or(""), e.str("from").unwrap_or(""), e.str("to"));
            let age = Age(e.num("age").unwrap_or(0)).to_string();
            let fam = if e.str("family") == Some("ipv6") { "IPv6 " } else { "" };
            write!(out, "    {age:>6} ago  {iface:<name_w$}  {fam}{from} -> {}", to.unwrap_or(""))?;
            match e.str("reason") {
                Some(r) if !r.is_empty() => writeln!(out, " ({r})")?,
                _ => writeln!(out)?,
            }
        }
    }
    Ok(())
}

fn interface(out: &mut dyn Write, name: &str, wan: &Table<'_>, name_w: usize, dev_w: usize) -> fmt::Result {
    let device = format!("({})", wan.str("device").unwrap_or(""));
    state_line(out, &format!("{name:<name_w$}  {device:<dev_w$}"), wan, "")?;
    // The IPv6 state, when the interface tracks IPv6.
    if wan.get("status6").is_some() {
        state_line(out, &format!("{:<w$}", "  IPv6", w = name_w + 2 + dev_w), wan, "6")?;
    }
    for suffix in ["", "6"] {
        if let Some(gw) = wan.get(&format!("gateway_probe{suffix}")).and_then(|a| a.as_table()) {
            let gw = Table::of(gw);
            target(out, &format!("gateway {}", gw.str("ip").unwrap_or("")), &gw)?;
        }
    }
    for t in wan.get("track_ip").and_then(|a| a.as_array()).map(Table::list).unwrap_or_default() {
        // Pings go without saying; a target probed with TCP names its port.
        let ip = t.str("ip").unwrap_or("");
        match (t.str("method"), t.num("port")) {
            (Some("tcp"), Some(port)) => target(out, &format!("{ip} tcp/{port}"), &t)?,
            _ => target(out, ip, &t)?,
        }
    }
    // With check_quality, what the WAN is judged on and the thresholds.
    for suffix in ["", "6"] {
        let Some(q) = wan.get(&format!("quality{suffix}")).and_then(|a| a.as_table()).map(Table::of) else {
            continue;
        };
        if q.bool("check") != Some(true) {
            continue;
        }
        let label = if suffix.is_empty() { "quality (last 16)" } else { "IPv6 quality (last 16)" };
        let rtt = q.double("latency").map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
        let loss = q.num("packetloss").unwrap_or(0);
        let n = |k| q.num(k).unwrap_or(0);
        writeln!(out, "    {label:<24}loss {loss:>3}%  rtt {rtt:>8}")?;
        let (fl, fms, rl, rms) = (n("failure_loss"), n("failure_latency"), n("recovery_loss"), n("recovery_latency"));
        writeln!(out, "      offline at >= {fl}% or {fms} ms, back at <= {rl}% and {rms} ms")?;
    }
    Ok(())
}

/// `head`, then status, time in state, active marker and reason of the family whose keys
/// end in `suffix` (`""` for IPv4, `"6"` for IPv6).
fn state_line(out: &mut dyn Write, head: &str, wan: &Table<'_>, suffix: &str) -> fmt::Result {
    let key = |k: &str| format!("{k}{suffix}");
    let status = wan.str(&key("status")).unwrap_or("?");
    // One of `online` and `offline` is the time in the current state, the other 0.
    let state = match wan.num(&key("online")).max(wan.num(&key("offline"))) {
        _ if wan.bool("enabled") == Some(false) => "disabled".to_string(),
        Some(secs) => format!("{status} {}", Age(secs)),
        None => status.to_string(),
    };
    let mark = match (wan.bool(&key("active")), wan.num(&key("share"))) {
        (Some(true), Some(share)) => format!("* {share}%"),
        (Some(true), None) => "* active".to_string(),
        _ => String::new(),
    };
    let mut line = format!("{head}  {state:<18}  {mark:<8}");
    let reason = wan.str(&key("reason")).unwrap_or("");
    if line.trim_end().len() + 2 + reason.len() <= 80 {
        line.push_str("  ");
        line.push_str(reason);
        writeln!(out, "{}", line.trim_end())
    } else {
        writeln!(out, "{}", line.trim_end())?;
        writeln!(out, "    {reason}")
    }
}

fn target(out: &mut dyn Write, label: &str, t: &Table<'_>) -> fmt::Result {
    let ms = |key| t.double(key).map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
    let loss = t.num("packetloss").map_or_else(|| "-".to_string(), |l| format!("{l}%"));
    let status = t.str("status").unwrap_or("");
    writeln!(out, "    {label:<24}{status:<8}rtt {:>8}  jitter {:>8}  loss {loss:>4}", ms("latency"), ms("jitter"))
}

/// Seconds as a short age: `42s`, `12m05s`, `1h02m`, `3d04h`.
pub struct Age(pub u64);

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s {
            0..60 => write!(f, "{s}s"),
            60..3600 => write!(f, "{}m{:02}s", s / 60, s % 60),
            3600..86_400 => write!(f, "{}h{:02}m", s / 3600, s % 3600 / 60),
            _ => write!(f, "{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        }
    }
}

/// The members of one table, looked up by name.
#[derive(Default)]
struct Table<'a> {
    members: Vec<Attr<'a>>,
}

impl<'a> Table<'a> {
    fn of(attrs: Attrs<'a>) -> Table<'a> {
        Table { members: attrs.map_while(Result::ok).collect() }
    }

    /// A table of tables, by member name, in order.
    fn named(attrs: Attrs<'a>) -> Vec<(&'a str, Table<'a>)> {
        attrs.map_while(Result::ok).filter_map(|a| Some((a.name, Table::of(a.as_table()?)))).collect()
    }

    /// An array of tables.
    fn list(attrs: Attrs<'a>) -> Vec<Table<'a>> {
        attrs.map_while(Result::ok).filter_map(|a| a.as_table().map(Table::of)).collect()
    }

    fn get(&self, name: &str) -> Option<&Attr<'a>> {
        self.members.iter().find(|a| a.name == name)
    }

    fn str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(Attr::as_str)
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Attr::as_bool)
    }

    fn double(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Attr::as_f64)
    }

    /// Any integer type (the daemon writes INT32, or INT64 when a value needs it).
    fn num(&self, name: &str) -> Option<u64> {
        let a = self.get(name)?;
        match a.kind {
            Kind::Int64 => a.as_u64(),
            Kind::Int32 => a.as_u32().map(u64::from),
            Kind::Int16 => a.as_u16().map(u64::from),
            Kind::Int8 => a.value.first().map(|&b| u64::from(b)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blob::{Full, Writer};

    fn reply(f: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut w = Writer::new(&mut buf);
        f(&mut w).expect("fits");
        w.written().to_vec()
    }

    fn probe(
        w: &mut Writer<'_>,
        name: &str,
        ip: &str,
        status: &str,
        rtt: Option<(f64, f64)>,
        loss: u32,
    ) -> Result<(), Full> {
        let t = w.begin_table(name)?;
        w.string("ip", ip)?;
        w.string("status", status)?;
        if let Some((latency, jitter)) = rtt {
            w.double("latency", latency)?;
            w.double("jitter", jitter)?;
        }
        w.u32("packetloss", loss)?;
        w.end(t);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn wan(
        w: &mut Writer<'_>,
        name: &str,
        dev: &str,
        status: &str,
        active: bool,
        on: u32,
        off: u32,
        reason: &str,
    ) -> Result<(), Full> {
        let t = w.begin_table(name)?;
        w.bool("enabled", true)?;
        w.string("device", dev)?;
        w.string("gateway", "192.0.2.1")?;
        w.u32("metric", 10)?;
        w.bool("active", active)?;
        w.string("status", status)?;
        w.u32("online", on)?;
        w.u32("offline", off)?;
        w.string("reason", reason)?;
        w.u32("transitions", 2)?;
        let a = w.begin_array("track_ip")?;
        probe(w, "", "1.1.1.1", "up", Some((12.4, 0.6)), 0)?;
        probe(w, "", "8.8.8.8", if active { "up" } else { "down" }, None, 100)?;
        w.end(a);
        probe(w, "gateway_probe", "192.0.2.1", "up", Some((0.4, 0.1)), 0)?;
        w.end(t);
        Ok(())
    }

    #[test]
    fn two_wans_and_history() {
        let data = reply(|w| {
            w.string("version", "0.1.0")?;
            w.u32("uptime", 3725)?;
            w.string("mode", "failover")?;
            w.string("active", "wanb")?;
            let i = w.begin_table("interfaces")?;
            wan(
                w,
                "wan",
                "eth1",
                "offline",
                false,
                0,
                125,
                "gateway answers, targets unreachable (0/3 answered, need 1)",
            )?;
            wan(w, "wanb", "wwan0", "online", true, 3720, 0, "started")?;
            w.end(i);
            let h = w.begin_array("history")?;
            let e = w.begin_table("")?;
            w.u32("age", 125)?;
            w.string("interface", "wan")?;
            w.string("from", "disconnecting")?;
            w.string("to", "offline")?;
            w.string("reason", "gateway answers, targets unreachable (0/3 answered, need 1)")?;
            w.end(e);
            w.end(h);
            Ok(())
        });
        let mut text = String::new();
        write_summary(&data, &mut text).unwrap();
        let want = "\
dualwan 0.1.0, up 1h02m, traffic on wanb
wan   (eth1)   offline 2m05s
    gateway answers, targets unreachable (0/3 answered, need 1)
    gateway 192.0.2.1       up      rtt   0.4 ms  jitter   0.1 ms  loss   0%
    1.1.1.1                 up      rtt  12.4 ms  jitter   0.6 ms  loss   0%
    8.8.8.8                 down    rtt        -  jitter        -  loss 100%
wanb  (wwan0)  online 1h02m        * active  started
    gateway 192.0.2.1       up      rtt   0.4 ms  jitter   0.1 ms  loss   0%
    1.1.1.1                 up      rtt  12.4 ms  jitter   0.6 ms  loss   0%
    8.8.8.8                 up      rtt        -  jitter        -  loss 100%
recent:
     2m05s ago  wan   disconnecting -> offline (gateway answers, targets unreachable (0/3 answered, need 1))
";
        assert_eq!(text, want);
        for line in text.lines().filter(|l| !l.contains(" ago ")) {
            assert!(line.len() <= 80, "{line}");
        }
    }

    #[test]
    fn a_target_probed_with_tcp_shows_its_port() {
        let data = reply(|w| {
            w.string("version", "0.1.0")?;
            w.u32("uptime", 60)?;
            w.string("active", "lte")?;
            let i = w.begin_table("interfaces")?;
            let t = w.begin_table("lte")?;
            w.string("device", "wwan0")?;
            w.bool("active", true)?;
            w.string("status", "online")?;
            w.u32("online", 60)?;
            w.u32("offline", 0)?;
            w.string("reason", "probes answered")?;
            let a = w.begin_array("track_ip")?;
            let p = w.begin_table("")?;
            w.string("ip", "1.1.1.1")?;
            w.string("method", "tcp")?;
            w.u32("port", 443)?;
            w.string("status", "up")?;
            w.double("latency", 41.5)?;
            w.double("jitter", 2.0)?;
            w.u32("packetloss", 0)?;
            w.end(p);
            w.end(a);
            w.end(t);
            w.end(i);
            Ok(())
        });
        let mut text = String::new();
        write_summary(&data, &mut text).unwrap();
        assert!(
            text.contains("\n    1.1.1.1 tcp/443         up      rtt  41.5 ms  jitter   2.0 ms  loss   0%\n"),
            "{text}"
        );
    }

    #[test]
    fn check_quality_shows_what_the_wan_is_judged_on() {
        let data = reply(|w| {
            w.string("version", "0.1.0")?;
            w.u32("uptime", 60)?;
            w.string("active", "wan")?;
            let i = w.begin_table("interfaces")?;
            let t = w.begin_table("wan")?;
            w.string("device", "eth1")?;
            w.string("status", "offline")?;
            w.u32("offline", 5)?;
            w.string("reason", "loss 43 % ≥ failure_loss 40 %")?;
            let q = w.begin_table("quality")?;
            w.bool("check", true)?;
            w.double("latency", 12.4)?;
            for (k, v) in [("packetloss", 43), ("probes", 16), ("failure_latency", 1000)] {
                w.u32(k, v)?;
            }
            for (k, v) in [("recovery_latency", 500), ("failure_loss", 40), ("recovery_loss", 10)] {
                w.u32(k, v)?;
            }
            w.end(q);
            w.end(t);
            w.end(i);
            Ok(())
        });
        let mut text = String::new();
        write_summary(&data, &mut text).unwrap();
        assert!(text.contains("\n    quality (last 16)       loss  43%  rtt  12.4 ms\n"), "{text}");
        assert!(text.contains("\n      offline at >= 40% or 1000 ms, back at <= 10% and 500 ms\n"), "{text}");
    }

    #[test]
    fn an_empty_or_odd_reply_still_prints() {
        let mut text = String::new();
        write_summary(&[], &mut text).unwrap();
        assert_eq!(text, "dualwan ?, up 0s, no WAN carries traffic\n");
        let mut text = String::new();
        write_summary(&[0x83, 0, 0, 0x40, 1, 2], &mut text).unwrap();
        assert_eq!(text, "dualwan ?, up 0s, no WAN carries traffic\n");
    }

    #[test]
    fn ages() {
        let all: Vec<String> =
            [0, 59, 60, 725, 3599, 3600, 3725, 86_399, 86_400, 200_000].map(|s| Age(s).to_string()).into();
        assert_eq!(all, ["0s", "59s", "1m00s", "12m05s", "59m59s", "1h00m", "1h02m", "23h59m", "1d00h", "2d07h"]);
    }

    #[test]
    fn ipv6_gets_its_own_line_and_headline_when_it_differs() {
        let data = reply(|w| {
            w.string("version", "0.1.0")?;
            w.u32("uptime", 60)?;
            w.string("active", "wan")?;
            w.string("active6", "wanb")?;
            let i = w.begin_table("interfaces")?;
            let t = w.begin_table("wan")?;
            w.string("device", "eth1")?;
            w.bool("active", true)?;
            w.bool("active6", false)?;
            w.string("status", "online")?;
            w.u32("online", 60)?;
            w.string("reason", "probes answered")?;
            w.string("status6", "offline")?;
            w.u32("offline6", 12)?;
            w.string("reason6", "targets unreachable (0/1 answered, need 1)")?;
            let a = w.begin_array("track_ip")?;
            probe(w, "", "2001:db8:ff::1", "down", None, 100)?;
            w.end(a);
            probe(w, "gateway_probe6", "fe80::1", "up", Some((0.3, 0.1)), 0)?;
            w.end(t);
            w.end(i);
            let h = w.begin_array("history")?;
            let e = w.begin_table("")?;
            w.u32("age", 12)?;
            w.string("interface", "wan")?;
            w.string("family", "ipv6")?;
            w.string("from", "disconnecting")?;
            w.string("to", "offline")?;
            w.end(e);
            w.end(h);
            Ok(())
        });
        let mut text = String::new();
        write_summary(&data, &mut text).unwrap();
        let want = "\
dualwan 0.1.0, up 1m00s, traffic on wan, IPv6 on wanb
wan  (eth1)  online 1m00s        * active  probes answered
  IPv6       offline 12s                   targets unreachable (0/1 answered, need 1)
    gateway fe80::1         up      rtt   0.3 ms  jitter   0.1 ms  loss   0%
    2001:db8:ff::1          down    rtt        -  jitter        -  loss 100%
recent:
       12s ago  wan  IPv6 disconnecting -> offline
";
        assert_eq!(text, want);
    }
}
