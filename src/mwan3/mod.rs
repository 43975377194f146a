//! `dualwan import-mwan3`: an mwan3 config, read beside the network config it refers to,
//! turned into a dualwan config.
//!
//! Contract: [`import`] is pure (parsed UCI in, text out) and total: any mwan3 file that
//! `uci` accepts gives either [`NotMwan3`] or an [`Import`] whose text is a dualwan config
//! that `dualwan check` accepts, with a [`Notice`] for everything that was left out or whose
//! meaning changed. Notices are written into the text as `# mwan3:LINE: ...` comments where
//! they apply; the caller also prints the [`Kind::NotTranslated`] ones as warnings.
//!
//! How mwan3 reads its options (names, defaults, units) is summed up where each is
//! translated; the README's "Coming from mwan3" has the whole mapping. In short:
//! - `source`: interface sections → dualwan interfaces; an IPv4 and an IPv6 section on the
//!   same device (per the network config) become one dual-stack interface.
//! - `routing`: members, policies and rules → `mode`, each interface's `metric` and
//!   `weight`, `last_resort`, and `config rule` sections with `use` lists.
//! - `emit`: the text.
//!
//! A one-shot command, not the daemon: it allocates freely.

mod emit;
mod network;
mod routing;
mod source;

use crate::uci::{Package, SectionRef};
use core::fmt::{self, Write};

/// Why something of the mwan3 config is reported.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// dualwan cannot express it: left out, or approximated as the text says. A warning.
    NotTranslated,
    /// Translated, with a remark (where it came from, or a shift in meaning worth knowing).
    Note,
}

/// One remark about the translation, tied to a line of the mwan3 file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Line of the mwan3 file it is about.
    pub line: u32,
    /// Warning or remark.
    pub kind: Kind,
    /// What happened, and why.
    pub text: String,
}

impl Notice {
    fn lost(line: u32, text: String) -> Notice {
        Notice { line, kind: Kind::NotTranslated, text }
    }

    fn note(line: u32, text: String) -> Notice {
        Notice { line, kind: Kind::Note, text }
    }
}

/// Adds a warning. Out of line, so that each of the many places that report something
/// stays a few instructions (the binary runs on routers).
#[inline(never)]
fn lost(to: &mut Vec<Notice>, line: u32, text: fmt::Arguments<'_>) {
    to.push(Notice::lost(line, std::fmt::format(text)));
}

/// Adds a remark (see [`lost`]).
#[inline(never)]
fn note(to: &mut Vec<Notice>, line: u32, text: fmt::Arguments<'_>) {
    to.push(Notice::note(line, std::fmt::format(text)));
}

/// The last value of option `name` (what mwan3's `config_get` sees of a list), and its
/// line. Out of line: called in many places.
#[inline(never)]
fn value<'a>(s: &SectionRef<'a>, name: &str) -> Option<(&'a str, u32)> {
    s.option(name)?.values().last()
}

/// A whole number as mwan3's shell arithmetic takes it (decimal, no sign; at most nine
/// digits, so that it fits).
fn uint(v: &str) -> Option<u32> {
    if v.len() > 9 {
        return None;
    }
    digits(v)
}

/// Decimal digits and nothing else, as a number (saturating at `u32::MAX`).
fn digits(v: &str) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for b in v.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    Some(n)
}

impl fmt::Display for Notice {
    /// `not translated: WHY` or the remark: what follows `FILE:LINE: `.
    /// Control characters (a quoted value may hold a newline) are shown as `?`, so that a
    /// notice stays one comment line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == Kind::NotTranslated {
            f.write_str("not translated: ")?;
        }
        for c in self.text.chars() {
            f.write_char(if c.is_control() { '?' } else { c })?;
        }
        Ok(())
    }
}

/// The translation.
#[derive(Clone, Debug)]
pub struct Import {
    /// The dualwan config, with the notices as comments.
    pub text: String,
    /// Every notice, in the order of the text.
    pub notices: Vec<Notice>,
    /// Interfaces written (enabled or not).
    pub interfaces: usize,
    /// Enabled interfaces written: a config without one is of no use (`dualwan check`
    /// refuses it).
    pub enabled: usize,
}

/// The file is not an mwan3 config; the text says what it looks like instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotMwan3(pub String);

impl fmt::Display for NotMwan3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an mwan3 config: {}", self.0)
    }
}

/// Translates `mwan3` (with `network`, the netifd config, to find which sections share a
/// device and what device a `src_iface` is; without it nothing is paired).
pub fn import(mwan3: &Package, network: Option<&Package>) -> Result<Import, NotMwan3> {
    recognise(mwan3)?;
    let net = network::Network::new(network);
    let mut out = emit::Output::default();
    let read = source::read(mwan3, &net, &mut out);
    routing::translate(mwan3, &net, &read, &mut out);
    let interfaces = out.interfaces.iter().filter(|s| s.name.is_some()).count();
    let enabled = read.wans.iter().filter(|w| w.enabled).count();
    let (text, notices) = out.write();
    Ok(Import { text, notices, interfaces, enabled })
}

/// An mwan3 config has interface, member, policy or rule sections; a network config's
/// interfaces have a `proto`, a dualwan config's (without members or policies) a `device`
/// or `network`.
fn recognise(pkg: &Package) -> Result<(), NotMwan3> {
    let (mut routing, mut other) = (false, false);
    for s in pkg.sections() {
        match s.ty() {
            "member" | "policy" => routing = true,
            "interface" | "rule" => other = true,
            _ => {}
        }
    }
    if !routing && !other {
        return Err(NotMwan3("it has no interface, member, policy or rule sections".into()));
    }
    for s in pkg.sections().filter(|s| s.ty() == "interface") {
        let looks_like = |option: &str, like: &str| {
            let name = s.name().unwrap_or("?");
            NotMwan3(format!("interface '{name}' (line {}) has option '{option}': this looks like {like}", s.line()))
        };
        if s.option("proto").is_some() {
            return Err(looks_like("proto", "/etc/config/network"));
        }
        for option in ["device", "network"] {
            if !routing && s.option(option).is_some() {
                return Err(looks_like(option, "a dualwan config"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
