//! Fault soak: `dualwan run` in the lab with shortened intervals for `DUALWAN_SOAK_SECONDS`
//! (default 300; `make soak` runs 3600) while random faults hit both WANs, and invariants
//! are checked every 100 ms. Needs root; `DUALWAN_SKIP_NETNS=1` skips.
//!
//! Faults (a seeded PRNG picks kind, WAN and duration; the seed is printed and
//! `DUALWAN_SOAK_SEED` replays it — the timing of the machine still differs;
//! `DUALWAN_SOAK_KINDS=UbusDrop,Reload` restricts a run to some kinds):
//! - per WAN, at most one at a time: carrier flap, loss burst (20/50/80/100 %, nftables),
//!   gateway blackhole, upstream blackhole, address and gateway change (as netifd applies a
//!   new lease: both sides renumbered, then back), device delete and recreate (a new ifindex);
//! - global: `ip rule flush` (then main/default and the foreign rules are re-added, as
//!   netifd and their owners would), removal of some of our routes and rules, SIGHUP with
//!   another valid config (check_gateway, recovery_wait, target order change) or an invalid
//!   one (must be rejected with FILE:LINE: and change nothing), the ubusd going away and
//!   coming back, and a short ICMP junk flood (`tests/lab/flood.py`).
//!
//! Invariants:
//! - routing: from the test's own record of the faults in force, a WAN is really down
//!   (carrier, device, blackhole, upstream, 100 % loss), really up (no fault) or unknown
//!   (partial loss, a renumbering in progress). Traffic (`ip route get`: rtr's own and the
//!   LAN's) must not be on a WAN that has been really down for longer than its detection
//!   bound (link faults 0.5 s; probe faults down × interval + timeout + 0.5 s) while the
//!   other WAN has been really up for `SETTLE` (up rounds, timeout and margin; a reload
//!   restarts that clock because it restarts the changed interfaces' health). Both WANs
//!   settled up: traffic is not `none`.
//!   For 0.5 s after a rule flush or a removal of our entries nothing is asserted here.
//! - our fixed rules are back within 1 s of a flush or removal; a reload is applied (or an
//!   invalid one rejected) within 2 s; the daemon is registered on ubus again within 7 s of
//!   ubusd's return (its backoff tops out at 5 s);
//! - foreign rules and routes (a static route in table 200, a blackhole in main, two fwmark
//!   rules, one inside our priority range) never change, compared on every check — lines of
//!   a WAN whose link or addresses the test itself is changing, and the rules during a
//!   flush, excepted; after the final SIGTERM the kernel state equals the one before start;
//! - the daemon never exits by itself; its open fds are the same at the start and the end,
//!   its RSS grows by less than 256 KiB; RSS, fds and CPU are printed every 30 s.

mod common;

use common::lab::{lab_or_skip, wait_until, Lab, LAN_CLIENT, TARGETS, TRAFFIC};
use common::mini_ubusd::MiniUbusd;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dualwan");
const SECONDS_ENV: &str = "DUALWAN_SOAK_SECONDS";
const SEED_ENV: &str = "DUALWAN_SOAK_SEED";
/// Comma-separated fault kinds to restrict a run to (e.g. `UbusDrop,Reload`), for hunting.
const KINDS_ENV: &str = "DUALWAN_SOAK_KINDS";

// Shortened detection settings, the same in every valid config variant.
const INTERVAL: f64 = 0.1;
const TIMEOUT: f64 = 0.2;
const DOWN: u32 = 3;
const UP: u32 = 2;
/// CI jitter on top of the daemon's own bounds.
const MARGIN: f64 = 0.5;
/// Carrier loss and a deleted device are netlink events: a failover at once.
const LINK_BOUND: f64 = 0.5;
/// A silent failure: `down` rounds plus the timeout of the one in flight.
const PROBE_BOUND: f64 = DOWN as f64 * INTERVAL + TIMEOUT + MARGIN;
/// How long a WAN must have been really up before traffic may be expected on it: `up` good
/// rounds, a timeout, the margin, and a little for a recreated device's netlink dance.
const SETTLE: f64 = UP as f64 * INTERVAL + TIMEOUT + MARGIN + 0.5;
/// After a rule flush or a removal of our entries: time for the daemon to restore them.
const RESTORE_GRACE: f64 = 0.5;
const CHECK_EVERY: Duration = Duration::from_millis(100);
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

