//! The daemon on the real OpenWrt ubusd (`../shared/owrt`, see `common::ubusd`), end to
//! end: `dualwan run` in the lab's `rtr` namespace registers `dualwan` (ubusd's socket is in
//! the lab's temp dir, which a network namespace does not hide); the real `ubus` command
//! calls it (with and without `{"interface": ...}`, and the errors a caller can make) and
//! hears a failover and a failback as `dualwan.interface` and `dualwan.active` events;
//! `dualwan status` reads the same through that ubusd; the hotplug scripts run; and after
//! ubusd is killed and started again on the same path the daemon registers again with its
//! backoff, answers again and its events flow again. Skipped without `../shared/owrt`; the
//! lab test needs root (`DUALWAN_SKIP_NETNS=1` skips it).

mod common;

use common::config::Config;
use common::daemon::{wait_up, BIN, SILENT_UPSTREAM};
use common::lab::{lab_or_skip, wait_until};
use common::ubusd::{Listener, Ubusd};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

/// The text with every run of digits and dots as `#`: two status replies taken moments
/// apart differ only in measured numbers (uptime, latency, ages).
fn numbers_masked(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        let digit = c.is_ascii_digit() || (in_number && c == '.');
        if !digit {
            out.push(c);
        } else if !in_number {
            out.push('#');
        }
        in_number = digit;
    }
    out
}

/// The `dualwan.interface` events of `wan` with this status.
fn wan_events(events: &Listener, status: &str) -> Vec<Value> {
    let named = events.named("dualwan.interface");
    named.into_iter().filter(|e| e["interface"] == "wan" && e["status"] == status).collect()
}

/// The first line of what `ubus` wrote to stderr ("Command failed: ...").
fn first_line(out: &Output) -> String {
    text(&out.stderr).lines().next().unwrap_or_default().to_string()
}

