//! blobmsg as JSON text, exactly as `ubus call` prints a reply (libubox
//! `blobmsg_format_json_indent(data, true, 0)` in `blobmsg_json.c`), so that
//! `dualwan status --json` and `ubus call dualwan status` print the same bytes.
//!
//! The rules of libubox's printer, reproduced here:
//! - Indented: every member on its own line, one tab per level, `"key": value`, members
//!   separated by `,` at the end of the line. An empty table or array still gets its inner
//!   line: `{` newline, the inner level's tabs, newline, `}` (`[\n\t\t\n\t]` one level in).
//!   Past 16 levels the indent stays at 16 tabs. Compact (`ubus -S call`): no whitespace
//!   at all, `"key":value`.
//! - A member with an empty name prints no key, even in a table; array elements never do.
//! - INT8 (= BOOL) prints `true` for any non-zero byte, else `false`; INT16/32/64 print as
//!   signed decimals; DOUBLE as C's `%lf`: six decimals (`0.400000`), `inf`, `-inf`, `nan`,
//!   `-nan`; UNSPEC as `null`.
//! - Strings stop at their first NUL (C's `strlen`) and escape `"`, `\`, `\b`, `\n`, `\t`,
//!   `\r` as two characters and every other byte below 0x20 as `\u00xx`; everything else,
//!   `/` included, is copied.
//!
//! Where libubox is undefined or raw, this printer picks something safe and says so: an
//! unknown type prints `null` (C prints whatever its stack buffer held), bytes that are not
//! UTF-8 become U+FFFD (C copies them), and a malformed attribute ends its list (C skips
//! it), and a table or array nested deeper than [`crate::wire::blob::MAX_DEPTH`] prints
//! `null` (C recurses on; here a 64 KiB message could nest 8192 deep and exhaust the
//! stack). Check a payload with [`crate::wire::blob::check_table`] first to never meet these.

use crate::wire::blob::{self, Attr, Attrs, Kind};
use core::fmt::{self, Write};

/// libubox indents at most this deep.
const MAX_INDENT: usize = 16;

/// Writes the members of a blobmsg table payload (e.g. a ubus DATA attribute) as one JSON
/// object, like `ubus call` (`indented`) or `ubus -S call` (not). No newline at the end: the
/// CLI prints one.
pub fn write_table(payload: &[u8], indented: bool, out: &mut dyn Write) -> fmt::Result {
    let mut p = Printer { out, indented, level: 0 };
    p.list(Attrs::new(payload), false)
}

/// [`write_table`] into a new `String` (for the command line and tests).
pub fn table_to_string(payload: &[u8], indented: bool) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = write_table(payload, indented, &mut s);
    s
}

struct Printer<'o> {
    out: &'o mut dyn Write,
    indented: bool,
    level: usize,
}

impl Printer<'_> {
    /// A newline and the current level's tabs (`add_separator`).
    fn separator(&mut self) -> fmt::Result {
        if !self.indented {
            return Ok(());
        }
        self.out.write_char('\n')?;
        for _ in 0..self.level.min(MAX_INDENT) {
            self.out.write_char('\t')?;
        }
        Ok(())
    }

    fn list(&mut self, attrs: Attrs<'_>, array: bool) -> fmt::Result {
        self.out.write_char(if array { '[' } else { '{' })?;
        self.level += 1;
        self.separator()?;
        for (i, attr) in attrs.enumerate() {
            let Ok(attr) = attr else { break };
            if i > 0 {
                self.out.write_char(',')?;
                self.separator()?;
            }
            self.element(&attr, array)?;
        }
        self.level -= 1;
        self.separator()?;
        self.out.write_char(if array { ']' } else { '}' })
    }

    fn element(&mut self, attr: &Attr<'_>, in_array: bool) -> fmt::Result {
        if !in_array && !attr.name.is_empty() {
            string(self.out, attr.name.as_bytes())?;
            self.out.write_str(if self.indented { ": " } else { ":" })?;
        }
        let v = attr.value;
        match attr.kind {
            // `check_table` refuses this depth; stop before the stack does.
            Kind::Table | Kind::Array if self.level > blob::MAX_DEPTH => self.out.write_str("null"),
            Kind::Table => self.list(Attrs::new(v), false),
            Kind::Array => self.list(Attrs::new(v), true),
            Kind::String => string(self.out, v),
            Kind::Int8 => self.out.write_str(if v.first().is_some_and(|&b| b != 0) { "true" } else { "false" }),
            Kind::Int16 => match attr.as_u16() {
                Some(n) => write!(self.out, "{}", n as i16),
                None => self.out.write_str("null"),
            },
            Kind::Int32 => match attr.as_u32() {
                Some(n) => write!(self.out, "{}", n as i32),
                None => self.out.write_str("null"),
            },
            Kind::Int64 => match attr.as_u64() {
                Some(n) => write!(self.out, "{}", n as i64),
                None => self.out.write_str("null"),
            },
            Kind::Double => match attr.as_f64() {
                Some(d) => c_double(self.out, d),
                None => self.out.write_str("null"),
            },
            Kind::Unspec | Kind::Other(_) => self.out.write_str("null"),
        }
    }
}

