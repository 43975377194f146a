//! `option flush_conntrack` against a real kernel: the lab of `tests/lab` with the daemon in
//! `rtr` (masquerading out of both WANs, as fw4 does) and an echo server on 203.0.113.50:8080
//! in `inet`. Long-lived TCP connections are opened before the failure: the LAN client's
//! through wan1 (NAT'd to 192.0.2.2), a second LAN address's through wan2 (NAT'd to
//! 192.0.2.10, steered there by a rule of "other software") and one of the router's own
//! from 192.0.2.10. When wan1's upstream fails, the wan1 entry must be gone within 1 s of
//! the move and its connection must fail fast (reset) instead of hanging, while the wan2
//! connections keep their entries and keep working; a new LAN connection goes out of wan2.
//! The same for IPv6 under NAT66 (the lab with IPv6). `conntrack` (Debian's conntrack-tools)
//! is only used to look; the flush counts are read back through the real ubusd
//! (`../shared/owrt`) when this checkout has it. Needs root; `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::daemon::{status_json, wait_up, BIN};
use common::lab::{lab_or_skip, wait_until, Lab};
use common::ubusd::{Options, Ubusd};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SERVER: &str = "203.0.113.50";

/// Echoes every line on every connection, one thread each.
const ECHO_SERVER: &str = r#"
import socket, threading
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("203.0.113.50", 8080))
l.listen(16)
print("listening", flush=True)
def echo(c):
    try:
        while True:
            d = c.recv(100)
            if not d:
                return
            c.sendall(d)
    except OSError:
        pass
while True:
    c, _ = l.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"#;

/// Connects (from argv[1] unless empty), prints its local port, waits for the file argv[2],
/// then sends a line and prints what happened: `echo`, `reset`, `timeout` or `error X`.
const CLIENT: &str = r#"
import os, socket, sys, time
s = socket.socket()
if sys.argv[1]:
    s.bind((sys.argv[1], 0))
