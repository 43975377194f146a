//! UCI config files (`/etc/config/NAME`) parsed the way libuci parses them, in strict mode.
//!
//! Contract: [`parse`] accepts exactly the files `uci show` accepts and rejects the others
//! with libuci's own `Parse error (REASON) at line N, byte M`; [`Package::show`] and
//! [`Package::export`] print what `uci show NAME` and `uci export NAME` print. The fixtures in
//! `tests/vectors/uci/` (recorded from the real tool) pin this down; `tests/uci_vectors.rs`
//! replays them, and `tests/uci_differential.rs` compares every run's thousands of generated
//! files with the real `uci` byte for byte.
//!
//! How libuci reads a file (openwrt/uci `file.c`), and what this module copies:
//! - Input comes one line at a time (`fgets`: a line ends after `\n`; `\r` is plain
//!   whitespace). The line counter only moves when a line read ends in `\n`, so an error on
//!   a last line without one reports the line before. A quoted string that runs off the end
//!   of a line, or a backslash right before it, appends the next line to the same buffer,
//!   which is why error bytes can exceed the length of any single line.
//! - The error byte is the parser's offset into that buffer. To get it right this parser
//!   keeps the same buffer and makes the same writes to it: the command word is cut out as
//!   `strtok(" \t")` does (a NUL after it), values are unquoted in place, `#` and an
//!   unquoted `;` are overwritten with NUL. Those writes have visible effects, e.g.
//!   `option a 1;option b 2` drops the second command while `option a '1';option b 2`
//!   runs it.
//! - Model updates follow `list.c`: an `option` with an empty value changes nothing, a
//!   repeated `option` replaces the value where the option already stands, a `list` onto a
//!   plain option turns it into a list at the same place, a `config` naming an existing
//!   section of the same type continues that section.
//!
//! Deliberately stricter than libuci (the differential test's `STRICTER` list, which it
//! leaves out of the comparison): a NUL byte anywhere is an error at its line and column.
//! libuci's `fgets` and `strlen` silently drop the rest of the line after a NUL and glue the
//! next line on (`option a 'x<NUL>y'` then `option b c'` sets `a` to `x<TAB>option b c`).
//! And the input is `&str`: the config reader rejects a file that is not UTF-8 before it gets
//! here (`line N: not valid UTF-8`), where libuci takes any bytes.
//!
//! Beyond libuci: a quote never closed is also named where it was opened
//! ([`ParseError::quote_opened`]), where libuci only names the end of the file. No input
//! can make the parser panic, and one parse allocates a fixed set of
//! buffers sized from the input (one text arena, three record vectors, one line buffer).
//! Every section and value keeps the physical line its command was written on, for
//! `FILE:LINE:` messages.

use core::fmt;

/// A parse error as libuci reports it: `Parse error (REASON) at line N, byte M`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number, counted the way libuci counts it (it can be 0, or the line
    /// before, when the error is on a last line without a newline).
    pub line: u32,
    /// 1-based physical line the parser was reading when it failed: where the error is in
    /// an editor, and the `FILE:LINE:` of dualwan's own messages.
    pub physical: u32,
    /// libuci's byte offset within its current line buffer.
    pub byte: usize,
    /// libuci's reason text, e.g. `invalid command`.
    pub reason: &'static str,
    /// For a quote never closed: the physical line it was opened on (libuci only says
    /// where the file ended).
    pub quote_opened: Option<u32>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parse error ({}) at line {}, byte {}", self.reason, self.line, self.byte)
    }
}

impl ParseError {
    /// The physical line dualwan's own `FILE:LINE:` messages point at.
    pub fn blamed_line(&self) -> u32 {
        self.quote_opened.unwrap_or(self.physical)
    }

    /// The text of dualwan's own message for [`blamed_line`](Self::blamed_line): libuci's
    /// text, except for a quote never closed, which is named where it opened.
    pub fn explained(&self) -> impl fmt::Display + '_ {
        Explained(self)
    }
}

struct Explained<'a>(&'a ParseError);

