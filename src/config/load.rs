//! Loading: config text or parsed UCI into a [`Config`], section by section (globals,
//! interfaces, then the rules, which name the interfaces), with the checks between the
//! options of one section, between interfaces and between rules. Every problem is
//! collected into the [`Report`], not just the first.

use super::reader::{label, Reader};
use super::{
    options, Config, ConfigError, Globals, Mode, Policy, PolicyFamily, Problem, Report, Source, Use, Wan, WanSet,
    BALANCE_SETS, MAX_WANS, NAME_MAX, POLICY_SLOTS, POLICY_SLOT_FIRST,
};
use crate::options::{KERNEL_TABLES, USE_BALANCE};
use crate::route::Family;
use crate::uci::{self, Package, SectionRef};
use std::string::String;
use std::vec::Vec;

/// Parses and validates config text.
pub fn load_str(text: &str) -> (Option<Config>, Report) {
    let mut report = Report::default();
    match uci::parse(text) {
        Ok(package) => {
            let config = from_package(&package, &mut report);
            let config = if report.errors.is_empty() { config } else { None };
            report.errors.sort_by_key(|e| e.line);
            report.warnings.sort_by_key(|e| e.line);
            (config, report)
        }
        Err(e) => {
            // libuci's own count can point before the error (see `uci::ParseError`), and
            // names the end of the file for a quote opened far above.
            report.errors.push(ConfigError { line: e.blamed_line(), problem: Problem::Parse(e) });
            (None, report)
        }
    }
}

/// Builds a [`Config`] from parsed UCI, collecting every problem into `report`.
pub fn from_package(package: &Package, report: &mut Report) -> Option<Config> {
    let mut globals = Globals::default();
    let mut globals_seen: Option<u32> = None;
    let mut wans: heapless::Vec<Wan, MAX_WANS> = heapless::Vec::new();
    let mut too_many_reported = false;
    // Read once the interfaces they name are all known.
    let mut rule_sections: Vec<SectionRef<'_>> = Vec::new();

    for section in package.sections() {
        match section.ty() {
            "globals" => {
                if let Some(first) = globals_seen {
                    report.errors.push(ConfigError {
                        line: section.line(),
                        problem: Problem::Section {
                            section: label(&section),
                            what: format!("second globals section (the first is on line {first})"),
                        },
                    });
                    continue;
                }
                globals_seen = Some(section.line());
                read_globals(&section, &mut globals, report);
            }
            "interface" => {
                let wan = read_wan(&section, report);
                if wans.push(wan).is_err() && !too_many_reported {
                    too_many_reported = true;
                    report.errors.push(ConfigError { line: section.line(), problem: Problem::TooManyWans });
                }
            }
            "rule" => rule_sections.push(section),
            other => report
                .warnings
                .push(ConfigError { line: section.line(), problem: Problem::UnknownSection { ty: other.into() } }),
        }
    }

    check_wans(package, &wans, globals.mode, report);
    let mut config = Config { globals, wans, policies: heapless::Vec::new() };
    for section in &rule_sections {
        let policy = read_policy(section, &config, report);
        if config.policies.push(policy).is_err() {
            report.errors.push(ConfigError { line: section.line(), problem: Problem::TooManyPolicies });
            break;
        }
    }
    check_policies(&config, report);
    if report.errors.is_empty() {
        Some(config)
    } else {
        None
    }
}

fn read_globals(section: &SectionRef<'_>, g: &mut Globals, report: &mut Report) {
    let mut r = Reader { section, label: label(section), report };
    r.read(&options::GLOBALS, g);
    let tables = g.table_range();
    if tables.start() <= &KERNEL_TABLES.1 && tables.end() >= &KERNEL_TABLES.0 {
        if let Some(option) = section.option("table_base") {
            let value = option.values().next().map(|(v, _)| v).unwrap_or("");
            let (first, last) = KERNEL_TABLES;
            let why = format!(
                "makes our tables {}..{} overlap the kernel's tables {first}-{last}",
                tables.start(),
                tables.end()
            );
            r.bad(option.line(), "table_base", value, why);
        }
    }
}

