//! Test helper: the ubus captures in `tests/vectors/ubus/` (see its README.md).

/// Where the captures are.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ubus");

/// The message bytes of the capture whose file name starts with `prefix` (e.g. "b06").
pub fn vector(prefix: &str) -> Vec<u8> {
    all_vectors()
        .into_iter()
        .find(|(name, _)| name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no capture {prefix} in {DIR}"))
        .1
}

/// Every capture, sorted by file name.
pub fn all_vectors() -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("{DIR}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .map(|p| {
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, decode_hex(&text))
        })
        .collect();
    all.sort();
    assert_eq!(all.len(), 37, "the README lists 37 captures");
    all
}

/// Strips `#` lines and decodes the rest.
pub fn decode_hex(text: &str) -> Vec<u8> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}
