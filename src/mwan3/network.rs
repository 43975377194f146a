//! What the netifd config (`/etc/config/network`) says of an interface: the device its
//! traffic uses. It decides which mwan3 IPv4 and IPv6 sections are one line, and what
//! device a rule's `src_iface` stands for.

use crate::uci::{Package, SectionRef};

/// Protocols whose traffic uses a device netifd names `PROTO-INTERFACE` (`pppoe-wan`).
const PPP_PROTOS: [&str; 6] = ["pppoe", "pppoa", "pptp", "l2tp", "ppp", "3g"];

/// Protocols whose addresses netifd puts on dynamic `INTERFACE_4` and `INTERFACE_6`
/// interfaces (LTE modems), where mwan3 looks for them too.
pub(super) const DYNAMIC_PROTOS: [&str; 3] = ["qmi", "mbim", "ncm"];

/// `@alias` hops followed at most, against loops.
const ALIAS_DEPTH: u8 = 4;

/// The network config, if there is one.
#[derive(Copy, Clone)]
pub(super) struct Network<'a> {
    pkg: Option<&'a Package>,
}

impl<'a> Network<'a> {
    /// The config given, or none.
    pub fn new(pkg: Option<&'a Package>) -> Network<'a> {
        Network { pkg }
    }

    /// True if there is a network config to look in.
    pub fn known(&self) -> bool {
        self.pkg.is_some()
    }

    /// `config interface NAME`.
    pub fn interface(&self, name: &str) -> Option<SectionRef<'a>> {
        self.pkg?.sections().find(|s| s.ty() == "interface" && s.name() == Some(name))
    }

    /// Its `proto`.
    pub fn proto(&self, name: &str) -> Option<&'a str> {
        first(&self.interface(name)?, "proto")
    }

    /// The device interface `name`'s traffic uses, as far as the config tells: `PROTO-NAME`
    /// for PPP, `br-NAME` for an old-style bridge, else its `device` (or `ifname`),
    /// following `@other` aliases and dynamic `NAME_4` / `NAME_6` children to their parent.
    pub fn device(&self, name: &str) -> Option<String> {
        self.device_at(name, 0)
    }

    fn device_at(&self, name: &str, depth: u8) -> Option<String> {
        if depth > ALIAS_DEPTH {
            return None;
        }
        let Some(s) = self.interface(name) else {
            let parent = name.strip_suffix("_4").or_else(|| name.strip_suffix("_6"))?;
            return self.device_at(parent, depth + 1);
        };
        if let Some(proto) = first(&s, "proto").filter(|p| PPP_PROTOS.contains(p)) {
            return Some(format!("{proto}-{name}"));
        }
        if first(&s, "type") == Some("bridge") {
            return Some(format!("br-{name}"));
        }
        // (The first word: `split_whitespace().next()`, smaller in the binary.)
        let device = first(&s, "device").or_else(|| first(&s, "ifname"))?;
        let device = device.split(char::is_whitespace).find(|word| !word.is_empty())?;
        match device.strip_prefix('@') {
            Some(other) => self.device_at(other, depth + 1),
            None => Some(device.into()),
        }
    }
}

/// The first value of option `name`.
#[inline(never)]
fn first<'a>(s: &SectionRef<'a>, name: &str) -> Option<&'a str> {
    s.option(name)?.values().next().map(|(v, _)| v)
}