impl fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.quote_opened {
            Some(_) => f.write_str("quote opened here is never closed"),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A byte range of the package text arena.
#[derive(Copy, Clone, Debug, Default)]
struct Span {
    start: usize,
    end: usize,
}

#[derive(Clone, Debug)]
struct Section {
    ty: Span,
    name: Option<Span>,
    line: u32,
    /// How many sections of the same type come before it (the N of `@TYPE[N]`).
    type_index: usize,
    /// First and last option, linked through `Opt::next`.
    options: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
struct Opt {
    name: Span,
    list: bool,
    /// First and last value, linked through `Value::next`; never empty.
    first: usize,
    last: usize,
    next: Option<usize>,
}

#[derive(Clone, Debug)]
struct Value {
    text: Span,
    line: u32,
    next: Option<usize>,
}

/// A parsed config file: sections, their options and values, in the order uci keeps them.
#[derive(Clone, Debug, Default)]
pub struct Package {
    /// Every decoded type, name and value, back to back; records point into it.
    text: String,
    sections: Vec<Section>,
    options: Vec<Opt>,
    /// Values replaced by a later `option` stay here, unlinked.
    values: Vec<Value>,
}

/// One section of a package.
#[derive(Copy, Clone, Debug)]
pub struct SectionRef<'a> {
    pkg: &'a Package,
    idx: usize,
}

/// One option (or list) of a section.
#[derive(Copy, Clone, Debug)]
pub struct OptionRef<'a> {
    pkg: &'a Package,
    idx: usize,
}

/// Parses a whole file in libuci's strict mode: the first error rejects it.
pub fn parse(text: &str) -> Result<Package, ParseError> {
    let src = text.as_bytes();
    if let Some(at) = src.iter().position(|&b| b == 0) {
        let before = src.get(..at).unwrap_or_default();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let newlines = before.iter().filter(|&&b| b == b'\n').count();
        let line = u32::try_from(newlines).unwrap_or(u32::MAX).saturating_add(1);
        return Err(ParseError {
            line,
            physical: line,
            byte: at - line_start,
            reason: "NUL byte in file",
            quote_opened: None,
        });
    }
    // Every command starts a line or follows a `;`, and creates at most one section, one
    // option and one value; decoded text never outgrows the bytes it came from.
    let commands = 1 + src.iter().filter(|&&b| b == b'\n' || b == b';').count();
    let mut parser = Parser {
        rd: Reader {
            src,
            next: 0,
            buf: Vec::with_capacity(src.len() + 1),
            filled: 0,
            pos: 0,
            line: 0,
            physical: 0,
            first_spanning_quote: None,
        },
        pkg: Package {
            text: String::with_capacity(src.len()),
            sections: Vec::with_capacity(commands),
            options: Vec::with_capacity(commands),
            values: Vec::with_capacity(commands),
        },
        section: None,
    };
    // libuci: `while (!feof) { pos = 0; uci_getln(0); if (buf[0]) parse_line(); }`
    while parser.rd.next < src.len() {
        parser.rd.pos = 0;
        parser.rd.first_spanning_quote = None;
        parser.rd.getln(0);
        if parser.rd.at(0) != 0 {
            parser.parse_line()?;
        }
    }
    Ok(parser.pkg)
}

/// C `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// libuci's line buffer and the cursor into it.
struct Reader<'t> {
    src: &'t [u8],
    /// Offset in `src` of the first byte not yet read.
    next: usize,
    /// The current logical line, always followed by a 0 (the C string end).
    buf: Vec<u8>,
    /// libuci's `buf_filled`: bytes read into `buf` by the last successful read.
    filled: usize,
    /// libuci's `pos`, the error byte.
    pos: usize,
    /// libuci's line counter: lines read that ended with `\n`.
    line: u32,
    /// Physical lines read so far, i.e. the line the cursor is on (reads only happen when
    /// the cursor reaches the end of the buffer).
    physical: u32,
    /// The physical line of the first quote of this logical line that ran past its line
    /// end. A quote left open pairs every later quote off by one, so the quote still open
    /// at the end of the file is usually far below the one that was forgotten.
    first_spanning_quote: Option<u32>,
}

