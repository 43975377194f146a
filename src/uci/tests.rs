//! The parser on small inputs, one libuci rule at a time; the recorded fixtures and the
//! differential run against the real `uci` are in `tests/`.

use super::*;

fn show(text: &str) -> String {
    let mut out = String::new();
    parse(text).unwrap().show("dualwan", &mut out).unwrap();
    out
}

/// `(reason, line, byte)` of a rejected file.
fn fails(text: &str) -> (&'static str, u32, usize) {
    let e = parse(text).unwrap_err();
    (e.reason, e.line, e.byte)
}

fn values<'a>(pkg: &'a Package, section: &str, option: &str) -> Vec<(&'a str, u32)> {
    pkg.section(section).unwrap().option(option).unwrap().values().collect()
}

/// Found by fuzzing: libuci's count says line 0 (or the line before) for an error on a
/// last line without a newline; `physical` still names the line the error is on.
#[test]
fn errors_on_a_last_line_without_newline_know_their_physical_line() {
    let e = parse("confitoption a 'b'").unwrap_err();
    assert_eq!((e.reason, e.line, e.physical), ("invalid command", 0, 1));
    let e = parse("config a\n\toption b \"c").unwrap_err();
    assert_eq!((e.line, e.physical), (1, 2));
    let e = parse("config a\n\toption b 'c\n\n").unwrap_err();
    assert_eq!((e.reason, e.line, e.physical), ("EOF with unterminated '", 3, 3));
    assert_eq!(parse("config a\n\toption\n").unwrap_err().physical, 2);
}

#[test]
fn crlf_line_ends_are_whitespace() {
    let text = "config globals 'g'\r\n\toption a 'b'\r\n\tlist l x\r\n\tlist l \"y\"\r\n";
    assert_eq!(show(text), "dualwan.g=globals\ndualwan.g.a='b'\ndualwan.g.l='x' 'y'\n");
    // strtok splits on space and tab only: the `\r` sticks to the word.
    assert_eq!(fails("config a b\r\n\toption\r\n"), ("invalid command", 2, 1));
    assert_eq!(fails("config a b ;\r\n"), ("invalid command", 1, 12));
}

#[test]
fn semicolons() {
    // Unquoted, the value ends at the `;`, which the end-of-string NUL then overwrites:
    // the rest of the line is gone.
    assert_eq!(show("config t s\n\toption a 1;option b 2\n"), "dualwan.s=t\ndualwan.s.a='1'\n");
    assert_eq!(show("config t s;option a 1\n"), "dualwan.s=t\n");
    // Quoted, the decoded text lags behind and the `;` survives to separate commands.
    assert_eq!(show("config t s\n\toption a '1';option b 2\n"), "dualwan.s=t\ndualwan.s.a='1'\ndualwan.s.b='2'\n");
    assert_eq!(show("config t 's';option a 1\n"), "dualwan.s=t\ndualwan.s.a='1'\n");
    assert_eq!(show("config t s ;option a 1 ;list b ''\n"), "dualwan.s=t\ndualwan.s.a='1'\ndualwan.s.b=''\n");
    assert_eq!(fails(";;;;\n"), ("invalid command", 1, 0));
    assert_eq!(fails("config t s ; ; option a 1\n"), ("invalid command", 1, 12));
    assert_eq!(fails("config rule ; option use 'wan'\n"), ("too many arguments", 1, 21));
}

#[test]
fn quoted_value_spans_lines() {
    let text = "config t s\n\toption x 'one\ntwo'\n\toption y z\n";
    let pkg = parse(text).unwrap();
    assert_eq!(values(&pkg, "s", "x"), [("one\ntwo", 2)]);
    assert_eq!(values(&pkg, "s", "y"), [("z", 4)]);
    // The next line is appended to the same buffer: bytes keep counting.
    let text = "config t s\n\toption x 'one\ntwo' extra\n";
    assert_eq!(fails(text), ("too many arguments", 3, 26));
    assert_eq!(fails("config t s\n\toption a 'never closed\n\toption b 'x'\n"), ("EOF with unterminated '", 3, 38));
    // No final newline: the line counter has not moved past the previous line.
    assert_eq!(fails("config a \"b"), ("EOF with unterminated \"", 0, 11));
}

