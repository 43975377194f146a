//! Network namespaces of a test's own, for tests that call the crate's socket adapters
//! directly: a thread that enters one (setns(2) moves only the calling thread, and a socket
//! stays in the namespace it was made in, so the harness's threads never leave the root
//! namespace), and the commands that wire the namespaces up.
//!
//! ```ignore
//! if !may_build_namespaces() { return }                 // skipped with DUALWAN_SKIP_NETNS=1
//! ip(&["netns", "add", "dwx123a"]);
//! let probe = in_ns("dwx123a", || ProbeSocket::open(...)); // runs on a thread inside it
//! ```
#![allow(dead_code)]

use super::lab::{is_root, SKIP_ENV};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Whether the test may build namespaces: `false` after a skip line when
/// `DUALWAN_SKIP_NETNS=1`; panics when not root (CI runs these tests as root).
pub fn may_build_namespaces() -> bool {
    if std::env::var_os(SKIP_ENV).is_some_and(|v| v == "1") {
        super::skip::skip(format_args!("network-namespace test ({SKIP_ENV}=1)"));
        return false;
    }
    assert!(is_root(), "network-namespace tests need root (CI runs them as root); set {SKIP_ENV}=1 to skip");
    true
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result; a panic in `f` is
/// raised again here with its message.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns);
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread into network namespace `ns` (`ip netns add` made it).
pub fn enter(ns: &str) {
    let file = File::open(format!("/var/run/netns/{ns}")).expect("open netns file");
    // SAFETY: `file` is an open namespace file for the whole call; setns(2) only changes this
    // thread's namespace, which this thread owns until it ends.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `ip ARGS` (iproute2); panics with its output unless it succeeds.
pub fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args));
}

/// Sets sysctls (`key=value`) in namespace `ns`.
pub fn sysctl(ns: &str, settings: &[&str]) {
    run_ok(Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw"]).args(settings));
}

/// Runs `cmd` with its output captured, panicking with that output if it fails.
pub fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