#[test]
fn status_without_ubusd_or_without_the_daemon_exits_1() {
    let dir = std::env::temp_dir().join(format!("dualwan-ubus-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ubus.sock");

    // No ubusd: the error, then what it means and what to do.
    let ubusd_not_running = |why: &str| {
        format!(
            "dualwan: ubusd is not running{why}: procd starts it at boot on OpenWrt; \
             elsewhere start ubusd, or name its socket with --ubus-socket\n"
        )
    };
    let out = status(&sock, &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("dualwan: ubus: cannot connect to {}: No such file or directory\n", sock.display());
    assert_eq!(text(&out.stderr), want + &ubusd_not_running(""));
    // A socket file nobody listens on (what a crashed ubusd leaves): refused.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let out = status(&sock, &[]);
    let want = format!("dualwan: ubus: cannot connect to {}: Connection refused\n", sock.display());
    let left_over = " (its socket file is left from an earlier run)";
    assert_eq!(text(&out.stderr), want.clone() + &ubusd_not_running(left_over));
    std::fs::remove_file(&sock).unwrap();

    // ubusd without the daemon: `dualwan status` says so and how to start it, as `ubus
    // call` says in its way.
    let Some(mut ubusd) = Ubusd::start(&sock) else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let out = status(&sock, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "dualwan: dualwan is not running (no 'dualwan' object on ubus): start it with /etc/init.d/dualwan start \
         (logread -e dualwan tells why it stopped)\n"
    );
    assert!(out.stdout.is_empty());
    let out = ubusd.call("dualwan", "status", None);
    assert_eq!((out.status.code(), first_line(&out).as_str()), (Some(4), "Command failed: Not found"));

    let out = status(&sock, &["one", "two"]);
    assert_eq!(out.status.code(), Some(2), "usage: {}", text(&out.stderr));

    // A ubusd that crashed leaves its socket file: refused, not missing.
    ubusd.kill();
    let out = status(&sock, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), want + &ubusd_not_running(left_over));
    drop(ubusd);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn daemon_on_ubus_status_events_hotplug_and_a_ubusd_restart() {
    let Some(lab) = lab_or_skip("ubus") else { return };
    let sock = lab.dir().join("ubus.sock");
    let Some(mut ubusd) = Ubusd::start(&sock) else { return };
    // `wan` back 1 s after it recovers, every other setting the default.
    let cfg = Config::lab().on("wan", "recovery_wait 1").write(&lab);
    let hotplug = lab.dir().join("hotplug.d");
    let hotplug_log = lab.dir().join("hotplug.log");
    std::fs::create_dir_all(&hotplug).unwrap();
    std::fs::write(
        hotplug.join("10-log"),
        format!("echo \"$ACTION $INTERFACE $DEVICE\" >> {}\n", hotplug_log.display()),
    )
    .unwrap();
    let events = ubusd.listen(&["dualwan.interface", "dualwan.active"]);

    let args = ["run", "-c", &cfg, "--log", "stderr", "--ubus-socket", sock.to_str().unwrap()];
    let mut d = lab.spawn_in("rtr", BIN, &[&args[..], &["--hotplug-dir", hotplug.to_str().unwrap()]].concat());
    wait_up(&lab, &d);
    assert!(ubusd.wait_for(&["dualwan"], 3), "no registration:\n{}", lab.stderr_of(&d));
    assert!(lab.stderr_of(&d).contains("ubus: object dualwan registered"));
    let listed = ubusd.ubus(&["-v", "list", "dualwan"]);
    assert!(text(&listed.stdout).contains("\"status\":{\"interface\":\"String\"}"), "{}", text(&listed.stdout));

    // The whole status through the real `ubus`; `dualwan status --json` prints the same.
    let (raw, v) = ubusd.call_json("dualwan", "status", None);
    eprintln!("--- ubus call dualwan status ---\n{raw}");
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
    let (cli_raw, _) = status_json(&sock, &[]);
    assert_eq!(numbers_masked(&cli_raw), numbers_masked(&raw), "dualwan status --json:\n{cli_raw}");

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

    // The argument, and what a caller can get wrong (exit codes of `ubus call`, stderr
    // not a tty: 256 - status).
    let (raw, v) = ubusd.call_json("dualwan", "status", Some(r#"{"interface":"wanb"}"#));
    assert_eq!(keys(&v["interfaces"]), ["wanb"], "{raw}");
    assert_eq!(v["interfaces"]["wanb"]["status"], "online");
    let out = ubusd.call("dualwan", "status", Some(r#"{"interface":"nosuch"}"#));
    assert_eq!(out.status.code(), Some(252), "NOT_FOUND: {}", text(&out.stderr));
    assert_eq!(first_line(&out), r#"Command failed: ubus call dualwan status {"interface":"nosuch"} (Not found)"#);
    let out = ubusd.call("dualwan", "status", Some(r#"{"interface":1}"#));
    assert_eq!(out.status.code(), Some(254), "INVALID_ARGUMENT: {}", text(&out.stderr));
    assert_eq!(first_line(&out), r#"Command failed: ubus call dualwan status {"interface":1} (Invalid argument)"#);
    let out = ubusd.call("dualwan", "restart", None);
    assert_eq!(out.status.code(), Some(253), "METHOD_NOT_FOUND: {}", text(&out.stderr));
    let out = status(&sock, &["nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "dualwan: no interface 'nosuch'\n");

    // A silent upstream failure: the two events, then the hotplug scripts.
    lab.upstream_fail(1);
    let t0 = Instant::now();
    let moved = |e: &Value| e["previous"] == "wan" && e["active"] == "wanb";
    let active = events.wait_for("dualwan.active", Duration::from_secs(4), moved);
    let active = active.unwrap_or_else(|| panic!("no failover event: {:?}\n{}", events.events(), lab.stderr_of(&d)));
    eprintln!("timing: upstream failure -> dualwan.active event in {:?}", t0.elapsed());
    assert_eq!(keys(&active), ["family", "active", "previous", "reason"]);
    assert_eq!(active["family"], "ipv4");
    assert_eq!(active["reason"], SILENT_UPSTREAM);
    let offline = wan_events(&events, "offline");
    assert_eq!(offline.len(), 1, "{:?}", events.events());
    let e = &offline[0];
    assert_eq!(keys(e), ["interface", "device", "family", "status", "previous", "reason"]);
    assert_eq!(e["family"], "ipv4");
    assert_eq!((e["device"].as_str(), e["previous"].as_str()), (Some("wan1"), Some("disconnecting")));
    assert_eq!(e["reason"], SILENT_UPSTREAM);
    let ran = wait_until(Duration::from_secs(3), || {
        std::fs::read_to_string(&hotplug_log).is_ok_and(|s| s.contains("disconnected wan wan1\n"))
    });
    assert!(ran.is_some(), "hotplug: {:?}", std::fs::read_to_string(&hotplug_log));

    // `dualwan status` for one interface and for an unknown one.
    let (raw, v) = status_json(&sock, &["wanb"]);
    assert_eq!(keys(&v["interfaces"]), ["wanb"], "{raw}");
    assert_eq!(v["active"], "wanb");
    assert!(v["history"].as_array().unwrap().iter().all(|h| h["interface"] == "wanb"), "{raw}");
    let (_, v) = status_json(&sock, &["wan"]);
    assert_eq!(v["interfaces"]["wan"]["status"], "offline");
    assert_eq!(v["interfaces"]["wan"]["reason"], SILENT_UPSTREAM);
    assert_eq!(v["history"][0]["to"], "offline");
    let out = status(&sock, &[]);
    eprintln!("--- dualwan status (after the failover) ---\n{}", text(&out.stdout));

    // The upstream is back: after `up` good rounds and the recovery wait, traffic returns.
    let failed_over = events.events().len();
    lab.upstream_restore(1);
    let t0 = Instant::now();
    let back = |e: &Value| e["previous"] == "wanb" && e["active"] == "wan";
    let active = events.wait_for("dualwan.active", Duration::from_secs(8), back);
    let active = active.unwrap_or_else(|| panic!("no failback event: {:?}\n{}", events.events(), lab.stderr_of(&d)));
    eprintln!("timing: upstream restored -> dualwan.active failback event in {:?}", t0.elapsed());
    assert_eq!((active["family"].as_str(), active["reason"].as_str()), (Some("ipv4"), Some("recovered")), "{active}");
    let online = wan_events(&events, "online");
    let online = online.last().unwrap_or_else(|| panic!("no wan online event: {:?}", events.events()));
    assert_eq!((online["device"].as_str(), online["family"].as_str()), (Some("wan1"), Some("ipv4")), "{online}");
    assert_eq!((online["previous"].as_str(), online["reason"].as_str()), (Some("connecting"), Some("recovered")));
    assert!(events.events()[failed_over..].iter().any(|(n, e)| n == "dualwan.interface" && e == online));
    let ran = wait_until(Duration::from_secs(3), || {
        std::fs::read_to_string(&hotplug_log).is_ok_and(|s| s.contains("connected wan wan1\n"))
    });
    assert!(ran.is_some(), "hotplug: {:?}", std::fs::read_to_string(&hotplug_log));

    // ubusd crashes: callers are refused (its socket file stays); a new ubusd on the same
    // path has the daemon back with its backoff (0.5 s, doubling). `ubus listen` does not
    // notice its ubusd going (it stays, deaf): a new one listens on the new ubusd.
    ubusd.kill();
    drop(events);
    let out = status(&sock, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Connection refused"), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    ubusd.restart();
    let t0 = Instant::now();
    assert!(ubusd.wait_for(&["dualwan"], 3), "not back within 3 s:\n{}", lab.stderr_of(&d));
    let took = t0.elapsed();
    eprintln!("timing: ubusd restart -> dualwan registered again in {took:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // ubusd has the object before the daemon has read its answer and logged it.
    let twice = || lab.stderr_of(&d).matches("ubus: object dualwan registered").count() == 2;
    assert!(wait_until(Duration::from_secs(1), twice).is_some(), "{}", lab.stderr_of(&d));
    let (_, v) = ubusd.call_json("dualwan", "status", None);
    assert_eq!(v["active"], "wan");
    assert_eq!(v["interfaces"]["wan"]["status"], "online");

    // Events flow again on the new ubusd.
    let events = ubusd.listen(&["dualwan.interface", "dualwan.active"]);
    lab.upstream_fail(1);
    let active = events.wait_for("dualwan.active", Duration::from_secs(4), moved);
    assert!(active.is_some(), "no event after the restart: {:?}\n{}", events.events(), lab.stderr_of(&d));
    assert_eq!(wan_events(&events, "offline").len(), 1, "{:?}", events.events());

    let exit = lab.terminate(&mut d);
    let log = lab.stderr_of(&d);
    assert!(exit.success(), "daemon exited with {exit}:\n{log}");
    assert!(log.contains("ubus recv: ubusd closed the connection; reconnecting"), "{log}");
    drop(events);
    let status = ubusd.stop();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "ubusd's exit on SIGTERM");
}
