//! Fault soak: `dualwan run` in the dual-stack lab (`DWLAB_IPV6=1`) with shortened
//! intervals for `DUALWAN_SOAK_SECONDS` (default 300; `make soak` runs 3600) while random
//! faults hit both WANs, and invariants are checked for IPv4 and IPv6 every 100 ms. Every
//! WAN tracks three IPv4 and three IPv6 hosts, so each family has its own health and its
//! own active WAN. Needs root; `DUALWAN_SKIP_NETNS=1` skips.
//!
//! Faults (a seeded PRNG picks kind, WAN and duration; the seed is printed and
//! `DUALWAN_SOAK_SEED` replays it — the timing of the machine still differs;
//! `DUALWAN_SOAK_KINDS=UbusDrop,Reload` restricts a run to some kinds; every fault and
//! violation goes to `faults.log` in the lab dir, timed like the daemon's log, and the dir is
//! kept when the test fails):
//! - per WAN, at most one at a time: carrier flap, loss burst (20/50/80/100 %, nftables),
//!   gateway blackhole, upstream blackhole (all four hit both families), an IPv6-only
//!   upstream blackhole (the families diverge), address and gateway change of both
//!   families (as netifd applies a new lease: both sides renumbered, then back), device
//!   delete and recreate (a new ifindex; same MAC, so the same IPv6 link-local address);
//! - global: `ip rule flush` and `ip -6 rule flush` (then main/default, main for IPv6, and
//!   the foreign rules are re-added, as netifd and their owners would), removal
//!   of some of our routes and rules of both families, SIGHUP with another valid config
//!   (check_gateway, recovery_wait, target order change) or an invalid one (must be
//!   rejected with FILE:LINE: and change nothing), the real ubusd (`../shared/owrt`)
//!   killed or stopped and a new one started on the same path, and a short ICMP junk flood
//!   (`tests/lab/flood.py`, IPv4). Without `../shared/owrt` the soak runs without a ubusd
//!   and without that fault, and says so.
//!
//! Invariants, per family:
//! - routing: from the test's own record of the faults in force, a WAN is really down for
//!   a family (carrier, device, blackhole, upstream, 100 % loss; IPv6 also the IPv6-only
//!   upstream fault), really up (no fault of that family) or unknown (partial loss, a
//!   renumbering in progress). The family's traffic (`ip route get`: rtr's own and the
//!   LAN's) must not be on a WAN that has been really down for longer than its detection
//!   bound (link faults 0.5 s; probe faults interval + (down + 3) / 2 × timeout + 0.5 s) while the
//!   other WAN has been really up for that family for `SETTLE` (up rounds, timeout and
//!   margin; a reload restarts that clock because it restarts the changed interfaces'
//!   health). Both WANs settled up: the family's traffic is not `none`.
//!   For 0.5 s after a rule flush or a removal of our entries nothing is asserted here.
//! - our fixed rules of both families are back within 1 s of a flush or removal; a reload
//!   is applied (or an invalid one rejected) within 2 s; the daemon is registered on ubus
//!   again within 7 s of ubusd's return (its backoff tops out at 5 s) and `ubus call
//!   dualwan status` answers;
//! - foreign rules and routes (IPv4: a static route in table 200, a blackhole in main, two
//!   fwmark rules, one inside our priority range; IPv6: the same kinds, plus foreign routes
//!   in our active table and in wan2's table) never change, compared on every check — lines
//!   of a WAN whose link or addresses the test itself is changing, and the rules during a
//!   flush, excepted; after the final SIGTERM both families' kernel state equals the one
//!   before start;
//! - the daemon never exits by itself; its open fds are the same at the start and the end,
//!   its RSS grows by less than 256 KiB; RSS, fds and CPU are printed every 30 s.

mod common;

use common::config::Config;
use common::daemon::BIN;
use common::lab::{
    lab6_or_skip, wait_until, Lab, GW6, GW6_GLOBAL, LAN_CLIENT, LAN_CLIENT6, TARGETS, TARGETS6, TRAFFIC, TRAFFIC6,
};
use common::proc::{clk_tck, cpu_ticks};
use common::ubusd::{Options, Ubusd};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
/// A silent failure: the next steady probe within an interval, its timeout, then `down`
/// confirmation rounds half a timeout apart and the last one's timeout (adaptive
/// timeouts, at most `timeout`).
const PROBE_BOUND: f64 = INTERVAL + (DOWN as f64 + 3.0) / 2.0 * TIMEOUT + MARGIN;
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
/// The same for IPv6 (router address, its gateway): the global address moves within the
/// ISP's /64, and the ISP router's link-local address changes (a new router advertisement).
const ADDRS6: [[(&str, &str); 2]; 2] =
    [[("2001:db8:1::2", GW6), ("2001:db8:1::3", "fe80::2")], [("2001:db8:2::2", GW6), ("2001:db8:2::3", "fe80::2")]];
