//! Honest test output: a test that could not do its work says so, and a long test says it
//! is still working.
//!
//! [`skip`] writes `skipped: REASON` to the terminal and appends `BINARY<TAB>TEST<TAB>REASON`
//! to the file named by `DUALWAN_SKIP_LOG`. `tests/run.sh` (what `make test` runs) sets that
//! variable, rewrites the test's `ok` line into `skipped: REASON` from it, ends with the
//! number of skipped tests, and fails when `CI=true` and anything was skipped.
//!
//! Both functions write straight to the process's stderr: libtest captures `eprintln!` of a
//! passing test and would swallow the line.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;

/// The variable `tests/run.sh` sets to the skip log's path.
pub const SKIP_LOG_ENV: &str = "DUALWAN_SKIP_LOG";

/// The running test's name as libtest prints it (libtest names each test's thread after it;
/// with `--test-threads=1` the thread is `main` and the name is unknown).
pub fn test_name() -> String {
    std::thread::current().name().unwrap_or("main").to_string()
}

/// The test binary's name without cargo's hash (`qemu-0123abcd` → `qemu`).
fn binary_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
    let stem = stem.unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

/// Records that the running test could not do its work, and why. The caller returns at once.
pub fn skip(reason: impl Display) {
    let reason = reason.to_string().replace(['\n', '\t'], " ");
    let name = test_name();
    let _ = writeln!(std::io::stderr(), "{name}: skipped: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        let line = format!("{}\t{name}\t{reason}\n", binary_name());
        // One write(2) with O_APPEND: lines of parallel tests do not interleave.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// A progress line of a long test (`make test` shows one at least every 30 s).
pub fn progress(message: impl Display) {
    let _ = writeln!(std::io::stderr(), "{}: {message}", test_name());
}

/// How often a [`Heartbeat`] speaks: well inside the 30 s a test may stay silent.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

/// While it lives, prints `TEST: still running (N s)` every [`HEARTBEAT_EVERY`], so a long
/// test is never silent for 30 s (every network-namespace lab holds one).
pub struct Heartbeat {
    stop: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts speaking for the running test.
    pub fn start() -> Heartbeat {
        let stop = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let (name, flag, started) = (test_name(), stop.clone(), std::time::Instant::now());
        let thread = std::thread::spawn(move || {
            let (lock, wake) = &*flag;
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let (guard, timeout) = wake.wait_timeout(stopped, HEARTBEAT_EVERY).unwrap_or_else(|e| e.into_inner());
                stopped = guard;
                if *stopped {
                    return;
                }
                if timeout.timed_out() {
                    let secs = started.elapsed().as_secs();
                    let _ = writeln!(std::io::stderr(), "{name}: still running ({secs} s)");
                }
            }
        });
        Heartbeat { stop, thread: Some(thread) }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The shared folder of real OpenWrt programs (`../shared/owrt` beside the repository), if
/// this checkout has it.
pub fn owrt_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/owrt"));
    dir.is_dir().then_some(dir)
}

/// The real OpenWrt program `name` (`ubusd`, `ubus`, `uci`, `opkg`, `apk`, `procd-ns.sh`,
/// ...), or `None` after [`skip`] saying it is missing.
pub fn owrt_program(name: &str) -> Option<PathBuf> {
    let Some(dir) = owrt_dir() else {
        skip(format_args!("needs the real OpenWrt '{name}' from ../shared/owrt, which this checkout does not have"));
        return None;
    };
    let path = dir.join(name);
    if path.is_file() {
        Some(path)
    } else {
        skip(format_args!("needs {}, which is missing", path.display()));
        None
    }
}
