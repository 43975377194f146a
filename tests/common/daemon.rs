//! The daemon under test in the lab: its binary, the words it uses, waiting for it to come
//! up, and its status as `dualwan status --json` reads it.
//!
//! ```ignore
//! let cfg = Config::lab().write(&lab);
//! let mut d = lab.spawn_in("rtr", BIN, &["run", "-c", &cfg, "--log", "stderr"]);
//! wait_up(&lab, &d); // both WANs online, traffic on `wan`
//! ```
#![allow(dead_code)]

use super::lab::{wait_until, Lab};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// The daemon cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_dualwan");

/// What the daemon says when the three targets of [`super::config::Config::lab`] stop
/// answering behind a live gateway.
pub const SILENT_UPSTREAM: &str = "gateway answers, targets unreachable (0/3 answered, need 1)";

/// Waits up to 5 s until both WANs of [`super::config::Config::lab`] are online and IPv4
/// traffic is on `wan`, as the daemon's log tells; panics with the log when they are not.
pub fn wait_up(lab: &Lab, daemon: &Child) {
    let up = wait_until(Duration::from_secs(5), || {
        let log = lab.stderr_of(daemon);
        log.contains("traffic on wan\n") && log.contains("wanb: connecting -> online")
    });
    assert!(up.is_some(), "daemon did not come up:\n{}", lab.stderr_of(daemon));
}

/// `dualwan status --json --ubus-socket SOCK`, parsed; panics unless it exits 0.
pub fn status_json(sock: &Path) -> Value {
    let out = Command::new(BIN).args(["status", "--json", "--ubus-socket"]).arg(sock).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