impl Reader<'_> {
    /// The byte at `i`; 0 past the end, like the C string end.
    fn at(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn cur(&self) -> u8 {
        self.at(self.pos)
    }

    fn put(&mut self, i: usize, c: u8) {
        if let Some(b) = self.buf.get_mut(i) {
            *b = c;
        }
    }

    /// `uci_getln(offset)`: reads the next line into the buffer at `offset`, replacing
    /// whatever was there. At end of input only the terminating 0 is written and
    /// `filled` keeps its old value, as in libuci.
    fn getln(&mut self, offset: usize) {
        self.buf.truncate(offset);
        let rest = self.src.get(self.next..).unwrap_or_default();
        let n = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        if let Some(line) = rest.get(..n).filter(|l| !l.is_empty()) {
            self.buf.extend_from_slice(line);
            self.next += n;
            self.filled = self.buf.len();
            self.physical = self.physical.saturating_add(1);
            if line.last() == Some(&b'\n') {
                self.line = self.line.saturating_add(1);
            }
        }
        self.buf.push(0);
    }

    fn skip_whitespace(&mut self) {
        while is_space(self.cur()) {
            self.pos += 1;
        }
    }

    /// `addc`: moves one byte from the cursor down to `target`.
    fn addc(&mut self, target: &mut usize) {
        let c = self.cur();
        self.put(*target, c);
        *target += 1;
        self.pos += 1;
    }

    /// `parse_backslash`: steps over the backslash; at a line end joins the next line and
    /// returns false (nothing to copy), else true (copy the escaped byte as it is).
    fn backslash(&mut self) -> bool {
        self.pos += 1;
        let c = self.cur();
        let crlf_end = c == b'\r' && self.at(self.pos + 1) == b'\n' && self.at(self.pos + 2) == 0;
        if c == 0 || c == b'\n' || crlf_end {
            self.getln(self.pos);
            return false;
        }
        true
    }

    fn error(&self, reason: &'static str) -> ParseError {
        ParseError { line: self.line, physical: self.physical.max(1), byte: self.pos, reason, quote_opened: None }
    }

    /// Appends the next line to a quoted string opened on physical line `opened`, or fails
    /// at the end of the file. Then the quote to blame is the first of this logical line
    /// that ran past its line end, rather than the last one opened.
    fn quoted_line_end(&mut self, opened: u32, reason: &'static str) -> Result<(), ParseError> {
        let first = *self.first_spanning_quote.get_or_insert(opened);
        self.getln(self.pos);
        if self.cur() == 0 {
            return Err(ParseError { quote_opened: Some(first.max(1)), ..self.error(reason) });
        }
        Ok(())
    }

    /// `parse_single_quote`: no escapes; a line end is kept and the next line appended.
    fn single_quote(&mut self, target: &mut usize) -> Result<(), ParseError> {
        let opened = self.physical;
        self.pos += 1;
        loop {
            match self.cur() {
                b'\'' => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => self.quoted_line_end(opened, "EOF with unterminated '")?,
                _ => self.addc(target),
            }
        }
    }

    /// `parse_double_quote`: like single quotes, but a backslash escapes the next byte.
    fn double_quote(&mut self, target: &mut usize) -> Result<(), ParseError> {
        let opened = self.physical;
        self.pos += 1;
        loop {
            match self.cur() {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => self.quoted_line_end(opened, "EOF with unterminated \"")?,
                b'\\' => {
                    if self.backslash() {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    /// `parse_str`: decodes one argument in place from the cursor; returns where it ends.
    fn parse_str(&mut self) -> Result<usize, ParseError> {
        let mut target = self.pos;
        let mut at_semicolon = false;
        loop {
            match self.cur() {
                b'\'' => self.single_quote(&mut target)?,
                b'"' => self.double_quote(&mut target)?,
                b'#' => {
                    self.put(self.pos, 0);
                    break;
                }
                0 => break,
                b';' => {
                    at_semicolon = true;
                    break;
                }
                b'\\' => {
                    if self.backslash() {
                        self.addc(&mut target);
                    }
                }
                _ => self.addc(&mut target),
            }
            let c = self.cur();
            if c == 0 || is_space(c) {
                break;
            }
        }
        // Step over the whitespace that ended it; a `;` stays for the next argument. When
        // nothing was unquoted the 0 below lands on that very `;` and ends the line.
        if self.cur() != 0 && !at_semicolon {
            self.pos += 1;
        }
        self.put(target, 0);
        Ok(target)
    }

    /// `next_arg`: the next argument as a range of `buf` (empty if there is none).
    fn next_arg(&mut self, required: bool, rule: Rule) -> Result<(usize, usize), ParseError> {
        self.skip_whitespace();
        let start = self.pos;
        let end = if self.cur() == b';' {
            self.put(self.pos, 0);
            self.pos += 1;
            start
        } else {
            self.parse_str()?
        };
        if end == start {
            if required {
                return Err(self.error("insufficient arguments"));
            }
            return Ok((start, start));
        }
        if !rule.accepts(self.buf.get(start..end).unwrap_or_default()) {
            return Err(self.error("invalid character in name field"));
        }
        Ok((start, end))
    }

    /// `assert_eol`: anything but an empty argument before the line (or `;`) ends is too much.
    fn assert_eol(&mut self) -> Result<(), ParseError> {
        self.skip_whitespace();
        let (start, end) = self.next_arg(false, Rule::Any)?;
        if end > start {
            return Err(self.error("too many arguments"));
        }
        Ok(())
    }

    /// Moves past a command word and the NUL written after it, if the buffer holds that much.
    fn skip_word(&mut self, word_end: usize, reason: &'static str) -> Result<(), ParseError> {
        if word_end + 1 > self.filled {
            return Err(self.error(reason));
        }
        self.pos = word_end + 1;
        Ok(())
    }
}

/// Which characters a `next_arg` accepts (`uci_validate_str`).
#[derive(Copy, Clone)]
enum Rule {
    Any,
    /// Section and option names: `[A-Za-z0-9_]+`.
    Name,
    /// Package names also allow `-`.
    Package,
}

impl Rule {
    fn accepts(self, s: &[u8]) -> bool {
        match self {
            Rule::Any => true,
            Rule::Name => s.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_'),
            Rule::Package => s.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'),
        }
    }
}

/// `uci_validate_type`: any printable ASCII except space.
fn valid_type(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| (33..=126).contains(&c))
}

#[derive(Copy, Clone)]
enum Command {
    Package,
    Config,
    Option,
    List,
    Comment,
    Invalid,
}

fn command(word: &[u8]) -> Command {
    match word {
        [b'#', ..] => Command::Comment,
        b"p" | b"package" => Command::Package,
        b"c" | b"config" => Command::Config,
        b"o" | b"option" => Command::Option,
        b"l" | b"list" => Command::List,
        _ => Command::Invalid,
    }
}

/// True if libuci's generated name for the anonymous section at `index` is `name`.
///
/// libuci names anonymous sections `cfgNNHHHH` (list.c `uci_fixup_section`): NN is the
/// 1-based count of sections so far (`%02x`), HHHH the low 16 bits of a djb hash of the type
/// and options, of which there are none yet when the parser creates the section. A later
/// `config TYPE NAME` looks names up among these too.
fn anonymous_name_is(index: usize, ty: &[u8], name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"cfg") else {
        return false;
    };
    let Some(split) = rest.len().checked_sub(4) else {
        return false;
    };
    let (count, hash) = rest.split_at(split);
    // Types are ASCII, so C's signed `char` adds the same values.
    let djb = ty.iter().fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(u32::from(c)));
    hex_is(count, (index as u64).saturating_add(1), 2) && hex_is(hash, u64::from(djb & 0xffff), 4)
}

/// True if `digits` is what `printf("%0*x", width, value)` prints.
fn hex_is(digits: &[u8], value: u64, width: usize) -> bool {
    if digits.len() < width || digits.len() > 16 {
        return false;
    }
    let mut v = 0u64;
    for &d in digits {
        let x = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return false,
        };
        v = (v << 4) | u64::from(x);
    }
    // printf pads to the width and no further.
    v == value && (digits.len() == width || digits.first() != Some(&b'0'))
}

struct Parser<'t> {
    rd: Reader<'t>,
    pkg: Package,
    /// Section that `option` and `list` add to.
    section: Option<usize>,
}