/// libuci names the end of the file; `quote_opened` names the quote that was forgotten,
/// even when every later line's quotes, paired off by one, carry the string on.
#[test]
fn a_quote_never_closed_is_blamed_on_the_line_that_opened_it() {
    let opened = |text: &str| parse(text).unwrap_err().quote_opened;
    assert_eq!(opened("config t s\n\toption a 'never closed\n\toption b 'x'\n"), Some(2));
    let text =
        "config t s\n\toption a 'x'\n\toption device 'eth1\n\toption metric '10'\n\tlist track_ip '192.0.2.1'\n\n";
    let e = parse(text).unwrap_err();
    assert_eq!((e.reason, e.line, e.quote_opened), ("EOF with unterminated '", 6, Some(3)));
    assert_eq!(opened("config a \"b"), Some(1));
    assert_eq!(opened("config a b\n\toption c \"d\\\"\n"), Some(2));
    // A value that legitimately spans lines, in an earlier command, is not blamed.
    assert_eq!(opened("config t s\n\toption a 'one\ntwo'\n\toption b 'x\n"), Some(4));
    // Other errors have no quote to blame.
    assert_eq!(opened("config t s\n\toption\n"), None);
}

#[test]
fn backslash_joins_lines() {
    let pkg = parse("config t s\n\toption x foo\\\nbar\n\toption y \"a\\\nb\"\n\toption z c\\\r\nd\r\n").unwrap();
    assert_eq!(values(&pkg, "s", "x"), [("foobar", 2)]);
    assert_eq!(values(&pkg, "s", "y"), [("ab", 4)]);
    assert_eq!(values(&pkg, "s", "z"), [("cd", 6)]);
    // The joined line's indent ends the unquoted value; `bar` is one argument too many.
    assert_eq!(fails("config t s\n\toption x foo\\\n\tbar\n"), ("too many arguments", 3, 19));
    // In double quotes a backslash keeps the next byte as it is.
    assert_eq!(show("config t s\n\toption x \"a\\nb\\\\c\\\"\"\n"), "dualwan.s=t\ndualwan.s.x='anb\\c\"'\n");
}

#[test]
fn quotes_and_escapes() {
    let text = "config t s\n\toption a 'it'\\''s'\n\toption b 'a'\"b\"c\n\toption c a\\ b\n\toption d x#y\n";
    let pkg = parse(text).unwrap();
    assert_eq!(values(&pkg, "s", "a"), [("it's", 2)]);
    assert_eq!(values(&pkg, "s", "b"), [("abc", 3)]);
    assert_eq!(values(&pkg, "s", "c"), [("a b", 4)]);
    assert_eq!(values(&pkg, "s", "d"), [("x", 5)]);
    assert!(show(text).contains("dualwan.s.a='it'\\''s'\n"));
}

#[test]
fn options_keep_their_place() {
    let text = "config t s\n\toption x 1\n\toption y 2\n\toption x 3\n\toption y ''\n";
    let pkg = parse(text).unwrap();
    let names: Vec<_> = pkg.section("s").unwrap().options().map(|o| o.name()).collect();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(values(&pkg, "s", "x"), [("3", 4)]);
    assert_eq!(values(&pkg, "s", "y"), [("2", 3)], "an empty option deletes nothing");

    let text = "config t s\n\toption x 1\n\tlist y q\n\tlist x 2\n";
    let pkg = parse(text).unwrap();
    let x = pkg.section("s").unwrap().options().next().unwrap();
    assert!(x.is_list());
    assert_eq!((x.name(), x.line()), ("x", 2));
    assert_eq!(x.values().collect::<Vec<_>>(), [("1", 2), ("2", 4)]);

    let pkg = parse("config t s\n\tlist x 1\n\tlist x 2\n\toption x 3\n").unwrap();
    let x = pkg.section("s").unwrap().option("x").unwrap();
    assert!(!x.is_list());
    assert_eq!(x.values().collect::<Vec<_>>(), [("3", 4)]);
}

