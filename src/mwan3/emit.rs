//! The text of the translated config: `config` sections of options, each preceded by the
//! notices about it as `# mwan3:LINE: ...` comments (libuci reads comments anywhere).

use super::Notice;
use crate::uci;
use core::fmt::Write;

/// The first lines of every translation.
const HEADER: &str = "\
# dualwan config translated from an mwan3 config by `dualwan import-mwan3`.
# A line '# mwan3:N: ...' is about line N of the mwan3 file (without N: about
# the whole file): what could not be translated, or what to know about what
# was. Check the result with `dualwan check -c FILE` before starting dualwan.
";

/// One section to write; one without a name was not translated and is written as its
/// notices alone.
#[derive(Debug, Default)]
pub(super) struct Section {
    /// `config TYPE`.
    pub ty: &'static str,
    /// Its name, `None` when only its notices remain.
    pub name: Option<String>,
    /// What to know about it.
    pub notices: Vec<Notice>,
    /// `option`s and `list`s, in the order written.
    pub options: Vec<Opt>,
}

impl Section {
    /// A section of type `ty` called `name`.
    pub fn new(ty: &'static str, name: &str) -> Section {
        Section { ty, name: Some(name.into()), ..Section::default() }
    }

    /// Adds `option NAME 'VALUE'`.
    pub fn option(&mut self, name: &'static str, value: impl ToString) {
        self.options.push(Opt { list: false, name, value: value.to_string() });
    }

    /// Adds `list NAME 'VALUE'`.
    pub fn list(&mut self, name: &'static str, value: impl ToString) {
        self.options.push(Opt { list: true, name, value: value.to_string() });
    }
}

/// One `option` or `list` line.
#[derive(Debug)]
pub(super) struct Opt {
    /// `list` rather than `option`.
    pub list: bool,
    /// Option name.
    pub name: &'static str,
    /// Its value, quoted when written.
    pub value: String,
}

/// The whole config.
#[derive(Debug)]
pub(super) struct Output {
    /// `config globals 'globals'`, whose notices include those about the file as a whole.
    pub globals: Section,
    /// `config interface` sections (and interfaces left out), in mwan3's order.
    pub interfaces: Vec<Section>,
    /// `config rule` sections (and rules left out), in mwan3's order.
    pub rules: Vec<Section>,
}

impl Default for Output {
    fn default() -> Output {
        Output { globals: Section::new("globals", "globals"), interfaces: Vec::new(), rules: Vec::new() }
    }
}

impl Output {
    /// The text, and every notice in the order it appears there.
    pub fn write(self) -> (String, Vec<Notice>) {
        let mut text = String::from(HEADER);
        let mut notices = Vec::new();
        for mut section in core::iter::once(self.globals).chain(self.interfaces).chain(self.rules) {
            // In the order of the mwan3 file.
            super::sort_by_key(&mut section.notices, |n| n.line);
            write_section(&mut text, &section);
            notices.extend(section.notices);
        }
        (text, notices)
    }
}

fn write_section(out: &mut String, s: &Section) {
    out.push('\n');
    let indent = if let Some(name) = &s.name {
        let _ = writeln!(out, "config {} '{name}'", s.ty);
        "\t"
    } else {
        ""
    };
    for n in &s.notices {
        let _ = match n.line {
            0 => writeln!(out, "{indent}# mwan3: {n}"),
            line => writeln!(out, "{indent}# mwan3:{line}: {n}"),
        };
    }
    for o in &s.options {
        let _ = write!(out, "\t{} {} ", if o.list { "list" } else { "option" }, o.name);
        let _ = uci::write_quoted(out, &o.value);
        out.push('\n');
    }
}
