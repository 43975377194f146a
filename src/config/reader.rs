//! Reading one section's options as its option table ([`crate::options`]) declares them:
//! single values, exclusive groups (`one_of`), and the lists (targets, ports, `use`
//! names), each bad entry an error of its own line; options the table does not know are
//! warnings.

use super::value::{parse, parse_port_range, truncated, usable_target, usable_unicast6};
use super::{options, ConfigError, Ports, Problem, Report, WanName, MAX_TARGETS, MAX_WANS, NAME_MAX};
use crate::options::{Opt, Section, Type, Value, USE_BALANCE};
use crate::uci::{OptionRef, SectionRef};
use core::net::IpAddr;
use std::string::String;

/// `interface 'wan'`, `globals 'globals'`, or `@globals[0]` for an anonymous section.
pub(super) fn label(section: &SectionRef<'_>) -> String {
    match section.name() {
        Some(name) => format!("{} '{}'", section.ty(), name),
        None => format!("anonymous {} section", section.ty()),
    }
}

/// Reads the options of one section as its table declares them.
pub(super) struct Reader<'r, 'a> {
    pub(super) section: &'r SectionRef<'a>,
    pub(super) label: String,
    pub(super) report: &'r mut Report,
}

impl<'a> Reader<'_, 'a> {
    pub(super) fn bad(&mut self, line: u32, option: &'static str, value: &str, why: String) {
        self.report.errors.push(ConfigError {
            line,
            problem: Problem::Value { section: self.label.clone(), option, value: value.into(), why },
        });
    }

    pub(super) fn section_error(&mut self, line: u32, what: String) {
        self.report.errors.push(ConfigError { line, problem: Problem::Section { section: self.label.clone(), what } });
    }

    /// The single value of `name`, or `None` if unset (errors if given as a list).
    fn single(&mut self, name: &'static str) -> Option<(OptionRef<'a>, &'a str)> {
        let option = self.section.option(name)?;
        let (first, _) = option.values().next()?;
        if option.is_list() {
            self.bad(option.line(), name, first, "is a list; this option takes one value".into());
            return None;
        }
        Some((option, first))
    }

    /// Every option of `table` into `into`, then a warning for each option the table does
    /// not know.
    pub(super) fn read<T>(&mut self, table: &Section<T>, into: &mut T) {
        for opt in table.options {
            if table.one_of.contains(&opt.name) {
                // The group is read where its first option stands.
                if table.one_of[0] == opt.name {
                    if let Some((name, line, v)) = self.one_of(table.one_of) {
                        if let Some(given) = table.options.iter().find(|o| o.name == name) {
                            self.value(given, line, v, into);
                        }
                    }
                }
                continue;
            }
            match opt.ty {
                // Not the daemon's: known only so that setting it is no warning.
                Type::Text => {}
                Type::Hosts { min, max } => {
                    if let Some(hosts) = self.hosts(opt.name, min, max) {
                        (opt.set)(into, Value::Hosts(&hosts));
                    }
                }
                Type::Ports { max } => {
                    if let Some(ports) = self.ports(opt.name, max) {
                        (opt.set)(into, Value::Ports(&ports));
                    }
                }
                Type::Uses { max } => {
                    if let Some(names) = self.uses(opt.name, max) {
                        (opt.set)(into, Value::Uses(&names));
                    }
                }
                _ => {
                    if let Some((option, v)) = self.single(opt.name) {
                        self.value(opt, option.line(), v, into);
                    }
                }
            }
        }
        for option in self.section.options() {
            if !table.options.iter().any(|o| o.name == option.name()) {
                self.report.warnings.push(ConfigError {
                    line: option.line(),
                    problem: Problem::UnknownOption { section: self.label.clone(), option: option.name().into() },
                });
            }
        }
    }

    fn value<T>(&mut self, opt: &Opt<T>, line: u32, v: &str, into: &mut T) {
        match parse(&opt.ty, v) {
            Ok(value) => (opt.set)(into, value),
            Err(why) => self.bad(line, opt.name, v, why),
        }
    }

    /// Of `names` (a table's `one_of`), exactly one must be given: that one with its line
    /// and value, or `None` after the error.
    fn one_of(&mut self, names: &[&'static str]) -> Option<(&'static str, u32, &'a str)> {
        let mut first: Option<(&'static str, u32, &'a str)> = None;
        let mut clash = false;
        for &name in names {
            let Some((option, v)) = self.single(name) else { continue };
            match first {
                None => first = Some((name, option.line(), v)),
                Some((earlier, ..)) if !clash => {
                    clash = true;
                    let what = format!("options '{earlier}' and '{name}' exclude each other: give one");
                    self.section_error(option.line(), what);
                }
                Some(_) => {}
            }
        }
        if first.is_none() {
            let what = format!("option '{}' is missing", names.join("' or '"));
            self.section_error(self.section.line(), what);
        }
        first.filter(|_| !clash)
    }

    /// A [`Type::Hosts`] list (`None` if not given): each bad, repeated or surplus entry is
    /// an error of its own line; a missing list, when `min` > 0, one of the section.
    fn hosts(&mut self, name: &'static str, min: u8, max: u8) -> Option<heapless::Vec<IpAddr, MAX_TARGETS>> {
        let Some(option) = self.section.option(name) else {
            if min > 0 {
                let what = format!("no 'list {name}': at least one Internet host to probe is needed");
                self.section_error(self.section.line(), what);
            }
            return None;
        };
        let mut hosts: heapless::Vec<IpAddr, MAX_TARGETS> = heapless::Vec::new();
        for (v, line) in option.values() {
            let why = match v.parse::<IpAddr>() {
                Ok(ip) if !usable_target(ip) => Some(
                    if ip.is_ipv6() && !usable_unicast6(ip) {
                        "is not a unicast address"
                    } else if ip.is_ipv6() {
                        "is a link-local address, not an Internet host"
                    } else {
                        "is not a unicast address"
                    }
                    .to_string(),
                ),
                Ok(ip) if hosts.contains(&ip) => Some("is listed twice".to_string()),
                Ok(ip) => match hosts.len() < usize::from(max) && hosts.push(ip).is_ok() {
                    true => None,
                    false => Some(format!("is one more than the {max} targets allowed")),
                },
                Err(_) if v.contains(':') => Some("is not an IPv6 address".into()),
                Err(_) if v.chars().any(|c| c.is_ascii_alphabetic()) => {
                    Some("is not an IP address (host names are not resolved: use an address)".into())
                }
                Err(_) => Some("is not an IPv4 or IPv6 address".into()),
            };
            if let Some(why) = why {
                self.bad(line, name, v, why);
            }
        }
        Some(hosts)
    }
}

