//! Log output: syslog (facility daemon, ident `dualwan`, as procd and logread expect) or
//! stderr with a monotonic timestamp (tests, the demo). No allocation per line.
//!
//! Syslog is written straight to the `/dev/log` datagram socket as `<PRI>dualwan[PID]: text`,
//! without the timestamp libc's syslog(3) puts in front: both receivers on OpenWrt stamp a
//! line themselves (ubox's logd reads `CLOCK_REALTIME` for every entry; BusyBox syslogd
//! calls time() unless the line begins with a `Mmm dd hh:mm:ss ` stamp), and leaving libc's
//! syslog out keeps its printf, strftime and time zone code out of the static binary.
//!
//! The socket never blocks the daemon: a line the receiver has no room for is dropped and
//! counted, and the count is reported in the next line that gets through. When `/dev/log`
//! is missing or its daemon restarted, the next line connects again.

use crate::config::LogLevel;
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use std::cell::Cell;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The system log socket.
pub const SYSLOG_PATH: &str = "/dev/log";
/// Longest text of one syslog line in bytes; longer lines are cut at a character boundary.
pub const LINE_MAX: usize = 255;

/// syslog(3)'s `LOG_DAEMON` facility code.
const FACILITY_DAEMON: u8 = 3;
/// "dualwan[" + a pid of up to 7 digits (Linux's `PID_MAX_LIMIT` is 4194304) + "]: ".
const TAG_MAX: usize = 8 + 7 + 3;
/// `<PRI>` for a daemon facility: always two digits.
const PRI_LEN: usize = 4;
/// One whole datagram.
const DATAGRAM_MAX: usize = PRI_LEN + TAG_MAX + LINE_MAX;
/// logd (ubox `log/syslog.c`, `log_add`) removes 16 bytes from the front of a line whose byte
/// 15 after `<PRI>` is a space, taking them for a libc timestamp.
const LOGD_STAMP_LEN: usize = 16;

/// Where log lines go.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The system log, on its `/dev/log` socket.
    Syslog,
    /// Standard error.
    Stderr,
}

/// The log sink.
pub struct Log {
    target: Target,
    /// The syslog socket's address; `None` when the path does not fit a socket address.
    addr: Option<UnixAddr>,
    /// The connected socket, or `None` until a line finds the receiver there.
    sock: Cell<Option<OwnedFd>>,
    /// `dualwan[PID]: `, built once.
    tag: heapless::Vec<u8, TAG_MAX>,
    /// Lines lost so far.
    dropped: Cell<u32>,
    /// Lines lost since the last report of them.
    unreported: Cell<u32>,
}

impl Log {
    /// Opens the sink; syslog goes to [`SYSLOG_PATH`].
    pub fn open(target: Target) -> Log {
        let mut log = Log::open_at(SYSLOG_PATH);
        log.target = target;
        log
    }

    /// A syslog sink writing to the datagram socket at `path` (tests use a temporary one).
    /// Nothing is connected yet: the first line does that.
    pub fn open_at(path: impl AsRef<Path>) -> Log {
        let mut tag = heapless::Vec::new();
        let _ = tag.extend_from_slice(b"dualwan[");
        push_decimal(&mut tag, std::process::id());
        let _ = tag.extend_from_slice(b"]: ");
        Log {
            target: Target::Syslog,
            addr: UnixAddr::new(path.as_ref()).ok(),
            sock: Cell::new(None),
            tag,
            dropped: Cell::new(0),
            unreported: Cell::new(0),
        }
    }

    /// Writes one line.
    pub fn write(&self, level: LogLevel, line: &str) {
        match self.target {
            Target::Stderr => {
                let t = super::clock::now().as_micros();
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{:>5}.{:03} {:<7} {}",
                    t / 1_000_000,
                    (t / 1000) % 1000,
                    level_name(level),
                    line
                );
            }
            Target::Syslog => {
                let lost = self.unreported.get();
                if lost > 0 && self.send(LogLevel::Warning, "log lines lost (syslog socket full or absent): ", lost) {
                    self.unreported.set(0);
                }
                if !self.send(level, line, 0) {
                    self.dropped.set(self.dropped.get().wrapping_add(1));
                    self.unreported.set(self.unreported.get().saturating_add(1));
                }
            }
        }
    }

    /// Syslog lines lost so far: the receiver was absent or had no room.
    pub fn dropped(&self) -> u32 {
        self.dropped.get()
    }

    /// Sends one datagram (`line`, then `count` when it is not 0); false when it was lost.
    fn send(&self, level: LogLevel, line: &str, count: u32) -> bool {
        let mut buf = heapless::Vec::<u8, DATAGRAM_MAX>::new();
        emit(&mut buf, level, &self.tag, line);
        if count > 0 {
            push_decimal(&mut buf, count);
        }
        // A receiver that went away (logd restarted) answers ECONNREFUSED, then ENOTCONN:
        // connect again and retry once.
        for _ in 0..2 {
            let Some(fd) = self.sock.take().or_else(|| self.connect()) else {
                return false;
            };
            match socket::send(fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => {
                    self.sock.set(Some(fd));
                    return true;
                }
                Err(Errno::ECONNREFUSED | Errno::ENOTCONN) => continue, // fd closed here
                Err(_) => {
                    // EAGAIN (no room), or anything else: this line is lost, the socket stays.
                    self.sock.set(Some(fd));
                    return false;
                }
            }
        }
        false
    }

    fn connect(&self) -> Option<OwnedFd> {
        let addr = self.addr.as_ref()?;
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let fd = socket::socket(AddressFamily::Unix, SockType::Datagram, flags, None).ok()?;
        socket::connect(fd.as_raw_fd(), addr).ok()?;
        Some(fd)
    }
}