const WANS: [&str; 2] = ["wan1", "wan2"];
/// (router address, ISP gateway) per WAN: as built, and after a renumbering.
const ADDRS: [[(&str, &str); 2]; 2] = [
    [("192.0.2.2", "192.0.2.1"), ("192.0.2.3", "192.0.2.4")],
    [("192.0.2.10", "192.0.2.9"), ("192.0.2.11", "192.0.2.12")],
];
const METRICS: [u32; 2] = [10, 20];
/// Foreign entries added before the daemon starts (owned by someone else).
const FOREIGN_RULES: &str = "rule add pref 4000 fwmark 7 lookup 200\nrule add pref 5050 fwmark 9 lookup 200\n";
const FOREIGN_ROUTES: &str = "route add blackhole 198.51.100.128/25 table 200\n\
                              route add unreachable 198.51.100.64/26 table 200\n\
                              route add blackhole 10.98.0.0/16 proto static\n";
/// What the rule flush leaves out that netifd puts back.
const DEFAULT_RULES: &str =
    "rule add pref 32766 lookup main proto kernel\nrule add pref 32767 lookup default proto kernel\n";

/// splitmix64: small, seeded, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn secs(&mut self, lo: f64, hi: f64) -> Duration {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(lo + (hi - lo) * unit)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Carrier,
    Loss,
    GwBlackhole,
    Upstream,
    Readdress,
    Replug,
    RuleFlush,
    RouteRemoval,
    Reload,
    BadReload,
    UbusDrop,
    Flood,
}

/// Relative odds of each kind.
const ODDS: [(Kind, usize); 12] = [
    (Kind::Carrier, 6),
    (Kind::Loss, 4),
    (Kind::GwBlackhole, 4),
    (Kind::Upstream, 4),
    (Kind::Readdress, 2),
    (Kind::Replug, 2),
    (Kind::RuleFlush, 2),
    (Kind::RouteRemoval, 2),
    (Kind::Reload, 3),
    (Kind::BadReload, 1),
    (Kind::UbusDrop, 2),
    (Kind::Flood, 1),
];

impl Kind {
    fn per_wan(self) -> bool {
        matches!(self, Kind::Carrier | Kind::Loss | Kind::GwBlackhole | Kind::Upstream | Kind::Readdress | Kind::Replug)
    }
    /// Faults that change the WAN's own lines in rtr's tables (linkdown, addresses, routes).
    fn touches_link(self) -> bool {
        matches!(self, Kind::Carrier | Kind::Readdress | Kind::Replug)
    }
}

/// What the test knows of a WAN: really up since, really down since (with its bound), or
/// not known (the daemon may legitimately call it either).
#[derive(Clone, Copy, Debug)]
enum Real {
    Up(Instant),
    Down(Instant, f64),
    Unknown,
}

struct WanState {
    real: Real,
    fault: Option<(Kind, Instant)>,
    /// Until when this WAN's lines are left out of the foreign comparison.
    link_skip_until: Instant,
}

/// A check that must come true before its deadline.
enum Expect {
    /// "configuration reloaded" count above this.
    Reloaded(usize),
    /// Rejected count above `.0`, the FILE:LINE: error line count above `.1`, and (checked at
    /// the deadline) no "configuration reloaded" beyond `.2`.
    Rejected(usize, usize, usize),
    /// ubusd registrations above this.
    Registered(u32),
    /// Our fixed rules (P+0, P+90) in place.
    OursBack,
}

/// The daemon's stderr, read as it grows.
struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
    counts: BTreeMap<&'static str, usize>,
    /// Warnings and errors by message, numbers masked.
    complaints: BTreeMap<String, usize>,
    bad_line: String,
}

const PATTERNS: [&str; 6] = [
    "configuration reloaded",
    "invalid configuration, keeping the running one",
    "traffic moved to",
    " -> ",
    "ubus: object dualwan registered",
    "BADLINE",
];

impl LogTail {
    fn new(path: PathBuf, bad_line: String) -> LogTail {
        LogTail {
            path,
            offset: 0,
            partial: String::new(),
            counts: BTreeMap::new(),
            complaints: BTreeMap::new(),
            bad_line,
        }
    }

    fn poll(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            self.line(line.trim_end());
        }
    }

    fn line(&mut self, line: &str) {
        for p in PATTERNS {
            let hit = if p == "BADLINE" { line.contains(&self.bad_line) } else { line.contains(p) };
            if hit {
                *self.counts.entry(p).or_default() += 1;
            }
        }
        let mut parts = line.split_whitespace();
        let (_, level) = (parts.next(), parts.next());
        if matches!(level, Some("warning") | Some("err")) {
            let msg: String = parts.collect::<Vec<_>>().join(" ");
            let masked: String = msg.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
            *self.complaints.entry(format!("{} {masked}", level.unwrap_or_default())).or_default() += 1;
        }
    }

    fn count(&self, p: &'static str) -> usize {
        self.counts.get(p).copied().unwrap_or(0)
    }
}