s.connect(("203.0.113.50", 8080))
print("port", s.getsockname()[1], flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
s.settimeout(3)
try:
    s.sendall(b"ping\n")
    d = s.recv(100)
    print("echo" if d == b"ping\n" else "closed", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
except socket.timeout:
    print("timeout", flush=True)
except OSError as e:
    print("error", e, flush=True)
time.sleep(60)
"#;

/// Starts a client in `role` from `src` (or the default source); returns it and its port.
fn client(lab: &Lab, role: &str, src: &str, trigger: &Path) -> (Child, u16) {
    let child = lab.spawn_in(role, "python3", &["-c", CLIENT, src, trigger.to_str().unwrap()]);
    let mut port = None;
    wait_until(Duration::from_secs(5), || {
        port = lab.stdout_of(&child).lines().find_map(|l| l.strip_prefix("port ")?.trim().parse().ok());
        port.is_some()
    });
    let port = port.unwrap_or_else(|| panic!("{role} client from {src:?} did not connect: {}", lab.stderr_of(&child)));
    (child, port)
}

/// What the client said after its trigger: `echo`, `reset`, `timeout`...
fn outcome(lab: &Lab, child: &Child) -> String {
    let mut said = None;
    wait_until(Duration::from_secs(5), || {
        said = lab.stdout_of(child).lines().find(|l| !l.starts_with("port ")).map(str::to_string);
        said.is_some()
    });
    said.unwrap_or_else(|| "nothing".into())
}

/// rtr's conntrack entries of TCP connections to the echo server, as `conntrack -L` prints
/// them (`... src=A dst=B sport=P dport=8080 ... src=B dst=NAT sport=8080 dport=Q ...`).
fn entries(lab: &Lab) -> Vec<String> {
    let out = lab.exec("rtr", ["conntrack", "-L", "-p", "tcp", "--dport", "8080", "-o", "id"]);
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(SERVER)).map(str::to_string).collect()
}

/// The entry of the connection from `src`:`sport`, if rtr has one.
fn entry_of(lab: &Lab, src: &str, sport: u16) -> Option<String> {
    let (src, sport) = (format!(" src={src} "), format!(" sport={sport} "));
    entries(lab).into_iter().find(|l| l.contains(&src) && l.contains(&sport))
}

/// The kernel's id of an entry (`id=N`): the same entry, not a new one for the same flow.
fn id(entry: &str) -> &str {
    entry.split_whitespace().find_map(|w| w.strip_prefix("id=")).unwrap_or("")
}

/// The reply tuple's destination of an entry: the NAT address.
fn reply_dst(entry: &str) -> &str {
    entry.split_whitespace().filter_map(|w| w.strip_prefix("dst=")).nth(1).unwrap_or("")
}

fn ensure_conntrack_tool() {
    if Command::new("conntrack").arg("--version").output().is_ok() {
        return;
    }
    let ok = Command::new("sh")
        .args(["-c", "apt-get install -y -qq conntrack >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq conntrack >/dev/null)"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "the conntrack tool (Debian package conntrack) is needed to look at the table");
}

/// How rtr rewrites the LAN's source on the WANs.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Nat {
    /// `masquerade`, what fw4 does (the lab's default).
    Masquerade,
    /// `snat to` each WAN's fixed address, as on lines with static addresses.
    Snat,
}

#[test]
fn a_failover_flushes_exactly_the_failed_wans_nat_entries() {
    scenario("ct", Nat::Masquerade, None);
}

#[test]
fn with_snat_too() {
    scenario("ctsnat", Nat::Snat, None);
}

/// The problem the option solves, shown by turning it off under SNAT: the entry stays and
/// its connection hangs. (Under masquerade the kernel itself drops the first packet that
/// leaves by another device and kills its entry, `nf_nat_oif_changed`; the retransmission
/// then gets a new entry.)
#[test]
fn with_none_the_entry_stays_and_its_connection_hangs() {
    scenario("ctnone", Nat::Snat, Some("none"));
}

fn scenario(tag: &str, nat: Nat, flush: Option<&str>) {
    let Some(lab) = lab_or_skip(tag) else { return };
    let flushing = flush != Some("none");
    if nat == Nat::Snat {
        let rules = "flush chain inet dwlab srcnat\n\
                     add rule inet dwlab srcnat oifname \"wan1\" snat ip to 192.0.2.2\n\
                     add rule inet dwlab srcnat oifname \"wan2\" snat ip to 192.0.2.10\n";
        let file = lab.dir().join("snat.nft");
        std::fs::write(&file, rules).unwrap();
        let out = lab.exec("rtr", ["nft", "-f", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    ensure_conntrack_tool();
    // A second LAN address whose traffic another rule sends out of wan2 (dualwan's table 102).
    assert!(lab.exec("lan", ["ip", "addr", "add", "192.0.2.131/25", "dev", "eth0"]).status.success());
    let rule = ["ip", "rule", "add", "pref", "1000", "from", "192.0.2.131", "lookup", "102"];
    assert!(lab.exec("rtr", rule).status.success());

    // The real ubusd, for the flush count in `dualwan status`; without ../shared the rest
    // runs all the same (the daemon retries ubus in the background).
    let sock = lab.dir().join("ubus.sock");
    let ubusd = Ubusd::start_if_present(&sock, Options::default())
        .map_err(|reason| {
            common::skip::progress(format_args!(
                "no ubusd ({reason}): the 'flushed' counts in `dualwan status` are not checked, the rest is"
            ))
        })
        .ok();
    let mut cfg = Config::lab();
    if let Some(flush) = flush {
        cfg = cfg.all(&format!("flush_conntrack '{flush}'"));
    }
    let cfg = cfg.write(&lab);
    let args = ["run", "-c", &cfg, "--log", "stderr", "--ubus-socket", sock.to_str().unwrap()];
    let mut daemon = lab.spawn_in("rtr", BIN, &args);
    wait_up(&lab, &daemon);

    let server = lab.spawn_in("inet", "python3", &["-c", ECHO_SERVER]);
    assert!(wait_until(Duration::from_secs(5), || lab.stdout_of(&server).contains("listening")).is_some());
    let trigger = lab.dir().join("send");
    let (via_wan1, port1) = client(&lab, "lan", "", &trigger);
    let (via_wan2, port2) = client(&lab, "lan", "192.0.2.131", &trigger);
    let (own, port3) = client(&lab, "rtr", "192.0.2.10", &trigger);
    let lan1 = entry_of(&lab, "192.0.2.130", port1).expect("entry of the LAN connection");
    let lan2 = entry_of(&lab, "192.0.2.131", port2).expect("entry of the second LAN connection");
    let rtr = entry_of(&lab, "192.0.2.10", port3).expect("entry of the router's connection");
    assert_eq!((reply_dst(&lan1), reply_dst(&lan2), reply_dst(&rtr)), ("192.0.2.2", "192.0.2.10", "192.0.2.10"));

    lab.upstream_fail(1);
    let moved = "traffic moved to wanb (wan offline";
    assert!(
        wait_until(Duration::from_secs(5), || lab.stderr_of(&daemon).contains(moved)).is_some(),
        "no failover:\n{}",
        lab.stderr_of(&daemon)
    );
    let t_moved = Instant::now();
    let gone = wait_until(Duration::from_secs(1), || entry_of(&lab, "192.0.2.130", port1).is_none());
    if flushing {
        assert!(gone.is_some(), "wan1's entry still there 1 s after the move: {:?}", entries(&lab));
        eprintln!("wan1 entry gone {:?} after the move was logged", t_moved.elapsed());
    } else {
        assert!(gone.is_none(), "the entry went away without a flush");
    }
    let still = |src, port| entry_of(&lab, src, port).map(|e| id(&e).to_string());
    assert_eq!(still("192.0.2.131", port2).as_deref(), Some(id(&lan2)), "{:?}", entries(&lab));
    assert_eq!(still("192.0.2.10", port3).as_deref(), Some(id(&rtr)), "{:?}", entries(&lab));
    assert!(!id(&lan2).is_empty());
    let log = lab.stderr_of(&daemon);
    let flushed = log.lines().find_map(|l| l.split("wan: flushed ").nth(1)?.split(' ').next()?.parse::<u32>().ok());
    if flushing {
        assert!(flushed >= Some(1), "no flush logged:\n{log}");
        assert!(log.contains(" NAT'd to 192.0.2.2\n"), "{log}");
    } else {
        assert_eq!(flushed, None, "{log}");
    }

    // A new LAN connection goes out of wan2.
    let later = lab.dir().join("send-later");
    let (fresh, port4) = client(&lab, "lan", "", &later);
    let entry = entry_of(&lab, "192.0.2.130", port4).expect("entry of the new connection");
    assert_eq!(reply_dst(&entry), "192.0.2.10", "{entry}");

    // The flushed connection fails fast; the ones on wan2 still work.
    std::fs::write(&trigger, "").unwrap();
    assert_eq!(outcome(&lab, &via_wan1), if flushing { "reset" } else { "timeout" });
    assert_eq!(outcome(&lab, &via_wan2), "echo");
    assert_eq!(outcome(&lab, &own), "echo");
    std::fs::write(&later, "").unwrap();
    assert_eq!(outcome(&lab, &fresh), "echo");

    // And the count is in the status, per interface.
    if ubusd.is_some() {
        let v = status_json(&sock);
        assert_eq!(v["interfaces"]["wan"]["flushed"], u64::from(flushed.unwrap_or(0)), "{v}");
        assert_eq!(v["interfaces"]["wanb"]["flushed"], 0);
    }

    let status = lab.terminate(&mut daemon);
    assert!(status.success(), "daemon exited with {status}:\n{}", lab.stderr_of(&daemon));
    for mut child in [server, via_wan1, via_wan2, own, fresh] {
        lab.terminate(&mut child);
    }
}

/// IPv6 the same way: the lab masquerades IPv6 out of both WANs (NAT66, as a router with a
/// prefix per ISP needs for IPv6 failover). An IPv6-only outage of wan1 moves only IPv6,
/// and the LAN's IPv6 connection NAT'd to wan1's 2001:db8:1::2 is flushed and fails fast.
#[test]
fn an_ipv6_failover_flushes_the_ipv6_entries_nat_d_to_the_failed_wan() {
    let Some(lab) = common::lab::lab6_or_skip("ct6") else { return };
    ensure_conntrack_tool();
    let server6 = common::lab::TRAFFIC6;
    let v6 = |script: &str| {
        script
            .replace("socket.socket()", "socket.socket(socket.AF_INET6)")
            .replace("(\"203.0.113.50\", 8080)", &format!("(\"{server6}\", 8080)"))
    };
    let cfg = Config::lab_dual_stack().write(&lab);
    let mut daemon = lab.spawn_in("rtr", BIN, &["run", "-c", &cfg, "--log", "stderr"]);
    let up = wait_until(Duration::from_secs(8), || {
        let log = lab.stderr_of(&daemon);
        log.contains("IPv6 traffic on wan\n") && log.contains("wanb: IPv6 connecting -> online")
    });
    assert!(up.is_some(), "daemon did not come up:\n{}", lab.stderr_of(&daemon));

    let server = lab.spawn_in("inet", "python3", &["-c", &v6(ECHO_SERVER)]);
    assert!(wait_until(Duration::from_secs(5), || lab.stdout_of(&server).contains("listening")).is_some());
    let trigger = lab.dir().join("send6");
    let client6 = v6(CLIENT);
    let via_wan1 = lab.spawn_in("lan", "python3", &["-c", &client6, "", trigger.to_str().unwrap()]);
    let mut port = None;
    wait_until(Duration::from_secs(5), || {
        port = lab.stdout_of(&via_wan1).lines().find_map(|l| l.strip_prefix("port ")?.trim().parse::<u16>().ok());
        port.is_some()
    });
    let port = port.unwrap_or_else(|| panic!("IPv6 client did not connect: {}", lab.stderr_of(&via_wan1)));
    let entry6 = || {
        let out = lab.exec("rtr", ["conntrack", "-L", "-f", "ipv6", "-p", "tcp", "--dport", "8080"]);
        let sport = format!(" sport={port} ");
        String::from_utf8_lossy(&out.stdout).lines().find(|l| l.contains(&sport)).map(str::to_string)
    };
    let entry = entry6().expect("conntrack entry of the IPv6 connection");
    assert_eq!(reply_dst(&entry), common::lab::WAN_ADDR6[0], "{entry}");

    // isp1 stops forwarding IPv6; IPv4 keeps working.
    let drop6 = ["nft", "add", "rule", "inet", "dwlab", "upstream", "meta", "nfproto", "ipv6", "drop"];
    assert!(lab.exec("isp1", drop6).status.success());
    let moved = "IPv6 traffic moved to wanb (wan offline";
    assert!(
        wait_until(Duration::from_secs(5), || lab.stderr_of(&daemon).contains(moved)).is_some(),
        "no IPv6 failover:\n{}",
        lab.stderr_of(&daemon)
    );
    let t_moved = Instant::now();
    let gone = wait_until(Duration::from_secs(1), || entry6().is_none());
    assert!(gone.is_some(), "the IPv6 entry is still there 1 s after the move: {:?}", entry6());
    eprintln!("IPv6 entry gone {:?} after the move was logged", t_moved.elapsed());
    let log = lab.stderr_of(&daemon);
    assert!(log.contains("wan: flushed 1 connection NAT'd to 2001:db8:1::2\n"), "{log}");
    assert!(!log.lines().any(|l| l.contains("traffic moved") && !l.contains("IPv6")), "IPv4 moved:\n{log}");

    std::fs::write(&trigger, "").unwrap();
    assert_eq!(outcome(&lab, &via_wan1), "reset");
    let status = lab.terminate(&mut daemon);
    assert!(status.success(), "daemon exited with {status}:\n{}", lab.stderr_of(&daemon));
    for mut child in [server, via_wan1] {
        lab.terminate(&mut child);
    }
}
