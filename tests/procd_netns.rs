//! The shipped init script under the real procd: `../shared/owrt/procd-ns.sh` runs procd as
//! PID 1 of a PID + mount namespace, with its own ubusd, chrooted in a root dir that holds the
//! static musl `dualwan`, `openwrt/files/dualwan.init` and a config, inside a network
//! namespace with two WAN veths (documentation addresses; the gateways never answer, so both
//! WANs stay offline and the daemon's rules and per-WAN routes are what there is to see).
//!
//! - `start_reload_respawn_stop`: `/etc/init.d/dualwan start` (procd's `service list`, the
//!   object on that procd's ubusd, rules with proto 201); a config change fired as
//!   `config.change` (SIGHUP, same PID, new config in effect); `option user` with no ujail in
//!   this procd build (a warning, root, and `service list` claims no user); SIGKILL and
//!   procd's respawn; stop (ours gone, foreign rule and route kept).
//! - `option_user_restarts_the_daemon_as_that_user`: a fresh install under a running ubusd
//!   with `option user 'dualwan'` and a stand-in `/sbin/ujail` (below): the init script makes
//!   the root-only config readable and has ubusd read the package's ACL; the daemon runs as
//!   uid 1000 with CAP_NET_ADMIN and CAP_NET_RAW only and registers; a reload keeps it
//!   (SIGHUP), and with `option network` it listens for and asks a fake netifd (a thread of
//!   the test) as the ACL grants; a user change restarts it (new PID), both ways.
//! - `starts_at_boot_as_its_user`: an `/etc/rc.d/S60dualwan` link present before procd
//!   starts: the daemon runs without a start command, as its user, registered with the ACL
//!   that ubusd read at its own start (no reload asked).
//!
//! The stand-in ujail: this procd is built without ujail (no `/sbin/ujail`). procd itself
//! still execs `/sbin/ujail -t 5 -n dualwan -U dualwan -C /etc/capabilities/dualwan.json -c
//! -- CMD` for a jailed instance when that file exists, so the tests give it a script that
//! does what ujail does without namespaces (user, capabilities from the file, no_new_privs)
//! with util-linux `setpriv`, copied into the root with its libraries, and refuses any other
//! option. Real ujail forks and forwards signals; the stand-in execs, so procd's PID is the
//! daemon's.
//!
//! Needs root, `../shared/owrt`, the static musl build (`bash cross/build.sh
//! x86_64-unknown-linux-musl`) and a static busybox (Debian `busybox-static`, in the
//! Makefile's DEBS). `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::lab::{is_root, wait_until, SKIP_ENV};
use common::proc::NET_ADMIN_AND_RAW;
use common::skip::{owrt_program, progress, skip, Heartbeat};
use common::ubus_peer::Ubus;
use dualwan::sys::clock;
use dualwan::ubus::{Answer, Object};
use dualwan::wire::blob::{Attrs, Full, Writer};
use dualwan::wire::ubus::{self as wire, Method};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const MUSL_BIN: &str = "target/x86_64-unknown-linux-musl/release/dualwan";
/// The package's user (procd-ns.sh's /etc/passwd, as `USERID:=dualwan:dualwan` makes it).
const USER_UID: &str = "1000";
const ACL: &str = "/usr/share/acl.d/dualwan.json";
const TIMEOUT: Duration = Duration::from_secs(15);
const RELOAD_EVENT: &str = r#"{"type":"config.change","data":{"package":"dualwan"}}"#;

/// procd-ujail's no-namespace mode, as far as dualwan's instance uses it.
const UJAIL_STAND_IN: &str = r#"#!/bin/sh
# Test stand-in for procd-ujail without namespaces: -U user, -C capabilities file, -c.
user= caps= nnp=
while [ $# -gt 0 ]; do
	case $1 in
	--) shift; break ;;
	-U) user=$2; shift 2 ;;
	-C) caps=$2; shift 2 ;;
	-c) nnp=--no-new-privs; shift ;;
	-t|-n) shift 2 ;;
	*) echo "ujail stand-in: unsupported option $1" >&2; exit 126 ;;
	esac
