//! Hotplug scripts: on every connected/disconnected transition, the scripts in
//! `/etc/hotplug.d/dualwan/` run with `ACTION`, `INTERFACE` and `DEVICE` in their
//! environment, the way OpenWrt's `hotplug-call` runs them (each sourced by `/bin/sh` in
//! its own subshell, in name order), so mwan3.user-style scripts port by changing a path.
//!
//! Scripts never block the loop: they are spawned, reaped without waiting, and killed
//! (with their process group) when they run longer than the limit.

use crate::time::{Duration, Instant};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// The directory OpenWrt's convention puts them in.
pub const HOTPLUG_DIR: &str = "/etc/hotplug.d/dualwan";
/// How long a run of the scripts may take before it is killed.
pub const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Runs at once; a transition beyond that is skipped, counted and reported as an error for
/// the caller to log.
pub const RUNS_MAX: usize = 8;

/// Shell loop equivalent to `hotplug-call`: every regular file, sourced in a subshell.
const RUNNER: &str = r#"for s in "$0"/*; do [ -f "$s" ] && ( . "$s" ); done"#;

/// Spawned script runs and their deadlines.
pub struct Hotplug {
    dir: String,
    limit: Duration,
    runs: heapless::Vec<(Child, Instant), RUNS_MAX>,
    skipped: u32,
    killed: u32,
}

impl Hotplug {
    /// Scripts from `dir`, each run limited to `limit`.
    pub fn new(dir: &str, limit: Duration) -> Hotplug {
        Hotplug { dir: dir.into(), limit, runs: heapless::Vec::new(), skipped: 0, killed: 0 }
    }

    /// Starts the scripts for one transition. Nothing happens when the directory does not
    /// exist. Returns the spawn error, or that [`RUNS_MAX`] runs are still going, for the
    /// caller to log.
    pub fn run(
        &mut self,
        now: Instant,
        action: &str,
        interface: &str,
        device: &str,
        family: &str,
    ) -> std::io::Result<()> {
        self.reap(now);
        if !std::path::Path::new(&self.dir).is_dir() {
            return Ok(());
        }
        if self.runs.is_full() {
            self.skipped += 1;
            let why = format!("{RUNS_MAX} runs still going; {action} of {interface} skipped");
            return Err(std::io::Error::other(why));
        }
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(RUNNER)
            .arg(&self.dir)
            .env("ACTION", action)
            .env("INTERFACE", interface)
            .env("DEVICE", device)
            .env("FAMILY", family)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0) // so a timeout kills the scripts' children too
            .spawn()?;
        let _ = self.runs.push((child, now + self.limit)); // room checked above
        Ok(())
    }

    /// Reaps finished runs and kills those past their deadline.
    pub fn reap(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.runs.len() {
            let (child, deadline) = &mut self.runs[i];
            let done = matches!(child.try_wait(), Ok(Some(_)) | Err(_));
            if !done && now >= *deadline {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait(); // killed: returns at once
                self.killed += 1;
                self.runs.swap_remove(i);
            } else if done {
                self.runs.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The earliest kill deadline, and a reap check while anything runs.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let reap_soon = now + Duration::from_millis(500);
        self.runs.iter().map(|(_, d)| (*d).min(reap_soon)).min()
    }

    /// Runs still going.
    pub fn running(&self) -> usize {
        self.runs.len()
    }

    /// Runs killed at the limit so far.
    pub fn killed(&self) -> u32 {
        self.killed
    }

    /// Transitions skipped because too many runs were going.
    pub fn skipped(&self) -> u32 {
        self.skipped
    }
}

impl Drop for Hotplug {
    fn drop(&mut self) {
        // Let running scripts finish on their own; only reap what is done.
        for (child, _) in self.runs.iter_mut() {
            let _ = child.try_wait();
        }
    }
}