const METRICS: [u32; 2] = [10, 20];
/// Foreign entries added before the daemon starts (owned by someone else).
const FOREIGN_RULES: &str = "rule add pref 4000 fwmark 7 lookup 200\nrule add pref 5050 fwmark 9 lookup 200\n";
const FOREIGN_ROUTES: &str = "route add blackhole 198.51.100.128/25 table 200\n\
                              route add unreachable 198.51.100.64/26 table 200\n\
                              route add blackhole 10.98.0.0/16 proto static\n";
/// What the rule flush leaves out that netifd puts back.
const DEFAULT_RULES: &str =
    "rule add pref 32766 lookup main proto kernel\nrule add pref 32767 lookup default proto kernel\n";
/// IPv6 foreign entries: the same kinds, one rule inside our priority range, and routes in
/// our active table (100) and in wan2's table (102).
const FOREIGN_RULES6: &str =
    "rule add pref 4000 fwmark 7 lookup 300\nrule add pref 5050 from 2001:db8:99::/64 lookup 300\n";
const FOREIGN_ROUTES6: &str = "route add blackhole 2001:db8:98::/48 table 300\n\
                               route add unreachable 2001:db8:97::/48 table 100\n\
                               route add blackhole 2001:db8:96::/48 proto static\n";
/// A foreign IPv6 route through wan2 in wan2's table: it goes with the device, and its
/// owner puts it back when the device returns.
const FOREIGN_WAN2_ROUTE6: &str = "route add 2001:db8:77::/48 via fe80::1 dev wan2 table 102\n";
/// The only default rule IPv6 has; `ip -6 rule flush` removes it too.
const DEFAULT_RULES6: &str = "rule add pref 32766 lookup main proto kernel\n";

/// One address family as the soak sees it; indexed by `V4` and `V6`.
struct Family {
    /// `ip`'s option for the family.
    flag: &'static str,
    /// What the daemon's lines (and ours) put in front of the family's facts.
    label: &'static str,
    /// The host `ip route get` asks about.
    traffic: &'static str,
    /// The LAN client, as the source of forwarded traffic.
    lan_client: &'static str,
}

const V4: usize = 0;
const V6: usize = 1;
const FAMILIES: [Family; 2] = [
    Family { flag: "-4", label: "", traffic: TRAFFIC, lan_client: LAN_CLIENT },
    Family { flag: "-6", label: "IPv6 ", traffic: TRAFFIC6, lan_client: LAN_CLIENT6 },
];

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
    /// ISP's forwarding of IPv6 only stops: IPv4 stays up.
    Upstream6,
    Readdress,
    Replug,
    RuleFlush,
    RuleFlush6,
    RouteRemoval,
    Reload,
    BadReload,
    UbusDrop,
    Flood,
}

/// Relative odds of each kind.
const ODDS: [(Kind, usize); 14] = [
    (Kind::Carrier, 6),
    (Kind::Loss, 4),
    (Kind::GwBlackhole, 4),
    (Kind::Upstream, 4),
    (Kind::Upstream6, 4),
    (Kind::Readdress, 2),
    (Kind::Replug, 2),
    (Kind::RuleFlush, 2),
    (Kind::RuleFlush6, 2),
    (Kind::RouteRemoval, 2),
    (Kind::Reload, 3),
    (Kind::BadReload, 1),
    (Kind::UbusDrop, 2),
    (Kind::Flood, 1),
];

