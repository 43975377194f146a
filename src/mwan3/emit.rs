//! The text of the translated config: `config` sections of options, each preceded by the
//! notices about it as `# mwan3:LINE: ...` comments (libuci reads comments anywhere).

use super::Notice;
use crate::uci;
use core::fmt::{self, Write};

/// The first lines of every translation.
const HEADER: &str = "\
# dualwan config translated from an mwan3 config by `dualwan import-mwan3`.
# A line '# mwan3:N: ...' is about line N of the mwan3 file (without N: about
# the whole file): what could not be translated, or what to know about what
# was. Check the result with `dualwan check -c FILE` before starting dualwan.
";

/// One section to write; one without a name was not translated and is written as its
/// notices alone.
#[derive(Default)]
pub(super) struct Section {
    /// `config TYPE`.
    pub ty: &'static str,
    /// Its name, `None` when only its notices remain.
    pub name: Option<String>,
    /// What to know about it.
    pub notices: Vec<Notice>,
    /// Its `option` and `list` lines, as written (the text is built as it goes: one
    /// string, rather than a list of values, keeps the binary small).
    pub body: String,
    /// Where in `body` the lines that are decided later go (an interface's metric and
    /// weight, after its `network`).
    pub mark: usize,
}

impl Section {
    /// A section of type `ty` called `name`.
    pub fn new(ty: &'static str, name: &str) -> Section {
        Section { ty, name: Some(name.into()), ..Section::default() }
    }

    /// What is left of a section that was not translated: its notices.
    pub fn dropped(ty: &'static str, notices: Vec<Notice>) -> Section {
        Section { ty, notices, ..Section::default() }
    }

    /// Adds `option NAME 'VALUE'`.
    #[inline(never)]
    pub fn option(&mut self, name: &str, value: &dyn fmt::Display) {
        self.line("option", name, value);
    }

    /// Adds `list NAME 'VALUE'`.
    #[inline(never)]
    pub fn list(&mut self, name: &str, value: &dyn fmt::Display) {
        self.line("list", name, value);
    }

    fn line(&mut self, keyword: &str, name: &str, value: &dyn fmt::Display) {
        let value = value.to_string();
        let _ = write!(self.body, "\t{keyword} {name} ");
        let _ = uci::write_quoted(&mut self.body, &value);
        self.body.push('\n');
    }
}

/// The whole config.
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
        write_section(&mut text, self.globals, &mut notices);
        for section in self.interfaces.into_iter().chain(self.rules) {
            write_section(&mut text, section, &mut notices);
        }
        (text, notices)
    }
}

/// In the order of the mwan3 file, keeping the order of notices about one line: an
/// insertion sort (a section has a handful), far smaller in the binary than the standard
/// library's sorts.
fn sort_by_line(notices: &mut [Notice]) {
    for i in 1..notices.len() {
        let mut j = i;
        while j > 0 && notices[j - 1].line > notices[j].line {
            notices.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Writes section `s`, and moves its notices to `notices`.
fn write_section(out: &mut String, mut s: Section, notices: &mut Vec<Notice>) {
    sort_by_line(&mut s.notices);
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
    out.push_str(&s.body);
    notices.append(&mut s.notices);
}