done
list=
if [ -n "$caps" ]; then
	. /usr/share/libubox/jshn.sh
	json_load_file "$caps" || { echo "ujail stand-in: cannot read $caps" >&2; exit 126; }
	json_get_values ambient ambient
	for c in $ambient; do
		c=$(echo "${c#CAP_}" | tr A-Z a-z)
		list="$list,+$c"
	done
fi
ids=$(grep "^$user:" /etc/passwd | cut -d: -f3,4)
[ -n "$ids" ] || { echo "ujail stand-in: no user '$user'" >&2; exit 126; }
# procd preloads its line-buffering library for captured stdout; setpriv is not static.
unset LD_PRELOAD
exec /usr/bin/setpriv --reuid="${ids%:*}" --regid="${ids#*:}" --init-groups \
	--inh-caps="-all$list" --ambient-caps="-all$list" --bounding-set="-all$list" $nnp -- "$@"
"#;

/// The config every test starts from: both WANs by device.
fn config(user: Option<&str>) -> String {
    let mut config = Config::new().global("log_level 'info'");
    if let Some(user) = user {
        config = config.global(&format!("user '{user}'"));
    }
    let wan = config.interface("wan").device("eth1").metric(10).track(&["203.0.113.1"]);
    wan.interface("wwan").device("wwan0").metric(20).track(&["203.0.113.1"]).text()
}

/// A network namespace with two WAN veths and a procd root; `Drop` stops procd (the kernel
/// ends everything in its PID namespace), deletes the namespace and the root.
struct Router {
    procd_ns: PathBuf,
    ns: String,
    root: PathBuf,
    up: bool,
    started: Instant,
    /// Never silent for 30 s, however slow procd or the daemon are today.
    _heartbeat: Heartbeat,
}