impl Parser<'_> {
    /// `uci_parse_line`: the commands of one logical line, separated by `;`.
    fn parse_line(&mut self) -> Result<(), ParseError> {
        self.rd.skip_whitespace();
        loop {
            // strtok(cur, " \t"): skip blanks, take the word, write a NUL right after it.
            let mut i = self.rd.pos;
            while matches!(self.rd.at(i), b' ' | b'\t') {
                i += 1;
            }
            if self.rd.at(i) == 0 {
                return Ok(());
            }
            let word_start = i;
            while !matches!(self.rd.at(i), 0 | b' ' | b'\t') {
                i += 1;
            }
            self.rd.put(i, 0);
            let line = self.rd.physical;
            match command(self.rd.buf.get(word_start..i).unwrap_or_default()) {
                Command::Comment => return Ok(()),
                Command::Invalid => return Err(self.rd.error("invalid command")),
                Command::Package => {
                    self.rd.skip_word(i, "package without name")?;
                    self.rd.next_arg(true, Rule::Package)?;
                    // The file is loaded as a known package: a `package` line is ignored.
                    self.rd.assert_eol()?;
                }
                Command::Config => {
                    self.rd.skip_word(i, "config without name")?;
                    let ty = self.rd.next_arg(true, Rule::Any)?;
                    if !valid_type(self.rd.buf.get(ty.0..ty.1).unwrap_or_default()) {
                        return Err(self.rd.error("invalid character in type field"));
                    }
                    let name = self.rd.next_arg(false, Rule::Name)?;
                    self.rd.assert_eol()?;
                    self.open_section(ty, name, line)?;
                }
                cmd @ (Command::Option | Command::List) => {
                    let Some(section) = self.section else {
                        return Err(self.rd.error("option/list command found before the first section"));
                    };
                    self.rd.skip_word(i, "option without name")?;
                    let name = self.rd.next_arg(true, Rule::Name)?;
                    let value = self.rd.next_arg(false, Rule::Any)?;
                    self.rd.assert_eol()?;
                    let list = matches!(cmd, Command::List);
                    self.set_option(section, name, value, list, line)?;
                }
            }
        }
    }

    /// Copies `buf[range]` into the package text.
    fn store(&mut self, range: (usize, usize)) -> Result<Span, ParseError> {
        let bytes = self.rd.buf.get(range.0..range.1).unwrap_or_default();
        // Decoding only drops ASCII bytes, so this holds for any `&str` input.
        let s = core::str::from_utf8(bytes).map_err(|_| self.rd.error("invalid UTF-8"))?;
        let start = self.pkg.text.len();
        self.pkg.text.push_str(s);
        Ok(Span { start, end: self.pkg.text.len() })
    }

    fn arg(&self, range: (usize, usize)) -> &[u8] {
        self.rd.buf.get(range.0..range.1).unwrap_or_default()
    }

    /// `config TYPE [NAME]`: a new anonymous section, a new named one, or back into the
    /// named one already there.
    fn open_section(&mut self, ty: (usize, usize), name: (usize, usize), line: u32) -> Result<(), ParseError> {
        let new_name = if name.1 > name.0 {
            let wanted = self.arg(name);
            let found = self.pkg.sections.iter().enumerate().find(|(i, s)| match s.name {
                Some(n) => self.pkg.span(n).as_bytes() == wanted,
                None => anonymous_name_is(*i, self.pkg.span(s.ty).as_bytes(), wanted),
            });
            if let Some((i, s)) = found {
                if self.pkg.span(s.ty).as_bytes() != self.arg(ty) {
                    return Err(self.rd.error("section of different type overwrites prior section with same name"));
                }
                self.section = Some(i);
                return Ok(());
            }
            Some(self.store(name)?)
        } else {
            None
        };
        let wanted = self.arg(ty);
        let type_index = self.pkg.sections.iter().filter(|s| self.pkg.span(s.ty).as_bytes() == wanted).count();
        let ty = self.store(ty)?;
        self.section = Some(self.pkg.sections.len());
        self.pkg.sections.push(Section { ty, name: new_name, line, type_index, options: None });
        Ok(())
    }

    /// `option NAME [VALUE]` (`uci_set`) or `list NAME [VALUE]` (`uci_add_list`).
    fn set_option(
        &mut self,
        section: usize,
        name: (usize, usize),
        value: (usize, usize),
        list: bool,
        line: u32,
    ) -> Result<(), ParseError> {
        if !list && value.1 == value.0 {
            // uci_set with an empty value deletes only what a lookup found; the parser
            // never looks up, so nothing happens.
            return Ok(());
        }
        let wanted = self.arg(name);
        let pkg = &self.pkg;
        let existing = pkg.sections.get(section).and_then(|s| s.options).map(|(first, _)| first).and_then(|first| {
            core::iter::successors(Some(first), |&o| pkg.options.get(o)?.next)
                .find(|&o| pkg.options.get(o).is_some_and(|o| pkg.span(o.name).as_bytes() == wanted))
        });
        if let Some(o) = existing {
            let old = self.pkg.options.get(o).map(|o| (o.list, o.first, o.last));
            let Some((was_list, first, last)) = old else {
                return Ok(());
            };
            if !list && !was_list && self.pkg.value_bytes(first) == self.arg(value) {
                // Same value again: libuci keeps the option as it is; we note the line.
                if let Some(v) = self.pkg.values.get_mut(first) {
                    v.line = line;
                }
                return Ok(());
            }
            let v = self.push_value(value, line)?;
            if let Some(opt) = self.pkg.options.get_mut(o) {
                if list {
                    // Onto a list, or a plain option becoming [old, new]: same place either way.
                    opt.list = true;
                    opt.last = v;
                    if let Some(prev) = self.pkg.values.get_mut(last) {
                        prev.next = Some(v);
                    }
                } else {
                    opt.list = false;
                    opt.first = v;
                    opt.last = v;
                }
            }
            return Ok(());
        }
        let name = self.store(name)?;
        let v = self.push_value(value, line)?;
        let o = self.pkg.options.len();
        self.pkg.options.push(Opt { name, list, first: v, last: v, next: None });
        if let Some(s) = self.pkg.sections.get_mut(section) {
            match &mut s.options {
                Some((_, last)) => {
                    let prev = *last;
                    *last = o;
                    if let Some(p) = self.pkg.options.get_mut(prev) {
                        p.next = Some(o);
                    }
                }
                None => s.options = Some((o, o)),
            }
        }
        Ok(())
    }

    fn push_value(&mut self, value: (usize, usize), line: u32) -> Result<usize, ParseError> {
        let text = self.store(value)?;
        self.pkg.values.push(Value { text, line, next: None });
        Ok(self.pkg.values.len() - 1)
    }
}