#[test]
fn sections_merge_by_name() {
    let text = "config t a\n\toption x 1\nconfig u b\nconfig t a\n\toption y 2\nconfig t\n";
    let pkg = parse(text).unwrap();
    let sections: Vec<_> = pkg.sections().map(|s| (s.ty(), s.name(), s.line(), s.type_index())).collect();
    assert_eq!(sections, [("t", Some("a"), 1, 0), ("u", Some("b"), 3, 0), ("t", None, 6, 1)]);
    assert_eq!(show(text), "dualwan.a=t\ndualwan.a.x='1'\ndualwan.a.y='2'\ndualwan.b=u\ndualwan.@t[1]=t\n");
    assert_eq!(
        fails("config t a\nconfig u a\n"),
        ("section of different type overwrites prior section with same name", 2, 11)
    );
}

#[test]
fn anonymous_sections_answer_to_their_generated_name() {
    // The first section, anonymous, of type `rule` is cfg01 + djb("rule") = cfg0192bd.
    let text = "config rule\nconfig rule cfg0192bd\n\toption x 1\nconfig rule cfg0292bd\n";
    assert_eq!(show(text), "dualwan.@rule[0]=rule\ndualwan.@rule[0].x='1'\ndualwan.cfg0292bd=rule\n");
    assert_eq!(
        fails("config rule\nconfig other cfg0192bd\n"),
        ("section of different type overwrites prior section with same name", 2, 23)
    );
    assert!(!anonymous_name_is(0, b"rule", b"cfg00192bd"));
    assert!(!anonymous_name_is(0, b"rule", b"cfg192bd"));
    assert!(anonymous_name_is(299, b"rule", b"cfg12c92bd"));
}

#[test]
fn error_positions() {
    assert_eq!(fails("option enabled '1'\n"), ("option/list command found before the first section", 1, 0));
    assert_eq!(fails("config"), ("config without name", 0, 0));
    assert_eq!(fails("config t s\noption"), ("option without name", 1, 0));
    assert_eq!(fails("package"), ("package without name", 0, 0));
    assert_eq!(fails("config \n"), ("insufficient arguments", 1, 8));
    assert_eq!(fails("config t s\n\toption '' x\n"), ("insufficient arguments", 2, 11));
    assert_eq!(fails("config \"a b\"\n"), ("invalid character in type field", 1, 13));
    assert_eq!(fails("config t 'wan-b'\n"), ("invalid character in name field", 1, 17));
    assert_eq!(fails("package my.pkg\n"), ("invalid character in name field", 1, 15));
    assert_eq!(fails("config t s\n\toptoin a 'b'\n"), ("invalid command", 2, 1));
    assert_eq!(fails("config t s\n\toption a b c\n"), ("too many arguments", 2, 14));
    assert_eq!(fails("config t s\n\tlist l 'x\0'\n"), ("NUL byte in file", 2, 10));
}

#[test]
fn accepted_oddities() {
    assert_eq!(show("package my-pkg\nconfig a.b@c-d s\n"), "dualwan.s=a.b@c-d\n");
    assert_eq!(show("c t s\no a 1\nl b 2\np x\n"), "dualwan.s=t\ndualwan.s.a='1'\ndualwan.s.b='2'\n");
    assert_eq!(show("config t s # comment\n\t# option a 1\n"), "dualwan.s=t\n");
    assert_eq!(show(""), "");
}

#[test]
fn export_escapes_like_uci() {
    let pkg = parse("config \"t's\" s\n\tlist l 'a'\\''b'\n\tlist l ''\n\toption o \"x\"\n").unwrap();
    let mut out = String::new();
    pkg.export("dualwan", &mut out).unwrap();
    assert_eq!(out, "package dualwan\n\nconfig t'\\''s 's'\n\tlist l 'a'\\''b'\n\tlist l ''\n\toption o 'x'\n\n");
}

#[test]
fn buffers_never_grow() {
    let text = "config t s\n\toption a 1\n\toption a 2\n\tlist b 'x';list b y\nconfig t\n\tlist c ''\n";
    let commands = 1 + text.bytes().filter(|&b| b == b'\n' || b == b';').count();
    let pkg = parse(text).unwrap();
    assert_eq!(pkg.text.capacity(), text.len());
    assert_eq!(pkg.sections.capacity(), commands);
    assert_eq!(pkg.options.capacity(), commands);
    assert_eq!(pkg.values.capacity(), commands);
}
