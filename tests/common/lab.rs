//! The network-namespace lab for integration tests: a Rust face on
//! `tests/lab/lab.sh` (std only).
//!
//! ```ignore
//! mod common;
//! use common::lab::{lab_or_skip, wait_until};
//!
//! #[test]
//! fn fails_over() {
//!     let Some(lab) = lab_or_skip("fo") else { return };
//!     let mut d = lab.spawn_in("rtr", env!("CARGO_BIN_EXE_dualwan"), &["run", "-c", "..."]);
//!     lab.upstream_fail(1);
//!     assert!(wait_until(Duration::from_secs(5), || lab.active() == "wan2").is_some());
//!     lab.terminate(&mut d);
//! }
//! ```
//!
//! Every `Lab` has its own namespaces (`dw<tag>-<pid>-<n>-rtr`, ...), so tests
//! run in parallel; dropping it tears them down, killing whatever still runs
//! inside. Labs left behind by a killed test process are removed by the next
//! `Lab::new`.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Set to 1 to skip the namespace tests (e.g. when not root).
pub const SKIP_ENV: &str = "DUALWAN_SKIP_NETNS";
/// Set to 1 to keep a lab's temp dir (daemon logs) after a passing test.
pub const KEEP_ENV: &str = "DUALWAN_KEEP_LAB";

/// Namespace roles, as `lab.sh` names them after the prefix.
pub const ROLES: [&str; 5] = ["rtr", "isp1", "isp2", "inet", "lan"];

/// Probe targets in `inet`.
pub const TARGETS: [&str; 3] = ["203.0.113.1", "203.0.113.2", "203.0.113.3"];
/// The host `active()` and `lan_active()` ask about; also a traffic target.
pub const TRAFFIC: &str = "203.0.113.50";
/// ISP N's gateway as seen from rtr (index 0 is ISP 1).
pub const GW: [&str; 2] = ["192.0.2.1", "192.0.2.9"];
/// rtr's address on wanN (index 0 is wan1).
pub const WAN_ADDR: [&str; 2] = ["192.0.2.2", "192.0.2.10"];
/// rtr's LAN address and the LAN client.
pub const LAN_GW: &str = "192.0.2.129";
pub const LAN_CLIENT: &str = "192.0.2.130";