/// Writes `s` with each `'` as `'\''`, the escaping uci uses inside single quotes.
fn write_escaped(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    let mut parts = s.split('\'');
    out.write_str(parts.next().unwrap_or_default())?;
    for part in parts {
        out.write_str("'\\''")?;
        out.write_str(part)?;
    }
    Ok(())
}

/// Writes `s` as one single-quoted UCI value, `'` written as `'\''` (libuci's
/// `uci_escape`): reads back as exactly `s`.
pub fn write_quoted(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    out.write_char('\'')?;
    write_escaped(out, s)?;
    out.write_char('\'')
}

impl Package {
    fn span(&self, s: Span) -> &str {
        self.text.get(s.start..s.end).unwrap_or_default()
    }

    fn value_bytes(&self, v: usize) -> &[u8] {
        self.values.get(v).map_or(&[], |v| self.span(v.text).as_bytes())
    }

    /// Sections in file order.
    pub fn sections(&self) -> impl Iterator<Item = SectionRef<'_>> + '_ {
        (0..self.sections.len()).map(move |idx| SectionRef { pkg: self, idx })
    }

    /// The section explicitly named `name` (anonymous sections have no name to find).
    pub fn section(&self, name: &str) -> Option<SectionRef<'_>> {
        self.sections().find(|s| s.name() == Some(name))
    }

    /// Writes what `uci show NAME` prints.
    pub fn show(&self, package: &str, out: &mut dyn fmt::Write) -> fmt::Result {
        for s in self.sections() {
            write!(out, "{package}.")?;
            s.write_ref(out)?;
            writeln!(out, "={}", s.ty())?;
            for o in s.options() {
                write!(out, "{package}.")?;
                s.write_ref(out)?;
                write!(out, ".{}=", o.name())?;
                for (i, (v, _)) in o.values().enumerate() {
                    if i > 0 {
                        out.write_char(' ')?;
                    }
                    write_quoted(out, v)?;
                }
                out.write_char('\n')?;
            }
        }
        Ok(())
    }

    /// Writes what `uci export NAME` prints.
    pub fn export(&self, package: &str, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("package ")?;
        write_escaped(out, package)?;
        out.write_char('\n')?;
        for s in self.sections() {
            out.write_str("\nconfig ")?;
            write_escaped(out, s.ty())?;
            if let Some(name) = s.name() {
                out.write_char(' ')?;
                write_quoted(out, name)?;
            }
            out.write_char('\n')?;
            for o in s.options() {
                let keyword = if o.is_list() { "\tlist " } else { "\toption " };
                for (v, _) in o.values() {
                    out.write_str(keyword)?;
                    write_escaped(out, o.name())?;
                    out.write_char(' ')?;
                    write_quoted(out, v)?;
                    out.write_char('\n')?;
                }
            }
        }
        out.write_char('\n')
    }
}