fn read_wan(section: &SectionRef<'_>, report: &mut Report) -> Wan {
    let name = section.name().unwrap_or("");
    let mut wan = Wan::with_defaults(name, "");
    wan.line = section.line();
    let mut r = Reader { section, label: label(section), report };
    if section.name().is_none() {
        r.section_error(section.line(), "interface sections need a name (config interface 'wan')".into());
    } else if name.len() > NAME_MAX {
        r.section_error(section.line(), format!("name is longer than {NAME_MAX} characters"));
    }
    r.read(&options::INTERFACE, &mut wan);
    if usize::from(wan.reliability) > wan.track_ip.len() && !wan.track_ip.is_empty() {
        let line = section.option("reliability").map(|o| o.line()).unwrap_or(section.line());
        let why = format!("is more than the {} track_ip targets", wan.track_ip.len());
        r.bad(line, "reliability", &wan.reliability.to_string(), why);
    }
    if let (Some(port), false) = (section.option("track_port"), wan.probes_tcp()) {
        let value = port.values().next().map_or("", |(v, _)| v).to_string();
        r.report.warnings.push(ConfigError {
            line: port.line(),
            problem: Problem::Value {
                section: r.label.clone(),
                option: "track_port",
                value,
                why: "does nothing: track_method is icmp".into(),
            },
        });
    }
    // Recovery must be stricter than failure, or a line would go down and come back on the
    // same figures. The message points at the recovery option, or at the failure one if
    // only that was given.
    let pairs = [
        ("recovery_loss", "failure_loss", u32::from(wan.recovery_loss), u32::from(wan.failure_loss)),
        ("recovery_latency", "failure_latency", wan.recovery_latency, wan.failure_latency),
    ];
    for (recovery, failure, rv, fv) in pairs {
        if rv < fv {
            continue;
        }
        let failure_only = section.option(recovery).is_none() && section.option(failure).is_some();
        let (option, value, why) = if failure_only {
            (failure, fv, format!("is not above {recovery} {rv} (recovery must be stricter than failure)"))
        } else {
            (recovery, rv, format!("is not below {failure} {fv} (recovery must be stricter than failure)"))
        };
        let line = section.option(option).map_or(section.line(), |o| o.line());
        r.bad(line, option, &value.to_string(), why);
    }
    wan
}

/// Checks that concern several interfaces at once. In balance mode interfaces of equal
/// metric share the traffic, so equal metrics are allowed there. A clash points at the
/// later interface's own `device`, `network` or `metric` line, or at its section's line
/// when the value is a default.
fn check_wans(package: &Package, wans: &[Wan], mode: Mode, report: &mut Report) {
    let line_of =
        |w: &Wan, option: &str| package.section(&w.name).and_then(|s| s.option(option)).map_or(w.line, |o| o.line());
    let enabled: Vec<&Wan> = wans.iter().filter(|w| w.enabled && !source_is_empty(&w.source)).collect();
    for (i, w) in enabled.iter().enumerate() {
        for earlier in &enabled[..i] {
            let taken = match (&earlier.source, &w.source) {
                (Source::Device(a), Source::Device(b)) if a == b => Some(("device", format!("device '{b}'"))),
                (Source::Network(a), Source::Network(b)) if a == b => Some(("network", format!("network '{b}'"))),
                _ => None,
            };
            if let Some((option, what)) = taken {
                report.errors.push(ConfigError {
                    line: line_of(w, option),
                    problem: Problem::Section {
                        section: format!("interface '{}'", w.name),
                        what: format!("{what} is already used by interface '{}'", earlier.name),
                    },
                });
            }
            if earlier.metric == w.metric && mode == Mode::Failover {
                report.errors.push(ConfigError {
                    line: line_of(w, "metric"),
                    problem: Problem::Section {
                        section: format!("interface '{}'", w.name),
                        what: format!(
                            "metric {} is already used by interface '{}' (metrics of enabled interfaces must differ)",
                            w.metric, earlier.name
                        ),
                    },
                });
            }
        }
    }
    let mut on = wans.iter().filter(|w| w.enabled);
    match (on.next(), on.next()) {
        (None, _) => {
            let line = wans.first().map_or(0, |w| w.line);
            report.errors.push(ConfigError { line, problem: Problem::NoEnabledWan });
        }
        // Valid (a second WAN may be planned), but nothing would ever fail over.
        (Some(only), None) => report
            .warnings
            .push(ConfigError { line: only.line, problem: Problem::SingleWan { name: only.name.to_string() } }),
        (Some(_), Some(_)) => {}
    }
}

