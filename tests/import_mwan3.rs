//! `dualwan import-mwan3` as a user runs it, on the fixtures of `tests/vectors/mwan3` (the
//! config the mwan3 package ships, and realistic ones: see the README there). Each gives
//! its expected translation and warnings; every warning is also a comment where it applies;
//! the translation passes `dualwan check`. Then bad input: other configs, unreadable and
//! broken files, nothing to translate, bad arguments.
//!
//! `the_translations_pass_dualwan_check` needs the options the translation writes
//! (`mode balance`, `weight`, `config rule`, `check_quality` and its thresholds): it fails
//! until `dualwan check` knows them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mwan3")
}

/// Runs the binary in the fixture directory: exit code, stdout, stderr.
fn dualwan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dualwan")).args(args).current_dir(vectors()).output().unwrap();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 output");
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// (case, mwan3 config, network config) as in the fixtures' README.
const CASES: [(&str, &str, &str); 5] = [
    ("shipped", "shipped.mwan3", "shipped.network"),
    ("shipped-wanb", "shipped-wanb.mwan3", "shipped.network"),
    ("pppoe-lte", "pppoe-lte.mwan3", "pppoe-lte.network"),
    ("pppoe-lte-no-network", "pppoe-lte.mwan3", "missing.network"),
    ("untranslatable", "untranslatable.mwan3", "untranslatable.network"),
];

