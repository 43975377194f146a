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

use crate::uci::Package;
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

/// Sorts by a key, keeping the order of equal keys: an insertion sort (the lists here hold
/// a handful of entries), far smaller in the binary than the standard library's sorts.
fn sort_by_key<T, K: PartialOrd>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
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
    let has = |ty: &str| pkg.sections().any(|s| s.ty() == ty);
    let routing = has("member") || has("policy");
    if !routing && !has("interface") && !has("rule") {
        return Err(NotMwan3("it has no interface, member, policy or rule sections".into()));
    }
    for s in pkg.sections().filter(|s| s.ty() == "interface") {
        let name = s.name().unwrap_or("?");
        let looks = |option: &str, like: &str| {
            NotMwan3(format!("interface '{name}' (line {}) has option '{option}': this looks like {like}", s.line()))
        };
        if s.option("proto").is_some() {
            return Err(looks("proto", "/etc/config/network"));
        }
        for option in ["device", "network"] {
            if !routing && s.option(option).is_some() {
                return Err(looks(option, "a dualwan config"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
