//! `option network` end to end on the real OpenWrt ubusd (`common::ubusd`), with a
//! scripted netifd: the crate's own ubus adapter serving `network.interface.wan` and
//! `network.interface.wanb` (methods `status` and `down`) from a thread of the test
//! process, registered on that ubusd as root, as netifd is.
//!
//! The first test drives the daemon's ubus adapter by hand (asks, a missing interface,
//! events, a ubusd restart). The second runs `dualwan run` in the lab's `rtr` namespace as
//! the unprivileged user `dualwan` (CAP_NET_ADMIN and CAP_NET_RAW only, as
//! `privilege_netns`), with ubusd enforcing the package's own ACL
//! (`openwrt/files/dualwan.acl.json`, root-owned, mode 644, in `-A DIR`), and moves traffic
//! with netifd's events: that ACL must grant everything the daemon does on ubus and
//! nothing more. ubusd resolves `dualwan` through a passwd of the test's, bind-mounted in
//! ubusd's own mount namespace. Skipped without `../shared/owrt`; the lab test needs root
//! (`DUALWAN_SKIP_NETNS=1` skips it).

mod common;

use common::config::Config;
use common::daemon::{status_json, wait_up, BIN};
use common::lab::{lab_or_skip, wait_until, TARGETS};
use common::proc::{status_field, NET_ADMIN_AND_RAW};
use common::ubus_peer::Ubus;
use common::ubusd::{Options, Ubusd};
use dualwan::netifd::{NetifdStatus, EVENT};
use dualwan::sys::clock;
use dualwan::ubus::{Answer, Notice, Object, SessionEvent as Input, DUALWAN};
use dualwan::wire::blob::{Attrs, Writer};
use dualwan::wire::ubus::{self as wire, Method};
use nix::poll::{poll, PollFd, PollTimeout};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Two of netifd's methods: what the daemon calls, and one it must not be allowed to.
const METHODS: &[Method<'static>] = &[Method { name: "status", args: &[] }, Method { name: "down", args: &[] }];
const WAN: Object = Object { path: "network.interface.wan", methods: METHODS };
const WANB: Object = Object { path: "network.interface.wanb", methods: METHODS };

/// What the fake netifd says of one interface.
#[derive(Clone, Debug)]
struct Iface {
    up: bool,
    device: &'static str,
    address: &'static str,
    gateway: &'static str,
}

#[derive(Default)]
struct Shared {
    /// By interface name.
    ifaces: Mutex<Vec<(&'static str, Iface)>>,
    /// Events to send: (action, interface).
    outbox: Mutex<Vec<(&'static str, &'static str)>>,
    /// `status` calls answered.
    calls: Mutex<u32>,
    /// `down` calls answered.
    downs: Mutex<u32>,
}

/// Answers `status` for one interface as netifd's `netifd_dump_status` would (abridged);
/// `down` is only counted.
struct StatusOf<'a> {
    name: &'static str,
    shared: &'a Shared,
}

impl Answer for StatusOf<'_> {
    fn call(&mut self, method: &str, _args: Attrs<'_>, w: &mut Writer<'_>) -> u32 {
        if method == "down" {
            *self.shared.downs.lock().unwrap() += 1;
            return wire::STATUS_OK;
        }
        if method != "status" {
            return wire::STATUS_METHOD_NOT_FOUND;
        }
        *self.shared.calls.lock().unwrap() += 1;
        let ifaces = self.shared.ifaces.lock().unwrap();
        let Some((_, i)) = ifaces.iter().find(|(n, _)| *n == self.name) else { return wire::STATUS_NOT_FOUND };
        let _ = (|| {
            w.bool("up", i.up)?;
            w.bool("pending", false)?;
            w.bool("available", true)?;
            if i.up {
                w.u32("uptime", 12)?;
                w.string("l3_device", i.device)?;
            }
            w.string("proto", "dhcp")?;
            w.string("device", i.device)?;
            if i.up {
                let a = w.begin_array("ipv4-address")?;
                let t = w.begin_table("")?;
                w.string("address", i.address)?;
                w.u32("mask", 29)?;
                w.end(t);
                w.end(a);
                let a = w.begin_array("route")?;
                let t = w.begin_table("")?;
                w.string("target", "0.0.0.0")?;
                w.u32("mask", 0)?;
                w.string("nexthop", i.gateway)?;
                w.string("source", "0.0.0.0/0")?;
                w.end(t);
                w.end(a);
            }
            Ok::<(), dualwan::wire::blob::Full>(())
        })();
        wire::STATUS_OK
    }
}

