//! dualwan's UCI parser against the real `uci`, differentially.
//!
//! Each run generates thousands of config files: random quoting and concatenation
//! (`'a'"b"c`), backslash escapes, comments, `;`, backslash-newline, abbreviated and misspelt
//! keywords, CRLF, tabs and other blanks, empty values, lists, anonymous and named sections
//! (also named like libuci's generated `cfgNNHHHH`), odd names and types, and broken files
//! (unterminated quotes, bad names, options before any section, garbage, random cuts). Each
//! goes to `../shared/owrt/uci` (`show` and `export`) and to `dualwan::uci::parse` with
//! `Package::show`/`export`: both must print the same bytes, or both reject the file with the
//! same `Parse error (REASON) at line N, byte M` and exit status.
//!
//! Seeded: the seed is printed, `DUALWAN_UCI_DIFF_SEED=N` replays a run and
//! `DUALWAN_UCI_DIFF_CASES=N` sets its length (the first N files of that seed's sequence). A
//! disagreement is shrunk (whole lines, then runs of characters) to the smallest input that
//! still shows one, and printed with both answers.
//!
//! Cost: asked for no config by name, uci shows or exports every config in its directory in
//! one process, so cases go in batches of [`BATCH`] files (one `show` and one `export` process
//! per batch) and must match our answers concatenated in the same order. A batch that does
//! not is replayed case by case (one `uci show NAME` and one `uci export NAME` each), which
//! is also how every reported disagreement is judged.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dualwan::uci;

const SEED_ENV: &str = "DUALWAN_UCI_DIFF_SEED";
const CASES_ENV: &str = "DUALWAN_UCI_DIFF_CASES";
const DEFAULT_CASES: usize = 30_000;
/// Config files per uci process.
const BATCH: usize = 100;
/// Disagreements shrunk and printed in full; the rest are only counted.
const SHOWN: usize = 6;
/// Config names: `ucidiff` for single cases, `ucidiffNNN` within a batch.
const PREFIX: &str = "ucidiff";
/// Where uci always looks for pending changes, whatever `-t` says.
const DEFAULT_SAVE_DIR: &str = "/tmp/.uci";

/// Inputs on which dualwan is deliberately stricter than libuci (each documented in
/// `src/uci/mod.rs`). Such cases are not given to uci; dualwan must reject them with `reason`.
/// (A file that is not UTF-8 is the other such case, but it never reaches the parser: the
/// config reader refuses it, and `uci::parse` takes `&str`.)
struct Stricter {
    what: &'static str,
    why: &'static str,
    applies: fn(&str) -> bool,
    reason: &'static str,
}

const STRICTER: &[Stricter] = &[Stricter {
    what: "a NUL byte",
    why: "libuci reads lines with fgets() and measures them with strlen(): the rest of the line \
          after a NUL vanishes without a word and the next line is glued on; dualwan rejects the \
          file at the NUL's line and column",
    applies: |text| text.contains('\0'),
    reason: "NUL byte in file",
}];

/// What one `uci` command printed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// The answers to `show NAME` and `export NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answer {
    show: Run,
    export: Run,
}

/// dualwan's answer, printed the way the uci CLI prints it.
fn ours(text: &str, package: &str) -> Answer {
    match uci::parse(text) {
        Ok(pkg) => {
            let (mut show, mut export) = (String::new(), String::new());
            pkg.show(package, &mut show).unwrap();
            pkg.export(package, &mut export).unwrap();
            Answer {
                show: Run { status: 0, stdout: show, stderr: String::new() },
                export: Run { status: 0, stdout: export, stderr: String::new() },
            }
        }
        Err(e) => {
            let run = Run { status: 1, stdout: String::new(), stderr: format!("uci: {e}\n") };
            Answer { show: run.clone(), export: run }
        }
    }
}

/// The real `uci`, on private directories that are removed on drop.
struct RealUci {
    program: PathBuf,
    root: PathBuf,
}

