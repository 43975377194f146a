//! `track_method tcp` against a real kernel, in the lab of `tests/lab`: ISP 1 drops the echo
//! requests it forwards (a carrier or a firewall filtering ping), so pinging its targets
//! would declare a working line dead; probed with TCP the line stays up, whether a target
//! listens (SYN-ACK) or not (RST), and an upstream outage still fails over within the
//! detection bound and comes back. The daemon is `dualwan run` in `rtr`; `wan` (wan1)
//! probes with TCP on port 443, `wanb` (wan2) pings. Needs root; `DUALWAN_SKIP_NETNS=1`
//! skips.

mod common;

use common::config::Config;
use common::daemon::{BIN, SILENT_UPSTREAM};
use common::lab::{lab_or_skip, wait_until, Lab, TARGETS};
use std::process::Child;
use std::time::{Duration, Instant};

/// Accepts connections on `TARGETS[0]` port 443 and closes each at once, printing a line
/// per connection: a target that listens.
const LISTENER: &str = "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 443))
s.listen(128)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    print('accepted', flush=True)
    c.close()
";

/// Both rtr's own traffic and the LAN's go out of `dev`.
fn on(lab: &Lab, dev: &str) -> bool {
    lab.active() == dev && lab.lan_active() == dev
}

/// The log's messages (time and level cut off).
fn messages(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let mut parts = l.trim_start().splitn(3, ' ');
            let (_time, _level) = (parts.next()?, parts.next()?);
            Some(parts.next()?.trim_start().to_string())
        })
        .collect()
}

/// `wan`'s transitions once up.
const STARTED: [&str; 2] = ["wan: no_link -> connecting (starting)", "wan: connecting -> online (probes answered)"];

/// `wan`'s transitions so far (`wan: a -> b (why)`).
fn transitions(log: &str) -> Vec<String> {
    messages(log).into_iter().filter(|m| m.starts_with("wan: ") && m.contains(" -> ")).collect()
}

/// Descriptors the daemon holds now.
fn fds(daemon: &Child) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", daemon.id())).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn tcp_probes_keep_a_line_that_drops_ping_up_and_still_fail_over() {
    let Some(lab) = lab_or_skip("tcp") else { return };
    lab.ping_drop(1);
    // Pinged through ISP 1 the targets look dead; the gateway and ISP 2 answer.
    assert!(!lab.ping_within("rtr", &["-I", "wan1", TARGETS[0]], Duration::from_millis(300)), "ping not filtered");
    assert!(lab.ping("rtr", &["-I", "wan1", "192.0.2.1"]), "ISP 1's gateway answers ping");
    assert!(lab.ping("rtr", &["-I", "wan2", TARGETS[0]]), "ISP 2 passes ping");

    let mut listener = lab.spawn_in("inet", "python3", &["-c", LISTENER, TARGETS[0]]);
    let listening = wait_until(Duration::from_secs(5), || lab.stdout_of(&listener).contains("listening"));
    assert!(listening.is_some(), "listener: {}", lab.stderr_of(&listener));

    let cfg = Config::lab().on("wan", "track_method 'tcp'").all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = lab.spawn_in("rtr", BIN, &["run", "-c", &cfg, "--log", "stderr"]);
    // Both online and traffic on wan (wanb's pings may answer first: traffic goes there
    // for an instant).
    let up = wait_until(Duration::from_secs(5), || {
        let log = lab.stderr_of(&d);
        log.contains("wan: connecting -> online") && log.contains("wanb: connecting -> online") && on(&lab, "wan1")
    });
    assert!(up.is_some(), "daemon did not come up:\n{}", lab.stderr_of(&d));

    // One target listens (SYN-ACK), two do not (RST): all answer, the line stays up.
    std::thread::sleep(Duration::from_secs(4));
    let log = lab.stderr_of(&d);
    assert_eq!(transitions(&log), STARTED, "{log}");
    let accepted = lab.stdout_of(&listener).matches("accepted").count();
    assert!(accepted >= 2, "the listening target saw {accepted} probes");
    // Nothing listens any more: RSTs alone keep it up.
    lab.terminate(&mut listener);
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.stderr_of(&d);
    assert_eq!(transitions(&log), STARTED, "{log}");
    assert!(on(&lab, "wan1"));

    // The upstream dies (its gateway still answers ping): SYNs go unanswered.
    let t0 = Instant::now();
    lab.upstream_fail(1);
    let took = wait_until(Duration::from_secs(4), || on(&lab, "wan2"))
        .map(|_| t0.elapsed())
        .unwrap_or_else(|| panic!("no failover:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: TCP-probed upstream failure -> traffic on wan2 in {took:?}");
    // The same bound as for pings (failover_netns, scenario 1): the defaults' detection.
    assert!(took <= Duration::from_millis(1500), "failover took {took:?}");
    let log = lab.stderr_of(&d);
    assert!(
        messages(&log).contains(&format!("wan: disconnecting -> offline ({SILENT_UPSTREAM})")),
        "no offline line:\n{log}"
    );
    // While down, rounds to every target go out each half interval and wait `timeout`: each
    // probe's socket is closed at its round's verdict, so only a few rounds' worth are open.
    std::thread::sleep(Duration::from_secs(2));
    let open = fds(&d);
    eprintln!("descriptors while wan is down: {open}");
    assert!(open <= 40, "the daemon holds {open} descriptors");

    let t0 = Instant::now();
    lab.upstream_restore(1);
    let back = wait_until(Duration::from_secs(8), || on(&lab, "wan1"))
        .map(|_| t0.elapsed())
        .unwrap_or_else(|| panic!("no failback:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: upstream restored -> traffic back on wan1 in {back:?}");
    assert!(back >= Duration::from_secs(2), "before recovery_wait: {back:?}");
    assert!(back <= Duration::from_secs(4), "failback took {back:?}");
    let log = lab.stderr_of(&d);
    assert_eq!(transitions(&log).last().map(String::as_str), Some("wan: connecting -> online (recovered)"), "{log}");

    let status = lab.terminate(&mut d);
    let log = lab.stderr_of(&d);
    assert!(status.success(), "daemon exited with {status}:\n{log}");
    assert_eq!(lab.snapshot(), before, "rtr's rules and routes differ from before the start");
}