/// A fake netifd on its own ubus connections (one per interface object).
struct FakeNetifd {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNetifd {
    fn start(sock: &Path, ifaces: Vec<(&'static str, Iface)>) -> FakeNetifd {
        let shared = Arc::new(Shared { ifaces: Mutex::new(ifaces), ..Default::default() });
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, sock) = (shared.clone(), stop.clone(), sock.to_path_buf());
        let thread = std::thread::spawn(move || {
            let mut conns = [("wan", Ubus::new(&sock, WAN).unwrap()), ("wanb", Ubus::new(&sock, WANB).unwrap())];
            while !st.load(Ordering::Relaxed) {
                let now = clock::now();
                for (_, u) in conns.iter_mut() {
                    u.handle_timeout(now);
                }
                let outbox: Vec<_> = std::mem::take(&mut *s.outbox.lock().unwrap());
                for (action, name) in outbox {
                    let u = &mut conns.iter_mut().find(|(n, _)| *n == name).expect("a fake interface").1;
                    assert!(
                        u.send_event(EVENT, &|w| {
                            w.string("action", action)?;
                            w.string("interface", name)
                        }),
                        "fake netifd not registered"
                    );
                }
                {
                    let mut fds: Vec<PollFd<'_>> = Vec::new();
                    let mut which = Vec::new();
                    for (i, (_, u)) in conns.iter().enumerate() {
                        if let Some(fd) = u.fd() {
                            fds.push(PollFd::new(fd, u.interest()));
                            which.push(i);
                        }
                    }
                    if fds.is_empty() {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    let _ = poll(&mut fds, PollTimeout::from(5u8));
                    let revents: Vec<_> =
                        fds.iter().map(|f| f.revents().unwrap_or(nix::poll::PollFlags::empty())).collect();
                    drop(fds);
                    for (k, i) in which.into_iter().enumerate() {
                        let (name, u) = &mut conns[i];
                        if !revents[k].is_empty() {
                            u.handle_ready(clock::now(), revents[k], &mut StatusOf { name, shared: &s });
                        }
                    }
                }
                for (_, u) in conns.iter_mut() {
                    while u.poll_notice().is_some() {}
                }
            }
        });
        FakeNetifd { shared, stop, thread: Some(thread) }
    }

    fn set_up(&self, name: &str, up: bool) {
        let mut ifaces = self.shared.ifaces.lock().unwrap();
        ifaces.iter_mut().find(|(n, _)| *n == name).expect("known interface").1.up = up;
    }

    /// netifd's `network.interface` event (`netifd_ubus_interface_event`).
    fn event(&self, action: &'static str, name: &'static str) {
        self.shared.outbox.lock().unwrap().push((action, name));
    }

    fn calls(&self) -> u32 {
        *self.shared.calls.lock().unwrap()
    }

    fn downs(&self) -> u32 {
        *self.shared.downs.lock().unwrap()
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

/// The lab's two lines as netifd would describe them.
fn lab_ifaces() -> Vec<(&'static str, Iface)> {
    vec![
        ("wan", Iface { up: true, device: "wan1", address: "192.0.2.2", gateway: "192.0.2.1" }),
        ("wanb", Iface { up: true, device: "wan2", address: "192.0.2.10", gateway: "192.0.2.9" }),
    ]
}

/// Serves nothing: the daemon's own object is not under test here.
struct NoCalls;
impl Answer for NoCalls {
    fn call(&mut self, _: &str, _: Attrs<'_>, _: &mut Writer<'_>) -> u32 {
        wire::STATUS_METHOD_NOT_FOUND
    }
}

/// Drives `ubus` until `want` picks something out of its inputs (or 3 s pass).
fn drive<T>(ubus: &mut Ubus, notices: &mut Vec<Notice>, mut want: impl FnMut(&Input) -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        let now = clock::now();
        ubus.handle_timeout(now);
        if let Some(fd) = ubus.fd() {
            let mut fds = [PollFd::new(fd, ubus.interest())];
            let _ = poll(&mut fds, PollTimeout::from(10u8));
            let revents = fds[0].revents().unwrap_or(nix::poll::PollFlags::empty());
            if !revents.is_empty() {
                ubus.handle_ready(clock::now(), revents, &mut NoCalls);
            }
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
        notices.extend(std::iter::from_fn(|| ubus.poll_notice()));
        while let Some(input) = ubus.poll_event() {
            if let Some(t) = want(&input) {
                return t;
            }
        }
    }
    panic!("nothing wanted arrived within 3 s; notices {notices:?}");
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dualwan-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_ubus_adapter_asks_netifd_and_hears_its_events() {
    let dir = temp_dir("netifd-adapter");
    let sock = dir.join("ubus.sock");
    let Some(mut ubusd) = Ubusd::start(&sock) else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let netifd = FakeNetifd::start(&sock, lab_ifaces());
    assert!(ubusd.wait_for(&["network.interface.wan", "network.interface.wanb"], 3));
    // What a real caller sees of the scripted netifd.
    let (_, v) = ubusd.call_json("network.interface.wanb", "status", None);
    assert_eq!((v["up"].as_bool(), v["l3_device"].as_str()), (Some(true), Some("wan2")), "{v}");

    let mut ubus = Ubus::new(&sock, DUALWAN).unwrap();
    let mut notices = Vec::new();
    ubus.listen(clock::now(), EVENT);
    drive(&mut ubus, &mut notices, |i| (*i == Input::Ready).then_some(()));
    assert!(notices.contains(&Notice::Listening { pattern: EVENT }), "subscribed before Ready: {notices:?}");
    assert!(ubusd.wait_for(&["dualwan"], 1));
    // ubusd has the subscription: an event from anyone arrives.
    let sent = ubusd.ubus(&["send", EVENT, r#"{"action":"ifup","interface":"wanb"}"#]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let interface = drive(&mut ubus, &mut notices, |i| match i {
        Input::NetifdEvent { interface } => Some(interface.clone()),
        _ => None,
    });
    assert_eq!(interface.as_str(), "wanb");

    let now = clock::now();
    assert!(ubus.ask_netifd(now, "wan"));
    assert!(ubus.ask_netifd(now, "wanb"));
    assert!(ubus.ask_netifd(now, "nosuch"));
    // The session knows interfaces, not WANs: each answer names the interface asked about.
    let slot = |network: &str| ["wan", "wanb", "nosuch"].iter().position(|n| *n == network).expect("asked");
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(drive(&mut ubus, &mut notices, |i| match i {
            Input::Netifd { network, status } => Some((slot(network), network.to_string(), status.clone())),
            _ => None,
        }));
    }
    answers.sort_by_key(|a| a.0);
    let up = |dev: &str, a: [u8; 4], g: [u8; 4]| NetifdStatus {
        up: true,
        l3_device: Some(dev.try_into().unwrap()),
        address: Some(a.into()),
        gateway: Some(g.into()),
    };
    assert_eq!(answers[0], (0, "wan".into(), up("wan1", [192, 0, 2, 2], [192, 0, 2, 1])));
    assert_eq!(answers[1], (1, "wanb".into(), up("wan2", [192, 0, 2, 10], [192, 0, 2, 9])));
    assert_eq!(answers[2], (2, "nosuch".into(), NetifdStatus::DOWN), "no such object: down");
    let missing = notices.iter().find(|n| matches!(n, Notice::NetifdMissing { .. })).expect("reported");
    assert_eq!(
        missing.to_string(),
        "ubus: no network.interface.nosuch: netifd has no interface 'nosuch' (taken as down)"
    );
    assert_eq!(netifd.calls(), 3, "the CLI's call and the adapter's two");

    // ifdown: the event names the interface; asked again, netifd says down.
    netifd.set_up("wan", false);
    netifd.event("ifdown", "wan");
    let interface = drive(&mut ubus, &mut notices, |i| match i {
        Input::NetifdEvent { interface } => Some(interface.clone()),
        _ => None,
    });
    assert_eq!(interface.as_str(), "wan");
    assert!(ubus.ask_netifd(clock::now(), "wan"));
    let status = drive(&mut ubus, &mut notices, |i| match i {
        Input::Netifd { network, status } if network == "wan" => Some(status.clone()),
        _ => None,
    });
    assert_eq!(status, NetifdStatus::DOWN);

    // ubusd crashes and comes back: registered, subscribed and Ready again, and netifd too.
    ubusd.kill();
    ubusd.restart();
    drive(&mut ubus, &mut notices, |i| (*i == Input::Ready).then_some(()));
    assert!(ubusd.wait_for(&["dualwan", "network.interface.wan", "network.interface.wanb"], 3));
    let sent = ubusd.ubus(&["send", EVENT, r#"{"action":"ifup","interface":"wan"}"#]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let interface = drive(&mut ubus, &mut notices, |i| match i {
        Input::NetifdEvent { interface } => Some(interface.clone()),
        _ => None,
    });
    assert_eq!(interface.as_str(), "wan");
    assert!(ubus.ask_netifd(clock::now(), "wanb"));
    let status = drive(&mut ubus, &mut notices, |i| match i {
        Input::Netifd { network, status } if network == "wanb" => Some(status.clone()),
        _ => None,
    });
    assert_eq!(status, up("wan2", [192, 0, 2, 10], [192, 0, 2, 9]));
    drop(netifd);
    drop(ubusd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The uid and gid of user `dualwan` in ubusd's passwd (nothing on the host has to know it).
const DUALWAN_ID: u32 = 65500;

/// ubusd's users: root (netifd, the test's callers) and dualwan.
fn users() -> (String, String) {
    let passwd =
        format!("root:x:0:0:root:/root:/bin/sh\ndualwan:x:{DUALWAN_ID}:{DUALWAN_ID}:dualwan:/var:/bin/false\n");
    let group = format!("root:x:0:\ndualwan:x:{DUALWAN_ID}:\n");
    (passwd, group)
}

/// The package's ACL, installed as ubusd requires: root-owned, mode 644.
fn install_acl(dir: &Path) -> PathBuf {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let acl_dir = dir.join("acl.d");
    std::fs::create_dir_all(&acl_dir).unwrap();
    let file = acl_dir.join("dualwan.acl.json");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/openwrt/files/dualwan.acl.json"), &file).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (0, 0, 0o644));
    acl_dir
}

#[test]
fn the_daemon_follows_netifd_in_the_lab_as_dualwan_under_the_shipped_acl() {
    let Some(lab) = lab_or_skip("netifd") else { return };
    // `wan` follows netifd's `wan`, `wanb` netifd's `wanb`.
    let wan = Config::new().interface("wan").network("wan").metric(10).track(&TARGETS);
    let both = wan.interface("wanb").network("wanb").metric(20).track(&TARGETS);
    let cfg = both.all("recovery_wait 1").write(&lab);
    let sock = lab.dir().join("ubus.sock");
    let options = Options { acl_dir: Some(install_acl(lab.dir())), users: Some(users()) };
    let Some(ubusd) = Ubusd::start_with(&sock, options) else { return };
    let netifd = FakeNetifd::start(&sock, lab_ifaces());
    assert!(ubusd.wait_for(&["network.interface.wan", "network.interface.wanb"], 3));
    let events = ubusd.listen(&["dualwan.interface", "dualwan.active"]);

    let args = ["run", "-c", &cfg, "--log", "stderr", "--ubus-socket", sock.to_str().unwrap()];
    let mut d = lab.spawn_as("rtr", DUALWAN_ID, "net_admin,net_raw", BIN, &args);
    wait_up(&lab, &d);
    let pid = d.id();
    assert!(std::fs::read_link(format!("/proc/{pid}/exe")).unwrap().ends_with("dualwan"));
    let id = DUALWAN_ID.to_string();
    assert_eq!(status_field(pid, "Uid").split_whitespace().collect::<Vec<_>>(), [id.as_str(); 4]);
    assert_eq!(u64::from_str_radix(&status_field(pid, "CapEff"), 16).unwrap(), NET_ADMIN_AND_RAW);
    assert_eq!(lab.active(), "wan1");

    // What the ACL must grant: publish `dualwan`, listen to `network.interface`, call
    // `network.interface.*` `status`.
    assert!(ubusd.wait_for(&["dualwan"], 3), "not registered:\n{}", lab.stderr_of(&d));
    let registered = || lab.stderr_of(&d).contains("ubus: object dualwan registered");
    assert!(wait_until(Duration::from_secs(1), registered).is_some(), "{}", lab.stderr_of(&d));
    let log = lab.stderr_of(&d);
    assert!(log.contains("ubus: listening for network.interface events"), "{log}");
    assert!(log.contains("wan: netifd: up, device wan1, address 192.0.2.2, gateway 192.0.2.1"), "{log}");
    assert!(log.contains("wanb: netifd: up, device wan2, address 192.0.2.10, gateway 192.0.2.9"), "{log}");
    assert!(!log.contains("ubus call network.interface") && !log.contains("cannot listen"), "{log}");
    let (_, v) = ubusd.call_json("dualwan", "status", None);
    for (name, dev) in [("wan", "wan1"), ("wanb", "wan2")] {
        let w = &v["interfaces"][name];
        assert_eq!((w["device"].as_str(), w["network"].as_str()), (Some(dev), Some(name)), "{w}");
        assert_eq!(w["status"], "online");
    }
    let v = status_json(&sock);
    assert_eq!(v["active"], "wan");

    // And no more: as `dualwan`, netifd's other methods are refused (PERMISSION_DENIED).
    let ubus = common::skip::owrt_dir().expect("ubusd runs, so ../shared/owrt is there").join("ubus");
    let out = Command::new("setpriv")
        .args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"])
        .arg(ubus)
        .arg("-s")
        .arg(&sock)
        .args(["call", "network.interface.wan", "down"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(250), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(netifd.downs(), 0);

    // netifd takes wan down: traffic moves at once, not after `down` failed rounds.
    netifd.set_up("wan", false);
    let t0 = Instant::now();
    netifd.event("ifdown", "wan");
    let moved = wait_until(Duration::from_secs(2), || lab.active() == "wan2");
    assert!(moved.is_some(), "still on {}:\n{}", lab.active(), lab.stderr_of(&d));
    let took = t0.elapsed();
    eprintln!("timing: netifd ifdown -> traffic on wan2 in {took:?}");
    assert!(took < Duration::from_millis(800), "took {took:?}: not at once");
    let log = lab.stderr_of(&d);
    assert!(log.contains("wan: online -> no_link (interface down (netifd))"), "{log}");
    assert!(log.contains("traffic moved to wanb (wan no_link: interface down (netifd))"), "{log}");
    let v = status_json(&sock);
    assert_eq!(v["interfaces"]["wan"]["reason"], "interface down (netifd)");
    assert_eq!(v["active"], "wanb");
    // The ACL lets `dualwan` send its events.
    let moved = |e: &serde_json::Value| e["active"] == "wanb" && e["previous"] == "wan";
    let active = events.wait_for("dualwan.active", Duration::from_secs(1), moved);
    let active = active.unwrap_or_else(|| panic!("no event: {:?}\n{}", events.events(), lab.stderr_of(&d)));
    assert_eq!(active["reason"], "interface down (netifd)");
    let down = |e: &serde_json::Value| e["interface"] == "wan" && e["status"] == "no_link";
    assert!(events.wait_for("dualwan.interface", Duration::from_secs(1), down).is_some(), "{:?}", events.events());

    // ifup brings it back after `up` good rounds and the recovery wait.
    netifd.set_up("wan", true);
    netifd.event("ifup", "wan");
    let back = wait_until(Duration::from_secs(5), || lab.active() == "wan1");
    assert!(back.is_some(), "not back:\n{}", lab.stderr_of(&d));
    eprintln!("timing: netifd ifup -> traffic back on wan1 in {:?}", back.unwrap());
    let back = |e: &serde_json::Value| e["active"] == "wan" && e["previous"] == "wanb";
    assert!(events.wait_for("dualwan.active", Duration::from_secs(1), back).is_some(), "{:?}", events.events());

    let exit = lab.terminate(&mut d);
    let log = lab.stderr_of(&d);
    assert!(exit.success(), "daemon exited with {exit}:\n{log}");
    assert!(!log.contains("refused"), "{log}");
}