impl RealUci {
    fn new(program: PathBuf) -> RealUci {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let root = std::env::temp_dir().join(format!("dualwan-ucidiff-{}-{nanos}", std::process::id()));
        for area in ["one", "batch"] {
            for dir in ["config", "override", "save"] {
                fs::create_dir_all(root.join(area).join(dir)).unwrap();
            }
        }
        RealUci { program, root }
    }

    /// `uci -c AREA/config -C AREA/override -t AREA/save ARGS`, with argv[0] `uci`.
    fn run(&self, area: &str, args: &[&str]) -> Run {
        let dir = self.root.join(area);
        let out = Command::new(&self.program)
            .arg0("uci")
            .arg("-c")
            .arg(dir.join("config"))
            .arg("-C")
            .arg(dir.join("override"))
            .arg("-t")
            .arg(dir.join("save"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.program.display()));
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// One case: `uci show ucidiff` and `uci export ucidiff`.
    fn one(&self, text: &str) -> Answer {
        fs::write(self.root.join("one/config").join(PREFIX), text).unwrap();
        Answer { show: self.run("one", &["show", PREFIX]), export: self.run("one", &["export", PREFIX]) }
    }

    /// A batch: every case a config of its own, then `uci show` and `uci export` of them all.
    fn batch(&self, texts: &[&str]) -> (Run, Run) {
        let config = self.root.join("batch/config");
        fs::remove_dir_all(&config).unwrap();
        fs::create_dir(&config).unwrap();
        for (i, text) in texts.iter().enumerate() {
            fs::write(config.join(batch_name(i)), text).unwrap();
        }
        (self.run("batch", &["show"]), self.run("batch", &["export"]))
    }
}

impl Drop for RealUci {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Names sort in case order, as uci's glob lists them.
fn batch_name(i: usize) -> String {
    format!("{PREFIX}{i:03}")
}

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// A char boundary of `s`, chosen at random (0 and `s.len()` included).
    fn boundary(&mut self, s: &str) -> usize {
        let mut at = self.below(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

// The generator: a file is a sequence of commands, each rendered with random spelling,
// quoting and blanks. Every choice that breaks a file is taken with the file's own
// probability `slip` (none in about half the files), so accepted and rejected files both
// come in numbers; some files are mangled afterwards.

/// Command words libuci accepts: the full word or its first letter.
const CONFIG_WORDS: &[&str] = &["config", "config", "c"];
const OPTION_WORDS: &[&str] = &["option", "option", "o"];
const LIST_WORDS: &[&str] = &["list", "list", "l"];
const PACKAGE_WORDS: &[&str] = &["package", "p"];
/// Other abbreviations and near misses.
const BAD_WORDS: &[&str] = &[
    "conf", "Config", "configs", "cfg", "opt", "Option", "options", "lis", "List", "lists", "pkg", "Package", "optoin",
    "C", "O", "L",
];
const GOOD_TYPES: &[&str] =
    &["interface", "rule", "t", "member", "globals", "wan", "a.b@c-d", "x'y", "t;u", "a\\b", "q\"r", "~!$%", "#t"];
const BAD_TYPES: &[&str] = &["é", "a b", "", "t\t", "x\r", "\u{b}"];
const GOOD_NAMES: &[&str] =
    &["a", "wan", "b_1", "_x", "9lives", "A", "track_ip", "globals", "s", "Z9_", "cfg", "CFG0192BD"];
const BAD_NAMES: &[&str] = &["wan-b", "a.b", "é", "a b", "x#", "a;b", "@t[0]", "a\tb", "*"];
const GOOD_PACKAGES: &[&str] = &["dualwan", "my-pkg", "_", "ucidiff", "9"];
const BAD_PACKAGES: &[&str] = &["a.b", "x y", "", "pkg#", "é"];
const VALUES: &[&str] = &[
    "1",
    "0",
    "wan",
    "8.8.8.8",
    "",
    " ",
    "a b",
    "it's",
    "say \"hi\"",
    "back\\slash",
    "#hash",
    "semi;colon",
    "tab\there",
    "line\nbreak",
    "crlf\r\nx",
    "cr\r",
    "é€",
    "\u{b}",
    "=",
    "$x",
    "''",
    "\\n",
    " lead",
    "trail ",
];
const ALPHABET: &[&str] = &[
    "a", "b", "z", "Q", "0", "9", "_", "-", ".", "@", " ", " ", "\t", "'", "\"", "\\", "#", ";", "\n", "\r", "é", "€",
    "😀", "\u{b}", "\u{c}", "=", "$", "\u{1}", "\u{1c}", "\u{1f}", "\u{7f}", "\u{85}", "\u{a0}",
];
/// Between arguments (not after the command word: strtok splits that on space and tab only).
const BLANKS: &[&str] = &[" ", " ", " ", " ", "\t", "\t", "  ", " \t ", "\u{b}", "\u{c}", "\r", " \\\n", "\t\\\r\n"];
/// Blanks that change what follows: a joined line starting with a blank ends the argument
/// before it empty; `\v`, `\f` and `\r` do not separate a command word.
const BAD_BLANKS: &[&str] = &["\\\n\t", "\\\n ", "\u{b}", "\r", "\\\n"];
const INDENTS: &[&str] = &["", "", "\t", "\t", "  ", " \t", "\t\t", "\u{c}", "\r", "\u{b}"];
const TRAILERS: &[&str] = &[" # comment", "#c", " ", "\t", " #'", " \r", "\t# \"x\" \\"];
/// Joins the next line to this one, or leaves a `;` before the line end (which then reads
/// as a command word).
const BAD_TRAILERS: &[&str] = &[" \\", "\\", " \\\r", " ;", ";"];
const COMMENTS: &[&str] = &["#", "# text", "#text 'quote", "# \"", "# ends in \\", "#;option a b", "##", " # x"];
const BLANK_LINES: &[&str] = &["", "", "  ", "\t", "\r", " \u{b} ", "\t \t"];
const SEPARATORS: &[&str] = &[";", " ; ", "; ", " ;", "\t;\t"];
/// Inserted by mangling.
const PIECES: &[&str] = &[
    "'", "'", "\"", "\"", "\\", "\\\n", ";", " ; ", "#", "\n", "\r\n", "\r", "\t", " ", "option", "config", "list",
    "c", "o", "x y", "''", "é",
];

fn random_text(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| rng.pick(ALPHABET)).collect()
}

/// libuci's generated name for the `count`-th section if it is anonymous and of type `ty`.
fn generated_name(count: usize, ty: &str) -> String {
    let djb = ty.bytes().fold(5381u32, |h, c| h.wrapping_mul(33).wrapping_add(u32::from(c)));
    format!("cfg{count:02x}{:04x}", djb & 0xffff)
}

struct Gen<'r> {
    rng: &'r mut Rng,
    /// Percent chance of each file-breaking choice.
    slip: usize,
    /// Sections so far: type and name.
    sections: Vec<(String, Option<String>)>,
}

impl Gen<'_> {
    fn slips(&mut self) -> bool {
        self.rng.chance(self.slip)
    }

