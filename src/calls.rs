//! The calls our ubus object answers, as the core sees them: `status` (written by
//! [`crate::status`]) and `probe`, which starts or joins a WAN's on-demand round in the
//! core and is answered when it ends ([`write_probe_reply`], after [`Action::ProbeDone`]).
//!
//! `probe`'s reply, agreed with the LuCI app:
//! `{ "interface": "wan", "probes": [ { "ip", "kind": "target"|"gateway", "method":
//! "icmp"|"tcp", "port" (tcp), "answered", "rtt" (ms, when answered) | "error" (when not:
//! `timeout`, `unreachable` or a local error) } ] }`; a WAN that cannot be probed now gets
//! `"probes": []` and `"error"` with the reason status shows. A missing or non-string
//! `interface` is `INVALID_ARGUMENT`, an unknown one `NOT_FOUND`.
//!
//! [`Action::ProbeDone`]: crate::action::Action::ProbeDone

use crate::config::TrackMethod;
use crate::daemon::{Daemon, ProbeReport};
use crate::health::on_demand::Outcome;
use crate::status::{Full, Sink, StatusAnswer};
use crate::time::Instant;
use crate::ubus::{later, Answer};
use crate::wire::blob::{Attrs, Writer};
use crate::wire::ubus;
use core::fmt;

/// Answers every call to our object for the core: the [`Answer`] of `dualwan run`.
pub struct CallAnswer<'a> {
    /// The core.
    pub core: &'a mut Daemon,
    /// The current time.
    pub now: Instant,
}

impl Answer for CallAnswer<'_> {
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
        match method {
            "probe" => answer_probe(self.core, self.now, args, reply),
            _ => StatusAnswer { core: self.core, now: self.now }.call(method, args, reply),
        }
    }
}

/// `probe`: the round is started or joined and answered later (its tag is the WAN index),
/// or refused at once.
fn answer_probe(core: &mut Daemon, now: Instant, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
    let mut name = None;
    for attr in args.flatten() {
        if attr.name == "interface" {
            match attr.as_str() {
                Some(n) => name = Some(n),
                None => return ubus::STATUS_INVALID_ARGUMENT,
            }
        }
    }
    let Some(name) = name else { return ubus::STATUS_INVALID_ARGUMENT };
    let Some((wan, _)) = core.config().wan(name) else { return ubus::STATUS_NOT_FOUND };
    match core.request_probe(now, wan) {
        Ok(()) => later(wan as u16),
        Err(refusal) => {
            let mut out = crate::status::Blob::new(reply);
            match write_refusal(name, &refusal, &mut out) {
                Ok(()) => ubus::STATUS_OK,
                Err(Full) => ubus::STATUS_UNKNOWN_ERROR,
            }
        }
    }
}

/// The reply for a WAN that cannot be probed now.
fn write_refusal(interface: &str, why: &dyn fmt::Display, out: &mut dyn Sink) -> Result<(), Full> {
    out.string("interface", format_args!("{interface}"))?;
    out.begin_array("probes")?;
    out.end()?;
    out.string("error", format_args!("{why}"))
}

/// Writes a finished round as `probe`'s reply table.
pub fn write_probe_reply(report: &ProbeReport, out: &mut dyn Sink) -> Result<(), Full> {
    out.string("interface", format_args!("{}", report.interface))?;
    out.begin_array("probes")?;
    for p in report.round.probes() {
        out.begin_table("")?;
        out.string("ip", format_args!("{}", p.dst))?;
        out.string("kind", format_args!("{}", p.kind.as_str()))?;
        let method = if p.tcp_port.is_some() { TrackMethod::Tcp } else { TrackMethod::Icmp };
        out.string("method", format_args!("{}", method.as_str()))?;
        if let Some(port) = p.tcp_port {
            out.u64("port", u64::from(port))?;
        }
        match &p.outcome {
            Outcome::Answered(rtt) => {
                out.bool("answered", true)?;
                // Microseconds: exactly 3 decimals of milliseconds.
                out.double("rtt", rtt.as_micros() as f64 / 1000.0)?;
            }
            Outcome::Failed(error) => {
                out.bool("answered", false)?;
                out.string("error", format_args!("{error}"))?;
            }
            Outcome::Pending => {
                out.bool("answered", false)?;
                out.string("error", format_args!("timeout"))?;
            }
        }
        out.end()?;
    }
    out.end()?;
    if let Some(error) = &report.error {
        out.string("error", format_args!("{error}"))?;
    }
    Ok(())
}
