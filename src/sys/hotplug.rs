//! Hotplug scripts: on every connected/disconnected transition, the scripts in
//! `/etc/hotplug.d/dualwan/` run with `ACTION`, `INTERFACE`, `DEVICE` and `FAMILY` in their
//! environment, the way OpenWrt's `hotplug-call` runs them (each sourced by `/bin/sh` in
//! its own subshell, in name order), so mwan3.user-style scripts port by changing a path.
//! When the WANs carrying a `config rule`'s traffic change they run with `ACTION=rule`,
//! `RULE`, `FAMILY`, `VIA` and `PREVIOUS` instead.
//!
//! Scripts never block the loop: they are spawned, reaped without waiting, and killed
//! (with their process group) when they run longer than the limit.

use crate::time::{Duration, Instant};
use nix::errno::Errno;
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::{c_char, CStr, CString};
use std::os::fd::AsRawFd;

/// The directory OpenWrt's convention puts them in.
pub const HOTPLUG_DIR: &str = "/etc/hotplug.d/dualwan";
/// How long a run of the scripts may take before it is killed.
pub const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Runs at once; a transition beyond that is skipped, counted and reported as an error for
/// the caller to log.
pub const RUNS_MAX: usize = 8;

/// Shell loop equivalent to `hotplug-call`: every regular file, sourced in a subshell.
const RUNNER: &CStr = cr#"for s in "$0"/*; do [ -f "$s" ] && ( . "$s" ); done"#;
/// The variables runs set; the daemon's own values of these are not passed on.
const NAMES: [&str; 7] = ["ACTION", "INTERFACE", "DEVICE", "FAMILY", "RULE", "VIA", "PREVIOUS"];

extern "C" {
    /// The process environment (POSIX `environ`; the libc crate declares it for glibc only).
    static environ: *const *const c_char;
}

/// Spawned script runs and their deadlines.
pub struct Hotplug {
    dir: String,
    limit: Duration,
    /// Each run's shell, the leader of its own process group, and its kill deadline.
    runs: heapless::Vec<(Pid, Instant), RUNS_MAX>,
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
        let vars = [("ACTION", action), ("INTERFACE", interface), ("DEVICE", device), ("FAMILY", family)];
        self.start(now, &vars, &format_args!("{action} of {interface}"))
    }

    /// Starts the scripts for a rule whose WANs changed: `ACTION=rule`, `RULE`, `FAMILY`,
    /// `VIA` (WAN names, or the rule's last resort word) and `PREVIOUS`. As [`Hotplug::run`].
    pub fn run_rule(
        &mut self,
        now: Instant,
        rule: &str,
        family: &str,
        via: &str,
        previous: &str,
    ) -> std::io::Result<()> {
        let vars = [("ACTION", "rule"), ("RULE", rule), ("FAMILY", family), ("VIA", via), ("PREVIOUS", previous)];
        self.start(now, &vars, &format_args!("rule {rule}"))
    }

    /// Reaps, then starts the scripts with `vars` unless there are none or [`RUNS_MAX`]
    /// runs are still going (`what` names the skipped run in that error).
    fn start(&mut self, now: Instant, vars: &[(&str, &str)], what: &dyn core::fmt::Display) -> std::io::Result<()> {
        self.reap(now);
        if !std::path::Path::new(&self.dir).is_dir() {
            return Ok(());
        }
        if self.runs.is_full() {
            self.skipped += 1;
            return Err(std::io::Error::other(format!("{RUNS_MAX} runs still going; {what} skipped")));
        }
        let pid = spawn(&self.dir, vars)?;
        let _ = self.runs.push((pid, now + self.limit)); // room checked above
        Ok(())
    }

    /// Reaps finished runs and kills those past their deadline.
    pub fn reap(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.runs.len() {
            let (pid, deadline) = self.runs[i];
            let done = !matches!(waitpid(pid, Some(WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive));
            if !done && now >= deadline {
                let _ = killpg(pid, Signal::SIGKILL);
                // Killed: returns at once.
                while waitpid(pid, None) == Err(Errno::EINTR) {}
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
        for (pid, _) in &self.runs {
            let _ = waitpid(*pid, Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Starts `/bin/sh -c RUNNER dir` in a new process group, stdin and stdout on /dev/null,
/// stderr inherited, with the daemon's environment (less `NAMES`) plus `vars`.
///
/// posix_spawn(3) rather than `std::process::Command`, whose environment map and spawn
/// machinery cost ~17 KB of a MIPS binary. Like `Command`, the child gets SIGPIPE back at
/// its default (the daemon ignores it). Unlike it, the child starts with an empty signal
/// mask: the daemon blocks SIGTERM, SIGINT and SIGHUP for its signalfd, and a script (or a
/// `sleep` it kills, or `timeout`) must not inherit that.
fn spawn(dir: &str, vars: &[(&str, &str)]) -> std::io::Result<Pid> {
    let mut own = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        let entry = [name.as_bytes(), b"=", value.as_bytes()].concat();
        own.push(CString::new(entry).map_err(|_| nul_error())?);
    }
    let dir = CString::new(dir).map_err(|_| nul_error())?;
    let mut env: Vec<&CStr> = inherited_env();
    env.extend(own.iter().map(CString::as_c_str));

    // Opened here with O_CLOEXEC and duplicated onto 0 and 1 in the child (dup2 clears it).
    let null_in = std::fs::File::open("/dev/null")?;
    let null_out = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let mut actions = PosixSpawnFileActions::init()?;
    actions.add_dup2(null_in.as_raw_fd(), 0)?;
    actions.add_dup2(null_out.as_raw_fd(), 1)?;
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_pgroup(Pid::from_raw(0))?; // so a timeout kills the scripts' children too
    attr.set_sigmask(&SigSet::empty())?;
    let mut default = SigSet::empty();
    default.add(Signal::SIGPIPE);
    attr.set_sigdefault(&default)?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETPGROUP
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    let argv = [c"/bin/sh", c"-c", RUNNER, dir.as_c_str()];
    Ok(nix::spawn::posix_spawn(c"/bin/sh", &actions, &attr, &argv, &env)?)
}

/// The daemon's environment without the entries a run sets itself.
fn inherited_env() -> Vec<&'static CStr> {
    let mut env = Vec::new();
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings that the process
    // keeps alive; the daemon is single-threaded and never changes its environment, so the
    // entries stay valid and unchanged while the child is spawned.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            env.push(CStr::from_ptr(*p));
            p = p.add(1);
        }
    }
    env.retain(|e| !NAMES.iter().any(|n| e.to_bytes().strip_prefix(n.as_bytes()).is_some_and(|r| r.starts_with(b"="))));
    env
}

fn nul_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, "nul byte found in provided data")
}