impl<'a> Reader<'_, 'a> {
    /// A [`Type::Ports`] option (`None` if not given): comma lists, given once or as a
    /// `list`; each bad or surplus entry is an error of its line.
    fn ports(&mut self, name: &'static str, max: u8) -> Option<Ports> {
        let option = self.section.option(name)?;
        let mut ports = Ports::new();
        for (v, line) in option.values() {
            for item in v.split(',') {
                let why = match parse_port_range(item) {
                    Some(range) if ports.contains(&range) => Some("is listed twice".to_string()),
                    Some(range) => match ports.len() < usize::from(max) && ports.push(range).is_ok() {
                        true => None,
                        false => Some(format!("is one more than the {max} ports or ranges allowed")),
                    },
                    None if item
                        .split_once('-')
                        .is_some_and(|(a, b)| a.parse::<u16>().ok() > b.parse::<u16>().ok()) =>
                    {
                        Some("is a range that ends before it starts".into())
                    }
                    None => Some("is not a port (1-65535) or a range a-b".into()),
                };
                if let Some(why) = why {
                    self.bad(line, name, item, why);
                }
            }
        }
        Some(ports)
    }

    /// A [`Type::Uses`] list (`None` if not given): interface names or `balance`, each at
    /// most once. Whether the names exist is checked with the interfaces.
    fn uses(&mut self, name: &'static str, max: u8) -> Option<heapless::Vec<WanName, { MAX_WANS + 1 }>> {
        let option = self.section.option(name)?;
        let mut names: heapless::Vec<WanName, { MAX_WANS + 1 }> = heapless::Vec::new();
        for (v, line) in option.values() {
            let why = if v.is_empty() || v.len() > NAME_MAX || !v.bytes().all(|b| options::NAME_CHARS.allows(b)) {
                Some(format!(
                    "is not an interface name (1-{NAME_MAX} characters of A-Z, a-z, 0-9, _) or '{USE_BALANCE}'"
                ))
            } else if names.iter().any(|n| n == v) {
                Some("is listed twice".into())
            } else if names.len() >= usize::from(max) || names.push(truncated(v)).is_err() {
                Some(format!("is one more than the {max} entries allowed"))
            } else {
                None
            };
            if let Some(why) = why {
                self.bad(line, name, v, why);
            }
        }
        Some(names)
    }
}
