//! The effective configuration, every value included, written in UCI syntax (what
//! `dualwan check` prints): each value quoted as the reader reads it back.

use super::{Config, Gateway};
use crate::options::{self, Section, Type, Value, BOOL_FALSE, BOOL_TRUE, GATEWAY_WORDS};
use crate::uci;
use core::fmt;

/// Writes the effective configuration, every value included, in UCI syntax (what
/// `dualwan check` prints).
pub fn write_effective(config: &Config, out: &mut dyn fmt::Write) -> fmt::Result {
    writeln!(out, "config globals 'globals'")?;
    write_options(&options::GLOBALS, &config.globals, out)?;
    for w in &config.wans {
        writeln!(out)?;
        writeln!(out, "config interface '{}'", w.name)?;
        write_options(&options::INTERFACE, w, out)?;
    }
    for p in &config.policies {
        writeln!(out)?;
        writeln!(out, "config rule '{}'", p.name)?;
        write_options(&options::RULE, p, out)?;
    }
    Ok(())
}

/// Each option of `table` that has a value in `from`, in table order.
fn write_options<T>(table: &Section<T>, from: &T, out: &mut dyn fmt::Write) -> fmt::Result {
    for opt in table.options {
        match (opt.get)(from) {
            Some(Value::Hosts(ips)) => {
                for ip in ips {
                    writeln!(out, "\tlist {} '{ip}'", opt.name)?;
                }
            }
            Some(Value::Uses(names)) => {
                for name in names {
                    writeln!(out, "\tlist {} '{name}'", opt.name)?;
                }
            }
            Some(value) => {
                write!(out, "\toption {} ", opt.name)?;
                write_value(&opt.ty, value, out)?;
                writeln!(out)?;
            }
            None => {}
        }
    }
    Ok(())
}

/// One value, quoted, as [`parse`](super::value::parse) reads it back.
pub(super) fn write_value(ty: &Type, value: Value<'_>, out: &mut dyn fmt::Write) -> fmt::Result {
    match value {
        Value::Bool(b) => write!(out, "'{}'", if b { BOOL_TRUE[0] } else { BOOL_FALSE[0] }),
        Value::Uint(n) => write!(out, "'{n}'"),
        Value::Seconds(d) => write!(out, "'{d}'"),
        Value::Word(i) => match ty {
            Type::Enum { words, .. } => write!(out, "'{}'", words.get(i).copied().unwrap_or_default()),
            _ => Ok(()),
        },
        Value::Gateway(Gateway::Auto) => write!(out, "'{}'", GATEWAY_WORDS[0]),
        Value::Gateway(Gateway::Fixed(ip)) => write!(out, "'{ip}'"),
        // A kernel device name may hold a quote: write it as UCI reads it back.
        Value::Name(s) => uci::write_quoted(out, s),
        // One `list` line each: see `write_options`.
        Value::Hosts(_) | Value::Uses(_) => Ok(()),
        Value::Prefix(p) if p.len == p.family().max_len() => write!(out, "'{}'", p.addr),
        Value::Prefix(p) => write!(out, "'{}/{}'", p.addr, p.len),
        Value::Ports(ports) => {
            out.write_char('\'')?;
            for (i, p) in ports.iter().enumerate() {
                write!(out, "{}{p}", if i == 0 { "" } else { "," })?;
            }
            out.write_char('\'')
        }
    }
}