/// Reads one `config rule` section: its options, then what needs them together or the
/// interfaces (families of the addresses, ports and proto, the `use` names).
fn read_policy(section: &SectionRef<'_>, config: &Config, report: &mut Report) -> Policy {
    let name = section.name().unwrap_or("");
    let mut p = Policy::with_defaults(name);
    p.line = section.line();
    let mut r = Reader { section, label: label(section), report };
    if section.name().is_none() {
        r.section_error(section.line(), "rule sections need a name (config rule 'voip')".into());
    } else if name.len() > NAME_MAX {
        r.section_error(section.line(), format!("name is longer than {NAME_MAX} characters"));
    }
    r.read(&options::RULE, &mut p);
    let line_of = |option: &str| section.option(option).map_or(section.line(), |o| o.line());
    let value_of = |option: &str| {
        section.option(option).and_then(|o| o.values().next()).map_or(String::new(), |(v, _)| v.to_string())
    };

    // One family per rule: the addresses', or the one given.
    let (src, dst) = (p.src_ip.map(|a| a.family()), p.dest_ip.map(|a| a.family()));
    if let (Some(a), Some(b)) = (src, dst) {
        if a != b {
            r.bad(
                line_of("dest_ip"),
                "dest_ip",
                &value_of("dest_ip"),
                format!("is {b} but src_ip is {a}: a rule is of one family"),
            );
        }
    }
    match (section.option("family").is_some(), src.or(dst)) {
        (false, Some(f)) => p.family = PolicyFamily::of(f),
        (false, None) => p.family = PolicyFamily::Any,
        (true, Some(f)) if p.family != PolicyFamily::of(f) => {
            let option = if src.is_some() { "src_ip" } else { "dest_ip" };
            let why = format!("does not match {option} '{}', an {f} address", value_of(option));
            r.bad(line_of("family"), "family", &value_of("family"), why);
        }
        (true, _) => {}
    }
    for family in Family::ALL {
        if p.family.covers(family) && p.family != PolicyFamily::Any && !config.tracks(family) {
            let what = format!(
                "no enabled interface tracks {family}: dualwan leaves {family} alone and this rule does nothing"
            );
            r.report.warnings.push(ConfigError {
                line: section.line(),
                problem: Problem::Section { section: r.label.clone(), what },
            });
        }
    }

    // Ports need a protocol that has them.
    if !p.proto.has_ports() {
        let proto = if section.option("proto").is_some() { value_of("proto") } else { "all".into() };
        for option in ["src_port", "dest_port"] {
            if section.option(option).is_some() {
                let why = format!("needs proto tcp or udp (proto is '{proto}')");
                r.bad(line_of(option), option, &value_of(option), why);
            }
        }
    }

    // `use`: interface names (each an interface section), and `balance`.
    let mut ordered: heapless::Vec<u8, MAX_WANS> = heapless::Vec::new();
    let mut named = WanSet::EMPTY;
    let mut balance = false;
    for (v, line) in section.option("use").map(|o| o.values().collect::<Vec<_>>()).unwrap_or_default() {
        if v == USE_BALANCE {
            balance = true;
            continue;
        }
        match config.wan(v) {
            Some((i, w)) => {
                if !named.contains(i) {
                    named.insert(i);
                    let _ = ordered.push(i as u8);
                }
                if !w.enabled {
                    r.report.warnings.push(ConfigError {
                        line,
                        problem: Problem::Value {
                            section: r.label.clone(),
                            option: "use",
                            value: v.into(),
                            why: "is a disabled interface: never used".into(),
                        },
                    });
                }
            }
            None if v.len() <= NAME_MAX && v.bytes().all(|b| options::NAME_CHARS.allows(b)) => r.bad(
                line,
                "use",
                v,
                format!("is not an interface section (config interface '{v}') nor '{USE_BALANCE}'"),
            ),
            None => {} // reported by `Reader::uses`
        }
    }
    p.uses = match (balance, ordered.is_empty()) {
        (false, true) => Use::Global,
        (false, false) => Use::Ordered(ordered),
        (true, true) => Use::Balance { wans: config.enabled_wans(), tiered: true },
        (true, false) => Use::Balance { wans: named, tiered: false },
    };
    p
}

/// Checks between rules: their kernel rules fit the priorities set aside for them, and
/// their balance sets the tables.
fn check_policies(config: &Config, report: &mut Report) {
    let mut used = 0;
    let mut sets: heapless::Vec<(WanSet, bool), BALANCE_SETS> = heapless::Vec::new();
    let global = (config.enabled_wans(), true);
    for p in &config.policies {
        used += p.slots();
        let section = format!("rule '{}'", p.name);
        if used > POLICY_SLOTS {
            let what = format!(
                "needs {} kernel rules (one per port combination), {used} in all: more than the {POLICY_SLOTS} priorities \
                 rule_priority+{POLICY_SLOT_FIRST} to +{} hold",
                p.slots(),
                POLICY_SLOT_FIRST + POLICY_SLOTS - 1
            );
            report.errors.push(ConfigError { line: p.line, problem: Problem::Section { section, what } });
            return;
        }
        if let Use::Balance { wans, tiered } = p.uses {
            let set = (wans, tiered);
            let catch_all = config.globals.mode == Mode::Balance && set == global;
            let own = !catch_all && !sets.contains(&set);
            if own && sets.push(set).is_err() {
                let what = format!("balances over more different sets of interfaces than the {BALANCE_SETS} allowed");
                report.errors.push(ConfigError { line: p.line, problem: Problem::Section { section, what } });
                return;
            }
        }
    }
}

/// An interface whose device or network was missing or invalid (already reported).
fn source_is_empty(source: &Source) -> bool {
    match source {
        Source::Device(d) => d.is_empty(),
        Source::Network(n) => n.is_empty(),
    }
}