/// A file of this test's own in the temporary directory.
fn scratch(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dualwan-import-mwan3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The first line where `got` and `want` differ, to read a failure quickly.
fn first_difference(got: &str, want: &str) -> String {
    let line = got
        .lines()
        .zip(want.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(got.lines().count().min(want.lines().count()));
    format!(
        "line {}:\n  got:  {:?}\n  want: {:?}",
        line + 1,
        got.lines().nth(line).unwrap_or("(end)"),
        want.lines().nth(line).unwrap_or("(end)")
    )
}

#[test]
fn each_fixture_gives_its_expected_translation_and_warnings() {
    for (case, mwan3, network) in CASES {
        let (code, out, err) = dualwan(&["import-mwan3", mwan3, network]);
        assert_eq!(code, 0, "{case}: {err}");
        let want = common::files::text(vectors().join(format!("{case}.dualwan")));
        assert!(out == want, "{case}.dualwan differs at {}", first_difference(&out, &want));
        let want = common::files::text(vectors().join(format!("{case}.stderr")));
        assert!(err == want, "{case}.stderr differs at {}", first_difference(&err, &want));
    }
    // What the shipped config with both lines says, in dualwan's words.
    let (_, out, _) = dualwan(&["import-mwan3", "shipped-wanb.mwan3", "shipped.network"]);
    for line in [
        "\toption mode 'balance'\n\toption last_resort 'unreachable'\n",
        "config interface 'wan'\n",
        "\toption network 'wanb'\n\toption metric '1'\n\toption weight '3'\n",
        "config rule 'https'\n",
        "\tlist use 'balance'\n",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
    assert_eq!(out.matches("\nconfig interface ").count(), 2, "wan6 and wanb6 joined their IPv4 interfaces");
}

#[test]
fn every_warning_is_also_a_comment_in_the_translation() {
    for (case, mwan3, network) in CASES {
        let (_, out, err) = dualwan(&["import-mwan3", mwan3, network]);
        let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with(mwan3)).collect();
        assert!(!warnings.is_empty(), "{case}: the fixtures all have something dualwan cannot say");
        for w in &warnings {
            // `FILE:LINE: not translated: WHY` → `# mwan3:LINE: not translated: WHY`.
            let rest = &w[mwan3.len()..];
            let comment = match rest.strip_prefix(':') {
                Some(line_and_text) => format!("# mwan3:{line_and_text}"),
                None => format!("# mwan3{rest}"),
            };
            assert!(rest.contains(": not translated: "), "{case}: {w}");
            assert!(out.contains(&comment), "{case}: no comment {comment:?}");
        }
        assert_eq!(out.matches(": not translated: ").count(), warnings.len(), "{case}");
    }
}

#[test]
fn the_translations_pass_dualwan_check() {
    for (case, mwan3, network) in CASES {
        let (code, out, _) = dualwan(&["import-mwan3", mwan3, network]);
        assert_eq!(code, 0, "{case}");
        let path = scratch(&format!("{case}.dualwan"), out.as_bytes());
        let (code, effective, err) = dualwan(&["check", "-c", path.to_str().unwrap()]);
        let errors: Vec<&str> = err.lines().filter(|l| !l.ends_with("(warning)")).collect();
        assert!(code == 0 && errors.is_empty(), "{case}: dualwan check exit {code}:\n{}", errors.join("\n"));
        // Every interface and rule written is one dualwan has.
        for kind in ["config interface '", "config rule '"] {
            assert_eq!(effective.matches(kind).count(), out.matches(kind).count(), "{case}: {kind}");
        }
    }
}

#[test]
fn other_configs_are_refused_with_what_they_look_like() {
    let (code, out, err) = dualwan(&["import-mwan3", "shipped.network", "shipped.network"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "shipped.network: not an mwan3 config: interface 'loopback' (line 4) has option 'proto': this looks like /etc/config/network\n"
    );
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("openwrt/files/dualwan.config");
    let (code, _, err) = dualwan(&["import-mwan3", own.to_str().unwrap(), "shipped.network"]);
    assert_eq!(code, 1);
    assert!(err.contains("dualwan.config: not an mwan3 config: interface 'wan' (line "), "{err}");
    assert!(err.ends_with("has option 'device': this looks like a dualwan config\n"), "{err}");
    let empty = scratch("empty", b"");
    let (code, _, err) = dualwan(&["import-mwan3", empty.to_str().unwrap(), "shipped.network"]);
    assert_eq!(code, 1);
    assert!(
        err.ends_with("empty: not an mwan3 config: it has no interface, member, policy or rule sections\n"),
        "{err}"
    );
}

#[test]
fn unreadable_and_broken_files_are_named() {
    let (code, out, err) = dualwan(&["import-mwan3", "nothing-here", "shipped.network"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("nothing-here: cannot read: No such file or directory"), "{err}");
    let (code, _, err) = dualwan(&["import-mwan3", ".", "shipped.network"]);
    assert_eq!(code, 1);
    assert!(err.starts_with(".: cannot read: Is a directory"), "{err}");

    let broken = scratch("broken", b"config interface 'wan'\n\toption enabled '1\n");
    let (code, out, err) = dualwan(&["import-mwan3", broken.to_str().unwrap(), "shipped.network"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, format!("{}:2: quote opened here is never closed\n", broken.display()));
    let (code, _, err) = dualwan(&["import-mwan3", "shipped.mwan3", broken.to_str().unwrap()]);
    assert_eq!(code, 1, "a broken network config is an error too");
    assert!(err.starts_with(&format!("{}:2: quote opened here", broken.display())), "{err}");
    let latin1 = scratch("latin1", b"config interface 'wan'\n\tlist track_ip '1.1.1.1'\n\toption x '\xe9'\n");
    let (code, _, err) = dualwan(&["import-mwan3", latin1.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(err, format!("{}:3: not valid UTF-8\n", latin1.display()));
}

#[test]
fn a_config_with_nothing_to_fail_over_between_is_a_failure() {
    // mwan3 leaves an interface without `enabled` disabled.
    let off = scratch("off", b"config interface 'wan'\n\tlist track_ip '1.1.1.1'\n");
    let (code, out, err) = dualwan(&["import-mwan3", off.to_str().unwrap(), "shipped.network"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.ends_with("no interface is enabled (mwan3's default for enabled is 0): nothing to fail over between\n"),
        "{err}"
    );
    let anonymous = scratch("anonymous", b"config interface\n\toption enabled '1'\n\tlist track_ip '1.1.1.1'\n");
    let (code, out, err) = dualwan(&["import-mwan3", anonymous.to_str().unwrap(), "shipped.network"]);
    assert_eq!((code, out.as_str()), (1, ""));
    let path = anonymous.display();
    assert_eq!(
        err,
        format!(
            "{path}:1: not translated: interface section without a name: it names no netifd interface\n\
             {path}: no interface could be translated\n"
        )
    );
}

#[test]
fn arguments() {
    let (code, out, err) = dualwan(&["import-mwan3", "a", "b", "c"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err, "dualwan: import-mwan3 takes at most two files: MWAN3_FILE [NETWORK_FILE]\n");
    let (code, out, _) = dualwan(&["import-mwan3", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Translate an mwan3 config into a dualwan config"), "{out}");
    // Without files: the router's own.
    if Path::new("/etc/config/mwan3").exists() {
        common::skip::skip("this machine has an /etc/config/mwan3: the default path is not tried");
        return;
    }
    let (code, _, err) = dualwan(&["import-mwan3"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("/etc/config/mwan3: cannot read: No such file or directory"), "{err}");
}