impl<'a> SectionRef<'a> {
    fn rec(&self) -> Option<&'a Section> {
        self.pkg.sections.get(self.idx)
    }

    /// `NAME`, or `@TYPE[N]` for an anonymous section, as `uci show` refers to it.
    fn write_ref(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self.name() {
            Some(name) => out.write_str(name),
            None => write!(out, "@{}[{}]", self.ty(), self.type_index()),
        }
    }

    /// Section type (`config TYPE`).
    pub fn ty(&self) -> &'a str {
        self.rec().map_or("", |s| self.pkg.span(s.ty))
    }

    /// Section name, `None` for an anonymous section.
    pub fn name(&self) -> Option<&'a str> {
        let pkg = self.pkg;
        self.rec().and_then(|s| s.name).map(|n| pkg.span(n))
    }

    /// How many sections of the same type precede it: the N of `@TYPE[N]`, named ones counted.
    pub fn type_index(&self) -> usize {
        self.rec().map_or(0, |s| s.type_index)
    }

    /// Line of the `config` command that opened it.
    pub fn line(&self) -> u32 {
        self.rec().map_or(0, |s| s.line)
    }

    /// Options in the order uci shows them.
    pub fn options(&self) -> impl Iterator<Item = OptionRef<'a>> + 'a {
        let pkg = self.pkg;
        let first = self.rec().and_then(|s| s.options).map(|(first, _)| first);
        core::iter::successors(first, move |&o| pkg.options.get(o)?.next).map(move |idx| OptionRef { pkg, idx })
    }

    /// The option called `name`, if set.
    pub fn option(&self, name: &str) -> Option<OptionRef<'a>> {
        self.options().find(|o| o.name() == name)
    }
}

impl<'a> OptionRef<'a> {
    fn rec(&self) -> Option<&'a Opt> {
        self.pkg.options.get(self.idx)
    }

    /// Option name.
    pub fn name(&self) -> &'a str {
        self.rec().map_or("", |o| self.pkg.span(o.name))
    }

    /// True if it was written with `list` (or became a list).
    pub fn is_list(&self) -> bool {
        self.rec().is_some_and(|o| o.list)
    }

    /// Line where its value was last set (for a list: its first element).
    pub fn line(&self) -> u32 {
        self.values().next().map_or(0, |(_, line)| line)
    }

    /// Its values with the line each was written on: one for an option, all elements for a list.
    pub fn values(&self) -> impl Iterator<Item = (&'a str, u32)> + 'a {
        let pkg = self.pkg;
        let first = self.rec().map(|o| o.first);
        core::iter::successors(first, move |&v| pkg.values.get(v)?.next)
            .filter_map(move |v| pkg.values.get(v))
            .map(move |v| (pkg.span(v.text), v.line))
    }
}

#[cfg(test)]
mod tests;