// The IPv6 half of an IPv6 lab (`Lab::new_ipv6`, lab.sh with DWLAB_IPV6=1).
/// Probe targets in `inet`.
pub const TARGETS6: [&str; 3] = ["2001:db8:f::1", "2001:db8:f::2", "2001:db8:f::3"];
/// The host `active6()` and `lan_active6()` ask about; also a traffic target.
pub const TRAFFIC6: &str = "2001:db8:f::50";
/// Both ISPs' gateway as seen from rtr: link-local, so only the device (wan1, wan2) tells
/// them apart.
pub const GW6: &str = "fe80::1";
/// ISP N's global address on the link to rtr (index 0 is ISP 1).
pub const GW6_GLOBAL: [&str; 2] = ["2001:db8:1::1", "2001:db8:2::1"];
/// rtr's global address on wanN (index 0 is wan1).
pub const WAN_ADDR6: [&str; 2] = ["2001:db8:1::2", "2001:db8:2::2"];
/// rtr's LAN address and the LAN client.
pub const LAN_GW6: &str = "2001:db8:80::1";
pub const LAN_CLIENT6: &str = "2001:db8:80::2";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Path of `tests/lab/lab.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// Effective uid 0, read from /proc (std has no geteuid).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn skip_requested() -> bool {
    std::env::var(SKIP_ENV).map(|v| v == "1").unwrap_or(false)
}

/// A lab for this test, or `None` (after printing a skip line) when
/// `DUALWAN_SKIP_NETNS=1`. Without that variable a non-root run panics.
pub fn lab_or_skip(tag: &str) -> Option<Lab> {
    if skip_requested() {
        super::skip::skip(format_args!("network-namespace test ({SKIP_ENV}=1)"));
        return None;
    }
    Some(Lab::new(tag))
}

/// The same with IPv6 as well (`Lab::new_ipv6`).
pub fn lab6_or_skip(tag: &str) -> Option<Lab> {
    if skip_requested() {
        super::skip::skip(format_args!("network-namespace test ({SKIP_ENV}=1)"));
        return None;
    }
    Some(Lab::new_ipv6(tag))
}

/// Polls `cond` every 10 ms until it holds (returns how long that took) or
/// `timeout` passes (returns `None`). Checks once more at the deadline.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Packets sent and received by one `ping` run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingStats {
    pub sent: u32,
    pub received: u32,
}

impl PingStats {
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 100.0;
        }
        100.0 * f64::from(self.sent - self.received) / f64::from(self.sent)
    }

    /// Parses iputils' "N packets transmitted, M received" line.
    pub fn parse(stdout: &str) -> Option<PingStats> {
        let line = stdout.lines().find(|l| l.contains("packets transmitted"))?;
        let mut nums = line.split(',').map(|part| part.split_whitespace().next().and_then(|n| n.parse::<u32>().ok()));
        Some(PingStats { sent: nums.next()??, received: nums.next()?? })
    }
}

pub struct Lab {
    prefix: String,
    /// Built with IPv6 (DWLAB_IPV6=1), by `up` too.
    ipv6: bool,
    dir: PathBuf,
    /// (pid, stdout file, stderr file) of every `spawn_in`.
    spawned: Mutex<Vec<(u32, PathBuf, PathBuf)>>,
    /// Says the test is still running while the lab lives.
    _heartbeat: super::skip::Heartbeat,
}

impl Lab {
    /// Builds a fresh lab named after `tag` ([A-Za-z0-9_], short), this
    /// process and a counter. Panics when not root or when `up` fails.
    pub fn new(tag: &str) -> Lab {
        Lab::build(tag, false)
    }

    /// The same lab with IPv6 as well: every namespace gets the addresses and
    /// routes of lab.sh's DWLAB_IPV6=1 (see tests/lab/README.md).
    pub fn new_ipv6(tag: &str) -> Lab {
        Lab::build(tag, true)
    }

    fn build(tag: &str, ipv6: bool) -> Lab {
        assert!(
            is_root(),
            "the network-namespace lab needs root (ip netns, veth, nftables); \
             run the tests as root or set {SKIP_ENV}=1 to skip them"
        );
        assert!(
            !tag.is_empty() && tag.len() <= 16 && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "lab tag must be 1..=16 chars of [A-Za-z0-9_], got {tag:?}"
        );
        reap_stale_labs();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("dw{tag}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("dualwan-lab-{prefix}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create lab temp dir");
        let lab =
            Lab { prefix, ipv6, dir, spawned: Mutex::new(Vec::new()), _heartbeat: super::skip::Heartbeat::start() };
        lab.up();
        lab
    }

    /// (Re)builds the lab; a lab of the same prefix is torn down first.
    pub fn up(&self) {
        run_script_env(&self.prefix, &["up"], &[("DWLAB_IPV6", if self.ipv6 { "1" } else { "0" })]);
    }

    /// Removes every namespace of this lab; idempotent. Drop calls it too.
    pub fn down(&self) {
        self.script(&["down"]);
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Full namespace name of a role ("rtr" -> "dwtag-123-0-rtr").
    pub fn ns(&self, role: &str) -> String {
        assert!(ROLES.contains(&role), "unknown lab namespace {role:?}");
        format!("{}-{role}", self.prefix)
    }

    /// This lab's temp dir (daemon logs, configs a test writes).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn upstream_fail(&self, n: u8) {
        self.script(&["upstream-fail", &n.to_string()]);
    }
    pub fn upstream_restore(&self, n: u8) {
        self.script(&["upstream-restore", &n.to_string()]);
    }
    pub fn carrier_down(&self, n: u8) {
        self.script(&["carrier-down", &n.to_string()]);
    }
    pub fn carrier_up(&self, n: u8) {
        self.script(&["carrier-up", &n.to_string()]);
    }
    pub fn gw_blackhole(&self, n: u8) {
        self.script(&["gw-blackhole", &n.to_string()]);
    }
    pub fn gw_restore(&self, n: u8) {
        self.script(&["gw-restore", &n.to_string()]);
    }
    pub fn loss(&self, n: u8, pct: u8) {
        self.script(&["loss", &n.to_string(), &pct.to_string()]);
    }
    pub fn loss_clear(&self, n: u8) {
        self.script(&["loss-clear", &n.to_string()]);
    }
    /// ISP `n` drops the echo requests it forwards (both families): ICMP to the Internet is
    /// filtered, TCP passes, its gateway still answers ping.
    pub fn ping_drop(&self, n: u8) {
        self.script(&["ping-drop", &n.to_string()]);
    }
    pub fn ping_restore(&self, n: u8) {
        self.script(&["ping-restore", &n.to_string()]);
    }

    /// "wan1", "wan2" or "none": the device rtr's own traffic to 203.0.113.50 takes.
    pub fn active(&self) -> String {
        self.script(&["active"]).trim().to_string()
    }

    /// Same for LAN traffic (from 192.0.2.130, arriving on lan0).
    pub fn lan_active(&self) -> String {
        self.script(&["lan-active"]).trim().to_string()
    }

    /// rtr's IPv4 rules and routes of all tables, sorted: compare before/after.
    pub fn snapshot(&self) -> String {
        self.script(&["snapshot"])
    }

    /// "wan1", "wan2" or "none": the device rtr's own traffic to 2001:db8:f::50 takes.
    pub fn active6(&self) -> String {
        self.script(&["active6"]).trim().to_string()
    }

    /// Same for LAN traffic (from 2001:db8:80::2, arriving on lan0).
    pub fn lan_active6(&self) -> String {
        self.script(&["lan-active6"]).trim().to_string()
    }

    /// rtr's IPv6 rules and routes of all tables, sorted.
    pub fn snapshot6(&self) -> String {
        self.script(&["snapshot6"])
    }

    /// Runs a command inside a namespace role and returns its output.
    pub fn exec<I, S>(&self, role: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ip netns exec")
    }

    /// Runs a command inside a namespace role; panics unless it exits 0. Returns its stdout.
    pub fn run(&self, role: &str, args: &[&str]) -> String {
        let out = self.exec(role, args);
        assert!(out.status.success(), "{role}: {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ICMP counter `name` (`InMsgs`, `InEchoReps`, ...) of a namespace role, from its
    /// /proc/net/snmp.
    pub fn icmp_counter(&self, role: &str, name: &str) -> u64 {
        let text = self.run(role, &["cat", "/proc/net/snmp"]);
        let mut icmp = text.lines().filter(|l| l.starts_with("Icmp: "));
        let (head, vals) = (icmp.next().unwrap(), icmp.next().unwrap());
        let i = head.split_whitespace().position(|h| h == name).unwrap_or_else(|| panic!("no Icmp {name}"));
        vals.split_whitespace().nth(i).unwrap().parse().unwrap()
    }

    /// One ping (`-c1 -W1`) from a namespace; extra args such as `-I wan2` go
    /// before the destination, which is the last element of `args`.
    pub fn ping(&self, role: &str, args: &[&str]) -> bool {
        self.ping_within(role, args, Duration::from_secs(1))
    }

    /// One ping that waits at most `wait` for the reply (use a short wait
    /// where failure is the expected outcome).
    pub fn ping_within(&self, role: &str, args: &[&str], wait: Duration) -> bool {
        let w = format!("{:.3}", wait.as_secs_f64());
        let mut a = vec!["ping", "-n", "-q", "-c1", "-W", w.as_str()];
        a.extend_from_slice(args);
        self.exec(role, &a).status.success()
    }

    /// `count` pings 2 ms apart, each waited for up to 1 s.
    pub fn ping_stats(&self, role: &str, count: u32, args: &[&str]) -> PingStats {
        let c = count.to_string();
        let mut a = vec!["ping", "-n", "-q", "-c", c.as_str(), "-i", "0.002", "-W", "1"];
        a.extend_from_slice(args);
        let out = self.exec(role, &a);
        let stdout = String::from_utf8_lossy(&out.stdout);
        PingStats::parse(&stdout)
            .unwrap_or_else(|| panic!("no ping statistics in: {stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }

    /// Starts `program args` inside a namespace role (via `ip netns exec`,
    /// which execs, so the child's pid is the program's). Its stdout and
    /// stderr go to files in this lab's temp dir: see `stderr_of`.
    pub fn spawn_in(&self, role: &str, program: impl AsRef<OsStr>, args: &[&str]) -> Child {
        let program = program.as_ref();
        let base =
            Path::new(program).file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_else(|| "prog".into());
        let k = self.spawned.lock().unwrap().len();
        let err = self.dir.join(format!("{role}-{base}-{k}.stderr"));
        let out = self.dir.join(format!("{role}-{base}-{k}.stdout"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("create stdout log"))
            .stderr(File::create(&err).expect("create stderr log"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program:?} in {role}: {e}"));
        self.spawned.lock().unwrap().push((child.id(), out, err));
        child
    }

    /// `spawn_in` as uid and gid `id` with no supplementary groups, holding only `caps`
    /// (e.g. `"net_admin,net_raw"`: inheritable, ambient and bounding set), through
    /// util-linux `setpriv`, as procd grants a capabilities file. setpriv execs: the
    /// child's pid is the program's.
    pub fn spawn_as(&self, role: &str, id: u32, caps: &str, program: &str, args: &[&str]) -> Child {
        let plus: Vec<String> = caps.split(',').map(|c| format!("+{c}")).collect();
        let plus = plus.join(",");
        let id = id.to_string();
        let (inh, ambient) = (format!("--inh-caps=-all,{plus}"), format!("--ambient-caps={plus}"));
        let bounding = format!("--bounding-set=-all,{plus}");
        let mut all = vec!["--reuid", &id, "--regid", &id, "--clear-groups", &inh, &ambient, &bounding, "--", program];
        all.extend_from_slice(args);
        self.spawn_in(role, "setpriv", &all)
    }

    /// Path of the stderr file of a child started by `spawn_in`.
    pub fn stderr_path(&self, child: &Child) -> PathBuf {
        let id = child.id();
        let spawned = self.spawned.lock().unwrap();
        spawned
            .iter()
            .find(|(pid, _, _)| *pid == id)
            .map(|(_, _, err)| err.clone())
            .expect("child was not started by this lab's spawn_in")
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr_of(&self, child: &Child) -> String {
        fs::read_to_string(self.stderr_path(child)).unwrap_or_default()
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout_of(&self, child: &Child) -> String {
        fs::read_to_string(self.stderr_path(child).with_extension("stdout")).unwrap_or_default()
    }

    /// SIGTERM, then up to 5 s for the child to exit (SIGKILL after that).
    /// Returns the exit status.
    pub fn terminate(&self, child: &mut Child) -> ExitStatus {
        if let Ok(Some(st)) = child.try_wait() {
            return st;
        }
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let mut status = None;
        wait_until(Duration::from_secs(5), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        match status {
            Some(st) => st,
            None => {
                let _ = child.kill();
                child.wait().expect("wait for killed child")
            }
        }
    }

    fn script(&self, args: &[&str]) -> String {
        run_script(&self.prefix, args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(script()).args([self.prefix.as_str(), "down"]).stdin(Stdio::null()).status();
        let keep = std::thread::panicking() || std::env::var(KEEP_ENV).map(|v| v == "1").unwrap_or(false);
        if std::thread::panicking() {
            // Show what the programs under test said; the test output is where people look.
            for (pid, _, err) in self.spawned.lock().map(|s| s.clone()).unwrap_or_default() {
                let text = fs::read_to_string(&err).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(60)..];
                eprintln!("--- {} (pid {pid}), last {} lines ---", err.display(), tail.len());
                for l in tail {
                    eprintln!("{l}");
                }
            }
        }
        if keep {
            eprintln!("lab {}: logs kept in {}", self.prefix, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn run_script(prefix: &str, args: &[&str]) -> String {
    run_script_env(prefix, args, &[])
}

fn run_script_env(prefix: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(script())
        .arg(prefix)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script().display()));
    assert!(
        out.status.success(),
        "lab.sh {prefix} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("lab.sh prints UTF-8")
}

/// Tears down labs whose test process is gone (a killed `cargo test` runs no
/// Drop), with their temp dirs. Only names of the form `dw<tag>-<pid>-<n>-<role>`
/// with a dead pid. (Dirs kept after a failed test have no namespaces left,
/// so they stay.)
fn reap_stale_labs() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    let mut stale: Vec<String> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(prefix) = ROLES.iter().find_map(|r| name.strip_suffix(&format!("-{r}"))) else {
            continue;
        };
        if !prefix.starts_with("dw") {
            continue;
        }
        let mut parts = prefix.rsplitn(3, '-');
        let (Some(n), Some(pid), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(_), Ok(pid)) = (n.parse::<usize>(), pid.parse::<u32>()) else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && !stale.iter().any(|s| s == prefix)
        {
            stale.push(prefix.to_string());
        }
    }
    for p in stale {
        let _ = Command::new(script()).args([p.as_str(), "down"]).stdin(Stdio::null()).status();
        let _ = fs::remove_dir_all(std::env::temp_dir().join(format!("dualwan-lab-{p}")));
    }
}