/// Formats `<PRI>` `tag` `line` into `buf`, the line cut to [`LINE_MAX`] bytes at a character
/// boundary. A space that would land where logd looks for the end of a timestamp becomes a
/// tab, so that logd keeps the tag (with a 5-digit pid, `dualwan[12345]: ` is exactly 16 bytes).
fn emit<const N: usize>(buf: &mut heapless::Vec<u8, N>, level: LogLevel, tag: &[u8], line: &str) {
    let pri = FACILITY_DAEMON * 8 + severity(level);
    let _ = buf.extend_from_slice(&[b'<', b'0' + pri / 10, b'0' + pri % 10, b'>']);
    let _ = buf.extend_from_slice(tag);
    let mut n = line.len().min(LINE_MAX);
    while !line.is_char_boundary(n) {
        n -= 1;
    }
    let _ = buf.extend_from_slice(&line.as_bytes()[..n]);
    if let Some(c @ b' ') = buf.get_mut(PRI_LEN + LOGD_STAMP_LEN - 1) {
        *c = b'\t';
    }
}

/// Appends `n` in decimal.
fn push_decimal<const N: usize>(buf: &mut heapless::Vec<u8, N>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let _ = buf.extend_from_slice(&digits[i..]);
}

/// syslog(3)'s severity codes.
fn severity(level: LogLevel) -> u8 {
    match level {
        LogLevel::Err => 3,
        LogLevel::Warning => 4,
        LogLevel::Notice => 5,
        LogLevel::Info => 6,
        LogLevel::Debug => 7,
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Err => "err",
        LogLevel::Warning => "warning",
        LogLevel::Notice => "notice",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: LogLevel, pid: u32, text: &str) -> Vec<u8> {
        let mut tag = heapless::Vec::<u8, TAG_MAX>::new();
        let _ = tag.extend_from_slice(b"dualwan[");
        push_decimal(&mut tag, pid);
        let _ = tag.extend_from_slice(b"]: ");
        let mut buf = heapless::Vec::<u8, DATAGRAM_MAX>::new();
        emit(&mut buf, level, &tag, text);
        buf.to_vec()
    }

    #[test]
    fn priority_is_daemon_facility_times_8_plus_severity() {
        assert_eq!(line(LogLevel::Err, 1234, "x"), b"<27>dualwan[1234]: x");
        assert_eq!(line(LogLevel::Warning, 1234, "x"), b"<28>dualwan[1234]: x");
        assert_eq!(line(LogLevel::Notice, 1234, "x"), b"<29>dualwan[1234]: x");
        assert_eq!(line(LogLevel::Info, 1234, "x"), b"<30>dualwan[1234]: x");
        assert_eq!(line(LogLevel::Debug, 4194304, "x"), b"<31>dualwan[4194304]: x");
    }

    #[test]
    fn a_space_where_logd_expects_a_timestamp_end_becomes_a_tab() {
        // Byte 15 after <PRI>: the tag's own space with a 5-digit pid...
        assert_eq!(line(LogLevel::Notice, 12345, "wan is up"), b"<29>dualwan[12345]:\twan is up");
        // ...or a space of the text with a shorter one.
        assert_eq!(line(LogLevel::Notice, 123, "a b"), b"<29>dualwan[123]: a\tb");
        assert_eq!(line(LogLevel::Notice, 123456, "wan is up"), b"<29>dualwan[123456]: wan is up");
        assert_eq!(line(LogLevel::Notice, 1234, "wan is up"), b"<29>dualwan[1234]: wan is up");
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let long = "x".repeat(LINE_MAX - 1) + "é and more";
        let got = line(LogLevel::Info, 1234, &long);
        assert_eq!(got.len(), "<30>dualwan[1234]: ".len() + LINE_MAX - 1, "é does not fit whole");
        assert!(std::str::from_utf8(&got).is_ok());
    }

    #[test]
    fn decimal() {
        for n in [0, 7, 10, 99, 4294967295] {
            let mut v = heapless::Vec::<u8, 10>::new();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }
}