impl Kind {
    fn per_wan(self) -> bool {
        matches!(
            self,
            Kind::Carrier
                | Kind::Loss
                | Kind::GwBlackhole
                | Kind::Upstream
                | Kind::Upstream6
                | Kind::Readdress
                | Kind::Replug
        )
    }
    /// The families (`V4`, `V6`) a per-WAN fault affects.
    fn families(self) -> [bool; 2] {
        [self != Kind::Upstream6, true]
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
    /// Per family (`V4`, `V6`).
    real: [Real; 2],
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
    /// "registered" lines in the daemon's log above this.
    Registered(usize),
    /// Our fixed rules (P+0, P+90) of both families in place.
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

/// The daemon's line for each registration on ubus.
const REGISTERED: &str = "ubus: object dualwan registered";

/// Counted log lines: substrings, and two special keys (`BADLINE`: the expected FILE:LINE:
/// error; `IPV6TRANSITION`: an IPv6 status transition). IPv6 lines count under the plain
/// patterns too.
const PATTERNS: [&str; 8] = [
    "configuration reloaded",
    "invalid configuration, keeping the running one",
    "traffic moved to",
    "IPv6 traffic moved to",
    " -> ",
    "IPV6TRANSITION",
    REGISTERED,
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
            let hit = match p {
                "BADLINE" => line.contains(&self.bad_line),
                "IPV6TRANSITION" => line.contains(": IPv6 ") && line.contains(" -> "),
                _ => line.contains(p),
            };
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
    Stats { rss_kib: field("VmRSS:"), anon_kib: field("RssAnon:"), fds, cpu_ms: cpu_ticks(pid) * 1000 / clk_tck() }
}

fn show(s: &Stats) -> String {
    format!("VmRSS {} KiB (anon {} KiB), {} fds, CPU {:.2} s", s.rss_kib, s.anon_kib, s.fds, s.cpu_ms as f64 / 1000.0)
}

/// One config variant; `bad` puts `option interval '0'` into the first interface and
/// returns the line it is on. Each variant lists the IPv4 and IPv6 targets in another order
/// (IPv4 first, IPv6 first, mixed).
fn config_text(variant: usize, bad: bool) -> (String, usize) {
    let (check_gateway, recovery_wait, order): (u8, u32, [usize; 3]) = match variant {
        0 => (1, 1, [0, 1, 2]),
        1 => (0, 2, [2, 1, 0]),
        _ => (1, 0, [1, 2, 0]),
    };
    let mut config = Config::new().global("enabled '1'");
    for (i, wan) in WANS.iter().enumerate() {
        let targets: Vec<&str> = match variant {
            0 => order.iter().map(|&t| TARGETS[t]).chain(order.iter().map(|&t| TARGETS6[t])).collect(),
            1 => order.iter().map(|&t| TARGETS6[t]).chain(order.iter().map(|&t| TARGETS[t])).collect(),
            _ => order.iter().flat_map(|&t| [TARGETS[t], TARGETS6[t]]).collect(),
        };
        let interval = if bad && i == 0 { "0".to_string() } else { INTERVAL.to_string() };
        config = config
            .interface(wan)
            .device(wan)
            .metric(METRICS[i])
            .track(&targets)
            .option(&format!("interval '{interval}'"))
            .option(&format!("timeout '{TIMEOUT}'"))
            .option(&format!("down '{DOWN}'"))
            .option(&format!("up '{UP}'"))
            .option(&format!("check_gateway '{check_gateway}'"))
            .option(&format!("recovery_wait '{recovery_wait}'"));
    }
    let text = config.text();
    let bad_line = if bad { text.lines().position(|l| l == "\toption interval '0'").unwrap() + 1 } else { 0 };
    (text, bad_line)
}

/// Replaces the file in one rename, so a reload never reads half of it.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, path).expect("rename config");
}

/// `ip -n NS -4|-6 -force -batch -` (family `fam`, links work with either): every line is
/// tried; returns whether all succeeded.
fn ip_batch(lab: &Lab, role: &str, fam: usize, batch: &str) -> bool {
    let mut child = Command::new("ip")
        .args(["-n", &lab.ns(role), FAMILIES[fam].flag, "-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ip -batch");
    child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    child.wait().unwrap().success()
}

fn must_batch(lab: &Lab, role: &str, fam: usize, batch: &str) {
    assert!(ip_batch(lab, role, fam, batch), "{role}: ip {} -batch failed: {batch}", FAMILIES[fam].flag);
}

fn ip_lines(lab: &Lab, fam: usize, args: &[&str]) -> Vec<String> {
    let out = Command::new("ip").args(["-n", &lab.ns("rtr"), FAMILIES[fam].flag]).args(args).output().expect("run ip");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// rtr's foreign rules and routes of a family: not ours (proto 201), and without the lines
/// of WANs in `skip`.
fn foreign(lab: &Lab, fam: usize, skip: [bool; 2]) -> (Vec<String>, Vec<String>) {
    let keep =
        |l: &String| !l.contains("proto 201") && !(0..2).any(|i| skip[i] && l.contains(&format!("dev {} ", WANS[i])));
    let rules = ip_lines(lab, fam, &["rule", "show"]).into_iter().filter(keep).collect();
    let routes = ip_lines(lab, fam, &["route", "show", "table", "all"])
        .into_iter()
        .map(|l| l + " ")
        .filter(keep)
        .map(|l| l.trim_end().to_string())
        .collect();
    (rules, routes)
}

/// Device of the family's `ip route get TRAFFIC` in rtr (rtr's own traffic): wan1, wan2 or none.
fn active(lab: &Lab, fam: usize) -> String {
    route_dev(lab, fam, &[])
}

/// The same for the LAN client's forwarded traffic.
fn lan_active(lab: &Lab, fam: usize) -> String {
    route_dev(lab, fam, &["from", FAMILIES[fam].lan_client, "iif", "lan0"])
}

fn route_dev(lab: &Lab, fam: usize, extra: &[&str]) -> String {
    let f = &FAMILIES[fam];
    let out = Command::new("ip").args(["-n", &lab.ns("rtr"), f.flag, "route", "get", f.traffic]).args(extra).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let dev = text.split_whitespace().skip_while(|w| *w != "dev").nth(1).unwrap_or("none");
    if WANS.contains(&dev) {
        dev.to_string()
    } else {
        "none".to_string()
    }
}

/// Our fixed rules (P+0, P+90) of both families are in place.
fn ours_fixed_rules(lab: &Lab) -> bool {
    (0..2).all(|fam| {
        let rules = ip_lines(lab, fam, &["rule", "show"]);
        ["5000:", "5090:"].iter().all(|p| rules.iter().any(|r| r.starts_with(p) && r.contains("proto 201")))
    })
}

/// A device's MAC address, from `ip -o link show`.
fn mac_of(lab: &Lab, role: &str, dev: &str) -> String {
    let out =
        Command::new("ip").args(["-n", &lab.ns(role), "-o", "link", "show", "dev", dev]).output().expect("run ip");
    let text = String::from_utf8_lossy(&out.stdout);
    let mac = text.split_whitespace().skip_while(|w| *w != "link/ether").nth(1);
    mac.unwrap_or_else(|| panic!("{role}: no MAC address of {dev} in {text:?}")).to_string()
}

/// Whether the daemon's log has a line whose message (after time and level) is `msg`.
fn said(log: &str, msg: &str) -> bool {
    log.lines().any(|l| l.split_whitespace().skip(2).eq(msg.split_whitespace()))
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
    /// The real ubusd; `None` without `../shared/owrt` (then no `UbusDrop` either).
    ubusd: Option<Ubusd>,
    ubus_restart_at: Option<Instant>,
    flood: Option<Child>,
    /// When the daemon was spawned, and the fault log (see `note`).
    daemon_start: Instant,
    trace: std::fs::File,
    wans: [WanState; 2],
    /// (rtr's wanN, the ISP's cust) MAC addresses as built: a recreated pair gets them back,
    /// so its IPv6 link-local addresses (EUI-64) and their local routes are the same.
    macs: [(String, String); 2],
    /// Reloads restart the changed interfaces' health: "up since" counts from here at the earliest.
    reset_at: Instant,
    grace_until: Instant,
    rule_skip_until: Instant,
    expects: Vec<(Expect, Instant, String)>,
    log: LogTail,
    injected: BTreeMap<Kind, usize>,
    violations: Vec<String>,
    violating_samples: usize,
    /// Per family (`V4`, `V6`) from here on.
    last_active: [String; 2],
    moves_seen: [usize; 2],
    checks: usize,
    base_rules: [Vec<String>; 2],
    base_routes_by_skip: [BTreeMap<[bool; 2], Vec<String>>; 2],
}

impl Soak<'_> {
    /// A line in the lab dir's `faults.log`, timed like the daemon's log (seconds since its
    /// start, give or take the exec), to lay the faults beside what the daemon said.
    fn note(&mut self, what: &str) {
        let t = self.daemon_start.elapsed().as_secs_f64();
        let _ = writeln!(self.trace, "{t:>9.3} {what}");
    }

    fn violation(&mut self, what: String) {
        eprintln!("VIOLATION: {what}");
        self.note(&format!("VIOLATION: {what}"));
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
                Kind::RuleFlush | Kind::RuleFlush6 => {
                    // The flush takes the kernel's own main (and IPv4 default) rule too: not
                    // the daemon's to restore, so the test puts them back with the foreign ones.
                    let (fam, restore) = if kind == Kind::RuleFlush {
                        (V4, format!("{DEFAULT_RULES}{FOREIGN_RULES}"))
                    } else {
                        (V6, format!("{DEFAULT_RULES6}{FOREIGN_RULES6}"))
                    };
                    self.grace_until = far(now);
                    self.rule_skip_until = far(now);
                    must_batch(self.lab, "rtr", fam, "rule flush\n");
                    must_batch(self.lab, "rtr", fam, &restore);
                    let t = Instant::now();
                    self.rule_skip_until = t;
                    self.grace_until = t + secs(RESTORE_GRACE);
                    let what = format!("our rules back after ip {} rule flush", FAMILIES[fam].flag);
                    self.expect(Expect::OursBack, 1.0, &what);
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
                    // Each of our entries of each family with odds 1/2, at least one in all.
                    let mut batches = [String::new(), String::new()];
                    for fam in [V4, V6] {
                        for (i, c) in all.iter().enumerate() {
                            let last = fam == V6 && i == all.len() - 1;
                            if self.rng.below(2) == 0 || (last && batches.iter().all(String::is_empty)) {
                                batches[fam] += c;
                                batches[fam].push('\n');
                            }
                        }
                    }
                    self.grace_until = far(now);
                    for (fam, batch) in batches.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
                        ip_batch(self.lab, "rtr", fam, batch);
                    }
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
                    // A crash (the socket file stays) or a stop (it goes).
                    let crash = self.rng.below(2) == 0;
                    let Some(ubusd) = self.ubusd.as_mut() else { return };
                    if crash {
                        ubusd.kill();
                    } else {
                        ubusd.stop();
                    }
                    self.ubus_restart_at = Some(Instant::now() + self.rng.secs(0.1, 2.0));
                    self.note(if crash { "ubusd killed (SIGKILL)" } else { "ubusd stopped (SIGTERM)" });
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
            self.note(&format!("{kind:?}"));
        }
        *self.injected.entry(kind).or_default() += 1;
    }

    fn hup(&self) {
        let st = Command::new("kill").args(["-HUP", &self.pid.to_string()]).status().unwrap();
        assert!(st.success(), "kill -HUP");
    }

    fn expect(&mut self, e: Expect, within: f64, what: &str) {
        if matches!(e, Expect::OursBack) {
            // A new flush or removal takes our rules again and restarts the clock: it
            // replaces a pending check of the same thing (whose grace it also extended).
            self.expects.retain(|(old, _, _)| !matches!(old, Expect::OursBack));
        }
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
                self.note(&format!("Loss {pct} % on {}", WANS[i]));
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
            Kind::Upstream6 => {
                self.ipv6_upstream(i, true);
                (Real::Down(t0, PROBE_BOUND), self.rng.secs(0.5, 4.0))
            }
            Kind::Readdress => {
                self.wans[i].link_skip_until = far(t0);
                self.renumber(i, 0, 1);
                (Real::Unknown, self.rng.secs(1.0, 4.0))
            }
            Kind::Replug => {
                self.wans[i].link_skip_until = far(t0);
                must_batch(self.lab, "rtr", V4, &format!("link del {}\n", WANS[i]));
                (Real::Down(t0, LINK_BOUND), self.rng.secs(0.3, 3.0))
            }
            _ => unreachable!(),
        };
        for (fam, hit) in kind.families().into_iter().enumerate() {
            if hit {
                self.wans[i].real[fam] = real;
            }
        }
        if kind.touches_link() {
            self.wans[i].link_skip_until = far(t0);
        }
        self.wans[i].fault = Some((kind, Instant::now() + hold));
        self.note(&format!("{kind:?} on {} for {:.2} s", WANS[i], hold.as_secs_f64()));
    }

