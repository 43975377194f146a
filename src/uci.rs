//! UCI file format parser (pure): `&str` in, a [`Package`] of sections and options out.
//!
//! STUB: the API below is fixed; the bodies are being written.

use core::fmt;

/// A parse error as libuci reports it: `Parse error (REASON) at line N, byte M`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number, counted the way libuci counts it.
    pub line: u32,
    /// libuci's byte offset within its current line buffer.
    pub byte: usize,
    /// libuci's reason text, e.g. `invalid command`.
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Parse error ({}) at line {}, byte {}",
            self.reason, self.line, self.byte
        )
    }
}

/// A parsed config file.
#[derive(Clone, Debug, Default)]
pub struct Package {}

/// One section of a package.
#[derive(Copy, Clone, Debug)]
pub struct SectionRef<'a> {
    _p: &'a Package,
}

/// One option (or list) of a section.
#[derive(Copy, Clone, Debug)]
pub struct OptionRef<'a> {
    _p: &'a Package,
}

/// Parses a whole file in libuci's strict mode: the first error rejects it.
pub fn parse(_text: &str) -> Result<Package, ParseError> {
    todo!()
}

impl Package {
    /// Sections in file order.
    pub fn sections(&self) -> impl Iterator<Item = SectionRef<'_>> + '_ {
        core::iter::empty()
    }
    /// Writes what `uci show NAME` prints.
    pub fn show(&self, _package: &str, _out: &mut dyn fmt::Write) -> fmt::Result {
        todo!()
    }
    /// Writes what `uci export NAME` prints.
    pub fn export(&self, _package: &str, _out: &mut dyn fmt::Write) -> fmt::Result {
        todo!()
    }
}

impl<'a> SectionRef<'a> {
    /// Section type (`config TYPE`).
    pub fn ty(&self) -> &'a str {
        todo!()
    }
    /// Section name, `None` for an anonymous section.
    pub fn name(&self) -> Option<&'a str> {
        todo!()
    }
    /// Line of the `config` command that opened it.
    pub fn line(&self) -> u32 {
        todo!()
    }
    /// Options in the order uci shows them.
    pub fn options(&self) -> impl Iterator<Item = OptionRef<'a>> + 'a {
        core::iter::empty()
    }
    /// The option called `name`, if set.
    pub fn option(&self, name: &str) -> Option<OptionRef<'a>> {
        self.options().find(|o| o.name() == name)
    }
}

impl<'a> OptionRef<'a> {
    /// Option name.
    pub fn name(&self) -> &'a str {
        todo!()
    }
    /// True if it was written with `list` (or became a list).
    pub fn is_list(&self) -> bool {
        todo!()
    }
    /// Line where its value was last set (for a list: its first element).
    pub fn line(&self) -> u32 {
        todo!()
    }
    /// Its values with the line each was written on: one for an option, all elements for a list.
    pub fn values(&self) -> impl Iterator<Item = (&'a str, u32)> + 'a {
        core::iter::empty()
    }
}
