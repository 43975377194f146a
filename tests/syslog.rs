//! The syslog writer against a datagram socket bound at a temporary path, standing in for
//! logd's `/dev/log`: exact bytes, the cut of long lines, a missing or restarted receiver
//! and a full one, none of which may block or panic.

use dualwan::config::LogLevel;
use dualwan::sys::log::{Log, LINE_MAX};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dualwan-syslog-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn receiver(path: &PathBuf) -> UnixDatagram {
    let rx = UnixDatagram::bind(path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    rx
}

fn recv(rx: &UnixDatagram) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let n = rx.recv(&mut buf).unwrap();
    buf[..n].to_vec()
}

/// What the writer sends for `text`: logd would take a space at byte 15 after `<PRI>` for
/// the end of a timestamp, so there it sends a tab (see the unit tests in `sys::log`).
fn expected(pri: u8, text: &str) -> Vec<u8> {
    let mut v = format!("<{pri}>dualwan[{}]: {text}", std::process::id()).into_bytes();
    if v.get(19) == Some(&b' ') {
        v[19] = b'\t';
    }
    v
}

#[test]
fn lines_arrive_as_pri_tag_text() {
    let p = path("bytes");
    let rx = receiver(&p);
    let log = Log::open_at(&p);
    log.write(LogLevel::Notice, "wanb: connected (ipv4)");
    assert_eq!(recv(&rx), expected(29, "wanb: connected (ipv4)"));
    log.write(LogLevel::Err, "netlink: dump: EBUSY");
    assert_eq!(recv(&rx), expected(27, "netlink: dump: EBUSY"));
    log.write(LogLevel::Debug, "");
    assert_eq!(recv(&rx), expected(31, ""));
    assert_eq!(log.dropped(), 0);
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_long_line_is_cut() {
    let p = path("long");
    let rx = receiver(&p);
    let log = Log::open_at(&p);
    let long: String = (0..2000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    log.write(LogLevel::Info, &long);
    assert_eq!(recv(&rx), expected(30, &long[..LINE_MAX]));
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_missing_socket_loses_lines_without_blocking_then_connects_when_it_appears() {
    let p = path("missing");
    let log = Log::open_at(&p);
    let started = Instant::now();
    for _ in 0..3 {
        log.write(LogLevel::Warning, "nobody listens");
    }
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(log.dropped(), 3);
    // logd comes up: the next line connects, and first says how many were lost.
    let rx = receiver(&p);
    log.write(LogLevel::Info, "hello");
    assert_eq!(recv(&rx), expected(28, "log lines lost (syslog socket full or absent): 3"));
    assert_eq!(recv(&rx), expected(30, "hello"));
    log.write(LogLevel::Info, "again");
    assert_eq!(recv(&rx), expected(30, "again"), "reported once");
    let _ = std::fs::remove_file(&p);

    let nowhere = Log::open_at("/nonexistent/dualwan/log");
    nowhere.write(LogLevel::Err, "into the void");
    assert_eq!(nowhere.dropped(), 1);
    let too_long = Log::open_at("/tmp/".to_string() + &"x".repeat(200));
    too_long.write(LogLevel::Err, "no such socket address");
    assert_eq!(too_long.dropped(), 1);
}

#[test]
fn a_restarted_receiver_gets_the_next_line() {
    let p = path("restart");
    let rx = receiver(&p);
    let log = Log::open_at(&p);
    log.write(LogLevel::Info, "before");
    assert_eq!(recv(&rx), expected(30, "before"));
    // logd restarts: the old socket closes, a new one is bound at the same path.
    drop(rx);
    std::fs::remove_file(&p).unwrap();
    let rx = receiver(&p);
    log.write(LogLevel::Info, "after");
    assert_eq!(recv(&rx), expected(30, "after"));
    assert_eq!(log.dropped(), 0);
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_full_receiver_loses_lines_instead_of_blocking() {
    let p = path("full");
    let rx = receiver(&p);
    let log = Log::open_at(&p);
    let started = Instant::now();
    for _ in 0..5000 {
        log.write(LogLevel::Debug, "flood");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "write() blocked");
    let lost = log.dropped();
    assert!(lost > 0, "the queue never filled");
    // Drain what arrived; the next line reports the loss.
    rx.set_nonblocking(true).unwrap();
    let mut arrived = 0;
    let mut buf = [0u8; 512];
    while rx.recv(&mut buf).is_ok() {
        arrived += 1;
    }
    assert_eq!(arrived + lost, 5000);
    rx.set_nonblocking(false).unwrap();
    log.write(LogLevel::Info, "calm again");
    assert_eq!(recv(&rx), expected(28, &format!("log lines lost (syslog socket full or absent): {lost}")));
    assert_eq!(recv(&rx), expected(30, "calm again"));
    let _ = std::fs::remove_file(&p);
}