    /// ISP `i + 1` stops (or resumes) forwarding IPv6; its router still answers.
    fn ipv6_upstream(&self, i: usize, fail: bool) {
        let rule = if fail {
            "add rule inet dwlab upstream meta nfproto ipv6 drop"
        } else {
            "flush chain inet dwlab upstream"
        };
        let args: Vec<&str> = std::iter::once("nft").chain(rule.split(' ')).collect();
        let out = self.lab.exec(&format!("isp{}", i + 1), &args);
        assert!(out.status.success(), "isp{}: {rule}: {}", i + 1, String::from_utf8_lossy(&out.stderr));
    }

    /// ISP and router renumbered from address set `from` to `to` in both families, as
    /// scenario 8 does for IPv4. IPv6: the new address is added before the old one goes
    /// (as SLAAC and DHCPv6 do), and the ISP's router gets another link-local address.
    fn renumber(&self, i: usize, from: usize, to: usize) {
        let (wan, metric, isp) = (WANS[i], METRICS[i], format!("isp{}", i + 1));
        let ((a0, g0), (a1, g1)) = (ADDRS[i][from], ADDRS[i][to]);
        must_batch(self.lab, &isp, V4, &format!("addr del {g0}/29 dev cust\naddr add {g1}/29 dev cust\n"));
        must_batch(
            self.lab,
            "rtr",
            V4,
            &format!(
                "addr del {a0}/29 dev {wan}\naddr add {a1}/29 dev {wan}\n\
                 route replace default via {g1} dev {wan} proto dhcp metric {metric}\n"
            ),
        );
        // The new gateway replaces the old default in one `route replace` (NLM_F_REPLACE, as
        // route writers on a router do): the kernel reports the new route and nothing about
        // the old one. Unlike IPv4's, the old route is still there when it runs: IPv6 routes
        // via a link-local gateway do not depend on the global address.
        let ((a0, g0), (a1, g1)) = (ADDRS6[i][from], ADDRS6[i][to]);
        must_batch(self.lab, &isp, V6, &format!("addr add {g1}/64 dev cust nodad\naddr del {g0}/64 dev cust\n"));
        must_batch(
            self.lab,
            "rtr",
            V6,
            &format!(
                "addr add {a1}/64 dev {wan} nodad\naddr del {a0}/64 dev {wan}\n\
                 route replace default via {g1} dev {wan} proto static metric {metric}\n"
            ),
        );
    }

