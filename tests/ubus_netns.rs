//! The daemon on ubus, end to end: `dualwan run` in the lab's `rtr` namespace registers with
//! the test ubusd (`common::mini_ubusd`, a unix socket in the lab's temp dir, which a
//! network namespace does not hide), `dualwan status` reads it back through that ubusd, a
//! failover arrives as `dualwan.interface` and `dualwan.active` events and runs the hotplug
//! scripts, and a ubusd restart is survived. Needs root; `DUALWAN_SKIP_NETNS=1` skips the
//! lab test (the one without a daemon always runs).

mod common;

use common::lab::{lab_or_skip, wait_until, Lab, TARGETS};
use common::mini_ubusd::MiniUbusd;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dualwan");
/// What the daemon says when the primary's targets stop answering behind a live gateway.
const SILENT_UPSTREAM: &str = "gateway answers, targets unreachable (0/3 answered, need 1)";

/// `wan` on wan1 (metric 10), `wanb` on wan2 (metric 20), every default.
fn write_config(lab: &Lab) -> String {
    let mut text = String::from("config globals 'globals'\n");
    for (name, dev, metric) in [("wan", "wan1", 10), ("wanb", "wan2", 20)] {
        text += &format!("\nconfig interface '{name}'\n\toption device '{dev}'\n\toption metric {metric}\n");
        for t in TARGETS {
            text += &format!("\tlist track_ip {t}\n");
        }
    }
    let path = lab.dir().join("dualwan.conf");
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// `dualwan status ARGS --ubus-socket SOCK`.
fn status(sock: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("status").args(args).arg("--ubus-socket").arg(sock).output().expect("run dualwan status")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `dualwan status --json ARGS`, parsed; panics unless it exits 0.
fn status_json(sock: &Path, args: &[&str]) -> (String, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = status(sock, &all);
    assert!(out.status.success(), "dualwan status {all:?}: {}{}", text(&out.stdout), text(&out.stderr));
    let raw = text(&out.stdout);
    let value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    (raw, value)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[test]
fn status_without_ubusd_or_without_the_daemon_exits_1() {
    let dir = std::env::temp_dir().join(format!("dualwan-ubus-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ubus.sock");

    let out = status(&sock, &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("dualwan: ubus: cannot connect to {}: No such file or directory\n", sock.display());
    assert_eq!(text(&out.stderr), want);

    let ubusd = MiniUbusd::start(&sock);
    let out = status(&sock, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "dualwan: dualwan is not running (no 'dualwan' object on ubus)\n");
    assert!(out.stdout.is_empty());

    let out = status(&sock, &["one", "two"]);
    assert_eq!(out.status.code(), Some(2), "usage: {}", text(&out.stderr));
    drop(ubusd);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn daemon_on_ubus_status_events_hotplug_and_a_ubusd_restart() {
    let Some(lab) = lab_or_skip("ubus") else { return };
    let cfg = write_config(&lab);
    let sock = lab.dir().join("ubus.sock");
    let mut ubusd = MiniUbusd::start(&sock);
    let hotplug = lab.dir().join("hotplug.d");
    let hotplug_log = lab.dir().join("hotplug.log");
    std::fs::create_dir_all(&hotplug).unwrap();
    std::fs::write(
        hotplug.join("10-log"),
        format!("echo \"$ACTION $INTERFACE $DEVICE\" >> {}\n", hotplug_log.display()),
    )
    .unwrap();

    let args = ["run", "-c", &cfg, "--log", "stderr", "--ubus-socket", sock.to_str().unwrap()];
    let mut d = lab.spawn_in("rtr", BIN, &[&args[..], &["--hotplug-dir", hotplug.to_str().unwrap()]].concat());
    let up = wait_until(Duration::from_secs(5), || {
        let log = lab.stderr_of(&d);
        log.contains("traffic on wan\n") && log.contains("wanb: connecting -> online")
    });
    assert!(up.is_some(), "daemon did not come up:\n{}", lab.stderr_of(&d));
    assert!(ubusd.wait_for_object("dualwan", Duration::from_secs(3)), "no registration:\n{}", lab.stderr_of(&d));
    assert!(lab.stderr_of(&d).contains("ubus: object dualwan registered"));

    // The whole status, as `ubus call dualwan status` prints it.
    let (raw, v) = status_json(&sock, &[]);
    eprintln!("--- dualwan status --json ---\n{raw}");
    assert!(raw.starts_with("{\n\t\"version\": \""), "libubox's indentation: {raw:?}");
    assert!(raw.ends_with("\n}\n"));
    assert_eq!(keys(&v), ["version", "uptime", "mode", "active", "interfaces", "history"]);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["active"], "wan");
    assert_eq!(keys(&v["interfaces"]), ["wan", "wanb"]);
    for (name, dev) in [("wan", "wan1"), ("wanb", "wan2")] {
        let w = &v["interfaces"][name];
        assert_eq!((w["status"].as_str(), w["device"].as_str()), (Some("online"), Some(dev)), "{name}: {w}");
        assert_eq!(w["track_ip"].as_array().map(Vec::len), Some(3));
    }
    assert_eq!(v["interfaces"]["wan"]["active"], true);

    // The human summary.
    let out = status(&sock, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    eprintln!("--- dualwan status ---\n{human}");
    let lines: Vec<&str> = human.lines().collect();
    assert!(lines[0].starts_with(&format!("dualwan {}, up ", env!("CARGO_PKG_VERSION"))), "{human}");
    assert!(lines[0].ends_with(", traffic on wan"), "{human}");
    let wan_line = lines.iter().position(|l| l.starts_with("wan  ")).expect("a wan block");
    let wanb_line = lines.iter().position(|l| l.starts_with("wanb ")).expect("a wanb block");
    assert!(wan_line < wanb_line, "config order");
    assert!(
        lines[wan_line].contains("(wan1)")
            && lines[wan_line].contains("online ")
            && lines[wan_line].contains("* active")
    );
    assert!(lines[wan_line + 1].trim_start().starts_with("gateway 192.0.2.1"), "{human}");
    assert!(human.lines().all(|l| l.len() <= 80 || l.contains(" ago ")), "{human}");

    // A silent upstream failure: the two events, then the hotplug scripts.
    lab.upstream_fail(1);
    let t0 = Instant::now();
    let moved = wait_until(Duration::from_secs(4), || !ubusd.events_named("dualwan.active").is_empty());
    assert!(moved.is_some(), "no dualwan.active event:\n{}", lab.stderr_of(&d));
    eprintln!("timing: upstream failure -> dualwan.active event in {:?}", t0.elapsed());
    let offline: Vec<Value> = ubusd
        .events_named("dualwan.interface")
        .iter()
        .map(|e| e.json())
        .filter(|j| j["interface"] == "wan" && j["status"] == "offline")
        .collect();
    assert_eq!(offline.len(), 1, "{:?}", ubusd.events());
    let e = &offline[0];
    assert_eq!(keys(e), ["interface", "device", "family", "status", "previous", "reason"]);
    assert_eq!(e["family"], "ipv4");
    assert_eq!((e["device"].as_str(), e["previous"].as_str()), (Some("wan1"), Some("disconnecting")));
    assert_eq!(e["reason"], SILENT_UPSTREAM);
    let active = ubusd.events_named("dualwan.active")[0].json();
    assert_eq!(keys(&active), ["family", "active", "previous", "reason"]);
    assert_eq!(active["family"], "ipv4");
    assert_eq!((active["active"].as_str(), active["previous"].as_str()), (Some("wanb"), Some("wan")));
    assert_eq!(active["reason"], SILENT_UPSTREAM);
    let ran = wait_until(Duration::from_secs(3), || {
        std::fs::read_to_string(&hotplug_log).is_ok_and(|s| s.contains("disconnected wan wan1\n"))
    });
    assert!(ran.is_some(), "hotplug: {:?}", std::fs::read_to_string(&hotplug_log));

    // One interface; an unknown one.
    let (raw, v) = status_json(&sock, &["wanb"]);
    assert_eq!(keys(&v["interfaces"]), ["wanb"], "{raw}");
    assert_eq!(v["active"], "wanb");
    assert!(v["history"].as_array().unwrap().iter().all(|h| h["interface"] == "wanb"), "{raw}");
    let (_, v) = status_json(&sock, &["wan"]);
    assert_eq!(v["interfaces"]["wan"]["status"], "offline");
    assert_eq!(v["interfaces"]["wan"]["reason"], SILENT_UPSTREAM);
    assert_eq!(v["history"][0]["to"], "offline");
    let out = status(&sock, &["nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "dualwan: no interface 'nosuch'\n");
    let out = status(&sock, &[]);
    eprintln!("--- dualwan status (after the failover) ---\n{}", text(&out.stdout));

    // ubusd restarts: the daemon is back within 2 s of it listening again.
    ubusd.stop();
    let out = status(&sock, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ubus: cannot connect to"), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    let registered = ubusd.registrations();
    ubusd.restart();
    let t0 = Instant::now();
    assert!(ubusd.wait_for_object("dualwan", Duration::from_secs(2)), "not back within 2 s:\n{}", lab.stderr_of(&d));
    eprintln!("timing: ubusd restart -> dualwan registered again in {:?}", t0.elapsed());
    assert_eq!(ubusd.registrations(), registered + 1);
    let (_, v) = status_json(&sock, &[]);
    assert_eq!(v["active"], "wanb");

    let exit = lab.terminate(&mut d);
    let log = lab.stderr_of(&d);
    assert!(exit.success(), "daemon exited with {exit}:\n{log}");
    assert!(log.contains("ubus recv: ubusd closed the connection; reconnecting"), "{log}");
}