    /// From `bad` when slipping, else from `good`.
    fn choose<'a>(&mut self, good: &[&'a str], bad: &[&'a str]) -> &'a str {
        if self.slips() {
            self.rng.pick(bad)
        } else {
            self.rng.pick(good)
        }
    }

    fn value(&mut self) -> String {
        match self.rng.below(10) {
            0..=3 => self.rng.pick(VALUES).to_string(),
            4..=8 => {
                let len = self.rng.below(13);
                random_text(self.rng, len)
            }
            // Longer than libuci's first 32-byte line buffer.
            _ => {
                let len = 30 + self.rng.below(90);
                random_text(self.rng, len)
            }
        }
    }

    /// `s` as one argument: cut into pieces, each bare (escaped), single- or double-quoted,
    /// and sometimes with a backslash-newline inside.
    fn render(&mut self, s: &str) -> String {
        let mut out = String::new();
        if s.is_empty() {
            out.push_str(self.rng.pick(&["''", "\"\"", "''\"\"", "\"\"''"]));
            return out;
        }
        let mut cuts = vec![0, s.len()];
        for _ in 0..self.rng.below(3) {
            cuts.push(self.rng.boundary(s));
        }
        cuts.sort_unstable();
        cuts.dedup();
        for piece in cuts.windows(2).map(|w| &s[w[0]..w[1]]) {
            match self.rng.below(10) {
                0..=2 => {
                    let joint = self.joint_at(piece);
                    for (i, c) in piece.char_indices() {
                        self.joint(&mut out, joint == Some(i));
                        let special =
                            matches!(c, ' ' | '\t' | '\'' | '"' | '\\' | '#' | ';' | '\n' | '\r' | '\u{b}' | '\u{c}');
                        // Escaped where needed, unless slipping; now and then for nothing.
                        if (special && !self.slips()) || self.rng.chance(3) {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                3..=6 => {
                    out.push('\'');
                    if self.slips() {
                        out.push_str(piece);
                    } else {
                        out.push_str(&piece.replace('\'', "'\\''"));
                    }
                    out.push('\'');
                }
                _ => {
                    out.push('"');
                    let joint = self.joint_at(piece);
                    for (i, c) in piece.char_indices() {
                        self.joint(&mut out, joint == Some(i));
                        if (matches!(c, '"' | '\\') && !self.slips()) || self.rng.chance(3) {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                }
            }
        }
        out
    }

    /// Where a piece gets a backslash-newline, if it does.
    fn joint_at(&mut self, piece: &str) -> Option<usize> {
        self.rng.chance(5).then(|| self.rng.boundary(piece))
    }

    /// Joins the next line here (`\` + line end); when slipping, ends the line instead.
    fn joint(&mut self, out: &mut String, here: bool) {
        if here {
            out.push_str(if self.slips() { "\n" } else { self.rng.pick(&["\\\n", "\\\r\n"]) });
        }
    }

    fn section_name(&mut self, ty: &str) -> Option<String> {
        match self.rng.below(10) {
            0..=2 => None,
            3..=7 => Some(self.choose(GOOD_NAMES, BAD_NAMES).to_string()),
            // A name libuci also gives an anonymous section.
            _ => {
                let count = 1 + self.rng.below(self.sections.len() + 2);
                let owner = if self.slips() { self.rng.pick(GOOD_TYPES).to_string() } else { ty.to_string() };
                Some(generated_name(count, &owner))
            }
        }
    }

    /// One command (without its line end). After a `;` only spaces and tabs may precede the
    /// command word (strtok), at the start of a line any blank.
    fn command(&mut self, after_separator: bool) -> String {
        let indents = if after_separator && !self.slips() { &["", " ", "\t", " \t"][..] } else { INDENTS };
        let mut line = self.rng.pick(indents).to_string();
        let mut args: Vec<String> = Vec::new();
        let roll = if self.sections.is_empty() && !self.slips() { 0 } else { self.rng.below(100) };
        let words = match roll {
            0..=22 => {
                let mut ty = self.choose(GOOD_TYPES, BAD_TYPES).to_string();
                let name = self.section_name(&ty);
                // A named section reopened keeps its type, unless slipping.
                let known = self.sections.iter().find(|(_, n)| n.is_some() && *n == name);
                if let Some((known_ty, _)) = known {
                    if !self.rng.chance(self.slip) {
                        ty = known_ty.clone();
                    }
                }
                args.push(self.render(&ty));
                if let Some(name) = &name {
                    args.push(self.render(name));
                }
                self.sections.push((ty, name));
                CONFIG_WORDS
            }
            23..=84 => {
                let name = self.choose(GOOD_NAMES, BAD_NAMES);
                args.push(self.render(name));
                // A missing value: `option` ignores it, `list` adds an empty element.
                if !self.rng.chance(8) {
                    let v = self.value();
                    args.push(self.render(&v));
                }
                if roll <= 64 {
                    OPTION_WORDS
                } else {
                    LIST_WORDS
                }
            }
            85..=87 => {
                let name = self.choose(GOOD_PACKAGES, BAD_PACKAGES);
                args.push(self.render(name));
                PACKAGE_WORDS
            }
            88..=92 => return line + self.rng.pick(COMMENTS),
            93..=96 => return self.rng.pick(BLANK_LINES).to_string(),
            _ if !self.slips() => return line,
            _ => {
                let len = 1 + self.rng.below(10);
                return line + &random_text(self.rng, len);
            }
        };
        line.push_str(if self.slips() { self.rng.pick(BAD_WORDS) } else { self.rng.pick(words) });
        if self.slips() {
            // A command word alone, or right before a `;`.
            args.clear();
            line.push_str(self.rng.pick(&["", ";", " ;", "\t; o a b"]));
        }
        if self.slips() {
            let v = self.value();
            args.push(self.render(&v));
        }
        for (i, arg) in args.iter().enumerate() {
            let blank = match (i, self.slips()) {
                (_, true) => self.rng.pick(BAD_BLANKS),
                (0, false) => self.rng.pick(&[" ", " ", "\t", "  ", " \t"]),
                (_, false) => self.rng.pick(BLANKS),
            };
            line.push_str(blank);
            line.push_str(arg);
        }
        if self.slips() {
            line.push_str(self.rng.pick(BAD_TRAILERS));
        } else if self.rng.chance(25) {
            line.push_str(self.rng.pick(TRAILERS));
        }
        line
    }
}

/// One config file.
fn config_file(rng: &mut Rng) -> String {
    if rng.chance(1) {
        return many_sections(rng);
    }
    let slip = match rng.below(10) {
        0..=4 => 0,
        5..=7 => 1 + rng.below(4),
        _ => 5 + rng.below(20),
    };
    let eol = if rng.chance(20) { "\r\n" } else { "\n" };
    let mut g = Gen { rng, slip, sections: Vec::new() };
    let mut text = String::new();
    let commands = g.rng.below(12);
    for i in 0..commands {
        let mut after_separator = false;
        if i > 0 {
            match g.rng.below(100) {
                0..=5 => {
                    text.push_str(g.rng.pick(SEPARATORS));
                    after_separator = true;
                }
                6..=7 => text.push_str(g.rng.pick(&["\r\n", "\n", "\r", "\n\n"])),
                _ => text.push_str(eol),
            }
        }
        text.push_str(&g.command(after_separator));
    }
    if commands > 0 && g.rng.chance(85) {
        text.push_str(eol);
    }
    if g.rng.chance(3 * slip.min(5)) {
        mangle(g.rng, &mut text);
    }
    if g.rng.chance(1) {
        let at = g.rng.boundary(&text);
        text.insert(at, '\0');
    }
    text
}

/// Over 255 sections, so that libuci's generated names (`cfg%02x%04x`) get a third count
/// digit, then sections named like some of them, of their type or not.
fn many_sections(rng: &mut Rng) -> String {
    let count = 250 + rng.below(60);
    let mut types = Vec::with_capacity(count);
    let mut text = String::new();
    for _ in 0..count {
        let ty = rng.pick(&["rule", "t"]);
        types.push(ty);
        text.push_str("config ");
        text.push_str(ty);
        if rng.chance(10) {
            text.push_str(" n");
            text.push_str(&rng.below(20).to_string());
        }
        text.push('\n');
        if rng.chance(30) {
            text.push_str("\toption o 1\n");
        }
    }
    for _ in 0..1 + rng.below(6) {
        let index = rng.below(count + 2);
        let owner = types.get(index).copied().unwrap_or("rule");
        let ty = if rng.chance(80) { owner } else { rng.pick(&["rule", "t"]) };
        let name = match rng.below(4) {
            0 => format!("cfg{:03x}{}", index + 1, &generated_name(1, owner)[5..]),
            1 => format!("cfg0{:03x}{}", index + 1, &generated_name(1, owner)[5..]),
            _ => generated_name(index + 1, owner),
        };
        let _ = write!(text, "config {ty} {name}\n\toption p {index}\n");
    }
    text
}

/// Cuts, inserts, truncates or repeats lines at random.
fn mangle(rng: &mut Rng, text: &mut String) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.boundary(text);
        match rng.below(5) {
            0 => {
                let mut end = (at + 1 + rng.below(6)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            }
            1 | 2 => text.insert_str(at, rng.pick(PIECES)),
            3 => text.truncate(at),
            _ => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                if let Some(line) = lines.get(rng.below(lines.len())) {
                    let line = line.to_string();
                    text.insert_str(at, &line);
                }
            }
        }
    }
}

/// Deletes whole lines, then runs of 8, 4, 2 and 1 characters, as long as `disagrees` stays
/// true, within a budget of attempts (each costs two uci processes, about 5 ms).
fn shrink(mut text: String, mut disagrees: impl FnMut(&str) -> bool) -> String {
    let mut budget = 3000usize;
    let mut attempt = |candidate: String, text: &mut String, budget: &mut usize| {
        *budget = budget.saturating_sub(1);
        let kept = disagrees(&candidate);
        if kept {
            *text = candidate;
        }
        kept
    };
    loop {
        let before = text.len();
        let mut i = 0;
        while budget > 0 {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            if i >= lines.len() {
                break;
            }
            let candidate: String = lines.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, l)| *l).collect();
            if !attempt(candidate, &mut text, &mut budget) {
                i += 1;
            }
        }
        for run in [8, 4, 2, 1] {
            let mut at = 0;
            while at < text.len() && budget > 0 {
                let end = text[at..].char_indices().nth(run).map_or(text.len(), |(i, _)| at + i);
                let mut candidate = text.clone();
                candidate.replace_range(at..end, "");
                if !attempt(candidate, &mut text, &mut budget) {
                    at += text[at..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        if text.len() == before || budget == 0 {
            return text;
        }
    }
}

fn describe(label: &str, a: &Answer) -> String {
    let mut out = String::new();
    for (cmd, run) in [("show", &a.show), ("export", &a.export)] {
        let _ = writeln!(out, "  {label} {cmd}: exit {}, stdout {:?}, stderr {:?}", run.status, run.stdout, run.stderr);
    }
    out
}

fn seed() -> u64 {
    std::env::var(SEED_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        now.as_secs() ^ u64::from(now.subsec_nanos()) ^ (u64::from(std::process::id()) << 32)
    })
}

/// Pending changes in uci's fixed directory would be applied on top of our files.
fn foreign_changes() -> Option<String> {
    let entries = fs::read_dir(DEFAULT_SAVE_DIR).ok()?;
    entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).find(|n| n.starts_with(PREFIX))
}

#[test]
fn parser_agrees_with_real_uci() {
    let Some(program) = common::skip::owrt_program("uci") else { return };
    if let Some(name) = foreign_changes() {
        common::skip::skip(format_args!(
            "{DEFAULT_SAVE_DIR}/{name} exists: uci would apply those changes to the configs this test writes"
        ));
        return;
    }
    let seed = seed();
    let cases: usize = std::env::var(CASES_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    common::skip::progress(format_args!(
        "{cases} cases, seed {seed} (replay: {SEED_ENV}={seed}; length: {CASES_ENV}=N)"
    ));
    let real = RealUci::new(program);
    let started = Instant::now();
    let mut last_progress = started;
    let mut rng = Rng::new(seed);

    let (mut accepted, mut rejected, mut stricter, mut replayed_batches) = (0usize, 0usize, 0usize, 0usize);
    let mut reasons: Vec<&'static str> = Vec::new();
    // Inputs where the answers differ, in the order found.
    let mut disagreements: Vec<String> = Vec::new();
    let mut done = 0;
    while done < cases {
        let texts: Vec<String> = (0..BATCH.min(cases - done)).map(|_| config_file(&mut rng)).collect();
        done += texts.len();
        let mut batch: Vec<&str> = Vec::new();
        for text in &texts {
            match STRICTER.iter().find(|s| (s.applies)(text)) {
                Some(s) => {
                    let e = uci::parse(text).expect_err(s.what);
                    assert_eq!(e.reason, s.reason, "{text:?}: {}", s.why);
                    stricter += 1;
                }
                None => batch.push(text),
            }
        }
        for text in &batch {
            match uci::parse(text) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    rejected += 1;
                    if !reasons.contains(&e.reason) {
                        reasons.push(e.reason);
                    }
                }
            }
        }
        // Our answers concatenated as uci prints a batch: outputs of the accepted files on
        // stdout, one error line per rejected file on stderr, exit 0.
        let mut want = (String::new(), String::new(), String::new());
        for (i, text) in batch.iter().enumerate() {
            let a = ours(text, &batch_name(i));
            want.0.push_str(&a.show.stdout);
            want.1.push_str(&a.export.stdout);
            want.2.push_str(&a.show.stderr);
        }
        let (show, export) = real.batch(&batch);
        let same = (show.status, export.status) == (0, 0)
            && (&show.stdout, &export.stdout, &show.stderr, &export.stderr) == (&want.0, &want.1, &want.2, &want.2);
        if !same {
            replayed_batches += 1;
            for text in &batch {
                if ours(text, PREFIX) != real.one(text) {
                    disagreements.push(text.to_string());
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            common::skip::progress(format_args!(
                "{done}/{cases} cases, {} disagreeing, {:.0} s",
                disagreements.len(),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let elapsed = started.elapsed();

    // Shrink and print the first few.
    let mut report = String::new();
    let mut shown: Vec<String> = Vec::new();
    for text in disagreements.iter().take(SHOWN * 3) {
        if shown.len() == SHOWN {
            break;
        }
        let small = shrink(text.clone(), |t| {
            if last_progress.elapsed() >= Duration::from_secs(10) {
                last_progress = Instant::now();
                common::skip::progress(format_args!("shrinking disagreement {} of {}", shown.len() + 1, SHOWN));
            }
            !STRICTER.iter().any(|s| (s.applies)(t)) && ours(t, PREFIX) != real.one(t)
        });
        if shown.contains(&small) {
            continue;
        }
        let _ = writeln!(report, "input {small:?} (shrunk from {} bytes)", text.len());
        report.push_str(&describe("uci    ", &real.one(&small)));
        report.push_str(&describe("dualwan", &ours(&small, PREFIX)));
        shown.push(small);
    }
    common::skip::progress(format_args!(
        "{cases} cases in {:.1} s (seed {seed}): {accepted} accepted and {rejected} rejected by dualwan, \
         {stricter} left out as deliberately stricter, {replayed_batches} batches replayed one by one, \
         {} disagreements; {} error reasons seen: {reasons:?}",
        elapsed.as_secs_f64(),
        disagreements.len(),
        reasons.len(),
    ));
    assert!(
        disagreements.is_empty(),
        "{} of {cases} cases disagree with uci (seed {seed}; replay with {SEED_ENV}={seed}), smallest forms:\n{report}",
        disagreements.len()
    );
    // A generator that drifted into producing only one kind of file would test little.
    if cases < 5000 {
        return;
    }
    assert!(accepted >= cases / 5 && rejected >= cases / 5, "{accepted} accepted, {rejected} rejected");
    assert!(reasons.len() >= 8, "only {} error reasons seen: {reasons:?}", reasons.len());
}

#[test]
fn shrinking_keeps_the_disagreement() {
    // A stand-in disagreement: any input holding both "ab" and a `'`.
    let small = shrink("config t\n\toption ab 'x'\n# c\n".to_string(), |t| t.contains("ab") && t.contains('\''));
    assert_eq!(small, "ab'");
}

#[test]
fn the_generator_is_replayable() {
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (0..50).map(|_| config_file(&mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}