    /// Puts back a deleted WAN device pair as the lab built it (same MACs), with what the
    /// kernel dropped along with it: addresses of both families (IPv6 ones without DAD, as
    /// everywhere in the lab), the ISP's gateway addresses, main's DHCP/RA-style default
    /// routes and the foreign IPv6 route through wan2.
    fn replug(&self, i: usize) {
        let (wan, metric, isp) = (WANS[i], METRICS[i], format!("isp{}", i + 1));
        let ((addr, gw), (addr6, gw6)) = (ADDRS[i][0], ADDRS6[i][0]);
        let (mac, peer_mac) = (&self.macs[i].0, &self.macs[i].1);
        let (rtr_ns, isp_ns) = (self.lab.ns("rtr"), self.lab.ns(&isp));
        let st = Command::new("ip")
            .args(["link", "add", wan, "address", mac, "netns", &rtr_ns, "type", "veth"])
            .args(["peer", "name", "cust", "address", peer_mac, "netns", &isp_ns])
            .status()
            .unwrap();
        assert!(st.success(), "recreate {wan}");
        must_batch(self.lab, &isp, V4, &format!("addr add {gw}/29 dev cust\nlink set cust up\n"));
        must_batch(
            self.lab,
            &isp,
            V6,
            &format!("addr replace {}/64 dev cust nodad\naddr replace {gw6}/64 dev cust nodad\n", GW6_GLOBAL[i]),
        );
        must_batch(
            self.lab,
            "rtr",
            V4,
            &format!(
                "addr add {addr}/29 dev {wan}\nlink set {wan} up\n\
                 route add default via {gw} dev {wan} proto dhcp metric {metric}\n"
            ),
        );
        let foreign = if wan == "wan2" { FOREIGN_WAN2_ROUTE6 } else { "" };
        must_batch(
            self.lab,
            "rtr",
            V6,
            &format!(
                "addr add {addr6}/64 dev {wan} nodad\n\
                 route add default via {gw6} dev {wan} proto static metric {metric}\n{foreign}"
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
            Kind::Upstream6 => self.ipv6_upstream(i, false),
            Kind::Readdress => self.renumber(i, 1, 0),
            Kind::Replug => self.replug(i),
            _ => unreachable!(),
        }
        self.note(&format!("{kind:?} on {} over", WANS[i]));
        let t = Instant::now();
        for (fam, hit) in kind.families().into_iter().enumerate() {
            if hit {
                self.wans[i].real[fam] = Real::Up(t);
            }
        }
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
            self.log.poll();
            let regs = self.log.count(REGISTERED);
            if let Some(ubusd) = self.ubusd.as_mut() {
                ubusd.restart();
            }
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
                Expect::Registered(n) => {
                    let back = self.log.count(REGISTERED) > *n;
                    if back {
                        // Registered with the new ubusd, and serving through it.
                        let out = self.ubusd.as_ref().map(|u| u.ubus(&["-t", "3", "call", "dualwan", "status"]));
                        if let Some(out) = out.filter(|o| !o.status.success()) {
                            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
                            self.violation(format!("{what}: ubus call dualwan status failed ({}): {err}", out.status));
                        }
                    }
                    back
                }
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
        let skip = [0, 1].map(|i| self.wans[i].link_skip_until > now);
        for fam in [V4, V6] {
            self.check_routing(now, fam);
            let label = FAMILIES[fam].label;
            let (rules, routes) = foreign(self.lab, fam, skip);
            if now >= self.rule_skip_until && rules != self.base_rules[fam] {
                let v = format!("foreign {label}rules changed: {rules:?} (expected {:?})", self.base_rules[fam]);
                self.violation(v);
            }
            let want = self.base_routes_by_skip[fam].get(&skip).cloned().unwrap_or_default();
            if routes != want {
                let v = format!("foreign {label}routes changed: {routes:?} (expected {want:?})");
                self.violation(v);
            }
        }
    }

    /// The routing invariant of one family (see the module doc).
    fn check_routing(&mut self, now: Instant, fam: usize) {
        let act = active(self.lab, fam);
        let lan = lan_active(self.lab, fam);
        if act != self.last_active[fam] {
            if WANS.contains(&act.as_str()) && WANS.contains(&self.last_active[fam].as_str()) {
                self.moves_seen[fam] += 1;
            }
            self.last_active[fam] = act.clone();
        }
        if now < self.grace_until {
            return;
        }
        let up_for = |r: Real| match r {
            Real::Up(t) => now.saturating_duration_since(t.max(self.reset_at)).as_secs_f64(),
            _ => -1.0,
        };
        let label = FAMILIES[fam].label;
        let mut bad = None;
        for (a, wan) in WANS.iter().enumerate() {
            let b = 1 - a;
            if let Real::Down(since, bound) = self.wans[a].real[fam] {
                let down_for = now.saturating_duration_since(since).as_secs_f64();
                if down_for > bound && up_for(self.wans[b].real[fam]) > SETTLE && (act == *wan || lan == *wan) {
                    bad = Some(format!(
                        "{label}traffic on {wan} (rtr {act}, LAN {lan}) {down_for:.2} s after its {:?} (bound {bound:.2} s) while {} is up",
                        self.wans[a].fault.map(|f| f.0),
                        WANS[b]
                    ));
                }
            }
        }
        if bad.is_none() && act == "none" && (0..2).all(|i| up_for(self.wans[i].real[fam]) > SETTLE) {
            bad = Some(format!("no {label}route to the Internet while both WANs are up"));
        }
        if let Some(b) = bad {
            self.violating_samples += 1;
            if self.violating_samples == 1 || self.violations.last().is_none_or(|l| !l.contains(&b[..20])) {
                self.violation(b);
            }
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
    let Some(lab) = lab6_or_skip("soak") else { return };
    let seconds: u64 = std::env::var(SECONDS_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 = std::env::var(SEED_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
            ^ u64::from(std::process::id())
    });
    let mut kinds: Vec<Kind> = match std::env::var(KINDS_ENV) {
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
    let sock = lab.dir().join("ubus.sock");
    let ubusd = match Ubusd::start_if_present(&sock, Options::default()) {
        Ok(ubusd) => Some(ubusd),
        Err(reason) => {
            kinds.retain(|k| *k != Kind::UbusDrop);
            if kinds.is_empty() {
                common::skip::skip(format_args!("{KINDS_ENV} asks only for ubusd restarts, and {reason}"));
                return;
            }
            common::skip::progress(format_args!(
                "no ubusd ({reason}): the soak runs without one (the daemon retries ubus in the \
                 background) and without the UbusDrop fault"
            ));
            None
        }
    };
    eprintln!(
        "soak: {seconds} s, seed {seed} (replay with {SEED_ENV}={seed}; length from {SECONDS_ENV}), faults {kinds:?}"
    );

    must_batch(&lab, "rtr", V4, &format!("{FOREIGN_ROUTES}{FOREIGN_RULES}"));
    must_batch(&lab, "rtr", V6, &format!("{FOREIGN_ROUTES6}{FOREIGN_WAN2_ROUTE6}{FOREIGN_RULES6}"));
    let before = (lab.snapshot(), lab.snapshot6());
    let base = [V4, V6].map(|fam| foreign(&lab, fam, [false, false]));
    let by_skip = [V4, V6].map(|fam| {
        let skips = [[false, false], [true, false], [false, true], [true, true]];
        skips.into_iter().map(|skip| (skip, foreign(&lab, fam, skip).1)).collect::<BTreeMap<_, _>>()
    });
    for (fam, (rules, routes)) in base.iter().enumerate() {
        assert!(rules.iter().any(|r| r.starts_with("5050:")), "{rules:?}");
        let mark = ["10.98.0.0/16", "2001:db8:97::/48 dev lo table 100"][fam];
        assert!(routes.iter().any(|r| r.contains(mark)), "{routes:?}");
    }
    assert!(base[V6].1.iter().any(|r| r.contains("2001:db8:77::/48 via fe80::1 dev wan2 table 102")), "{:?}", base[V6]);
    let macs = [0, 1].map(|i| (mac_of(&lab, "rtr", WANS[i]), mac_of(&lab, &format!("isp{}", i + 1), "cust")));

    let cfg = lab.dir().join("dualwan.conf");
    write_atomically(&cfg, &config_text(0, false).0);
    let bad_line = config_text(0, true).1;
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
    let daemon_start = Instant::now();
    let daemon = lab.spawn_in("rtr", BIN, &args);
    let pid = daemon.id();
    let ready = wait_until(Duration::from_secs(5), || {
        let log = lab.stderr_of(&daemon);
        said(&log, "traffic on wan1")
            && said(&log, "IPv6 traffic on wan1")
            && log.contains("wan2: connecting -> online")
            && log.contains("wan2: IPv6 connecting -> online")
    });
    assert!(ready.is_some(), "daemon did not come up:\n{}", lab.stderr_of(&daemon));
    if let Some(ubusd) = &ubusd {
        assert!(ubusd.wait_for(&["dualwan"], 3), "no ubus registration:\n{}", lab.stderr_of(&daemon));
    }
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
        daemon_start,
        trace: std::fs::File::create(lab.dir().join("faults.log")).expect("create faults.log"),
        wans: [0, 1].map(|_| WanState { real: [Real::Up(t_start); 2], fault: None, link_skip_until: t_start }),
        macs,
        reset_at: t_start,
        grace_until: t_start,
        rule_skip_until: t_start,
        expects: Vec::new(),
        log: LogTail::new(log_path, format!("{}:{bad_line}: option 'interval'", cfg.display())),
        injected: BTreeMap::new(),
        violations: Vec::new(),
        violating_samples: 0,
        last_active: ["wan1".into(), "wan1".into()],
        moves_seen: [0, 0],
        checks: 0,
        base_rules: base.map(|b| b.0),
        base_routes_by_skip: by_skip,
    };

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
                "soak {:>5.0} s: {}; CPU {rate:.0} ms/min lately; {} faults, {} failovers seen, {} violations; \
                 IPv6 {} failovers seen",
                now.duration_since(t_start).as_secs_f64(),
                show(&s),
                soak.injected.values().sum::<usize>(),
                soak.moves_seen[V4],
                soak.violations.len(),
                soak.moves_seen[V6]
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
    // A confirmation that began under a fault cleared just now may still end in a verdict
    // on it, and move traffic once more: wan1 must carry both families for a whole
    // PROBE_BOUND in a row, not just at one instant.
    let mut held_since: Option<Instant> = None;
    let back = wait_until(Duration::from_secs(15), || {
        let home = active(&lab, V4) == "wan1" && active(&lab, V6) == "wan1";
        let since = *held_since.get_or_insert_with(Instant::now);
        if !home {
            held_since = None;
        }
        home && since.elapsed() >= secs(PROBE_BOUND)
    });
    assert!(
        back.is_some(),
        "traffic not back on wan1 to stay after the faults were cleared (IPv4 {}, IPv6 {})",
        active(&lab, V4),
        active(&lab, V6)
    );
    if let Some(ubusd) = &soak.ubusd {
        assert!(ubusd.wait_for(&["dualwan"], 7), "not on ubus at the end");
        let (_, v) = ubusd.call_json("dualwan", "status", None);
        assert_eq!((v["active"].as_str(), v["active6"].as_str()), (Some("wan1"), Some("wan1")), "{v}");
    }
    std::thread::sleep(Duration::from_secs(2));
    soak.check(Instant::now());
    let end_stats = stats(pid);
    let took = t_start.elapsed().as_secs_f64();
    soak.log.poll();

    let status = lab.terminate(&mut soak.daemon);
    let log = lab.stderr_of(&soak.daemon);
    let after = (lab.snapshot(), lab.snapshot6());

    let mut summary = String::new();
    writeln!(summary, "soak summary ({took:.0} s, seed {seed}):").unwrap();
    writeln!(summary, "  faults injected: {}", soak.injected.values().sum::<usize>()).unwrap();
    for (k, n) in &soak.injected {
        writeln!(summary, "    {k:?}: {n}").unwrap();
    }
    let moved6 = soak.log.count("IPv6 traffic moved to");
    writeln!(
        summary,
        "  failovers: {} \"traffic moved\" lines in the daemon's log, {} moves between WANs seen by {} checks",
        soak.log.count("traffic moved to") - moved6,
        soak.moves_seen[V4],
        soak.checks
    )
    .unwrap();
    writeln!(
        summary,
        "  IPv6 failovers: {moved6} \"IPv6 traffic moved\" lines in the daemon's log, {} moves between WANs seen",
        soak.moves_seen[V6]
    )
    .unwrap();
    writeln!(
        summary,
        "  status transitions logged: {} (IPv6 {}); reloads applied: {}; invalid configs rejected: {}; \
         ubus registrations: {}; {}",
        soak.log.count(" -> "),
        soak.log.count("IPV6TRANSITION"),
        soak.log.count("configuration reloaded"),
        soak.log.count("invalid configuration, keeping the running one"),
        soak.log.count(REGISTERED),
        match &soak.ubusd {
            Some(u) => format!("ubusd started {} times", u.starts()),
            None => "no ubusd (no ../shared/owrt), no UbusDrop".to_string(),
        }
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
    assert_eq!(after.0, before.0, "rtr's IPv4 rules and routes differ from before the start");
    assert_eq!(after.1, before.1, "rtr's IPv6 rules and routes differ from before the start");
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