/// The daemon's figures from /proc.
#[derive(Clone, Copy, Debug)]
struct Stats {
    rss_kib: u64,
    anon_kib: u64,
    fds: usize,
    cpu_ms: u64,
}

fn stats(pid: u32) -> Stats {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime the 13th.
    let rest: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = rest.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + rest.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Stats { rss_kib: field("VmRSS:"), anon_kib: field("RssAnon:"), fds, cpu_ms: ticks * 1000 / clk_tck() }
}

fn clk_tck() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100)
}

fn show(s: &Stats) -> String {
    format!("VmRSS {} KiB (anon {} KiB), {} fds, CPU {:.2} s", s.rss_kib, s.anon_kib, s.fds, s.cpu_ms as f64 / 1000.0)
}

/// One config variant; `bad` puts `option interval '0'` into the first interface and
/// returns the line it is on.
fn config_text(variant: usize, bad: bool) -> (String, usize) {
    let (check_gateway, recovery_wait, order): (u8, u32, [usize; 3]) = match variant {
        0 => (1, 1, [0, 1, 2]),
        1 => (0, 2, [2, 1, 0]),
        _ => (1, 0, [1, 2, 0]),
    };
    let mut text = String::from("config globals 'globals'\n\toption enabled '1'\n");
    let mut bad_line = 0;
    for (i, wan) in WANS.iter().enumerate() {
        write!(text, "\nconfig interface '{wan}'\n\toption device '{wan}'\n\toption metric '{}'\n", METRICS[i])
            .unwrap();
        for t in order {
            writeln!(text, "\tlist track_ip '{}'", TARGETS[t]).unwrap();
        }
        if bad && i == 0 {
            bad_line = text.lines().count() + 1;
            text += "\toption interval '0'\n";
        } else {
            writeln!(text, "\toption interval '{INTERVAL}'").unwrap();
        }
        writeln!(text, "\toption timeout '{TIMEOUT}'\n\toption down '{DOWN}'\n\toption up '{UP}'").unwrap();
        writeln!(text, "\toption check_gateway '{check_gateway}'\n\toption recovery_wait '{recovery_wait}'").unwrap();
    }
    (text, bad_line)
}

/// Replaces the file in one rename, so a reload never reads half of it.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, path).expect("rename config");
}

