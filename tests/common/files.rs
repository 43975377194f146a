//! Files as the package tests read them: bytes or text that panic with the path, and the
//! variables of the feed Makefile (`openwrt/net/dualwan/Makefile`).
#![allow(dead_code)]

use std::path::Path;

/// The file's bytes; panics with its path.
pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The file's text (UTF-8); panics with its path.
pub fn text(path: impl AsRef<Path>) -> String {
    String::from_utf8(read(path)).expect("UTF-8")
}

/// `NAME:=value` (possibly indented) from the feed Makefile.
pub fn feed_var(name: &str) -> String {
    let makefile = text(concat!(env!("CARGO_MANIFEST_DIR"), "/openwrt/net/dualwan/Makefile"));
    let prefix = format!("{name}:=");
    makefile
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} not in the feed Makefile"))
        .to_string()
}
