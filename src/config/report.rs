//! What loading a config says: each error or warning as a [`Problem`] with the line it
//! points at, printed `FILE:LINE: what is wrong`, and the [`Report`] that collects them.

use super::{FILE_MAX, MAX_POLICIES, MAX_WANS};
use crate::uci;
use core::fmt;
use std::string::String;
use std::vec::Vec;

/// What a config message is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file is not valid UCI.
    Parse(uci::ParseError),
    /// The file could not be read.
    Read(String),
    /// The file is larger than [`FILE_MAX`].
    TooLarge(usize),
    /// An option's value has the wrong type or range: `(section, option, value, why)`.
    Value { section: String, option: &'static str, value: String, why: String },
    /// A section-level problem: `(section, what)`.
    Section { section: String, what: String },
    /// More interfaces than [`MAX_WANS`].
    TooManyWans,
    /// More `config rule` sections than [`MAX_POLICIES`].
    TooManyPolicies,
    /// No interface is enabled.
    NoEnabledWan,
    /// Only one interface is enabled: nothing to fail over to (warning).
    SingleWan { name: String },
    /// A section type this version does not know (warning).
    UnknownSection { ty: String },
    /// An option this version does not know (warning).
    UnknownOption { section: String, option: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Parse(e) => write!(f, "{}", e.explained()),
            Problem::Read(e) => write!(f, "cannot read: {e}"),
            Problem::TooLarge(n) => {
                write!(f, "file is {n} bytes, more than the {FILE_MAX} allowed")
            }
            Problem::Value { section, option, value, why } => {
                write!(f, "option '{option}' in {section}: '{value}' {why}")
            }
            Problem::Section { section, what } => write!(f, "{section}: {what}"),
            Problem::TooManyWans => write!(f, "more than {MAX_WANS} interface sections"),
            Problem::TooManyPolicies => write!(f, "more than {MAX_POLICIES} rule sections"),
            Problem::NoEnabledWan => {
                write!(f, "no enabled interface: nothing to fail over between")
            }
            Problem::SingleWan { name } => {
                write!(f, "interface '{name}' is the only enabled interface: failover needs two")
            }
            Problem::UnknownSection { ty } => write!(f, "unknown section type '{ty}' ignored"),
            Problem::UnknownOption { section, option } => {
                write!(f, "unknown option '{option}' in {section} ignored")
            }
        }
    }
}

/// One error or warning, with the line it points at (0: the file as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line in the config file.
    pub line: u32,
    /// What is wrong.
    pub problem: Problem,
}

impl ConfigError {
    /// `FILE:LINE: what is wrong`, the form every config message takes.
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        struct In<'a>(&'a str, &'a ConfigError);
        impl fmt::Display for In<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1.line == 0 {
                    write!(f, "{}: {}", self.0, self.1.problem)
                } else {
                    write!(f, "{}:{}: {}", self.0, self.1.line, self.1.problem)
                }
            }
        }
        In(file, self)
    }
}

/// The result of loading: the config (if there were no errors) and all messages.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Errors: any makes the config unusable.
    pub errors: Vec<ConfigError>,
    /// Warnings: reported, the config is still used.
    pub warnings: Vec<ConfigError>,
}
