//! Replays the fuzz corpora on the stable toolchain: every file in `fuzz/seeds/TARGET/` and
//! `fuzz/regressions/TARGET/` goes through the same harness as the cargo-fuzz target of
//! that name (`dualwan::fuzzing`). A panic names the file. Fails when a target has no
//! seeds, so a moved folder cannot turn this into a test of nothing.

use std::path::{Path, PathBuf};

/// A fuzz target's harness.
type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 4] = [
    ("uci_config", dualwan::fuzzing::uci_config),
    ("icmp", dualwan::fuzzing::icmp),
    ("rtnl", dualwan::fuzzing::rtnl),
    ("ubus", dualwan::fuzzing::ubus),
];

/// The corpus files of one folder, sorted; notes (`*.md`) are not inputs.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: Harness) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = inputs(&fuzz.join("seeds").join(target));
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ is empty");
    let regressions = inputs(&fuzz.join("regressions").join(target));
    for file in seeds.iter().chain(&regressions) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: {} fails its harness", file.display());
    }
    seeds.len() + regressions.len()
}

#[test]
fn every_corpus_file_passes_its_harness() {
    for (target, run) in TARGETS {
        let n = replay(target, run);
        eprintln!("{target}: {n} inputs");
    }
}

#[test]
fn every_fuzz_target_has_a_corpus_here() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut names: Vec<String> =
        inputs(&dir).iter().filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())).collect();
    names.sort();
    let mut ours: Vec<String> = TARGETS.iter().map(|(t, _)| t.to_string()).collect();
    ours.sort();
    assert_eq!(names, ours, "fuzz/fuzz_targets/ and this test's TARGETS differ");
}
