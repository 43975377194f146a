//! Replays `tests/vectors/uci/`, recorded from the real `uci` tool: every `NAME.conf`
//! must fail exactly as `NAME.err` says, or print `NAME.show` and `NAME.export` byte for byte.
//! Then throws random and mangled input at the parser, which must never panic.

use std::fs;
use std::path::{Path, PathBuf};

use dualwan::uci::{self, Package};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/uci");

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn show(pkg: &Package) -> String {
    let mut out = String::new();
    pkg.show("dualwan", &mut out).unwrap();
    out
}

fn export(pkg: &Package) -> String {
    let mut out = String::new();
    pkg.export("dualwan", &mut out).unwrap();
    out
}

fn cases() -> Vec<PathBuf> {
    let mut confs: Vec<PathBuf> = fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("{DIR}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    confs.sort();
    confs
}

#[test]
fn vectors_match_uci() {
    let confs = cases();
    assert!(!confs.is_empty(), "no *.conf cases in {DIR}");
    let (mut rejected, mut accepted) = (0, 0);
    for conf in &confs {
        let name = conf.file_stem().unwrap().to_string_lossy().into_owned();
        let text = read(conf);
        let err = conf.with_extension("err");
        let show_file = conf.with_extension("show");
        if err.exists() {
            // First line of the recorded stderr: `uci: Parse error (REASON) at line N, byte M`.
            let want = read(&err);
            let want = want.lines().next().unwrap_or_default();
            match uci::parse(&text) {
                Ok(_) => panic!("{name}: accepted, uci said `{want}`"),
                Err(e) => assert_eq!(format!("uci: {e}"), want, "{name}"),
            }
            rejected += 1;
        } else if show_file.exists() {
            let pkg = uci::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(show(&pkg), read(&show_file), "{name}: show");
            assert_eq!(export(&pkg), read(&conf.with_extension("export")), "{name}: export");
            accepted += 1;
        } else {
            // session-basic.conf: only the CLI session was recorded; it must parse.
            uci::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    assert!(rejected > 0 && accepted > 0, "{rejected} rejected, {accepted} accepted");
}

#[test]
fn session_basic_parses() {
    let text = read(&Path::new(DIR).join("session-basic.conf"));
    let pkg = uci::parse(&text).unwrap();
    let wan = pkg.section("wan").unwrap();
    assert_eq!(wan.ty(), "interface");
    assert_eq!(wan.line(), 7);
    let track: Vec<_> = wan.option("track_ip").unwrap().values().collect();
    assert_eq!(track, [("8.8.8.8", 10), ("1.1.1.1", 11)]);
}

/// xorshift64: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Pieces weighted towards what the parser treats specially.
const PIECES: &[&str] = &[
    "config",
    "option",
    "list",
    "package",
    "c",
    "o",
    "l",
    "p",
    " ",
    " ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\r",
    "'",
    "'",
    "\"",
    "\"",
    "\\",
    "\\\n",
    ";",
    " ; ",
    "#",
    "a",
    "b_1",
    "wan",
    "-",
    ".",
    "@",
    "x y",
    "é",
    "–",
    "\u{b}",
    "\u{c}",
    "cfg0192bd",
    "cfg0292bd",
    "rule",
    "''",
    "\"\"",
];

/// Parses; whenever the file is accepted, checks that what `export` writes parses back to
/// the same package (unless a type holds characters `export` leaves unquoted).
fn check(text: &str) {
    let Ok(pkg) = uci::parse(text) else { return };
    let shown = show(&pkg);
    let exported = export(&pkg);
    for s in pkg.sections() {
        assert!(s.line() >= 1);
        for o in s.options() {
            assert!(o.values().count() >= 1, "{text:?}");
            assert!(o.is_list() || o.values().count() == 1, "{text:?}");
        }
    }
    if pkg.sections().any(|s| s.ty().contains(['\'', '"', '\\', '#', ';'])) {
        return;
    }
    let again = uci::parse(&exported).unwrap_or_else(|e| panic!("{text:?} → {exported:?}: {e}"));
    assert_eq!(show(&again), shown, "{text:?}");
    assert_eq!(export(&again), exported, "{text:?}");
}

#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut text = String::new();
    for _ in 0..20_000 {
        text.clear();
        for _ in 0..rng.below(40) {
            text.push_str(rng.pick(PIECES));
        }
        check(&text);
    }
}

#[test]
fn mangled_vectors_never_panic() {
    let originals: Vec<String> = cases().iter().map(|p| read(p)).collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let mut text = originals[rng.below(originals.len())].clone();
        for _ in 0..1 + rng.below(4) {
            // Cut, insert or replace at a char boundary.
            let mut at = rng.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + rng.below(6)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            match rng.below(3) {
                0 => text.replace_range(at..end, ""),
                1 => text.insert_str(at, rng.pick(PIECES)),
                _ => text.replace_range(at..end, rng.pick(PIECES)),
            }
        }
        check(&text);
    }
}

#[test]
fn pathological_inputs_never_panic() {
    let long = "x".repeat(200_000);
    let inputs = [
        "'".repeat(1001),
        "'".repeat(1000),
        "\"".repeat(1001),
        "\\".repeat(5000),
        "\\\n".repeat(5000),
        ";".repeat(5000),
        "config a b\n".to_string() + &";".repeat(5000),
        "config a b\noption c ".to_string() + &";".repeat(5000),
        "config a b\n\tlist l ".to_string() + &"\\".repeat(5001),
        "config a b\n\toption o '".to_string() + &"\n".repeat(5000) + "'",
        "config a b\n\toption o \"".to_string() + &"\\\n".repeat(5000),
        format!("config a b\n\toption o '{long}'\n"),
        format!("config a b\n\toption o {long}"),
        format!("config {long}\n"),
        format!("{long}\n"),
        "config a b\r\n\toption c 'd'\r\n\tlist e f\r\n".repeat(1000),
        "config t\n".repeat(3000),
        "config t n\n\tlist l x\n".repeat(3000),
        "\r\n\r\n\r".to_string(),
        "\u{b}\u{c}\r\t \n".repeat(100),
        "config".to_string(),
        "config ".to_string(),
        "c a ;c".to_string(),
        "c a\no".to_string(),
        "c a\n# comment \\\noption b c".to_string(),
    ];
    for text in &inputs {
        check(text);
    }
}

#[test]
fn nul_byte_is_rejected() {
    let e = uci::parse("config a b\n\toption c 'd\0'\n").unwrap_err();
    assert_eq!((e.reason, e.line, e.byte), ("NUL byte in file", 2, 12));
}