impl Router {
    /// Everything a test needs, or `None` after saying why not.
    fn new(tag: &str, with_ujail: bool) -> Option<Router> {
        let procd_ns = owrt_program("procd-ns.sh")?;
        let bin = Path::new(MANIFEST).join(MUSL_BIN);
        if !bin.is_file() {
            skip(format_args!("needs the static musl build {MUSL_BIN}: bash cross/build.sh x86_64-unknown-linux-musl"));
            return None;
        }
        if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
            skip(format_args!("network-namespace test ({SKIP_ENV}=1)"));
            return None;
        }
        assert!(is_root(), "procd-ns.sh and network namespaces need root; set {SKIP_ENV}=1 to skip");
        let busybox = std::env::var("BUSYBOX").ok();
        let candidates = busybox.iter().map(String::as_str).chain(["/bin/busybox", "/usr/bin/busybox"]);
        if !candidates.into_iter().any(|b| is_static_elf(Path::new(b))) {
            skip("needs a static busybox for procd-ns.sh (Debian busybox-static; `make deps` installs it)");
            return None;
        }
        if with_ujail && !Path::new("/usr/bin/setpriv").is_file() {
            skip("needs util-linux setpriv for the stand-in /sbin/ujail");
            return None;
        }
        reap_stale();
        let ns = format!("dwpd{tag}-{}", std::process::id());
        let root = std::env::temp_dir().join(format!("dualwan-procd-{ns}"));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create root");
        let router = Router { procd_ns, ns, root, up: false, started: Instant::now(), _heartbeat: Heartbeat::start() };
        router.build_netns();
        Some(router)
    }

    fn build_netns(&self) {
        let ns = self.ns.as_str();
        host(&["ip", "netns", "add", ns]);
        let ip = |args: &str| {
            let mut all = vec!["ip", "-n", ns];
            all.extend(args.split_whitespace());
            host(&all);
        };
        ip("link set lo up");
        ip("link add eth1 type veth peer name eth1p");
        ip("link add wwan0 type veth peer name wwan0p");
        for l in ["eth1", "eth1p", "wwan0", "wwan0p"] {
            ip(&format!("link set {l} up"));
        }
        ip("addr add 192.0.2.2/24 dev eth1");
        ip("route add default via 192.0.2.1 dev eth1 metric 10");
        ip("addr add 198.51.100.2/24 dev wwan0");
        ip("route add default via 198.51.100.1 dev wwan0 metric 20");
    }

    /// The package's files, laid out and owned as `opkg install` leaves them.
    fn install_package(&self, config_text: &str) {
        let r = &self.root;
        let files = Path::new(MANIFEST).join("openwrt/files");
        put(&Path::new(MANIFEST).join(MUSL_BIN), &r.join("usr/sbin/dualwan"), 0o755);
        put(&files.join("dualwan.init"), &r.join("etc/init.d/dualwan"), 0o755);
        put(&files.join("dualwan.capabilities.json"), &r.join("etc/capabilities/dualwan.json"), 0o644);
        put(&files.join("dualwan.acl.json"), &r.join(ACL.trim_start_matches('/')), 0o644);
        write(&r.join("etc/config/dualwan"), config_text, 0o600);
    }

    /// The stand-in `/sbin/ujail` and util-linux setpriv with the libraries it loads.
    fn install_ujail(&self) {
        write(&self.root.join("sbin/ujail"), UJAIL_STAND_IN, 0o755);
        put(Path::new("/usr/bin/setpriv"), &self.root.join("usr/bin/setpriv"), 0o755);
        let ldd = String::from_utf8(host(&["ldd", "/usr/bin/setpriv"]).stdout).unwrap();
        for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
            let to = self.root.join(lib.trim_start_matches('/'));
            put(Path::new(lib), &to, 0o755);
        }
    }

    /// `procd-ns.sh up`: procd (and its ubusd, syslogd, the boot scripts) running.
    fn up(&mut self) {
        let out = Command::new(&self.procd_ns)
            .arg("up")
            .arg(&self.root)
            .arg(&self.ns)
            .stdin(Stdio::null())
            .output()
            .expect("run procd-ns.sh up");
        assert!(out.status.success(), "procd-ns.sh up: {}", text(&out.stderr));
        self.up = true;
        self.say(format_args!("procd up (host pid {})", text(&out.stdout).trim()));
    }

    /// A command inside, chrooted in the root.
    fn exec(&self, args: &[&str]) -> Output {
        Command::new(&self.procd_ns)
            .arg("exec")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("procd-ns.sh exec {args:?}: {e}"))
    }

    /// The same; panics unless it exits 0, returns its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(out.status.success(), "{args:?} exited {}: {}{}", out.status, text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    fn uci(&self, change: &str) {
        self.run(&["sh", "-c", &format!("uci {change} && uci commit dualwan")]);
    }

    /// What `reload_config` sends after a `uci commit`: procd runs `dualwan reload` 1 s later.
    fn fire_config_change(&self) {
        self.run(&["ubus", "call", "service", "event", RELOAD_EVENT]);
    }

    /// dualwan's instance in procd's `service list`, if procd has one.
    fn instance(&self) -> Option<Value> {
        let out = self.run(&["ubus", "-S", "call", "service", "list", r#"{"name":"dualwan"}"#]);
        let list: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        list.pointer("/dualwan/instances/instance1").cloned()
    }

    /// The running instance's PID (in procd's PID namespace).
    fn pid(&self) -> Option<u64> {
        self.instance().filter(|i| i["running"] == true).and_then(|i| i["pid"].as_u64())
    }

    /// Waits for a running instance whose PID is not `old`.
    fn wait_new_pid(&self, old: Option<u64>, what: &str) -> u64 {
        let mut pid = None;
        let took = wait_until(TIMEOUT, || {
            pid = self.pid().filter(|p| Some(*p) != old);
            pid.is_some()
        });
        let Some(took) = took else { panic!("{what}: no new instance (was {old:?}): {:?}", self.instance()) };
        let pid = pid.unwrap();
        self.say(format_args!("{what}: pid {pid} after {took:.2?}"));
        pid
    }

    /// A field of /proc/PID/status, as seen inside.
    fn proc_status(&self, pid: u64, field: &str) -> String {
        let status = self.run(&["cat", &format!("/proc/{pid}/status")]);
        status
            .lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
    }

    /// Asserts what the process `pid` runs as: uid (all four ids) and effective capabilities.
    fn assert_runs_as(&self, pid: u64, uid: &str, cap_eff: Option<u64>) {
        let uids = self.proc_status(pid, "Uid");
        assert_eq!(uids, [uid; 4].join(" "), "pid {pid} uids");
        assert!(self.run(&["readlink", &format!("/proc/{pid}/exe")]).trim_end().ends_with("/usr/sbin/dualwan"));
        if let Some(caps) = cap_eff {
            let eff = u64::from_str_radix(&self.proc_status(pid, "CapEff"), 16).unwrap();
            assert_eq!(eff, caps, "pid {pid} effective capabilities {eff:#x}");
            assert_eq!(self.proc_status(pid, "NoNewPrivs"), "1");
        }
    }

    /// `ubus call dualwan status`, parsed (the daemon answers on this procd's ubusd).
    fn status(&self) -> Value {
        let out = self.run(&["ubus", "-S", "call", "dualwan", "status"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    fn wait_registered(&self) {
        let out = self.exec(&["ubus", "-t", "10", "wait_for", "dualwan"]);
        assert!(out.status.success(), "dualwan never registered on ubus:\n{}", self.messages_tail(30));
    }

    /// syslog (busybox syslogd started by procd's boot scripts).
    fn messages(&self) -> String {
        fs::read_to_string(self.root.join("var/log/messages")).unwrap_or_default()
    }

    fn messages_tail(&self, n: usize) -> String {
        let all = self.messages();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn count(&self, needle: &str) -> usize {
        self.messages().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `needle` has appeared more than `before` times in syslog.
    fn wait_logged(&self, needle: &str, before: usize) -> Duration {
        wait_until(TIMEOUT, || self.count(needle) > before)
            .unwrap_or_else(|| panic!("never logged {needle:?}:\n{}", self.messages_tail(40)))
    }

    /// `ip rule` / `ip route show table all` lines inside the namespace.
    fn rules(&self) -> Vec<String> {
        lines(&host(&["ip", "-n", &self.ns, "-4", "rule", "show"]).stdout)
    }

    fn routes(&self) -> Vec<String> {
        lines(&host(&["ip", "-n", &self.ns, "-4", "route", "show", "table", "all"]).stdout)
    }

    /// dualwan's rules and routes (proto 201), sorted.
    fn ours(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.rules().into_iter().chain(self.routes()).filter(|l| l.contains("proto 201")).collect();
        v.sort();
        v
    }

    /// Waits until the daemon's full set is installed: one rule per WAN address, the
    /// main-table rule, the active-table rule and each WAN's default route, each once.
    fn wait_ours_installed(&self) -> Vec<String> {
        let want = [
            "from all lookup main suppress_prefixlength 0 proto 201",
            "from 192.0.2.2 lookup 101 proto 201",
            "from 198.51.100.2 lookup 102 proto 201",
            "from all lookup 100 proto 201",
            "default via 192.0.2.1 dev eth1 table 101 proto 201",
            "default via 198.51.100.1 dev wwan0 table 102 proto 201",
        ];
        let mut ours = Vec::new();
        let done = wait_until(TIMEOUT, || {
            ours = self.ours();
            want.iter().all(|w| ours.iter().filter(|l| l.contains(w)).count() == 1)
        });
        assert!(done.is_some(), "rules and routes not (exactly once) in place: {ours:#?}\n{}", self.messages_tail(30));
        ours
    }

    fn say(&self, what: impl std::fmt::Display) {
        progress(format_args!("{:>5.1}s {what}", self.started.elapsed().as_secs_f64()));
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if self.up {
            let _ = Command::new(&self.procd_ns).arg("down").arg(&self.root).stdout(Stdio::null()).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).stderr(Stdio::null()).status();
        if std::thread::panicking() {
            eprintln!("--- {}/var/log/messages, last 60 lines ---\n{}", self.root.display(), self.messages_tail(60));
            eprintln!("root kept in {}", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Removes what a killed test process left: its procd, namespace and root.
fn reap_stale() {
    let list = host(&["ip", "netns", "list"]);
    for name in lines(&list.stdout).iter().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix("dwpd").and_then(|r| r.rsplit_once('-')).map(|(_, p)| p) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let root = std::env::temp_dir().join(format!("dualwan-procd-{name}"));
        if let Some(procd_ns) = common::skip::owrt_dir().map(|d| d.join("procd-ns.sh")) {
            let _ = Command::new(procd_ns).arg("down").arg(&root).output();
        }
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        let _ = fs::remove_dir_all(&root);
    }
}

/// A command on the host; panics unless it exits 0.
fn host(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).stdin(Stdio::null()).output().expect("run a host command");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(bytes: &[u8]) -> Vec<String> {
    text(bytes).lines().map(|l| l.trim_end().to_string()).collect()
}

/// Copies `from` to `to` (parents made), root-owned with `mode`. An existing `to` is removed
/// first: the root's busybox links point to `/bin/busybox`, which on the host is the host's.
fn put(from: &Path, to: &Path, mode: u32) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let _ = fs::remove_file(to);
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
}

fn write(to: &Path, content: &str, mode: u32) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let _ = fs::remove_file(to);
    fs::write(to, content).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
}

/// An ELF executable without a program interpreter (PT_INTERP): statically linked.
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else { return false };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        bytes.get(at..at + 4).map(|t| u32::from_le_bytes(t.try_into().unwrap()) != 3).unwrap_or(false)
    })
}

/// netifd's `network.interface.wwan` on a procd's ubusd, in a thread of the test process
/// (root, so ubusd lets it publish): `status` says wwan is up on wwan0, abridged from
/// netifd's `netifd_dump_status`. What an unprivileged daemon may ask of it is the ACL's.
struct FakeNetifd {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

const WWAN: Object = Object { path: "network.interface.wwan", methods: &[Method { name: "status", args: &[] }] };

struct WwanStatus<'a>(&'a AtomicU32);

impl Answer for WwanStatus<'_> {
    fn call(&mut self, method: &str, _args: Attrs<'_>, w: &mut Writer<'_>) -> u32 {
        if method != "status" {
            return wire::STATUS_METHOD_NOT_FOUND;
        }
        self.0.fetch_add(1, Ordering::Relaxed);
        let _ = (|| {
            w.bool("up", true)?;
            w.bool("pending", false)?;
            w.bool("available", true)?;
            w.string("l3_device", "wwan0")?;
            w.string("proto", "dhcp")?;
            w.string("device", "wwan0")?;
            let a = w.begin_array("ipv4-address")?;
            let t = w.begin_table("")?;
            w.string("address", "198.51.100.2")?;
            w.u32("mask", 24)?;
            w.end(t);
            w.end(a);
            let a = w.begin_array("route")?;
            let t = w.begin_table("")?;
            w.string("target", "0.0.0.0")?;
            w.u32("mask", 0)?;
            w.string("nexthop", "198.51.100.1")?;
            w.end(t);
            w.end(a);
            Ok::<(), Full>(())
        })();
        wire::STATUS_OK
    }
}

impl FakeNetifd {
    fn start(sock: PathBuf) -> FakeNetifd {
        let (stop, calls) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU32::new(0)));
        let (st, c) = (stop.clone(), calls.clone());
        let thread = std::thread::spawn(move || {
            let mut ubus = Ubus::new(&sock, WWAN).expect("fake netifd");
            while !st.load(Ordering::Relaxed) {
                ubus.handle_timeout(clock::now());
                let revents = match ubus.fd() {
                    Some(fd) => {
                        let mut fds = [PollFd::new(fd, ubus.interest())];
                        let _ = poll(&mut fds, PollTimeout::from(10u8));
                        fds[0].revents().unwrap_or(PollFlags::empty())
                    }
                    None => {
                        std::thread::sleep(Duration::from_millis(10));
                        PollFlags::empty()
                    }
                };
                if !revents.is_empty() {
                    ubus.handle_ready(clock::now(), revents, &mut WwanStatus(&c));
                }
                while ubus.poll_notice().is_some() {}
            }
        });
        FakeNetifd { stop, calls, thread: Some(thread) }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Drop for FakeNetifd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn start_reload_respawn_stop() {
    let Some(mut r) = Router::new("life", false) else { return };
    r.install_package(&config(None));
    r.up();

    // start: procd runs it, it registers on this procd's ubusd and installs its rules.
    let t = Instant::now();
    r.run(&["/etc/init.d/dualwan", "start"]);
    let p1 = r.wait_new_pid(None, "start");
    r.wait_registered();
    r.say(format_args!("registered on ubus {:.2?} after start", t.elapsed()));
    let inst = r.instance().unwrap();
    assert_eq!(inst["command"][0], "/usr/sbin/dualwan");
    assert_eq!(inst["reload_signal"], 1, "SIGHUP on reload: {inst}");
    assert!(inst.get("user").is_none(), "root: {inst}");
    r.assert_runs_as(p1, "0", None);
    let status = r.status();
    assert_eq!(status["interfaces"]["wwan"]["metric"], 20);
    let ours = r.wait_ours_installed();
    r.say(format_args!("{} rules and routes of ours in the namespace", ours.len()));

    // reload: a committed change, announced as reload_config does; procd re-runs the init
    // script, sees the file's new checksum and sends SIGHUP: same process, new config.
    let reloaded = r.count("configuration reloaded");
    r.uci("set dualwan.wwan.metric=30");
    let t = Instant::now();
    r.fire_config_change();
    r.wait_logged(&format!("dualwan[{p1}]: configuration reloaded"), reloaded);
    r.say(format_args!("config.change -> configuration reloaded in {:.2?}", t.elapsed()));
    assert_eq!(r.pid(), Some(p1), "a reload must not restart it");
    assert_eq!(r.status()["interfaces"]["wwan"]["metric"], 30, "new config in effect");

    // option user without ujail (none in this procd build): the script says so and keeps
    // root; procd's record claims no user, and the process is root.
    let warned = r.count("needs procd-ujail");
    let reloaded = r.count("configuration reloaded");
    r.uci("set dualwan.globals.user=dualwan");
    r.fire_config_change();
    r.wait_logged("option user 'dualwan' needs procd-ujail (opkg install procd-ujail); running as root", warned);
    r.wait_logged(&format!("dualwan[{p1}]: configuration reloaded"), reloaded);
    assert_eq!(r.pid(), Some(p1));
    let inst = r.instance().unwrap();
    for claim in ["user", "jail", "capabilities", "no_new_privs"] {
        assert!(inst.get(claim).is_none(), "service list claims {claim}: {inst}");
    }
    r.assert_runs_as(p1, "0", None);
    r.say("option user without ujail: warned, still root, nothing else claimed");

    // respawn: SIGKILL leaves its rules behind; procd starts it again after its respawn
    // timeout (5 s) and the new one takes them over, each once.
    r.run(&["kill", "-9", &p1.to_string()]);
    let t = Instant::now();
    let p2 = r.wait_new_pid(Some(p1), "respawn after kill -9");
    r.say(format_args!("respawned in {:.2?}", t.elapsed()));
    r.assert_runs_as(p2, "0", None);
    r.wait_ours_installed();
    r.wait_registered();

    // stop: procd sends SIGTERM, the daemon removes its rules and routes; a foreign rule
    // and a foreign route in one of its tables stay.
    host(&["ip", "-n", &r.ns, "rule", "add", "pref", "4000", "from", "203.0.113.99", "lookup", "200"]);
    host(&["ip", "-n", &r.ns, "route", "add", "203.0.113.128/25", "via", "192.0.2.1", "dev", "eth1", "table", "101"]);
    let stopped = r.count("stopped; our rules and routes are removed");
    let t = Instant::now();
    r.run(&["/etc/init.d/dualwan", "stop"]);
    r.wait_logged(&format!("dualwan[{p2}]: stopped; our rules and routes are removed"), stopped);
    assert!(wait_until(TIMEOUT, || r.instance().is_none()).is_some(), "still in service list: {:?}", r.instance());
    r.say(format_args!("stopped in {:.2?}", t.elapsed()));
    assert_eq!(r.ours(), Vec::<String>::new(), "ours left behind");
    assert!(r.rules().iter().any(|l| l == "4000:\tfrom 203.0.113.99 lookup 200"), "{:?}", r.rules());
    assert!(r.routes().iter().any(|l| l.starts_with("203.0.113.128/25 via 192.0.2.1 dev eth1 table 101")));
    assert!(r.run(&["ps"]).lines().all(|l| !l.contains("/usr/sbin/dualwan")), "a dualwan process is left");
}

#[test]
fn option_user_restarts_the_daemon_as_that_user() {
    let Some(mut r) = Router::new("user", true) else { return };
    // ubusd starts before the package exists, as on a router where it is installed later.
    r.up();
    r.install_package(&config(Some("dualwan")));
    r.install_ujail();

    // The running ubusd has not read the ACL: an unprivileged client of user dualwan is
    // refused what it grants (here: sending a dualwan.* event).
    // (The full path: busybox runs its own setpriv applet before any in PATH.)
    let as_dualwan = ["/usr/bin/setpriv", "--reuid", USER_UID, "--regid", USER_UID, "--clear-groups", "--"];
    let probe = |r: &Router| r.exec(&[&as_dualwan[..], &["ubus", "send", "dualwan.probe", "{}"]].concat());
    let refused = probe(&r);
    assert!(!refused.status.success(), "ubusd grants user dualwan before reading the ACL");
    r.say(format_args!("as dualwan, before: ubus send exits {} {}", refused.status, text(&refused.stderr).trim()));

    // What opkg's default_postinst does: enable, start. The script has ubusd read its ACLs
    // first; procd starts the daemon through ujail as user dualwan.
    r.run(&["/etc/init.d/dualwan", "enable"]);
    assert!(r.root.join("etc/rc.d/S60dualwan").exists(), "enable made no S60 link");
    let t = Instant::now();
    r.run(&["/etc/init.d/dualwan", "start"]);
    let p1 = r.wait_new_pid(None, "fresh install, start as dualwan");
    r.wait_registered();
    r.say(format_args!("registered as dualwan {:.2?} after start", t.elapsed()));
    let acl_reads = r.count(&format!("loading {ACL}"));
    assert_eq!(acl_reads, 1, "ubusd read the ACL once:\n{}", r.messages_tail(30));
    assert_eq!(r.count("reloading ubusd's ACLs"), 1);
    // The package installs the config root-only; the daemon reads it itself.
    assert_eq!(r.count("made /etc/config/dualwan readable for user dualwan"), 1);
    assert_eq!(config_mode(&r), 0o644);
    let inst = r.instance().unwrap();
    assert_eq!(inst["user"], "dualwan", "{inst}");
    assert_eq!(inst["capabilities"], "/etc/capabilities/dualwan.json", "{inst}");
    r.assert_runs_as(p1, USER_UID, Some(NET_ADMIN_AND_RAW));
    let granted = probe(&r);
    assert!(granted.status.success(), "the ACL is not in force: {} {}", granted.status, text(&granted.stderr));
    r.status();
    r.wait_ours_installed();

    // A plain config change still reloads the unprivileged daemon in place. Here wwan
    // follows netifd's interface instead of a device: listening for netifd's events and
    // calling its `status` are what the ACL's `listen` and `access` grant.
    let netifd = FakeNetifd::start(r.root.join("var/run/ubus/ubus.sock"));
    assert!(r.exec(&["ubus", "-t", "5", "wait_for", "network.interface.wwan"]).status.success());
    let reloaded = r.count("configuration reloaded");
    let listening = r.count("ubus: listening for network.interface events");
    r.uci("delete dualwan.wwan.device && uci set dualwan.wwan.network=wwan");
    r.fire_config_change();
    r.wait_logged(&format!("dualwan[{p1}]: configuration reloaded"), reloaded);
    r.wait_logged(&format!("dualwan[{p1}]: ubus: listening for network.interface events"), listening);
    let from_netifd = "wwan: netifd: up, device wwan0, address 198.51.100.2, gateway 198.51.100.1";
    r.wait_logged(&format!("dualwan[{p1}]: {from_netifd}"), 0);
    assert!(netifd.calls() > 0);
    assert_eq!(r.pid(), Some(p1), "a reload as dualwan must not restart it");
    for denied in ["cannot listen", "Permission denied", "no access", "no network.interface.wwan"] {
        assert_eq!(r.count(denied), 0, "{denied}:\n{}", r.messages_tail(20));
    }
    assert_eq!(r.status()["interfaces"]["wwan"]["device"], "wwan0");
    r.wait_ours_installed();
    drop(netifd);
    r.uci("delete dualwan.wwan.network && uci set dualwan.wwan.device=wwan0");
    r.fire_config_change();
    r.wait_logged(&format!("dualwan[{p1}]: configuration reloaded"), reloaded + 1);

    // user -> root: procd would only send SIGHUP; the script has it restart the daemon.
    let t = Instant::now();
    r.uci("delete dualwan.globals.user");
    r.fire_config_change();
    let p2 = r.wait_new_pid(Some(p1), "option user removed");
    r.say(format_args!("restarted as root {:.2?} after config.change", t.elapsed()));
    assert!(r.messages().contains("restarting to run as root (running as dualwan)"));
    assert!(r.messages().contains(&format!("dualwan[{p1}]: stopped; our rules and routes are removed")));
    assert!(r.instance().unwrap().get("user").is_none());
    r.assert_runs_as(p2, "0", None);
    r.wait_ours_installed();
    r.wait_registered();

    // root -> user again: restarted; this ubusd has read the ACL already, no second reload.
    let t = Instant::now();
    r.uci("set dualwan.globals.user=dualwan");
    r.fire_config_change();
    let p3 = r.wait_new_pid(Some(p2), "option user set again");
    r.say(format_args!("restarted as dualwan {:.2?} after config.change", t.elapsed()));
    assert!(r.messages().contains("restarting to run as dualwan (running as root)"));
    assert_eq!(r.instance().unwrap()["user"], "dualwan");
    r.assert_runs_as(p3, USER_UID, Some(NET_ADMIN_AND_RAW));
    r.wait_ours_installed();
    r.wait_registered();
    r.status();
    assert_eq!(r.count(&format!("loading {ACL}")), acl_reads, "ubusd was asked to reload again");
    assert_eq!(config_mode(&r), 0o644, "uci commit keeps the mode");
    assert_eq!(r.count("made /etc/config/dualwan readable"), 1);
}

fn config_mode(r: &Router) -> u32 {
    fs::metadata(r.root.join("etc/config/dualwan")).unwrap().permissions().mode() & 0o7777
}

#[test]
fn starts_at_boot_as_its_user() {
    let Some(mut r) = Router::new("boot", true) else { return };
    r.install_package(&config(Some("dualwan")));
    r.install_ujail();
    fs::create_dir_all(r.root.join("etc/rc.d")).unwrap();
    std::os::unix::fs::symlink("../init.d/dualwan", r.root.join("etc/rc.d/S60dualwan")).unwrap();
    let t = Instant::now();
    r.up();

    // procd runs /etc/rc.d/S* boot: the daemon runs without a start command.
    let pid = r.wait_new_pid(None, "boot");
    r.wait_registered();
    r.say(format_args!("registered as dualwan {:.2?} after procd-ns.sh up", t.elapsed()));
    r.assert_runs_as(pid, USER_UID, Some(NET_ADMIN_AND_RAW));
    assert_eq!(r.instance().unwrap()["user"], "dualwan");
    r.wait_ours_installed();
    r.status();
    // ubusd read the ACL when it started (before syslogd, so unlogged); the script asked
    // for no reload, and the registration as dualwan shows the ACL in force.
    assert_eq!(r.count("reloading ubusd's ACLs"), 0);
    assert_eq!(r.count(&format!("loading {ACL}")), 0, "{}", r.messages_tail(40));
}
