//! The recorded ubusd conversations of `tests/vectors/ubus/`, as message bytes: shared by
//! the simulated ubusd and `tests/ubus_replay.rs` (which includes this file by path).

/// Where the captures are.
const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ubus");

/// The message bytes of the capture whose file name starts with `prefix` (e.g. "a01").
pub fn vector(prefix: &str) -> Vec<u8> {
    let path = std::fs::read_dir(VECTORS)
        .expect("vector dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no capture {prefix}"));
    std::fs::read_to_string(path)
        .expect("readable")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect()
}