/// C's `printf("%lf", d)`.
fn c_double(out: &mut dyn Write, d: f64) -> fmt::Result {
    if d.is_nan() {
        out.write_str(if d.is_sign_negative() { "-nan" } else { "nan" })
    } else if d.is_infinite() {
        out.write_str(if d < 0.0 { "-inf" } else { "inf" })
    } else {
        // Both are exact decimal expansions rounded to six places.
        write!(out, "{d:.6}")
    }
}

/// `blobmsg_format_string`: quoted, up to the first NUL, with libubox's escapes (also the
/// JSON strings of `dualwan check --schema`).
pub(crate) fn string(out: &mut dyn Write, bytes: &[u8]) -> fmt::Result {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    out.write_char('"')?;
    for chunk in bytes[..end].utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.write_str("\\\"")?,
                '\\' => out.write_str("\\\\")?,
                '\u{8}' => out.write_str("\\b")?,
                '\n' => out.write_str("\\n")?,
                '\t' => out.write_str("\\t")?,
                '\r' => out.write_str("\\r")?,
                c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
                c => out.write_char(c)?,
            }
        }
        if !chunk.invalid().is_empty() {
            out.write_char(char::REPLACEMENT_CHARACTER)?;
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blob::{BlobAttrs, Full, Writer};
    use crate::wire::vectors::vector;

    fn build(f: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        let mut w = Writer::new(&mut buf);
        f(&mut w).expect("fits");
        w.written().to_vec()
    }

    fn data_of(msg: &[u8]) -> &[u8] {
        BlobAttrs::new(&msg[12..]).map(Result::unwrap).find(|a| a.id == 7).expect("DATA").data
    }

    /// What `ubus call dualwan status` printed for the mock's reply (b08), and `ubus call test
    /// hello` for a16.
    #[test]
    fn captured_replies_print_as_the_cli_prints_them() {
        let want = "{\n\t\"mode\": \"failover\",\n\t\"active\": \"wan\",\n\t\"healthy\": true,\n\t\"uptime\": 42,\n\t\
                    \"members\": [\n\t\t{\n\t\t\t\"name\": \"wan\",\n\t\t\t\"up\": true\n\t\t},\n\t\t{\n\t\t\t\
                    \"name\": \"wanb\",\n\t\t\t\"up\": false\n\t\t}\n\t]\n}";
        assert_eq!(table_to_string(data_of(&vector("b08")), true), want);
        let compact = r#"{"mode":"failover","active":"wan","healthy":true,"uptime":42,"members":[{"name":"wan","up":true},{"name":"wanb","up":false}]}"#;
        assert_eq!(table_to_string(data_of(&vector("b08")), false), compact);
        assert_eq!(
            table_to_string(data_of(&vector("a16")), true),
            "{\n\t\"message\": \"test received a message: x\"\n}"
        );
    }

    #[test]
    fn numbers_as_printf_prints_them() {
        let data = build(|w| {
            w.double("rtt", 0.4)?;
            w.double("big", 12_345.678_9)?;
            w.double("neg", -0.000_000_4)?;
            w.double("inf", f64::INFINITY)?;
            w.double("nan", f64::NAN)?;
            w.u32("minus", u32::MAX)?;
            w.u64("big64", u64::MAX)?;
            w.bool("yes", true)
        });
        let text = table_to_string(&data, false);
        assert_eq!(
            text,
            r#"{"rtt":0.400000,"big":12345.678900,"neg":-0.000000,"inf":inf,"nan":nan,"minus":-1,"big64":-1,"yes":true}"#
        );
        // INT16, INT8 other than 1, UNSPEC, an unknown type: hand-made attributes.
        #[rustfmt::skip]
        let odd = [
            0x86, 0, 0, 0x0a, 0, 1, b'a', 0, 0xff, 0xfe, 0, 0,
            0x87, 0, 0, 0x09, 0, 1, b'b', 0, 2, 0, 0, 0,
            0x80, 0, 0, 0x08, 0, 1, b'c', 0,
            0x99, 0, 0, 0x08, 0, 1, b'd', 0,
        ];
        assert_eq!(table_to_string(&odd, false), r#"{"a":-2,"b":true,"c":null,"d":null}"#);
    }

    #[test]
    fn empty_lists_nesting_and_names() {
        let data = build(|w| {
            let t = w.begin_table("t")?;
            w.end(t);
            let a = w.begin_array("a")?;
            let inner = w.begin_table("")?;
            w.end(inner);
            w.u32("", 7)?;
            w.end(a);
            w.string("", "no key")
        });
        let want = "{\n\t\"t\": {\n\t\t\n\t},\n\t\"a\": [\n\t\t{\n\t\t\t\n\t\t},\n\t\t7\n\t],\n\t\"no key\"\n}";
        assert_eq!(table_to_string(&data, true), want);
        assert_eq!(table_to_string(&[], true), "{\n\t\n}");
        assert_eq!(table_to_string(&[], false), "{}");
        // Seventeen levels: the indent stops at sixteen tabs.
        let deep = build(|w| {
            let mut nests = Vec::new();
            for _ in 0..17 {
                nests.push(w.begin_table("x")?);
            }
            while let Some(n) = nests.pop() {
                w.end(n);
            }
            Ok(())
        });
        let text = table_to_string(&deep, true);
        let widest = text.lines().map(|l| l.len() - l.trim_start_matches('\t').len()).max();
        assert_eq!(widest, Some(16));
    }

    #[test]
    fn strings_escape_like_libubox() {
        let data = build(|w| w.string("k\"ey", "a\"b\\c/d\n\t\r\u{8}\u{1}é"));
        assert_eq!(table_to_string(&data, false), r#"{"k\"ey":"a\"b\\c/d\n\t\r\b\u0001é"}"#);
        // Up to the first NUL; invalid UTF-8 replaced.
        let raw = [0x83, 0, 0, 0x0e, 0, 1, b's', 0, b'a', 0xff, b'b', 0, b'c', 0, 0, 0];
        assert_eq!(table_to_string(&raw, false), "{\"s\":\"a\u{fffd}b\"}");
    }

    /// The deepest nesting a 64 KiB ubus message can hold (8 bytes a level), unchecked.
    #[test]
    fn the_deepest_message_prints_within_a_test_thread_stack() {
        let levels = crate::wire::ubus::MAX_MESSAGE / 8;
        let mut data = vec![0u8; levels * 8];
        for (i, level) in data.chunks_exact_mut(8).enumerate() {
            let len = ((levels - i) * 8) as u32 | 0x8000_0000 | (2 << 24); // extended TABLE
            level[..4].copy_from_slice(&len.to_be_bytes());
            level[4..8].copy_from_slice(&[0, 1, b'x', 0]); // name "x"
        }
        let text = table_to_string(&data, false);
        let depth = crate::wire::blob::MAX_DEPTH;
        let open = "{".to_string() + &r#""x":{"#.repeat(depth);
        assert_eq!(text, open.clone() + r#""x":null"# + &"}".repeat(depth + 1));
        // The deepest table `check_table` accepts still prints whole.
        let deepest_ok = &data[data.len() - depth * 8..];
        assert!(crate::wire::blob::check_table(deepest_ok).is_ok());
        assert!(crate::wire::blob::check_table(&data[data.len() - (depth + 1) * 8..]).is_err());
        assert_eq!(table_to_string(deepest_ok, false), open + &"}".repeat(depth + 1));
    }

    #[test]
    fn malformed_input_ends_the_list_without_panicking() {
        let data = build(|w| {
            w.u32("a", 1)?;
            w.u32("b", 2)
        });
        for end in 0..data.len() {
            let _ = table_to_string(&data[..end], true);
        }
        assert_eq!(table_to_string(&data[..14], false), r#"{"a":1}"#);
    }
}