/// `ip -n NS -force -batch -`: every line is tried; returns whether all succeeded.
fn ip_batch(lab: &Lab, role: &str, batch: &str) -> bool {
    let mut child = Command::new("ip")
        .args(["-n", &lab.ns(role), "-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ip -batch");
    child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    child.wait().unwrap().success()
}

fn must_batch(lab: &Lab, role: &str, batch: &str) {
    assert!(ip_batch(lab, role, batch), "{role}: ip -batch failed: {batch}");
}

fn ip_lines(lab: &Lab, args: &[&str]) -> Vec<String> {
    let out = Command::new("ip").args(["-n", &lab.ns("rtr"), "-4"]).args(args).output().expect("run ip");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// rtr's foreign rules and routes: not ours (proto 201), and without the lines of WANs in `skip`.
fn foreign(lab: &Lab, skip: [bool; 2]) -> (Vec<String>, Vec<String>) {
    let keep =
        |l: &String| !l.contains("proto 201") && !(0..2).any(|i| skip[i] && l.contains(&format!("dev {} ", WANS[i])));
    let rules = ip_lines(lab, &["rule", "show"]).into_iter().filter(keep).collect();
    let routes = ip_lines(lab, &["route", "show", "table", "all"])
        .into_iter()
        .map(|l| l + " ")
        .filter(keep)
        .map(|l| l.trim_end().to_string())
        .collect();
    (rules, routes)
}

/// Device of `ip route get TRAFFIC` in rtr (rtr's own traffic): wan1, wan2 or none.
fn active(lab: &Lab) -> String {
    route_dev(lab, &[])
}

/// The same for the LAN client's forwarded traffic.
fn lan_active(lab: &Lab) -> String {
    route_dev(lab, &["from", LAN_CLIENT, "iif", "lan0"])
}

fn route_dev(lab: &Lab, extra: &[&str]) -> String {
    let out = Command::new("ip").args(["-n", &lab.ns("rtr"), "-4", "route", "get", TRAFFIC]).args(extra).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let dev = text.split_whitespace().skip_while(|w| *w != "dev").nth(1).unwrap_or("none");
    if WANS.contains(&dev) {
        dev.to_string()
    } else {
        "none".to_string()
    }
}

fn ours_fixed_rules(lab: &Lab) -> bool {
    let rules = ip_lines(lab, &["rule", "show"]);
    ["5000:", "5090:"].iter().all(|p| rules.iter().any(|r| r.starts_with(p) && r.contains("proto 201")))
}

struct Soak<'a> {
    lab: &'a Lab,
    rng: Rng,
    /// The fault kinds in play (`DUALWAN_SOAK_KINDS`, default all).
    kinds: Vec<Kind>,
    daemon: Child,
    pid: u32,
    cfg: PathBuf,
    variant: usize,
    ubusd: MiniUbusd,
    ubus_restart_at: Option<Instant>,
    flood: Option<Child>,
    wans: [WanState; 2],
    /// Reloads restart the changed interfaces' health: "up since" counts from here at the earliest.
    reset_at: Instant,
    grace_until: Instant,
    rule_skip_until: Instant,
    expects: Vec<(Expect, Instant, String)>,
    log: LogTail,
    injected: BTreeMap<Kind, usize>,
    violations: Vec<String>,
    violating_samples: usize,
    last_active: String,
    moves_seen: usize,
    checks: usize,
    base_rules: Vec<String>,
    base_routes: Vec<String>,
    base_routes_by_skip: BTreeMap<[bool; 2], Vec<String>>,
}

impl Soak<'_> {
    fn violation(&mut self, what: String) {
        eprintln!("VIOLATION: {what}");
        if self.violations.len() < 50 {
            self.violations.push(what);
        }
    }

    fn start_fault(&mut self, now: Instant) {
        let odds: Vec<(Kind, usize)> = ODDS.iter().copied().filter(|(k, _)| self.kinds.contains(k)).collect();
        let total: usize = odds.iter().map(|(_, w)| w).sum();
        let mut r = self.rng.below(total);
        let kind = odds.iter().find(|(_, w)| if r < *w { true } else { (r -= w, false).1 }).unwrap().0;
        if kind.per_wan() {
            let n = self.rng.below(2);
            if self.wans[n].fault.is_some() {
                return;
            }
            self.start_wan_fault(kind, n);
        } else {
            let busy_reload =
                self.expects.iter().any(|(e, _, _)| matches!(e, Expect::Reloaded(_) | Expect::Rejected(..)));
            match kind {
                Kind::RuleFlush => {
                    self.grace_until = far(now);
                    self.rule_skip_until = far(now);
                    must_batch(self.lab, "rtr", "rule flush\n");
                    must_batch(self.lab, "rtr", &format!("{DEFAULT_RULES}{FOREIGN_RULES}"));
                    let t = Instant::now();
                    self.rule_skip_until = t;
                    self.grace_until = t + secs(RESTORE_GRACE);
                    self.expect(Expect::OursBack, 1.0, "our rules back after ip rule flush");
                }
                Kind::RouteRemoval => {
                    let all = [
                        "route del default table 100",
                        "route del default table 101",
                        "route del default table 102",
                        "rule del pref 5000",
                        "rule del pref 5001",
                        "rule del pref 5002",
                        "rule del pref 5090",
                    ];
                    let mut batch = String::new();
                    for (i, c) in all.iter().enumerate() {
                        if self.rng.below(2) == 0 || (batch.is_empty() && i == all.len() - 1) {
                            batch += c;
                            batch.push('\n');
                        }
                    }
                    self.grace_until = far(now);
                    ip_batch(self.lab, "rtr", &batch);
                    self.grace_until = Instant::now() + secs(RESTORE_GRACE);
                    self.expect(Expect::OursBack, 1.0, "our rules back after removal");
                }
                Kind::Reload if !busy_reload => {
                    let v = (self.variant + 1 + self.rng.below(2)) % 3;
                    write_atomically(&self.cfg, &config_text(v, false).0);
                    self.variant = v;
                    let before = self.log.count("configuration reloaded");
                    self.hup();
                    self.reset_at = Instant::now();
                    self.expect(Expect::Reloaded(before), 2.0, &format!("reload to variant {v} applied"));
                }
                Kind::BadReload if !busy_reload => {
                    write_atomically(&self.cfg, &config_text(self.variant, true).0);
                    let e = Expect::Rejected(
                        self.log.count("invalid configuration, keeping the running one"),
                        self.log.count("BADLINE"),
                        self.log.count("configuration reloaded"),
                    );
                    self.hup();
                    self.expect(e, 2.0, "invalid config rejected with FILE:LINE and nothing reloaded");
                }
                // Not again before the daemon is back on ubus: that is what gets checked.
                Kind::UbusDrop
                    if self.ubus_restart_at.is_none()
                        && !self.expects.iter().any(|(e, _, _)| matches!(e, Expect::Registered(_))) =>
                {
                    self.ubusd.stop();
                    self.ubus_restart_at = Some(Instant::now() + self.rng.secs(0.1, 2.0));
                }
                Kind::Flood if self.flood.is_none() => {
                    let ident = (self.pid as u16 & 0xfff0).to_string();
                    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/flood.py");
                    let dsts = format!("{},{}", ADDRS[0][0].0, ADDRS[1][0].0);
                    self.flood = Some(self.lab.spawn_in(
                        "inet",
                        "python3",
                        &[script.to_str().unwrap(), &ident, "2", "3000", &dsts],
                    ));
                }
                _ => return,
            }
        }
        *self.injected.entry(kind).or_default() += 1;
    }

    fn hup(&self) {
        let st = Command::new("kill").args(["-HUP", &self.pid.to_string()]).status().unwrap();
        assert!(st.success(), "kill -HUP");
    }

    fn expect(&mut self, e: Expect, within: f64, what: &str) {
        self.expects.push((e, Instant::now() + secs(within), what.to_string()));
    }

    fn start_wan_fault(&mut self, kind: Kind, i: usize) {
        let n = (i + 1) as u8;
        let t0 = Instant::now();
        let (real, hold) = match kind {
            Kind::Carrier => {
                self.lab.carrier_down(n);
                (Real::Down(t0, LINK_BOUND), self.rng.secs(0.2, 3.0))
            }
            Kind::Loss => {
                let pct = self.rng.pick(&[20u8, 50, 80, 100]);
                self.lab.loss(n, pct);
                let real = if pct == 100 { Real::Down(t0, PROBE_BOUND) } else { Real::Unknown };
                (real, self.rng.secs(1.0, 5.0))
            }
            Kind::GwBlackhole => {
                self.lab.gw_blackhole(n);
                (Real::Down(t0, PROBE_BOUND), self.rng.secs(0.5, 4.0))
            }
            Kind::Upstream => {
                self.lab.upstream_fail(n);
                (Real::Down(t0, PROBE_BOUND), self.rng.secs(0.5, 4.0))
            }
            Kind::Readdress => {
                self.wans[i].link_skip_until = far(t0);
                self.renumber(i, 0, 1);
                (Real::Unknown, self.rng.secs(1.0, 4.0))
            }
            Kind::Replug => {
                self.wans[i].link_skip_until = far(t0);
                must_batch(self.lab, "rtr", &format!("link del {}\n", WANS[i]));
                (Real::Down(t0, LINK_BOUND), self.rng.secs(0.3, 3.0))
            }
            _ => unreachable!(),
        };
        self.wans[i].real = real;
        if kind.touches_link() {
            self.wans[i].link_skip_until = far(t0);
        }
        self.wans[i].fault = Some((kind, Instant::now() + hold));
    }

    /// ISP and router renumbered from address set `from` to `to`, as scenario 8 does.
    fn renumber(&self, i: usize, from: usize, to: usize) {
        let (wan, metric) = (WANS[i], METRICS[i]);
        let ((a0, g0), (a1, g1)) = (ADDRS[i][from], ADDRS[i][to]);
        must_batch(
            self.lab,
            &format!("isp{}", i + 1),
            &format!("addr del {g0}/29 dev cust\naddr add {g1}/29 dev cust\n"),
        );
        must_batch(
            self.lab,
            "rtr",
            &format!(
                "addr del {a0}/29 dev {wan}\naddr add {a1}/29 dev {wan}\n\
                 route replace default via {g1} dev {wan} proto dhcp metric {metric}\n"
            ),
        );
    }

    fn end_wan_fault(&mut self, i: usize) {
        let Some((kind, _)) = self.wans[i].fault.take() else { return };
        let n = (i + 1) as u8;
        match kind {
            Kind::Carrier => self.lab.carrier_up(n),
            Kind::Loss => self.lab.loss_clear(n),
            Kind::GwBlackhole => self.lab.gw_restore(n),
            Kind::Upstream => self.lab.upstream_restore(n),
            Kind::Readdress => self.renumber(i, 1, 0),
            Kind::Replug => {
                let (wan, (addr, gw), metric) = (WANS[i], ADDRS[i][0], METRICS[i]);
                let (rtr, isp) = (self.lab.ns("rtr"), self.lab.ns(&format!("isp{}", i + 1)));
                let st = Command::new("ip")
                    .args(["link", "add", wan, "netns", &rtr, "type", "veth", "peer", "name", "cust", "netns", &isp])
                    .status()
                    .unwrap();
                assert!(st.success(), "recreate {wan}");
                must_batch(
                    self.lab,
                    &format!("isp{}", i + 1),
                    &format!("addr add {gw}/29 dev cust\nlink set cust up\n"),
                );
                must_batch(
                    self.lab,
                    "rtr",
                    &format!(
                        "addr add {addr}/29 dev {wan}\nlink set {wan} up\n\
                         route add default via {gw} dev {wan} proto dhcp metric {metric}\n"
                    ),
                );
            }
            _ => unreachable!(),
        }
        let t = Instant::now();
        self.wans[i].real = Real::Up(t);
        if kind.touches_link() {
            // linkdown flags and neighbour-driven changes settle within moments.
            self.wans[i].link_skip_until = t + Duration::from_millis(500);
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        for i in 0..2 {
            if self.wans[i].fault.is_some_and(|(_, end)| end <= now) {
                self.end_wan_fault(i);
            }
        }
        if self.ubus_restart_at.is_some_and(|t| t <= now) {
            self.ubus_restart_at = None;
            let regs = self.ubusd.registrations();
            self.ubusd.restart();
            self.expect(Expect::Registered(regs), 7.0, "registered on ubus again after ubusd came back");
        }
        let flood_status = self.flood.as_mut().and_then(|f| f.try_wait().ok().flatten());
        if let Some(st) = flood_status {
            let err = self.flood.as_ref().map(|f| self.lab.stderr_of(f)).unwrap_or_default();
            self.flood = None;
            assert!(st.success(), "flood.py failed ({st}): {err}");
        }
        self.log.poll();
        let mut keep = Vec::new();
        for (e, deadline, what) in std::mem::take(&mut self.expects) {
            let done = match &e {
                Expect::Reloaded(n) => self.log.count("configuration reloaded") > *n,
                Expect::Rejected(rej, bad, reloaded) => {
                    if self.log.count("configuration reloaded") > *reloaded {
                        self.violation(format!("{what}: the invalid config was applied"));
                        continue;
                    }
                    // Complete only at the deadline, so a late "reloaded" line is seen too.
                    let seen = self.log.count("invalid configuration, keeping the running one") > *rej
                        && self.log.count("BADLINE") > *bad;
                    if seen && now >= deadline {
                        continue;
                    }
                    if !seen && now >= deadline {
                        self.violation(format!("{what}: no rejection with {} in the log", self.log.bad_line));
                        continue;
                    }
                    false
                }
                Expect::Registered(n) => self.ubusd.registrations() > *n,
                Expect::OursBack => now > self.grace_until && ours_fixed_rules(self.lab),
            };
            if done {
                continue;
            }
            if now >= deadline {
                self.violation(format!("{what}: not within its deadline"));
                continue;
            }
            keep.push((e, deadline, what));
        }
        keep.append(&mut self.expects);
        self.expects = keep;
    }

    fn check(&mut self, now: Instant) {
        self.checks += 1;
        if let Ok(Some(st)) = self.daemon.try_wait() {
            panic!("the daemon exited by itself ({st}):\n{}", tail(&self.lab.stderr_of(&self.daemon), 80));
        }
        let act = active(self.lab);
        let lan = lan_active(self.lab);
        if act != self.last_active {
            if WANS.contains(&act.as_str()) && WANS.contains(&self.last_active.as_str()) {
                self.moves_seen += 1;
            }
            self.last_active = act.clone();
        }
        let up_for = |r: Real| match r {
            Real::Up(t) => now.saturating_duration_since(t.max(self.reset_at)).as_secs_f64(),
            _ => -1.0,
        };
        if now >= self.grace_until {
            let mut bad = None;
            for (a, wan) in WANS.iter().enumerate() {
                let b = 1 - a;
                if let Real::Down(since, bound) = self.wans[a].real {
                    let down_for = now.saturating_duration_since(since).as_secs_f64();
                    if down_for > bound && up_for(self.wans[b].real) > SETTLE && (act == *wan || lan == *wan) {
                        bad = Some(format!(
                            "traffic on {wan} (rtr {act}, LAN {lan}) {down_for:.2} s after its {:?} (bound {bound:.2} s) while {} is up",
                            self.wans[a].fault.map(|f| f.0),
                            WANS[b]
                        ));
                    }
                }
            }
            if bad.is_none() && act == "none" && (0..2).all(|i| up_for(self.wans[i].real) > SETTLE) {
                bad = Some("no route to the Internet while both WANs are up".to_string());
            }
            if let Some(b) = bad {
                self.violating_samples += 1;
                if self.violating_samples == 1 || self.violations.last().is_none_or(|l| !l.contains(&b[..20])) {
                    self.violation(b);
                }
            }
        }
        let skip = [0, 1].map(|i| self.wans[i].link_skip_until > now);
        let (rules, routes) = foreign(self.lab, skip);
        if now >= self.rule_skip_until && rules != self.base_rules {
            let v = format!("foreign rules changed: {rules:?} (expected {:?})", self.base_rules);
            self.violation(v);
        }
        let want = self.base_routes_by_skip.get(&skip).cloned().unwrap_or_default();
        if routes != want {
            let v = format!("foreign routes changed: {routes:?} (expected {want:?})");
            self.violation(v);
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// An instant that stands for "until further notice".
fn far(now: Instant) -> Instant {
    now + Duration::from_secs(365 * 24 * 3600)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn soak_random_faults_on_both_wans() {
    let Some(lab) = lab_or_skip("soak") else { return };
    let seconds: u64 = std::env::var(SECONDS_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 = std::env::var(SEED_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
            ^ u64::from(std::process::id())
    });
    let kinds: Vec<Kind> = match std::env::var(KINDS_ENV) {
        Ok(list) if !list.is_empty() => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            let kinds: Vec<Kind> = ODDS
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| names.iter().any(|n| n.eq_ignore_ascii_case(&format!("{k:?}"))))
                .collect();
            assert_eq!(kinds.len(), names.len(), "{KINDS_ENV}={list}: known kinds are {:?}", ODDS.map(|o| o.0));
            kinds
        }
        _ => ODDS.iter().map(|(k, _)| *k).collect(),
    };
    eprintln!(
        "soak: {seconds} s, seed {seed} (replay with {SEED_ENV}={seed}; length from {SECONDS_ENV}), faults {kinds:?}"
    );

    must_batch(&lab, "rtr", &format!("{FOREIGN_ROUTES}{FOREIGN_RULES}"));
    let before = lab.snapshot();
    let base = foreign(&lab, [false, false]);
    let mut by_skip = BTreeMap::new();
    for skip in [[false, false], [true, false], [false, true], [true, true]] {
        by_skip.insert(skip, foreign(&lab, skip).1);
    }
    assert!(base.0.iter().any(|r| r.starts_with("5050:")), "{:?}", base.0);

    let cfg = lab.dir().join("dualwan.conf");
    write_atomically(&cfg, &config_text(0, false).0);
    let bad_line = config_text(0, true).1;
    let sock = lab.dir().join("ubus.sock");
    let ubusd = MiniUbusd::start(&sock);
    let hotplug = lab.dir().join("hotplug.d");
    std::fs::create_dir_all(&hotplug).unwrap();
    let args = [
        "run",
        "-c",
        cfg.to_str().unwrap(),
        "--log",
        "stderr",
        "--ubus-socket",
        sock.to_str().unwrap(),
        "--hotplug-dir",
        hotplug.to_str().unwrap(),
    ];
    let daemon = lab.spawn_in("rtr", BIN, &args);
    let pid = daemon.id();
    let ready = wait_until(Duration::from_secs(5), || {
        let log = lab.stderr_of(&daemon);
        log.contains("traffic on wan1\n") && log.contains("wan2: connecting -> online")
    });
    assert!(ready.is_some(), "daemon did not come up:\n{}", lab.stderr_of(&daemon));
    assert!(ubusd.wait_for_object("dualwan", Duration::from_secs(3)), "no ubus registration");
    std::thread::sleep(Duration::from_secs(1));
    let start_stats = stats(pid);
    eprintln!("soak start: {}", show(&start_stats));

    let log_path = lab.stderr_path(&daemon);
    let t_start = Instant::now();
    let mut soak = Soak {
        lab: &lab,
        rng: Rng(seed),
        kinds,
        daemon,
        pid,
        cfg: cfg.clone(),
        variant: 0,
        ubusd,
        ubus_restart_at: None,
        flood: None,
        wans: [0, 1].map(|_| WanState { real: Real::Up(t_start), fault: None, link_skip_until: t_start }),
        reset_at: t_start,
        grace_until: t_start,
        rule_skip_until: t_start,
        expects: Vec::new(),
        log: LogTail::new(log_path, format!("{}:{bad_line}: option 'interval'", cfg.display())),
        injected: BTreeMap::new(),
        violations: Vec::new(),
        violating_samples: 0,
        last_active: "wan1".into(),
        moves_seen: 0,
        checks: 0,
        base_rules: base.0,
        base_routes: base.1,
        base_routes_by_skip: by_skip,
    };
    assert!(soak.base_routes.iter().any(|r| r.contains("10.98.0.0/16")));

    let end = t_start + Duration::from_secs(seconds);
    let mut next_fault = t_start + soak.rng.secs(0.2, 1.0);
    let mut next_check = t_start;
    let mut next_sample = t_start + SAMPLE_EVERY;
    let mut last_sample = (t_start, start_stats);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        soak.housekeeping(now);
        if now >= next_fault {
            soak.start_fault(now);
            next_fault = Instant::now() + soak.rng.secs(0.2, 1.2);
        }
        if now >= next_check {
            soak.check(Instant::now());
            next_check += CHECK_EVERY;
            if next_check < Instant::now() {
                next_check = Instant::now() + CHECK_EVERY;
            }
        }
        if now >= next_sample {
            let s = stats(pid);
            let window = now.duration_since(last_sample.0).as_secs_f64();
            let rate = (s.cpu_ms - last_sample.1.cpu_ms) as f64 / window * 60.0;
            eprintln!(
                "soak {:>5.0} s: {}; CPU {rate:.0} ms/min lately; {} faults, {} failovers seen, {} violations",
                now.duration_since(t_start).as_secs_f64(),
                show(&s),
                soak.injected.values().sum::<usize>(),
                soak.moves_seen,
                soak.violations.len()
            );
            last_sample = (now, s);
            next_sample += SAMPLE_EVERY;
        }
        let wake = [next_fault, next_check, next_sample].into_iter().min().unwrap();
        std::thread::sleep(wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(20)));
    }

    // Wind down: every fault cleared, ubusd back, pending checks settled.
    for i in 0..2 {
        soak.end_wan_fault(i);
    }
    if soak.ubus_restart_at.is_some() {
        soak.ubus_restart_at = Some(Instant::now());
    }
    let wind = Instant::now();
    while (!soak.expects.is_empty() || soak.ubus_restart_at.is_some() || soak.flood.is_some())
        && wind.elapsed() < Duration::from_secs(15)
    {
        soak.housekeeping(Instant::now());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(soak.expects.is_empty(), "checks still pending after the run");
    write_atomically(&cfg, &config_text(soak.variant, false).0);
    let back = wait_until(Duration::from_secs(10), || active(&lab) == "wan1");
    assert!(back.is_some(), "traffic not back on wan1 after the faults were cleared");
    assert!(soak.ubusd.wait_for_object("dualwan", Duration::from_secs(7)), "not on ubus at the end");
    std::thread::sleep(Duration::from_secs(2));
    soak.check(Instant::now());
    let end_stats = stats(pid);
    let took = t_start.elapsed().as_secs_f64();
    soak.log.poll();

    let status = lab.terminate(&mut soak.daemon);
    let log = lab.stderr_of(&soak.daemon);
    let after = lab.snapshot();

    let mut summary = String::new();
    writeln!(summary, "soak summary ({took:.0} s, seed {seed}):").unwrap();
    writeln!(summary, "  faults injected: {}", soak.injected.values().sum::<usize>()).unwrap();
    for (k, n) in &soak.injected {
        writeln!(summary, "    {k:?}: {n}").unwrap();
    }
    writeln!(
        summary,
        "  failovers: {} \"traffic moved\" lines in the daemon's log, {} moves between WANs seen by {} checks",
        soak.log.count("traffic moved to"),
        soak.moves_seen,
        soak.checks
    )
    .unwrap();
    writeln!(
        summary,
        "  status transitions logged: {}; reloads applied: {}; invalid configs rejected: {}; ubus registrations: {}",
        soak.log.count(" -> "),
        soak.log.count("configuration reloaded"),
        soak.log.count("invalid configuration, keeping the running one"),
        soak.ubusd.registrations()
    )
    .unwrap();
    writeln!(summary, "  warnings/errors the daemon logged (digits masked):").unwrap();
    for (m, n) in &soak.log.complaints {
        writeln!(summary, "    {n:>5} x {m}").unwrap();
    }
    writeln!(summary, "  start: {}", show(&start_stats)).unwrap();
    writeln!(summary, "  end:   {}", show(&end_stats)).unwrap();
    let cpu_rate = (end_stats.cpu_ms - start_stats.cpu_ms) as f64 / took * 60.0;
    writeln!(summary, "  CPU over the run: {cpu_rate:.0} ms per minute").unwrap();
    writeln!(summary, "  violations: {} ({} violating samples)", soak.violations.len(), soak.violating_samples)
        .unwrap();
    for v in &soak.violations {
        writeln!(summary, "    {v}").unwrap();
    }
    eprint!("{summary}");

    assert!(status.success(), "daemon exited with {status} on SIGTERM:\n{}", tail(&log, 40));
    assert!(log.contains("stopped; our rules and routes are removed"), "no stop line:\n{}", tail(&log, 40));
    assert_eq!(after, before, "rtr's rules and routes differ from before the start");
    assert!(soak.violations.is_empty(), "{summary}");
    assert_eq!(end_stats.fds, start_stats.fds, "open fds changed: {summary}");
    assert!(
        end_stats.rss_kib < start_stats.rss_kib + 256,
        "RSS grew by {} KiB: {summary}",
        end_stats.rss_kib as i64 - start_stats.rss_kib as i64
    );
    assert!(cpu_rate < 30_000.0, "the daemon used half a core: {summary}");
    assert!(soak.injected.values().sum::<usize>() >= seconds as usize / 4, "too few faults: {summary}");
}
